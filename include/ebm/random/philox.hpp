#pragma once
// Counter-based randomness: Philox4x32-10 from Random123. The key is the seed; the counter names where a
// number is used — (purpose, chain, step, element block) — so every chain's noise is a pure function of
// (seed, purpose, chain, step): identical for any thread count, launch shape or backend, and resumable.
#include <Random123/philox.h>

#include <array>
#include <cstdint>

#include "../config.hpp"

namespace ebm {

/// What a random number is for; each purpose is an independent stream.
enum class purpose : std::uint32_t {
    langevin_noise = 1,
    mala_accept = 2,
    init_noise = 3,
    data_noise = 4,
    bank_draw = 5,
    bank_init = 6,
    bank_rejuvenate = 7,
    data_sample = 8,
    parameter_init = 9,
    evaluation = 10,
    user = 1000,  // first value free for users' own streams
};

/// Largest step that fits the counter (40 bits) and largest element block (24 bits, i.e. 2^26 floats).
inline constexpr std::uint64_t max_philox_step = (std::uint64_t{1} << 40) - 1;
inline constexpr std::uint32_t max_philox_block = (std::uint32_t{1} << 24) - 1;

struct seed {
    std::uint64_t value = 0;
};

/// A keyed Philox4x32-10 generator; cheap to copy, safe to share between threads (it has no state).
class philox {
public:
    using block_type = std::array<std::uint32_t, 4>;

    constexpr philox() = default;
    EBM_HOST_DEVICE constexpr explicit philox(std::uint64_t seed_value) : seed_(seed_value) {}
    EBM_HOST_DEVICE constexpr explicit philox(seed s) : seed_(s.value) {}

    [[nodiscard]] EBM_HOST_DEVICE constexpr std::uint64_t seed_value() const { return seed_; }

    /// Raw Philox4x32-10 of an explicit counter (for known-answer tests and custom layouts).
    [[nodiscard]] EBM_HOST_DEVICE static block_type raw(block_type counter, std::array<std::uint32_t, 2> key) {
        r123::Philox4x32 generator;
        r123::Philox4x32::ctr_type c = {{counter[0], counter[1], counter[2], counter[3]}};
        r123::Philox4x32::key_type k = {{key[0], key[1]}};
        const auto r = generator(c, k);
        return {r.v[0], r.v[1], r.v[2], r.v[3]};
    }

    /// Four 32-bit words for (purpose, chain, step, block). Step < 2^40, block < 2^24.
    [[nodiscard]] EBM_HOST_DEVICE block_type block(purpose p, std::uint32_t chain, std::uint64_t step,
                                                   std::uint32_t block_index) const {
        const block_type counter = {static_cast<std::uint32_t>(p), chain, static_cast<std::uint32_t>(step),
                                    (static_cast<std::uint32_t>(step >> 32) << 24) | block_index};
        return raw(counter, {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
    }

private:
    std::uint64_t seed_ = 0;
};

}  // namespace ebm

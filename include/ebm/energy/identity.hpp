#pragma once
// The identity of an energy as a captured CUDA graph sees it: what its kernels may bake in as arguments. The
// samplers recapture a K-step chain when it changes (backend/cuda/execution.cuh, replay); wrappers that bake values
// into kernels add them with `template <class Identity> void identify(Identity&) const`.
#include <array>
#include <bit>
#include <cstdint>

namespace ebm::detail {

/// Everything of an energy that its kernels may bake in when a chain is captured as a CUDA graph: its address, its
/// parameters' address and what wrappers add through `void identify(energy_identity&) const` (the factor of
/// scaled_energy, the pull and target of magnetized_energy, recursively). Fixed size: building it allocates nothing;
/// an energy that adds more words than fit never compares equal, so its chain is captured anew every run.
struct energy_identity {
    std::array<std::uint64_t, 12> words{};
    int count = 0;
    bool overflow = false;

    void add(std::uint64_t word) {
        if (count == static_cast<int>(words.size())) {
            overflow = true;
            return;
        }
        words[static_cast<std::size_t>(count++)] = word;
    }
    void add(const void* pointer) { add(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(pointer))); }
    void add(float value) { add(static_cast<std::uint64_t>(std::bit_cast<std::uint32_t>(value))); }
    friend bool operator==(const energy_identity& a, const energy_identity& b) {
        return !a.overflow && !b.overflow && a.count == b.count && a.words == b.words;
    }
};

template <class E>
void identify(const E& energy, energy_identity& id) {
    id.add(static_cast<const void*>(&energy));
    if constexpr (requires { energy.parameters().data(); }) id.add(static_cast<const void*>(energy.parameters().data()));
    if constexpr (requires { energy.identify(id); }) energy.identify(id);
}

template <class E>
energy_identity identity_of(const E& energy) {
    energy_identity id;
    identify(energy, id);
    return id;
}

}  // namespace ebm::detail

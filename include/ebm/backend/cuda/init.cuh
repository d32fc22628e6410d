#pragma once
// Chain initializers on the device, for the same policy objects as on the CPU: ebm::uniform_noise (low, high),
// ebm::gaussian_noise (scale) and the resident persistent bank (ebm::persistent_bank<Init>: size, init,
// rejuvenation). The noise is the CPU's Philox stream element for element (functors.cuh); the bank lives in device
// memory for the whole run, and only the slot indices of a draw (a few hundred bytes) cross the bus: the slot
// choice (a partial Fisher-Yates shuffle driven by (bank_draw, i, iteration)) is the CPU bank's own code path on a
// host copy of the permutation, so a device bank draws exactly the slots the CPU bank draws. Needs nvcc.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../../batch.hpp"
#include "../../config.hpp"
#include "../../error.hpp"
#include "../../kernels/portable_math.hpp"
#include "../../random/philox.hpp"
#include "functors.cuh"
#include "launch.cuh"
#include "memory.cuh"

namespace ebm::cuda_backend {

/// Fills `rows` chains of the device batch x (all, or x's chains listed in the device array `chains`) with the
/// initializer's noise of stream (p, first_chain + chain, step). Init: anything with (low, high) or (scale).
template <class Init>
void fill_initial(const Init& init, batch_view x, const philox& rng, purpose p, std::uint64_t step, index rows,
                  const std::uint32_t* chains, cudaStream_t stream, std::uint32_t first_chain = 0) {
    const index n = rows * blocks_per_chain(x.dimension);
    if constexpr (requires { init.low; init.high; }) {
        launch_elements(n, uniform_fill{x.data, x.dimension, rng, p, first_chain, {nullptr, step}, init.low, init.high,
                                        chains}, stream);
    } else {
        launch_elements(n, normal_fill{x.data, x.dimension, rng, p, first_chain, {nullptr, step}, init.scale, false,
                                       chains}, stream);
    }
}

/// x_i += sigma z_i (the trainer's data noise on positives, stream (data_noise, i, iteration)).
inline void add_data_noise(batch_view x, float sigma, const philox& rng, std::uint64_t iteration, cudaStream_t stream) {
    if (sigma <= 0.0f) return;
    launch_elements(x.count * blocks_per_chain(x.dimension),
                    normal_fill{x.data, x.dimension, rng, purpose::data_noise, 0, {nullptr, iteration}, sigma, true},
                    stream);
}

/// A persistent bank resident in device memory.
template <class Init>
class device_bank {
public:
    /// Bank of policy.size states of `dimension`, filled on the device by policy.init from (bank_init, slot, 0).
    template <class BankPolicy>
    device_bank(const BankPolicy& policy, index dimension, index max_chains, const philox& rng, cudaStream_t stream)
        : init_(policy.init), rejuvenation_(policy.rejuvenation), dimension_(dimension), storage_(dimension * policy.size),
          permutation_(static_cast<std::size_t>(policy.size)), slots_host_(static_cast<std::size_t>(max_chains)),
          slots_(max_chains), rejuvenated_(max_chains) {
        policy.validate();
        ebm::detail::require_positive("cuda::device_bank", "dimension", dimension);
        ebm::detail::require_positive("cuda::device_bank", "max_chains", max_chains);
        if (policy.size < max_chains)
            ebm::detail::fail("cuda::device_bank", "size must be >= the number of chains drawn per iteration (" +
                                                       ebm::detail::to_text(max_chains) + ")", policy.size);
        std::iota(permutation_.begin(), permutation_.end(), std::uint32_t{0});
        fill_initial(init_, batch_view{storage_.data(), dimension, policy.size}, rng, purpose::bank_init, 0, policy.size,
                     nullptr, stream);
    }

    [[nodiscard]] batch_view bank() { return {storage_.data(), dimension_, storage_.size() / dimension_}; }
    [[nodiscard]] std::span<const std::uint32_t> drawn_slots() const { return {slots_host_.data(), drawn_}; }
    [[nodiscard]] std::span<const std::uint32_t> permutation() const { return permutation_; }
    [[nodiscard]] index last_rejuvenated() const { return rejuvenated_count_; }

    /// x (device) <- bank states at fresh distinct slots; the CPU bank's slot choice and rejuvenation decisions.
    void draw(batch_view x, const philox& rng, std::uint64_t iteration, cudaStream_t stream) {
        if (x.dimension != dimension_ || x.count > slots_.size())
            ebm::detail::fail("cuda::device_bank::draw", "x must have the bank's dimension and at most max_chains chains",
                              x.count);
        const auto n = static_cast<std::uint32_t>(permutation_.size());
        std::vector<std::uint32_t> restart;
        for (index i = 0; i < x.count; ++i) {
            const auto k = static_cast<std::uint32_t>(i);
            const float u = portable::uniform_open01(rng.block(purpose::bank_draw, k, iteration, 0)[0]);
            const std::uint32_t j = k + std::min(n - k - 1, static_cast<std::uint32_t>(u * static_cast<float>(n - k)));
            std::swap(permutation_[k], permutation_[j]);
            slots_host_[k] = permutation_[k];
            if (rejuvenation_ > 0.0f &&
                portable::uniform_open01(rng.block(purpose::bank_rejuvenate, k, iteration, 0)[0]) < rejuvenation_)
                restart.push_back(k);
        }
        drawn_ = static_cast<std::size_t>(x.count);
        rejuvenated_count_ = static_cast<index>(restart.size());
        EBM_CUDA_CHECK(cudaMemcpyAsync(slots_.data(), slots_host_.data(), drawn_ * sizeof(std::uint32_t),
                                       cudaMemcpyHostToDevice, stream));
        launch_elements(x.count * dimension_, bank_gather{x.data, storage_.data(), slots_.data(), dimension_}, stream);
        if (!restart.empty()) {
            EBM_CUDA_CHECK(cudaMemcpyAsync(rejuvenated_.data(), restart.data(), restart.size() * sizeof(std::uint32_t),
                                           cudaMemcpyHostToDevice, stream));
            fill_initial(init_, x, rng, purpose::init_noise, iteration, static_cast<index>(restart.size()),
                         rejuvenated_.data(), stream);
        }
        // The host vectors the copies read must outlive them.
        EBM_CUDA_CHECK(cudaStreamSynchronize(stream));
    }

    /// bank[drawn slot of chain i] <- x_i (device).
    void write_back(const_batch_view x, cudaStream_t stream) {
        if (x.count != static_cast<index>(drawn_) || x.dimension != dimension_)
            ebm::detail::fail("cuda::device_bank::write_back", "x must be the batch of the last draw (" +
                                                                   ebm::detail::to_text(drawn_) + " chains)", x.count);
        launch_elements(x.count * dimension_, bank_scatter{storage_.data(), x.data, slots_.data(), dimension_}, stream);
    }

private:
    Init init_;
    float rejuvenation_ = 0.0f;
    index dimension_ = 0;
    device_buffer<float> storage_;
    std::vector<std::uint32_t> permutation_;
    std::vector<std::uint32_t> slots_host_;
    device_buffer<std::uint32_t> slots_;
    device_buffer<std::uint32_t> rejuvenated_;
    std::size_t drawn_ = 0;
    index rejuvenated_count_ = 0;
};

}  // namespace ebm::cuda_backend

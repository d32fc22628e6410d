#pragma once
// Algorithm 1 (the ML trainer) with everything resident on the GPU, for the same four policy objects as
// ebm::ml_trainer: a device energy (cuda_backend::mlp, convnet, nonlocal_net), a sampler policy (ebm::langevin,
// ebm::langevin_decoupled, ebm::mala), an initializer policy (ebm::uniform_noise, ebm::gaussian_noise,
// ebm::persistent_bank<Init>, ebm::data_init) and an optimizer policy (ebm::sgd, ebm::adam), plus
// ebm::trainer_options. The iteration is the CPU trainer's step by step, with the same Philox streams and counters
// (data noise (data_noise, i, t), initial chains (init_noise, i, t) or bank (bank_draw/bank_rejuvenate, i, t),
// sampler steps numbered across iterations): positives (host) -> device, + data noise -> draw negatives -> K sampler
// steps (one CUDA graph) -> write back -> weighted parameter gradient (+1/n positives, -1/m negatives) -> d_t ->
// optimizer step. One host synchronisation per iteration (the record). Needs nvcc.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../../batch.hpp"
#include "../../error.hpp"
#include "../../init/noise.hpp"
#include "../../random/philox.hpp"
#include "../../train/diagnostics.hpp"
#include "../../train/ml_trainer.hpp"
#include "init.cuh"
#include "launch.cuh"
#include "memory.cuh"
#include "mlp.cuh"
#include "optim.cuh"
#include "reductions.cuh"
#include "sampler.cuh"

namespace ebm::cuda_backend {

namespace detail {
template <class S>
concept mala_policy = requires(const S& s) {
    s.epsilon;
    s.steps;
    s.clamp;
    s.step_size();
} && !requires(const S& s) { s.noise_scale(); };
template <class I>
concept bank_policy = requires(const I& i) {
    i.size;
    i.init;
    i.rejuvenation;
};
template <class I, bool = bank_policy<I>>
struct bank_init_type {
    using type = uniform_noise;
};
template <class I>
struct bank_init_type<I, true> {
    using type = decltype(I::init);
};
template <class I>
concept noise_policy = requires(const I& i) { i.low; } || requires(const I& i) { i.scale; };
}  // namespace detail

template <class E, class S, class I, class O>
class device_trainer {
public:
    device_trainer(E energy, S sampler, I initializer, O optimizer, trainer_options options = {})
        : energy_(std::move(energy)), sampler_(std::move(sampler)), initializer_(std::move(initializer)),
          optimizer_(std::move(optimizer)), options_((options.validate(), options)), rng_(options.random_seed),
          chains_(make_chain_state()), optimizer_state_(make_optimizer_state(optimizer_, energy_.parameter_count())),
          gradient_workspace_(energy_.make_workspace(options.batch_size)),
          negatives_(energy_.dimension() * options.batch_size), positives_(energy_.dimension() * options.batch_size),
          gradient_(energy_.parameter_count()), weights_(options.batch_size), energies_(options.batch_size),
          totals_(2) {
        if constexpr (detail::bank_policy<I>) {
            bank_.emplace(initializer_, energy_.dimension(), options.batch_size, rng_, stream());
            EBM_CUDA_CHECK(cudaStreamSynchronize(stream()));
        }
    }

    /// One iteration on the host positive batch (1..batch_size finite states), as ebm::ml_trainer::step.
    iteration_record step(const_batch_view positives) {
        const auto start = std::chrono::steady_clock::now();
        ebm::detail::require_batch("cuda::device_trainer::step", "positives", positives, energy_.dimension());
        if (positives.count > options_.batch_size)
            ebm::detail::fail("cuda::device_trainer::step", "positives must hold at most batch_size = " +
                                                                ebm::detail::to_text(options_.batch_size) + " states",
                              positives.count);
        const index n = positives.count, m = options_.batch_size, d = energy_.dimension();
        cudaStream_t s = stream();
        const batch_view pos{positives_.data(), d, n};
        const batch_view neg{negatives_.data(), d, m};
        EBM_CUDA_CHECK(cudaMemcpyAsync(pos.data, positives.data, static_cast<std::size_t>(positives.size()) * sizeof(float),
                                       cudaMemcpyHostToDevice, s));
        add_data_noise(pos, options_.data_noise, rng_, iteration_, s);

        // Negatives: the initializer's draw.
        if constexpr (detail::bank_policy<I>) {
            bank_->draw(neg, rng_, iteration_, s);
        } else if constexpr (detail::noise_policy<I>) {
            fill_initial(initializer_, neg, rng_, purpose::init_noise, iteration_, m, nullptr, s);
        } else {  // data_init: chains start at the positives
            if (n < m) ebm::detail::fail("cuda::device_trainer::step", "data_init needs batch_size positives", n);
            EBM_CUDA_CHECK(cudaMemcpyAsync(neg.data, positives.data, static_cast<std::size_t>(neg.size()) * sizeof(float),
                                           cudaMemcpyHostToDevice, s));  // the positives as given (no data noise)
        }
        // The sampler runs on its own stream (the energy workspace's); order it after the work above.
        EBM_CUDA_CHECK(cudaStreamSynchronize(s));
        sampler_stats stats;
        if constexpr (detail::mala_policy<S>)
            stats = run_mala(sampler_, chains_, energy_, neg, rng_, sampler_step_);
        else
            stats = run_langevin(sampler_, chains_, energy_, neg, rng_, sampler_step_);
        sampler_step_ += static_cast<std::uint64_t>(sampler_.steps_per_run());
        if constexpr (detail::bank_policy<I>) bank_->write_back(neg, s);

        gradient_.zero(s);
        totals_.zero(s);
        accumulate(pos, 1.0f / static_cast<float>(n), 0);
        accumulate(neg, -1.0f / static_cast<float>(m), 1);
        non_finite_.zero(s);
        count_non_finite(gradient_.data(), gradient_.size(), non_finite_.data(), s);
        double totals[2] = {0, 0};
        unsigned long long non_finite = 0;
        EBM_CUDA_CHECK(cudaMemcpyAsync(totals, totals_.data(), sizeof totals, cudaMemcpyDeviceToHost, s));
        EBM_CUDA_CHECK(cudaMemcpyAsync(&non_finite, non_finite_.data(), sizeof non_finite, cudaMemcpyDeviceToHost, s));
        EBM_CUDA_CHECK(cudaStreamSynchronize(s));

        iteration_record rec;
        rec.iteration = iteration_;
        rec.positive_energy = totals[0] / static_cast<double>(n);
        rec.negative_energy = totals[1] / static_cast<double>(m);
        rec.d = rec.positive_energy - rec.negative_energy;
        rec.v = stats.mean_gradient_norm;
        rec.r = stats.mean_displacement;
        rec.acceptance = stats.acceptance;
        rec.non_finite_rejections = stats.non_finite_rejections;
        // As the CPU trainer: a non-finite d or any non-finite gradient entry (counted on the device) skips the update.
        rec.diverged = !std::isfinite(rec.d) || non_finite != 0;
        if (!rec.diverged) rec.learning_rate = optimizer_step(optimizer_, optimizer_state_, energy_.parameters(),
                                                              std::span<const float>(gradient_.data(), static_cast<std::size_t>(gradient_.size())), s);
        EBM_CUDA_CHECK(cudaStreamSynchronize(s));
        ++iteration_;
        rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return rec;
    }

    [[nodiscard]] E& energy() { return energy_; }
    [[nodiscard]] const E& energy() const { return energy_; }
    [[nodiscard]] const philox& rng() const { return rng_; }
    [[nodiscard]] std::uint64_t iteration() const { return iteration_; }
    [[nodiscard]] std::uint64_t sampler_steps() const { return sampler_step_; }
    /// The negatives of the last iteration (device memory).
    [[nodiscard]] const_batch_view negatives() const { return {negatives_.data(), energy_.dimension(), options_.batch_size}; }
    /// The parameter gradient of the last iteration (device memory).
    [[nodiscard]] std::span<const float> gradient() const {
        return {gradient_.data(), static_cast<std::size_t>(gradient_.size())};
    }
    [[nodiscard]] cudaStream_t stream() const { return gradient_workspace_.get_stream(); }

private:
    chain_state<E> make_chain_state() const {
        if constexpr (detail::mala_policy<S>)
            return make_mala_state(energy_, options_.batch_size, sampler_.epsilon);
        else
            return make_langevin_state(energy_, options_.batch_size);
    }

    // grad += weight * sum_i dU(x_i)/dtheta; totals_[slot] += sum_i U(x_i).
    void accumulate(const_batch_view x, float weight, int slot) {
        cudaStream_t s = stream();
        launch_elements(x.count, mlp_functors::fill_value{weights_.data(), weight}, s);
        const std::span<float> u(energies_.data(), static_cast<std::size_t>(x.count));
        energy_.accumulate_parameter_gradient(x, std::span<const float>(weights_.data(), u.size()),
                                              std::span<float>(gradient_.data(), static_cast<std::size_t>(gradient_.size())),
                                              u, gradient_workspace_);
        cuda_backend::accumulate_total(energies_.data(), x.count, 1.0, totals_.data() + slot, s);
    }

    E energy_;
    S sampler_;
    I initializer_;
    O optimizer_;
    trainer_options options_;
    philox rng_;
    chain_state<E> chains_;
    optimizer_state optimizer_state_;
    typename E::workspace gradient_workspace_;
    std::optional<device_bank<typename detail::bank_init_type<I>::type>> bank_;
    device_buffer<float> negatives_, positives_, gradient_, weights_, energies_;
    device_buffer<double> totals_;
    device_buffer<unsigned long long> non_finite_{1};
    std::uint64_t iteration_ = 0;
    std::uint64_t sampler_step_ = 0;
};

}  // namespace ebm::cuda_backend

namespace ebm {

/// ebm::ml_trainer for device energies (E::backend = ebm::cuda): the same four policies, run on the GPU.
template <class E, class S, class I, class O>
class ml_trainer<E, S, I, O, cuda> : public cuda_backend::device_trainer<E, S, I, O> {
public:
    using cuda_backend::device_trainer<E, S, I, O>::device_trainer;
};

}  // namespace ebm

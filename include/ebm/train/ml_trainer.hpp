#pragma once
// Algorithm 1 of the Anatomy paper, composed at compile time from an energy, a sampler, a chain initializer
// and an optimizer:
//   1. positives x+ (plus optional data noise sigma, short-run paper); chains Y0 from the initializer
//   2. L sampler steps -> negatives x-; the initializer takes them back (persistent bank write-back)
//   3. grad = (1/n) sum dU(x+)/dtheta - (1/m) sum dU(x-)/dtheta; optimizer step
// Each iteration returns d_t, v_t, r_t, acceptance, energies, learning rate and wall time.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>

#include "../backend/backend_of.hpp"
#include "../batch.hpp"
#include "../concepts/chain_initializer.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../concepts/optimizer.hpp"
#include "../concepts/sampler.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "diagnostics.hpp"

namespace ebm {

struct trainer_options {
    index batch_size = 100;        // m negatives; also the largest positive batch accepted
    float data_noise = 0.0f;       // sigma of additive Gaussian noise on positives (0.03 in the short-run paper)
    seed random_seed{123};

    void validate() const {
        detail::require_positive("ml_trainer", "batch_size", batch_size);
        detail::require_non_negative("ml_trainer", "data_noise", data_noise);
        detail::require_finite("ml_trainer", "data_noise", data_noise);
    }
};

/// The trainer for the energy's backend: this header defines the CPU one; backend/cuda/trainer.cuh specialises
/// it for device energies, so switching a run to the GPU changes the energy's type and nothing else.
template <class E, class S, class I, class O, class Backend = backend_of_t<E>>
class ml_trainer;

template <class E, class S, class I, class O>
class ml_trainer<E, S, I, O, cpu> {
    static_assert(check_learnable_energy<E>());
    static_assert(check_sampler<S, E>());
    static_assert(check_chain_initializer<I>());
    static_assert(check_optimizer<O>());

public:
    ml_trainer(E energy, S sampler, I initializer, O optimizer, trainer_options options = {})
        : energy_(std::move(energy)),
          sampler_(std::move(sampler)),
          initializer_(std::move(initializer)),
          optimizer_(std::move(optimizer)),
          options_((options.validate(), options)),
          rng_(options.random_seed),
          sampler_state_(sampler_.make_state(energy_, options.batch_size)),
          initializer_state_(initializer_.make_state(energy_.dimension(), options.batch_size, rng_)),
          optimizer_state_(optimizer_.make_state(energy_.parameter_count())),
          gradient_workspace_(energy_.make_workspace(options.batch_size)),
          negatives_(energy_.dimension(), options.batch_size),
          positives_(energy_.dimension(), options.batch_size),
          gradient_(static_cast<std::size_t>(energy_.parameter_count())),
          weights_(static_cast<std::size_t>(options.batch_size)),
          energies_(static_cast<std::size_t>(options.batch_size)) {}

    /// One iteration of Algorithm 1 on the given positive batch (1..batch_size states, finite).
    iteration_record step(const_batch_view positives) {
        const auto start = std::chrono::steady_clock::now();
        detail::require_batch("ml_trainer::step", "positives", positives, energy_.dimension());
        if (positives.count > options_.batch_size)
            detail::fail("ml_trainer::step", "positives must hold at most batch_size = " +
                                                 detail::to_text(options_.batch_size) + " states", positives.count);
        const index n = positives.count;
        const index m = options_.batch_size;
        const index d = energy_.dimension();
        const batch_view pos = positives_.view().chains(0, n);
        std::copy(positives.data, positives.data + positives.size(), pos.data);
        if (options_.data_noise > 0.0f)
            for (index i = 0; i < n; ++i) {
                float* x = pos.chain(i);
                float* z = negatives_.chain(0);  // scratch: negatives are drawn below
                fill_normal(rng_, purpose::data_noise, static_cast<std::uint32_t>(i), iteration_, z, d, options_.data_noise);
                for (index k = 0; k < d; ++k) x[k] += z[k];
            }

        initializer_.draw(initializer_state_, negatives_.view(), positives, rng_, iteration_);
        const sampler_stats stats = sampler_.run(sampler_state_, energy_, negatives_.view(), rng_, sampler_step_);
        sampler_step_ += static_cast<std::uint64_t>(sampler_.steps_per_run());
        initializer_.write_back(initializer_state_, negatives_.view());

        std::fill(gradient_.begin(), gradient_.end(), 0.0f);
        const double positive_energy = accumulate(pos, 1.0f / static_cast<float>(n));
        const double negative_energy = accumulate(negatives_.view(), -1.0f / static_cast<float>(m));

        iteration_record rec;
        rec.iteration = iteration_;
        rec.d = positive_energy - negative_energy;
        rec.v = stats.mean_gradient_norm;
        rec.r = stats.mean_displacement;
        rec.acceptance = stats.acceptance;
        rec.positive_energy = positive_energy;
        rec.negative_energy = negative_energy;
        rec.non_finite_rejections = stats.non_finite_rejections;
        bool finite = std::isfinite(rec.d);
        for (float g : gradient_) finite = finite && std::isfinite(g);
        rec.diverged = !finite;
        if (finite)
            rec.learning_rate = optimizer_.step(optimizer_state_, energy_.parameters(), std::span<const float>(gradient_));
        ++iteration_;
        rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return rec;
    }

    [[nodiscard]] E& energy() { return energy_; }
    [[nodiscard]] const E& energy() const { return energy_; }
    [[nodiscard]] const S& sampler() const { return sampler_; }
    [[nodiscard]] const I& initializer() const { return initializer_; }
    [[nodiscard]] const O& optimizer() const { return optimizer_; }
    [[nodiscard]] typename I::state& initializer_state() { return initializer_state_; }
    [[nodiscard]] typename O::state& optimizer_state() { return optimizer_state_; }
    [[nodiscard]] const typename I::state& initializer_state() const { return initializer_state_; }
    [[nodiscard]] const typename O::state& optimizer_state() const { return optimizer_state_; }

    // --- Resume and annealing support (train/checkpoint.hpp, the training programs) -------------------------
    // Everything an iteration depends on besides the policies' hyper-parameters is: the energy's parameters,
    // the optimizer state, the initializer state (the persistent bank), the sampler state (MALA's adapted step)
    // and the two counters below, which place the iteration in the Philox streams. Restoring all of them into a
    // trainer built with the same policies and seed continues a run bit-identically.

    /// The sampler's per-run state (MALA keeps its adapted step size here).
    [[nodiscard]] typename S::template state<E>& sampler_state() { return sampler_state_; }
    [[nodiscard]] const typename S::template state<E>& sampler_state() const { return sampler_state_; }
    /// The optimizer policy, mutable so that a schedule can set its learning rate between iterations.
    [[nodiscard]] O& optimizer() { return optimizer_; }
    /// Sets the iteration and sampler-step counters (as saved by a checkpoint).
    void restore_counters(std::uint64_t iteration, std::uint64_t sampler_steps) {
        iteration_ = iteration;
        sampler_step_ = sampler_steps;
    }
    /// Sets sigma of the data noise from the next step on (annealing, short-run paper Sec. 5.1).
    void set_data_noise(float sigma) {
        detail::require_non_negative("ml_trainer::set_data_noise", "sigma", sigma);
        detail::require_finite("ml_trainer::set_data_noise", "sigma", sigma);
        options_.data_noise = sigma;
    }
    [[nodiscard]] const philox& rng() const { return rng_; }
    [[nodiscard]] const trainer_options& options() const { return options_; }
    [[nodiscard]] std::uint64_t iteration() const { return iteration_; }
    [[nodiscard]] std::uint64_t sampler_steps() const { return sampler_step_; }
    /// The negatives of the last iteration.
    [[nodiscard]] const_batch_view negatives() const { return negatives_.view(); }

private:
    // grad += weight * sum_i dU(x_i)/dtheta; returns mean U(x_i).
    double accumulate(const_batch_view x, float weight) {
        std::fill(weights_.begin(), weights_.begin() + x.count, weight);
        const std::span<float> u(energies_.data(), static_cast<std::size_t>(x.count));
        energy_.accumulate_parameter_gradient(x, std::span<const float>(weights_.data(), static_cast<std::size_t>(x.count)),
                                              std::span<float>(gradient_), u, gradient_workspace_);
        double sum = 0;
        for (float value : u) sum += value;
        return sum / static_cast<double>(x.count);
    }

    E energy_;
    S sampler_;
    I initializer_;
    O optimizer_;
    trainer_options options_;
    philox rng_;
    typename S::template state<E> sampler_state_;
    typename I::state initializer_state_;
    typename O::state optimizer_state_;
    typename E::workspace gradient_workspace_;
    batch negatives_;
    batch positives_;
    detail::aligned_vector<float> gradient_;
    detail::aligned_vector<float> weights_;
    detail::aligned_vector<float> energies_;
    std::uint64_t iteration_ = 0;
    std::uint64_t sampler_step_ = 0;
};

template <class E, class S, class I, class O>
ml_trainer(E, S, I, O, trainer_options) -> ml_trainer<E, S, I, O>;
template <class E, class S, class I, class O>
ml_trainer(E, S, I, O) -> ml_trainer<E, S, I, O>;

}  // namespace ebm

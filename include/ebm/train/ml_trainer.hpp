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

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/chain_initializer.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../concepts/optimizer.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "../kernels/noise.hpp"
#include "../random/philox.hpp"
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

/// Algorithm 1 for an energy of either backend: written once against the execution interface
/// (backend/execution.hpp); the energy's memory space picks the backend (backend_of_t<E>) at compile time, so a run
/// moves to the GPU by changing the energy's type and nothing else. Positives come from the host (a data set); on
/// CUDA everything else stays in device memory, with one host synchronisation per iteration (the record).
template <class E, class S, class I, class O>
class ml_trainer {
public:
    using energy_type = E;
    using backend = backend_of_t<E>;
    using execution_type = execution<backend>;
    using memory_space = memory_space_of_t<E>;

private:
    static_assert(check_learnable_energy<E>());
    static_assert(check_optimizer<O, backend>());
    static_assert(check_chain_initializer<I, backend>());
    static_assert(check_sampler<S, E>());
    using X = execution_type;
    using space = memory_space;
    template <class T>
    using buffer = typename X::template buffer<T>;
    template <class T>
    using span = span_in<T, space>;

public:
    using sampler_state_type = typename S::template state<E>;
    using initializer_state_type = initializer_state_t<I, backend>;
    using optimizer_state_type = optimizer_state_t<O, backend>;

    ml_trainer(E energy, S sampler, I initializer, O optimizer, trainer_options options = {})
        : energy_(std::move(energy)),
          sampler_(std::move(sampler)),
          initializer_(std::move(initializer)),
          optimizer_(std::move(optimizer)),
          options_((options.validate(), options)),
          rng_(options.random_seed),
          gradient_workspace_(energy_.make_workspace(options.batch_size)),
          lane_(X::lane_of(gradient_workspace_)),
          sampler_state_(sampler_.make_state(energy_, options.batch_size)),
          initializer_state_(make_initializer_state(initializer_, energy_.dimension(), options.batch_size, rng_, backend{})),
          optimizer_state_(make_optimizer_state(optimizer_, energy_.parameter_count(), backend{})),
          data_(X::template make_buffer<float>(energy_.dimension() * options.batch_size)),
          positives_(X::template make_buffer<float>(energy_.dimension() * options.batch_size)),
          negatives_(X::template make_buffer<float>(energy_.dimension() * options.batch_size)),
          gradient_(X::template make_buffer<float>(energy_.parameter_count())),
          weights_(X::template make_buffer<float>(options.batch_size)),
          energies_(X::template make_buffer<float>(options.batch_size)),
          totals_(X::template make_buffer<double>(2)),
          non_finite_(X::template make_buffer<unsigned long long>(1)) {
        if constexpr (requires { initializer_state_.lane = lane_; }) initializer_state_.lane = lane_;
        if constexpr (requires { optimizer_state_.lane = lane_; }) optimizer_state_.lane = lane_;
    }

    /// One iteration of Algorithm 1 on the given positive batch (host memory, 1..batch_size states, finite).
    /// Data-based initializers (data_init) start the chains from the positives as given.
    iteration_record step(const_batch_view positives) { return step(positives, positives); }

    /// The same, with data-based initializers starting the chains from `chain_data` instead (host memory,
    /// 1..batch_size states): a batch drawn independently of the positives, as the Anatomy code's CD does.
    iteration_record step(const_batch_view positives, const_batch_view chain_data) {
        const auto start = std::chrono::steady_clock::now();
        detail::require_batch("ml_trainer::step", "positives", positives, energy_.dimension());
        if (positives.count > options_.batch_size)
            detail::fail("ml_trainer::step", "positives must hold at most batch_size = " +
                                                 detail::to_text(options_.batch_size) + " states", positives.count);
        detail::require_batch("ml_trainer::step", "chain_data", chain_data, energy_.dimension());
        if (chain_data.count > options_.batch_size)
            detail::fail("ml_trainer::step", "chain_data must hold at most batch_size = " +
                                                 detail::to_text(options_.batch_size) + " states", chain_data.count);
        const index n = positives.count;
        const index m = options_.batch_size;
        const index d = energy_.dimension();
        const basic_batch_view<space> data{data_.data(), d, chain_data.count};
        const basic_batch_view<space> pos{positives_.data(), d, n};
        const basic_batch_view<space> neg{negatives_.data(), d, m};
        X::upload(lane_, pos.data, positives.data, positives.size());
        if (chain_data.data == positives.data && chain_data.count == positives.count)
            X::copy(lane_, data.data, pos.data, pos.size());  // before the data noise
        else
            X::upload(lane_, data.data, chain_data.data, chain_data.size());
        if (options_.data_noise > 0.0f)  // x+ <- x+ + sigma z, stream (data_noise, i, t)
            X::for_each(lane_, n * kernels::blocks_per_chain(d),
                        kernels::normal_fill{pos.data, d, rng_, purpose::data_noise, 0, {nullptr, iteration_},
                                             options_.data_noise, true});

        initializer_.draw(initializer_state_, neg, basic_const_batch_view<space>(data), rng_, iteration_);
        X::synchronize(lane_);  // the sampler orders its work on its own lanes
        const sampler_stats stats = sampler_.run(sampler_state_, energy_, neg, rng_, sampler_step_);
        sampler_step_ += static_cast<std::uint64_t>(sampler_.steps_per_run());
        initializer_.write_back(initializer_state_, basic_const_batch_view<space>(neg));

        X::for_each(lane_, energy_.parameter_count(), kernels::fill_value{gradient_.data(), 0.0f});
        X::for_each(lane_, 2, kernels::fill_with<double>{totals_.data(), 0.0});
        X::set(lane_, non_finite_.data(), 0ull);
        accumulate(pos, 1.0f / static_cast<float>(n), totals_.data());
        accumulate(neg, -1.0f / static_cast<float>(m), totals_.data() + 1);
        X::count_non_finite(lane_, gradient_.data(), energy_.parameter_count(), non_finite_.data());
        double totals[2] = {0, 0};
        unsigned long long non_finite = 0;
        X::download(lane_, totals, totals_.data(), 2);
        X::download(lane_, &non_finite, non_finite_.data(), 1);

        iteration_record rec;
        rec.iteration = iteration_;
        rec.positive_energy = totals[0] / static_cast<double>(n);
        rec.negative_energy = totals[1] / static_cast<double>(m);
        rec.d = rec.positive_energy - rec.negative_energy;
        rec.v = stats.mean_gradient_norm;
        rec.r = stats.mean_displacement;
        rec.acceptance = stats.acceptance;
        rec.non_finite_rejections = stats.non_finite_rejections;
        // A non-finite d_t or gradient entry skips the update (divergence is the session's to handle).
        rec.diverged = !std::isfinite(rec.d) || non_finite != 0;
        if (!rec.diverged) {
            rec.learning_rate = optimizer_.step(optimizer_state_, energy_.parameters(), span<const float>(gradient()));
            X::synchronize(lane_);
        }
        ++iteration_;
        rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return rec;
    }

    [[nodiscard]] E& energy() { return energy_; }
    [[nodiscard]] const E& energy() const { return energy_; }
    [[nodiscard]] const S& sampler() const { return sampler_; }
    [[nodiscard]] const I& initializer() const { return initializer_; }
    [[nodiscard]] const O& optimizer() const { return optimizer_; }
    [[nodiscard]] initializer_state_type& initializer_state() { return initializer_state_; }
    [[nodiscard]] optimizer_state_type& optimizer_state() { return optimizer_state_; }
    [[nodiscard]] const initializer_state_type& initializer_state() const { return initializer_state_; }
    [[nodiscard]] const optimizer_state_type& optimizer_state() const { return optimizer_state_; }

    // --- Resume and annealing support (train/checkpoint.hpp, the training programs) -------------------------
    // Everything an iteration depends on besides the policies' hyper-parameters is: the energy's parameters,
    // the optimizer state, the initializer state (the persistent bank), the sampler state (MALA's adapted step)
    // and the two counters below, which place the iteration in the Philox streams. Restoring all of them into a
    // trainer built with the same policies and seed continues a run bit-identically, on either backend.

    /// The sampler's per-run state (MALA keeps its adapted step size here).
    [[nodiscard]] sampler_state_type& sampler_state() { return sampler_state_; }
    [[nodiscard]] const sampler_state_type& sampler_state() const { return sampler_state_; }
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
    /// The lane the trainer orders its own work on (the CUDA stream of its gradient workspace).
    [[nodiscard]] typename X::lane lane() const { return lane_; }
    /// The negatives of the last iteration (the energy's memory; copy_to_host brings them to the host).
    [[nodiscard]] basic_const_batch_view<space> negatives() const {
        return {negatives_.data(), energy_.dimension(), options_.batch_size};
    }
    /// The parameter gradient of the last iteration (the energy's memory).
    [[nodiscard]] span<const float> gradient() const {
        return {gradient_.data(), static_cast<std::size_t>(gradient_.size())};
    }

private:
    // grad += weight * sum_i dU(x_i)/dtheta; *total += sum_i U(x_i).
    void accumulate(basic_const_batch_view<space> x, float weight, double* total) {
        X::for_each(lane_, x.count, kernels::fill_value{weights_.data(), weight});
        const span<float> u(energies_.data(), static_cast<std::size_t>(x.count));
        energy_.accumulate_parameter_gradient(x, span<const float>(weights_.data(), static_cast<std::size_t>(x.count)),
                                              span<float>(gradient_.data(), static_cast<std::size_t>(gradient_.size())),
                                              u, gradient_workspace_);
        X::add_sum(lane_, energies_.data(), x.count, total);
    }

    E energy_;
    S sampler_;
    I initializer_;
    O optimizer_;
    trainer_options options_;
    philox rng_;
    typename E::workspace gradient_workspace_;
    typename X::lane lane_;
    sampler_state_type sampler_state_;
    initializer_state_type initializer_state_;
    optimizer_state_type optimizer_state_;
    buffer<float> data_;       // the batch data_init starts chains from (the positives as given, by default)
    buffer<float> positives_;  // the positives with data noise
    buffer<float> negatives_;
    buffer<float> gradient_;
    buffer<float> weights_;
    buffer<float> energies_;
    buffer<double> totals_;
    buffer<unsigned long long> non_finite_;
    std::uint64_t iteration_ = 0;
    std::uint64_t sampler_step_ = 0;
};

template <class E, class S, class I, class O>
ml_trainer(E, S, I, O, trainer_options) -> ml_trainer<E, S, I, O>;
template <class E, class S, class I, class O>
ml_trainer(E, S, I, O) -> ml_trainer<E, S, I, O>;

}  // namespace ebm

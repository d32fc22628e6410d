#pragma once
// Metropolis-adjusted Langevin (MALA), equivalently one leapfrog step of HMC as in the Anatomy authors'
// evaluation code. Proposal y = x - (eps^2/2) dU/dx + eps z; accept if log u < U(x) - U(y) + log q(x|y) - log q(y|x),
// per chain, in log space. U and dU/dx of the current state are cached, so a step costs one evaluation.
// A proposal whose energy, gradient or ratio is NaN/Inf (or that leaves the clamp box) is rejected and the chain
// stays where it was.
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "../backend/cpu/cpu.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/sampler.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../kernels/langevin.hpp"
#include "../random/distributions.hpp"
#include "adaptation.hpp"
#include "langevin.hpp"

namespace ebm {

namespace detail {

template <class E>
struct mala_buffers : langevin_buffers<E> {
    aligned_vector<float> proposal;           // y, dimension x max_chains
    aligned_vector<float> proposal_gradient;  // dU/dx at y
    aligned_vector<float> proposal_energies;
    std::vector<std::int64_t> accepted;       // per chain, over the last run
    std::vector<std::int64_t> task_accepted;
    std::vector<std::int64_t> task_non_finite;
    std::vector<double> task_accept_probability;
    aligned_vector<float> log_uniforms;       // log u of the accept tests of one step
    float epsilon = 0;                        // the step in use; adaptation changes it

    mala_buffers() = default;
    mala_buffers(const E& energy, index chains, index per_task, float eps)
        : langevin_buffers<E>(energy, chains, per_task),
          proposal(static_cast<std::size_t>(energy.dimension() * chains)),
          proposal_gradient(static_cast<std::size_t>(energy.dimension() * chains)),
          proposal_energies(static_cast<std::size_t>(chains)),
          accepted(static_cast<std::size_t>(chains), 0),
          task_accepted(this->workspaces.size(), 0),
          task_non_finite(this->workspaces.size(), 0),
          task_accept_probability(this->workspaces.size(), 0.0),
          log_uniforms(static_cast<std::size_t>(chains)),
          epsilon(eps) {}

    /// Fraction of accepted proposals of chain i over the last run.
    [[nodiscard]] double chain_acceptance(index i, index steps) const {
        return steps == 0 ? 0.0 : static_cast<double>(accepted[static_cast<std::size_t>(i)]) / static_cast<double>(steps);
    }
};

}  // namespace detail

struct mala {
    float epsilon = 0.01f;
    index steps = 100;
    box clamp{};  // if enabled, proposals outside the box are rejected (exact MH for the restricted target)
    index chains_per_task = 50;

    template <class E>
    using state = detail::mala_buffers<E>;

    void validate() const {
        detail::require_positive("mala", "epsilon", epsilon);
        detail::require_finite("mala", "epsilon", epsilon);
        detail::check_common("mala", steps, chains_per_task, clamp);
    }
    [[nodiscard]] index steps_per_run() const { return steps; }
    [[nodiscard]] float step_size() const { return 0.5f * epsilon * epsilon; }

    template <energy_function E>
    [[nodiscard]] state<E> make_state(const E& energy, index max_chains) const {
        validate();
        detail::require_positive("mala::make_state", "max_chains", max_chains);
        return state<E>(energy, max_chains, chains_per_task, epsilon);
    }

    /// `steps` MALA steps with the state's step size (the policy's epsilon unless adapted).
    template <energy_function E>
    sampler_stats run(state<E>& st, const E& energy, batch_view x, const philox& rng, std::uint64_t first_step) const {
        return advance(st, energy, x, rng, first_step, steps, nullptr);
    }

    /// Warm-up: `warmup_steps` steps adapting the step size toward settings.target_acceptance by dual averaging;
    /// afterwards the state samples with the averaged step. Returns that step.
    template <energy_function E>
    float adapt(state<E>& st, const E& energy, batch_view x, const philox& rng, std::uint64_t first_step,
                index warmup_steps, const dual_averaging& settings = {}) const {
        detail::require_positive("mala::adapt", "warmup_steps", warmup_steps);
        dual_averaging_state adaptation(settings, st.epsilon);
        advance(st, energy, x, rng, first_step, warmup_steps, &adaptation);
        st.epsilon = static_cast<float>(adaptation.final_epsilon());
        return st.epsilon;
    }

private:
    template <class E>
    sampler_stats advance(state<E>& st, const E& energy, batch_view x, const philox& rng, std::uint64_t first_step,
                          index n_steps, dual_averaging_state* adaptation) const {
        detail::check_run_arguments("mala::run", energy.dimension(), st.max_chains, x, first_step, n_steps);
        const index dimension = x.dimension;
        const index tasks = detail::task_count(x.count, st.chains_per_task);
        std::fill(st.accepted.begin(), st.accepted.end(), 0);
        std::fill(st.task_accepted.begin(), st.task_accepted.end(), 0);
        std::fill(st.task_non_finite.begin(), st.task_non_finite.end(), 0);
        std::fill(st.task_gradient_norm.begin(), st.task_gradient_norm.end(), 0.0);

        // One step of one task; returns the sum of acceptance probabilities min(1, ratio).
        auto step_task = [&](index task, std::uint64_t step, float eps, bool want_probability) {
            const detail::task_range r = detail::task_chains(task, x.count, st.chains_per_task);
            const index offset = r.first * dimension;
            float* xv = x.data + offset;
            float* g = st.gradient.data() + offset;
            float* y = st.proposal.data() + offset;
            float* gy = st.proposal_gradient.data() + offset;
            float* z = st.noise.data() + offset;
            float* u = st.energies.data() + r.first;
            float* uy = st.proposal_energies.data() + r.first;
            auto& ws = st.workspaces[static_cast<std::size_t>(task)];
            const float h = 0.5f * eps * eps;
            const kernels::langevin_move move{h, eps, box{}};
            detail::fill_normal_chains(rng, purpose::langevin_noise, static_cast<std::uint32_t>(r.first), r.count, step, z,
                                       dimension);
            const index n = dimension * r.count;
#pragma omp simd
            for (index k = 0; k < n; ++k) y[k] = move(xv[k], g[k], z[k]);
            energy.energy_and_gradient(const_batch_view(y, dimension, r.count),
                                       std::span<float>(uy, static_cast<std::size_t>(r.count)),
                                       batch_view{gy, dimension, r.count}, ws);
            const kernels::mala_residuals residuals{h};
            float* log_u_task = st.log_uniforms.data() + r.first;  // log u of each chain's accept test, batched
            detail::fill_log_uniforms(rng, purpose::mala_accept, static_cast<std::uint32_t>(r.first), r.count, step,
                                      log_u_task);
            double probability_sum = 0;
            for (index i = 0; i < r.count; ++i) {
                const index base = i * dimension;
                float forward_sq = 0, backward_sq = 0;
                bool inside = true;
                for (index k = 0; k < dimension; ++k) {
                    residuals(xv[base + k], g[base + k], y[base + k], gy[base + k], forward_sq, backward_sq);
                    if (clamp.enabled() && (y[base + k] < clamp.low || y[base + k] > clamp.high)) inside = false;
                }
                const float log_u = log_u_task[i];
                const float two_noise_sq = 2.0f * eps * eps;
                const bool finite_proposal = std::isfinite(uy[i]) && std::isfinite(forward_sq) && std::isfinite(backward_sq);
                if (!finite_proposal) ++st.task_non_finite[static_cast<std::size_t>(task)];
                const bool accept =
                    inside && finite_proposal && kernels::mh_accept(log_u, u[i], uy[i], forward_sq, backward_sq, two_noise_sq);
                if (want_probability && inside && finite_proposal) {  // only adaptation reads it
                    const double log_ratio = static_cast<double>(u[i]) - uy[i] - (backward_sq - forward_sq) / two_noise_sq;
                    probability_sum += log_ratio >= 0 ? 1.0 : std::exp(log_ratio);
                }
                if (accept) {
                    std::copy(y + base, y + base + dimension, xv + base);
                    std::copy(gy + base, gy + base + dimension, g + base);
                    u[i] = uy[i];
                    ++st.accepted[static_cast<std::size_t>(r.first + i)];
                    ++st.task_accepted[static_cast<std::size_t>(task)];
                }
            }
            st.task_gradient_norm[static_cast<std::size_t>(task)] += detail::sum_of_norms(g, dimension, r.count);
            return probability_sum;
        };
        auto initialize_task = [&](index task) {
            const detail::task_range r = detail::task_chains(task, x.count, st.chains_per_task);
            const index offset = r.first * dimension;
            energy.energy_and_gradient(const_batch_view(x.data + offset, dimension, r.count),
                                       std::span<float>(st.energies.data() + r.first, static_cast<std::size_t>(r.count)),
                                       batch_view{st.gradient.data() + offset, dimension, r.count},
                                       st.workspaces[static_cast<std::size_t>(task)]);
            st.task_gradient_norm[static_cast<std::size_t>(task)] +=
                detail::sum_of_norms(st.gradient.data() + offset, dimension, r.count);
        };

        if (adaptation == nullptr) {
            const float eps = st.epsilon;
            cpu::parallel_tasks(tasks, [&](index task) {
                initialize_task(task);
                for (index l = 0; l < n_steps; ++l) step_task(task, first_step + static_cast<std::uint64_t>(l), eps, false);
            });
        } else {
            cpu::parallel_tasks(tasks, initialize_task);
            for (index l = 0; l < n_steps; ++l) {
                const float eps = static_cast<float>(adaptation->current());
                cpu::parallel_tasks(tasks, [&](index task) {
                    st.task_accept_probability[static_cast<std::size_t>(task)] =
                        step_task(task, first_step + static_cast<std::uint64_t>(l), eps, true);
                });
                double probability = 0;
                for (index t = 0; t < tasks; ++t) probability += st.task_accept_probability[static_cast<std::size_t>(t)];
                adaptation->update(probability / static_cast<double>(x.count));
            }
        }

        sampler_stats stats;
        double norm_total = 0, energy_total = 0;
        std::int64_t accepted_total = 0;
        for (index t = 0; t < tasks; ++t) {
            norm_total += st.task_gradient_norm[static_cast<std::size_t>(t)];
            accepted_total += st.task_accepted[static_cast<std::size_t>(t)];
            stats.non_finite_rejections += st.task_non_finite[static_cast<std::size_t>(t)];
        }
        for (index i = 0; i < x.count; ++i) energy_total += st.energies[static_cast<std::size_t>(i)];
        stats.mean_gradient_norm = norm_total / static_cast<double>(x.count * (n_steps + 1));
        stats.mean_displacement = 0.5 * static_cast<double>(st.epsilon) * st.epsilon * stats.mean_gradient_norm;
        stats.acceptance = n_steps == 0 ? 0.0 : static_cast<double>(accepted_total) / static_cast<double>(x.count * n_steps);
        stats.mean_energy = energy_total / static_cast<double>(x.count);
        return stats;
    }
};

}  // namespace ebm

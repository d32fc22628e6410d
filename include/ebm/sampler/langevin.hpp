#pragma once
// Unadjusted Langevin dynamics, x <- x - h dU/dx + s z, in two spellings:
//   langevin            Anatomy form (Eq. 9): h = eps^2/2, s = tau*eps (tau = noise on/off)
//   langevin_decoupled  short-run code form: h = lambda, s = sigma; implied temperature T = sigma^2 / (2 lambda)
// Chains are cut into tasks of `chains_per_task`; each task runs all its steps on one thread, so a run has no
// barrier per step and its result does not depend on the thread count.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../backend/cpu/cpu.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/sampler.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../kernels/langevin.hpp"
#include "../random/distributions.hpp"

namespace ebm {

using kernels::box;

namespace detail {

/// Per-run buffers of an unadjusted Langevin sampler, sized once for `max_chains` chains.
template <class E>
struct langevin_buffers {
    index max_chains = 0;
    index chains_per_task = 0;
    std::vector<typename E::workspace> workspaces;  // one per task
    aligned_vector<float> gradient;                 // dimension x max_chains
    aligned_vector<float> energies;                 // max_chains
    aligned_vector<float> noise;                    // dimension x max_chains
    std::vector<double> task_gradient_norm;         // per-task sums, reduced in task order
    std::vector<double> task_energy;

    langevin_buffers() = default;
    langevin_buffers(const E& energy, index chains, index per_task)
        : max_chains(chains),
          chains_per_task(split_chains_across_threads<E>() ? per_task : chains),
          gradient(static_cast<std::size_t>(energy.dimension() * chains)),
          energies(static_cast<std::size_t>(chains)),
          noise(static_cast<std::size_t>(energy.dimension() * chains)) {
        const index tasks = task_count(chains, chains_per_task);
        workspaces.reserve(static_cast<std::size_t>(tasks));
        for (index t = 0; t < tasks; ++t)
            workspaces.push_back(energy.make_workspace(task_chains(t, chains, chains_per_task).count));
        task_gradient_norm.assign(static_cast<std::size_t>(tasks), 0.0);
        task_energy.assign(static_cast<std::size_t>(tasks), 0.0);
    }

    [[nodiscard]] std::span<const float> final_energies(index count) const {
        return {energies.data(), static_cast<std::size_t>(count)};
    }
};

inline double sum_of_norms(const float* g, index dimension, index count) {
    double total = 0;
    for (index i = 0; i < count; ++i) {
        float sq = 0;
        for (index k = 0; k < dimension; ++k) sq += g[i * dimension + k] * g[i * dimension + k];
        total += std::sqrt(static_cast<double>(sq));
    }
    return total;
}

inline void check_run_arguments(std::string_view where, index dimension, index max_chains, batch_view x,
                                std::uint64_t first_step, index steps) {
    if (x.dimension != dimension) fail(where, "x dimension must equal the energy's dimension " + to_text(dimension), x.dimension);
    if (x.count <= 0 || x.count > max_chains)
        fail(where, "x must hold between 1 and max_chains = " + to_text(max_chains) + " chains", x.count);
    if (first_step + static_cast<std::uint64_t>(steps) > max_philox_step)
        fail(where, "first_step + steps must stay below 2^40", first_step);
}

template <class E>
sampler_stats run_langevin(const char* where, float step, float noise, index steps, box clamp,
                           langevin_buffers<E>& st, const E& energy, batch_view x, const philox& rng,
                           std::uint64_t first_step) {
    check_run_arguments(where, energy.dimension(), st.max_chains, x, first_step, steps);
    const index dimension = x.dimension;
    const index tasks = task_count(x.count, st.chains_per_task);
    const kernels::langevin_move move{step, noise, clamp};
    cpu::parallel_tasks(tasks, [&](index task) {
        const task_range r = task_chains(task, x.count, st.chains_per_task);
        const batch_view xs = x.chains(r.first, r.count);
        const batch_view g{st.gradient.data() + r.first * dimension, dimension, r.count};
        float* z = st.noise.data() + r.first * dimension;
        const std::span<float> u(st.energies.data() + r.first, static_cast<std::size_t>(r.count));
        auto& ws = st.workspaces[static_cast<std::size_t>(task)];
        double norm_sum = 0;
        for (index l = 0; l < steps; ++l) {
            energy.energy_and_gradient(xs, u, g, ws);
            norm_sum += sum_of_norms(g.data, dimension, r.count);
            if (noise != 0.0f)  // the task's chains in one batched (vectorised) pass; equals fill_normal per chain
                fill_normal_chains(rng, purpose::langevin_noise, static_cast<std::uint32_t>(r.first), r.count,
                                   first_step + static_cast<std::uint64_t>(l), z, dimension);
            const index n = dimension * r.count;
            float* xv = xs.data;
            const float* gv = g.data;
            if (noise != 0.0f) {
#pragma omp simd
                for (index k = 0; k < n; ++k) xv[k] = move(xv[k], gv[k], z[k]);
            } else {
#pragma omp simd
                for (index k = 0; k < n; ++k) xv[k] = move(xv[k], gv[k], 0.0f);
            }
        }
        energy.energy_and_gradient(xs, u, g, ws);  // the path's last state: its gradient norm and energy
        norm_sum += sum_of_norms(g.data, dimension, r.count);
        st.task_gradient_norm[static_cast<std::size_t>(task)] = norm_sum;
        double energy_sum = 0;
        for (float value : u) energy_sum += value;
        st.task_energy[static_cast<std::size_t>(task)] = energy_sum;
    });
    sampler_stats stats;
    double norm_total = 0, energy_total = 0;
    for (index t = 0; t < tasks; ++t) {
        norm_total += st.task_gradient_norm[static_cast<std::size_t>(t)];
        energy_total += st.task_energy[static_cast<std::size_t>(t)];
    }
    stats.mean_gradient_norm = norm_total / static_cast<double>(x.count * (steps + 1));
    stats.mean_displacement = static_cast<double>(step) * stats.mean_gradient_norm;
    stats.mean_energy = energy_total / static_cast<double>(x.count);
    return stats;
}

inline void check_common(const char* where, index steps, index chains_per_task, box clamp) {
    require_non_negative(where, "steps", steps);
    require_positive(where, "chains_per_task", chains_per_task);
    if (clamp.low == clamp.high) fail(where, "clamp box must have low < high (or low > high to disable)", clamp.low);
}

}  // namespace detail

/// Unadjusted Langevin in the Anatomy form: x <- x - (eps^2/2) dU/dx + tau * eps * z.
struct langevin {
    float epsilon = 0.01f;
    index steps = 100;
    bool noise = true;  // tau in Algorithm 1
    box clamp{};
    index chains_per_task = 50;

    template <class E>
    using state = detail::langevin_buffers<E>;

    void validate() const {
        detail::require_positive("langevin", "epsilon", epsilon);
        detail::require_finite("langevin", "epsilon", epsilon);
        detail::check_common("langevin", steps, chains_per_task, clamp);
    }
    [[nodiscard]] index steps_per_run() const { return steps; }
    [[nodiscard]] float step_size() const { return 0.5f * epsilon * epsilon; }
    [[nodiscard]] float noise_scale() const { return noise ? epsilon : 0.0f; }
    /// T = s^2 / (2h): 1 with noise (exact Langevin for exp(-U)), 0 without.
    [[nodiscard]] float implied_temperature() const { return noise ? 1.0f : 0.0f; }

    template <energy_function E>
    [[nodiscard]] state<E> make_state(const E& energy, index max_chains) const {
        validate();
        detail::require_positive("langevin::make_state", "max_chains", max_chains);
        return state<E>(energy, max_chains, chains_per_task);
    }
    template <energy_function E>
    sampler_stats run(state<E>& st, const E& energy, batch_view x, const philox& rng, std::uint64_t first_step) const {
        return detail::run_langevin("langevin::run", step_size(), noise_scale(), steps, clamp, st, energy, x, rng,
                                    first_step);
    }
};

/// Unadjusted Langevin in the decoupled form of the short-run code: x <- x - lambda dU/dx + sigma z.
/// It samples exp(-U/T) with T = sigma^2 / (2 lambda) in the small-step limit; the short-run defaults
/// (lambda 1, sigma 0.01) give T = 5e-5.
struct langevin_decoupled {
    float step_size_lambda = 1.0f;
    float noise_sigma = 0.01f;
    index steps = 100;
    box clamp{};
    index chains_per_task = 50;

    template <class E>
    using state = detail::langevin_buffers<E>;

    void validate() const {
        detail::require_positive("langevin_decoupled", "step_size_lambda", step_size_lambda);
        detail::require_finite("langevin_decoupled", "step_size_lambda", step_size_lambda);
        detail::require_non_negative("langevin_decoupled", "noise_sigma", noise_sigma);
        detail::check_common("langevin_decoupled", steps, chains_per_task, clamp);
    }
    [[nodiscard]] index steps_per_run() const { return steps; }
    [[nodiscard]] float step_size() const { return step_size_lambda; }
    [[nodiscard]] float noise_scale() const { return noise_sigma; }
    [[nodiscard]] float implied_temperature() const {
        return noise_sigma * noise_sigma / (2.0f * step_size_lambda);
    }

    template <energy_function E>
    [[nodiscard]] state<E> make_state(const E& energy, index max_chains) const {
        validate();
        detail::require_positive("langevin_decoupled::make_state", "max_chains", max_chains);
        return state<E>(energy, max_chains, chains_per_task);
    }
    template <energy_function E>
    sampler_stats run(state<E>& st, const E& energy, batch_view x, const philox& rng, std::uint64_t first_step) const {
        return detail::run_langevin("langevin_decoupled::run", step_size(), noise_scale(), steps, clamp, st, energy, x,
                                    rng, first_step);
    }
};

}  // namespace ebm

#pragma once
// Unadjusted Langevin dynamics, x <- x - h dU/dx + s z, in two spellings:
//   langevin            Anatomy form (Eq. 9): h = eps^2/2, s = tau*eps (tau = noise on/off)
//   langevin_decoupled  short-run code form: h = lambda, s = sigma; implied temperature T = sigma^2 / (2 lambda)
// The chain is written once, against the execution interface (backend/execution.hpp), for energies of either
// backend. On the CPU, chains are cut into groups of `chains_per_task`; each group runs all its steps on one thread,
// so a run has no barrier per step and its result does not depend on the thread count. On CUDA the batch is one
// group and the K steps are captured once as a CUDA graph and replayed every run; an energy that can run the whole
// chain in one kernel (cuda::mlp: runs_whole_langevin_chain) does so inside that graph.
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../concepts/sampler.hpp"
#include "../concepts/whole_langevin_chain.hpp"
#include "../energy/identity.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "../kernels/langevin.hpp"
#include "../random/philox.hpp"

namespace ebm {

using kernels::box;

namespace detail {

/// What a captured K-step chain depends on besides memory it reads at run time (CUDA graphs replay it while
/// this stays the same; the CPU ignores it): the energy, the batch, the seed (the noise kernels take the key of
/// Philox as an argument) and the sampler's hyper-parameters.
struct chain_key {
    energy_identity energy;
    const float* x = nullptr;
    index count = -1;
    index steps = -1;
    std::uint64_t seed = 0;
    float step = 0, noise = 0, clamp_low = 0, clamp_high = 0;
    bool adapt = false;
    const void* trace = nullptr;
    index leapfrog = 0;  // HMC's L
    bool cached = false;  // the run starts from cached energies and gradients (langevin_buffers::current_cached)
    friend bool operator==(const chain_key&, const chain_key&) = default;
};


/// Per-run buffers of an unadjusted Langevin sampler on energy E, in E's memory, sized once for max_chains.
template <class E>
struct langevin_buffers {
    using execution_type = execution_for<E>;
    template <class T>
    using buffer = typename execution_type::template buffer<T>;

    index max_chains = 0;
    index dimension = 0;
    index chains_per_task = 0;
    bool splittable = true;
    std::vector<typename E::workspace> workspaces;  // one per group of chains
    buffer<float> gradient;                         // dimension x max_chains
    buffer<float> energies;                         // max_chains
    buffer<float> noise;                            // dimension x max_chains (the CPU's batched noise)
    buffer<float> norms;                            // max_chains (per-chain gradient norms)
    buffer<double> totals;                          // per group: [2g] sum of norms, [2g + 1] sum of energies
    buffer<unsigned long long> non_finite_states;   // per group: chains whose final energy is not finite
    buffer<std::uint64_t> first_step;               // the run's first step, read by the kernels
    typename execution_type::template replay<chain_key> replay;  // replay.enabled = false: no CUDA graph
    std::vector<double> host_totals;
    std::vector<unsigned long long> host_non_finite_states;
    /// Set by ebm::markov_chain when `gradient` and `energies` hold those of the batch the next run starts from
    /// (the end of the last run): that run does not evaluate them again. Every run clears it.
    bool current_cached = false;

    langevin_buffers() = default;
    langevin_buffers(const E& energy, index chains, index per_task)
        : max_chains(chains),
          dimension(energy.dimension()),
          chains_per_task(per_task),
          splittable(split_chains_across_threads<E>()),
          gradient(execution_type::template make_buffer<float>(energy.dimension() * chains)),
          energies(execution_type::template make_buffer<float>(chains)),
          noise(execution_type::template make_buffer<float>(energy.dimension() * chains)),
          norms(execution_type::template make_buffer<float>(chains)),
          first_step(execution_type::template make_buffer<std::uint64_t>(1)) {
        const auto groups = execution_type::grouping(chains, per_task, splittable);
        workspaces.reserve(static_cast<std::size_t>(groups.groups()));
        for (index g = 0; g < groups.groups(); ++g) workspaces.push_back(energy.make_workspace(groups.range(g).count));
        totals = execution_type::template make_buffer<double>(2 * groups.groups());
        non_finite_states = execution_type::template make_buffer<unsigned long long>(groups.groups());
        host_totals.assign(static_cast<std::size_t>(2 * groups.groups()), 0.0);
        host_non_finite_states.assign(static_cast<std::size_t>(groups.groups()), 0);
    }

    [[nodiscard]] typename execution_type::lane lane() const { return execution_type::lane_of(workspaces.front()); }
    [[nodiscard]] typename execution_type::grouping_type grouping(index count) const {
        return execution_type::grouping(count, chains_per_task, splittable);
    }
    /// The energies of the final states of the last run (E's memory).
    [[nodiscard]] span_in<const float, memory_space_of_t<E>> final_energies(index count) const {
        return {energies.data(), static_cast<std::size_t>(count)};
    }

    /// Zeroes the group totals and writes the first step, on the first lane.
    void start(index groups, std::uint64_t step) {
        using X = execution_type;
        X::for_each(lane(), 2 * groups, kernels::fill_with<double>{totals.data(), 0.0});
        X::for_each(lane(), groups, kernels::fill_with<unsigned long long>{non_finite_states.data(), 0});
        X::set(lane(), first_step.data(), step);
    }
    struct run_totals {
        double norms = 0, energies = 0;
        std::int64_t non_finite_chains = 0;
    };
    /// Waits for the run and sums the group totals in group order.
    run_totals finish(index groups) {
        using X = execution_type;
        X::download(lane(), host_totals.data(), totals.data(), 2 * groups);
        X::download(lane(), host_non_finite_states.data(), non_finite_states.data(), groups);
        run_totals out;
        for (index g = 0; g < groups; ++g) {
            out.norms += host_totals[static_cast<std::size_t>(2 * g)];
            out.energies += host_totals[static_cast<std::size_t>(2 * g + 1)];
            out.non_finite_chains += static_cast<std::int64_t>(host_non_finite_states[static_cast<std::size_t>(g)]);
        }
        return out;
    }
};

template <class View>
void check_run_arguments(std::string_view where, index dimension, index max_chains, const View& x,
                         std::uint64_t first_step, index steps) {
    if (x.dimension != dimension) fail(where, "x dimension must equal the energy's dimension " + to_text(dimension), x.dimension);
    if (x.count <= 0 || x.count > max_chains)
        fail(where, "x must hold between 1 and max_chains = " + to_text(max_chains) + " chains", x.count);
    if (x.data == nullptr) fail(where, "x must not be null", "nullptr");
    if (first_step + static_cast<std::uint64_t>(steps) > max_philox_step)
        fail(where, "first_step + steps must stay below 2^40", first_step);
}

/// The unadjusted chain, once for both backends: per group, L times (energy and gradient, gradient norms, move with
/// noise), then the last state's energy and gradient norm.
template <class E>
sampler_stats run_langevin(const char* where, float step, float noise, index steps, box clamp,
                           langevin_buffers<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                           std::uint64_t first_step) {
    using X = execution_for<E>;
    using space = memory_space_of_t<E>;
    const bool cached = std::exchange(st.current_cached, false);
    check_run_arguments(where, energy.dimension(), st.max_chains, x, first_step, steps);
    const index d = x.dimension;
    const auto groups = st.grouping(x.count);
    st.start(groups.groups(), first_step);
    const kernels::langevin_move move{step, noise, clamp};
    auto body = [&] {
        X::for_groups(groups, [&](index g) {
            const detail::task_range r = groups.range(g);
            auto& ws = st.workspaces[static_cast<std::size_t>(g)];
            const auto lane = X::lane_of(ws);
            const basic_batch_view<space> xs = x.chains(r.first, r.count);
            const basic_batch_view<space> grad{st.gradient.data() + r.first * d, d, r.count};
            const span_in<float, space> u(st.energies.data() + r.first, static_cast<std::size_t>(r.count));
            float* norms = st.norms.data() + r.first;
            double* totals = st.totals.data() + 2 * g;
            bool whole_chain = false;
            if constexpr (runs_whole_langevin_chain<E>) {
                whole_chain = energy.runs_langevin_chain();
                if (whole_chain)
                    energy.run_langevin_chain(
                        kernels::langevin_chain{xs.data, grad.data, u.data(), norms, totals, d, r.count, steps, rng,
                                                static_cast<std::uint32_t>(r.first), st.first_step.data(), move,
                                                noise != 0.0f, cached},
                        ws);
            }
            for (index l = 0; !whole_chain; ++l) {
                if (l > 0 || !cached) energy.energy_and_gradient(basic_const_batch_view<space>(xs), u, grad, ws);
                X::add_chain_norms(lane, grad.data, d, r.count, norms, totals);
                if (l == steps) break;  // the path's last state: its norms and energy only
                const kernels::langevin_step s{xs.data, xs.data, grad.data, d, rng, static_cast<std::uint32_t>(r.first),
                                               {st.first_step.data(), static_cast<std::uint64_t>(l)}, move, noise != 0.0f};
                X::langevin_move(lane, s, r.count, st.noise.data() + r.first * d);
            }
            X::add_sum(lane, u.data(), r.count, totals + 1);
            X::count_non_finite(lane, u.data(), r.count, st.non_finite_states.data() + g);
        });
    };
    auto warmup = [&] {  // before a CUDA capture: the energy's plans for this batch size exist
        energy.energy_and_gradient(basic_const_batch_view<space>(x),
                                   span_in<float, space>(st.energies.data(), static_cast<std::size_t>(x.count)),
                                   basic_batch_view<space>{st.gradient.data(), d, x.count}, st.workspaces.front());
    };
    chain_key key{identity_of(energy), x.data, x.count, steps, rng.seed_value(), step, noise, clamp.low, clamp.high};
    key.cached = cached;
    st.replay.run(st.lane(), key, warmup, body);
    const auto totals = st.finish(groups.groups());
    sampler_stats stats;
    stats.mean_gradient_norm = totals.norms / static_cast<double>(x.count * (steps + 1));
    stats.mean_displacement = static_cast<double>(step) * stats.mean_gradient_norm;
    stats.mean_energy = totals.energies / static_cast<double>(x.count);
    stats.non_finite_chains = totals.non_finite_chains;
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
    sampler_stats run(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                      std::uint64_t first_step) const {
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
        detail::require_finite("langevin_decoupled", "noise_sigma", noise_sigma);
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
    sampler_stats run(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                      std::uint64_t first_step) const {
        return detail::run_langevin("langevin_decoupled::run", step_size(), noise_scale(), steps, clamp, st, energy, x,
                                    rng, first_step);
    }
};

}  // namespace ebm

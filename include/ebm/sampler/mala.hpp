#pragma once
// Metropolis-adjusted Langevin (MALA), equivalently one leapfrog step of HMC as in the Anatomy authors'
// evaluation code. Proposal y = x - (eps^2/2) dU/dx + eps z; accept if log u < U(x) - U(y) + log q(x|y) - log q(y|x),
// per chain, in log space. U and dU/dx of the current state are cached, so a step costs one evaluation.
// A proposal whose energy, gradient or ratio is NaN/Inf (or that leaves the clamp box) is rejected and the chain
// stays where it was.
//
// Written once for both backends (backend/execution.hpp). The step size lives in the execution's memory and the
// kernels read it there; with adaptation (adapt), a dual_averaging_step after every step updates it from the
// per-chain acceptance probabilities: on the host for the CPU backend, by one device thread on CUDA (so a CUDA
// warm-up is one graph with no host round trip).
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../kernels/langevin.hpp"
#include "../random/philox.hpp"
#include "adaptation.hpp"
#include "langevin.hpp"

namespace ebm {

namespace detail {

template <class E>
struct mala_buffers : langevin_buffers<E> {
    using execution_type = execution_for<E>;
    template <class T>
    using buffer = typename execution_type::template buffer<T>;

    buffer<float> proposal;                          // y, dimension x max_chains
    buffer<float> proposal_gradient;                 // dU/dx at y
    buffer<float> proposal_energies;
    buffer<float> log_uniforms;                      // the CPU's batched log u of one step, max_chains
    buffer<std::int64_t> accepted;                   // per chain, over the last run
    buffer<std::int64_t> non_finite;                 // per chain, over the last run
    buffer<double> probability;                      // per chain, min(1, ratio) of the last step
    buffer<float> step_size;                         // [0]: the step the kernels read
    buffer<dual_averaging_state> adaptation;         // [0]: the running adaptation
    buffer<dual_averaging_record> adaptation_trace;  // one record per warm-up step of the last adapt()
    std::vector<std::int64_t> host_accepted, host_non_finite;
    float epsilon = 0;          // the step in use; adaptation changes it
    index adaptation_steps = 0;  // records of the last adapt()

    mala_buffers() = default;
    mala_buffers(const E& energy, index chains, index per_task, float eps)
        : langevin_buffers<E>(energy, chains, per_task),
          proposal(execution_type::template make_buffer<float>(energy.dimension() * chains)),
          proposal_gradient(execution_type::template make_buffer<float>(energy.dimension() * chains)),
          proposal_energies(execution_type::template make_buffer<float>(chains)),
          log_uniforms(execution_type::template make_buffer<float>(chains)),
          accepted(execution_type::template make_buffer<std::int64_t>(chains)),
          non_finite(execution_type::template make_buffer<std::int64_t>(chains)),
          probability(execution_type::template make_buffer<double>(chains)),
          step_size(execution_type::template make_buffer<float>(1)),
          adaptation(execution_type::template make_buffer<dual_averaging_state>(1)),
          host_accepted(static_cast<std::size_t>(chains), 0),
          host_non_finite(static_cast<std::size_t>(chains), 0),
          epsilon(eps) {}

    /// What a checkpoint keeps: the step in use (adapted or the policy's); the rest is scratch.
    template <class Visitor>
    void checkpoint_fields(Visitor& v) {
        v.floats("sampler.epsilon", std::span<float>(&epsilon, 1));
    }

    /// Accepted proposals of chain i over the last run (host copy made when the run finished).
    [[nodiscard]] std::int64_t chain_accepted(index i) const { return host_accepted[static_cast<std::size_t>(i)]; }
    /// Fraction of accepted proposals of chain i over the last run of `steps` steps.
    [[nodiscard]] double chain_acceptance(index i, index steps) const {
        return steps == 0 ? 0.0 : static_cast<double>(chain_accepted(i)) / static_cast<double>(steps);
    }
    /// The records of the last adapt(), one per warm-up step.
    [[nodiscard]] std::vector<dual_averaging_record> adaptation_records() const {
        std::vector<dual_averaging_record> host(static_cast<std::size_t>(adaptation_steps));
        execution_type::download(this->lane(), host.data(), adaptation_trace.data(), adaptation_steps);
        return host;
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
    sampler_stats run(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                      std::uint64_t first_step) const {
        return advance("mala::run", st, energy, x, rng, first_step, steps, nullptr);
    }

    /// Warm-up: `warmup_steps` steps adapting the step size toward settings.target_acceptance by dual averaging;
    /// afterwards the state samples with the averaged step. Returns that step. The per-step records (acceptance fed
    /// to the update, next step, averaged step) are in st.adaptation_records().
    template <energy_function E>
    float adapt(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng, std::uint64_t first_step,
                index warmup_steps, const dual_averaging& settings = {}) const {
        detail::require_positive("mala::adapt", "warmup_steps", warmup_steps);
        const dual_averaging_state start(settings, st.epsilon);  // validates the settings
        using X = execution_for<E>;
        if (static_cast<index>(st.adaptation_trace.size()) < warmup_steps)  // before any capture
            st.adaptation_trace = X::template make_buffer<dual_averaging_record>(warmup_steps);
        st.adaptation_steps = 0;
        advance("mala::adapt", st, energy, x, rng, first_step, warmup_steps, &start);
        dual_averaging_state finished;
        X::download(st.lane(), &finished, st.adaptation.data(), 1);
        st.adaptation_steps = warmup_steps;
        st.epsilon = static_cast<float>(finished.final_epsilon());
        return st.epsilon;
    }

private:
    template <class E>
    sampler_stats advance(const char* where, state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                          std::uint64_t first_step, index n_steps, const dual_averaging_state* adaptation) const {
        using X = execution_for<E>;
        using space = memory_space_of_t<E>;
        detail::check_run_arguments(where, energy.dimension(), st.max_chains, x, first_step, n_steps);
        detail::require_positive(where, "the state's epsilon", st.epsilon);
        const index d = x.dimension;
        const auto groups = st.grouping(x.count);
        const auto lane0 = st.lane();
        st.start(groups.groups(), first_step);
        X::for_each(lane0, x.count, kernels::fill_with<std::int64_t>{st.accepted.data(), 0});
        X::for_each(lane0, x.count, kernels::fill_with<std::int64_t>{st.non_finite.data(), 0});
        if (adaptation != nullptr) {
            X::set(lane0, st.adaptation.data(), *adaptation);
            X::set(lane0, st.step_size.data(), static_cast<float>(adaptation->current()));
        } else {
            X::set(lane0, st.step_size.data(), st.epsilon);
        }

        struct group_views {
            detail::task_range r;
            typename X::lane lane;
            basic_batch_view<space> x, g, y, gy;
            float* u;
            float* uy;
        };
        auto views = [&](index group) {
            const detail::task_range r = groups.range(group);
            const index offset = r.first * d;
            return group_views{r,
                               X::lane_of(st.workspaces[static_cast<std::size_t>(group)]),
                               x.chains(r.first, r.count),
                               {st.gradient.data() + offset, d, r.count},
                               {st.proposal.data() + offset, d, r.count},
                               {st.proposal_gradient.data() + offset, d, r.count},
                               st.energies.data() + r.first,
                               st.proposal_energies.data() + r.first};
        };
        auto workspace = [&](index group) -> auto& { return st.workspaces[static_cast<std::size_t>(group)]; };
        auto count_span = [](float* p, index n) { return span_in<float, space>(p, static_cast<std::size_t>(n)); };

        // The current states' energies and gradients (cached for every step), and their norms.
        auto initialize = [&](index group) {
            const group_views v = views(group);
            energy.energy_and_gradient(basic_const_batch_view<space>(v.x), count_span(v.u, v.r.count), v.g,
                                       workspace(group));
            X::add_chain_norms(v.lane, v.g.data, d, v.r.count, st.norms.data() + v.r.first,
                               st.totals.data() + 2 * group);
        };
        // One step of one group: proposal, its energy and gradient, the accept step, the norms of the new states.
        auto step = [&](index group, index l) {
            const group_views v = views(group);
            const kernels::step_counter counter{st.first_step.data(), static_cast<std::uint64_t>(l)};
            const auto first = static_cast<std::uint32_t>(v.r.first);
            X::langevin_move(v.lane,
                             kernels::langevin_step{v.y.data, v.x.data, v.g.data, d, rng, first, counter,
                                                    kernels::langevin_move{}, true, st.step_size.data()},
                             v.r.count, st.noise.data() + v.r.first * d);
            energy.energy_and_gradient(basic_const_batch_view<space>(v.y), count_span(v.uy, v.r.count), v.gy,
                                       workspace(group));
            const kernels::mala_accept_arguments a{
                v.x.data, v.g.data, v.u, v.y.data, v.gy.data, v.uy, d, rng, first, counter, st.step_size.data(), clamp,
                kernels::mala_counters{st.accepted.data() + v.r.first, st.non_finite.data() + v.r.first,
                                       adaptation != nullptr ? st.probability.data() + v.r.first : nullptr,
                                       st.norms.data() + v.r.first}};
            X::mala_accept(v.lane, a, v.r.count, st.log_uniforms.data() + v.r.first);
            X::add_sum(v.lane, st.norms.data() + v.r.first, v.r.count, st.totals.data() + 2 * group);
        };
        auto body = [&] {
            if (adaptation == nullptr) {  // each group runs all its steps on its own (no barrier per step)
                X::for_groups(groups, [&](index group) {
                    initialize(group);
                    for (index l = 0; l < n_steps; ++l) step(group, l);
                });
            } else {  // every step waits for all groups, then the adaptation updates the step size
                X::for_groups(groups, initialize);
                for (index l = 0; l < n_steps; ++l) {
                    X::for_groups(groups, [&](index group) { step(group, l); });
                    X::for_each(lane0, 1,
                                kernels::dual_averaging_step{st.adaptation.data(), st.probability.data(), x.count,
                                                             st.step_size.data(), st.adaptation_trace.data(),
                                                             static_cast<index>(st.adaptation_trace.size())});
                }
            }
            X::for_groups(groups, [&](index group) {
                const group_views v = views(group);
                X::add_sum(v.lane, v.u, v.r.count, st.totals.data() + 2 * group + 1);
            });
        };
        auto warmup = [&] {  // before a CUDA capture: the energy's plans for this batch size exist
            energy.energy_and_gradient(basic_const_batch_view<space>(x), count_span(st.energies.data(), x.count),
                                       basic_batch_view<space>{st.gradient.data(), d, x.count}, st.workspaces.front());
        };
        const detail::chain_key key{detail::identity_of(energy), x.data, x.count, n_steps, rng.seed_value(), 0.0f, 0.0f,
                                    clamp.low, clamp.high, adaptation != nullptr,
                                    adaptation != nullptr ? static_cast<const void*>(st.adaptation_trace.data()) : nullptr};
        st.replay.run(lane0, key, warmup, body);

        const auto [norm_total, energy_total] = st.finish(groups.groups());
        X::download(lane0, st.host_accepted.data(), st.accepted.data(), x.count);
        X::download(lane0, st.host_non_finite.data(), st.non_finite.data(), x.count);
        sampler_stats stats;
        std::int64_t accepted_total = 0;
        for (index i = 0; i < x.count; ++i) {
            accepted_total += st.host_accepted[static_cast<std::size_t>(i)];
            stats.non_finite_rejections += st.host_non_finite[static_cast<std::size_t>(i)];
        }
        stats.mean_gradient_norm = norm_total / static_cast<double>(x.count * (n_steps + 1));
        stats.mean_displacement = 0.5 * static_cast<double>(st.epsilon) * st.epsilon * stats.mean_gradient_norm;
        stats.acceptance = n_steps == 0 ? 0.0 : static_cast<double>(accepted_total) / static_cast<double>(x.count * n_steps);
        stats.mean_energy = energy_total / static_cast<double>(x.count);
        return stats;
    }
};

}  // namespace ebm

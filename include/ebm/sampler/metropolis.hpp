#pragma once
// The Metropolis-adjusted chain shared by MALA (mala.hpp) and HMC (hmc.hpp), written once for both backends
// (backend/execution.hpp): the buffers of a run, the per-step order (proposal -> accept step -> norms) and the
// optional step-size adaptation by dual averaging. A sampler supplies only its proposal: from the current states
// (x, their energies and gradients, cached across the steps of a run) it writes the proposed states y with their
// energies and gradients, and says which sums the accept step compares (kernels::metropolis_accept_arguments).
//
// The step size lives in the execution's memory and the kernels read it there; with adaptation, a
// dual_averaging_step after every step updates it from the per-chain acceptance probabilities: on the host for the
// CPU backend, by one device thread on CUDA (so a CUDA warm-up is one graph with no host round trip).
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../kernels/langevin.hpp"
#include "../random/philox.hpp"
#include "adaptation.hpp"
#include "langevin.hpp"

namespace ebm::detail {

template <class E>
struct metropolis_buffers : langevin_buffers<E> {
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
    float epsilon = 0;           // the step in use; adaptation changes it
    index adaptation_steps = 0;  // records of the last adapt()

    metropolis_buffers() = default;
    metropolis_buffers(const E& energy, index chains, index per_task, float eps)
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

/// What a proposal works on: one group of chains (its range, lane and workspace) and the views into the buffers.
template <class E>
struct metropolis_group {
    using space = memory_space_of_t<E>;
    task_range range;
    typename execution_for<E>::lane lane;
    typename E::workspace* workspace;
    basic_batch_view<space> x, g, y, gy;
    float* u;
    float* uy;
    const float* epsilon;  // the step, in memory
    kernels::step_counter step;
    [[nodiscard]] std::uint32_t first_chain() const { return static_cast<std::uint32_t>(range.first); }
    [[nodiscard]] span_in<float, space> proposal_energies() const {
        return {uy, static_cast<std::size_t>(range.count)};
    }
};

/// The momenta an HMC proposal compares (null for MALA): see kernels::metropolis_accept_arguments.
struct proposal_momenta {
    const float* start = nullptr;
    const float* end = nullptr;
};

/// Runs n_steps Metropolis-adjusted steps: propose(group, step) enqueues the proposal of one group and returns its
/// momenta; with `adaptation` set, the step size is adapted after every step (all groups wait for each other).
/// `leapfrog` (HMC's L, 1 for MALA) only enters the CUDA graph's key.
template <class State, class E, class Propose>
sampler_stats run_metropolis(const char* where, State& st, const E& energy, batch_view_for<E> x, const philox& rng,
                             std::uint64_t first_step, index n_steps, const dual_averaging_state* adaptation, box clamp,
                             index leapfrog, Propose&& propose) {
    using X = execution_for<E>;
    using space = memory_space_of_t<E>;
    const bool cached = std::exchange(st.current_cached, false);
    check_run_arguments(where, energy.dimension(), st.max_chains, x, first_step, n_steps);
    require_positive(where, "the state's epsilon", st.epsilon);
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

    auto group_at = [&](index group, index l) {
        const task_range r = groups.range(group);
        const index offset = r.first * d;
        auto& ws = st.workspaces[static_cast<std::size_t>(group)];
        return metropolis_group<E>{r,
                                   X::lane_of(ws),
                                   &ws,
                                   x.chains(r.first, r.count),
                                   {st.gradient.data() + offset, d, r.count},
                                   {st.proposal.data() + offset, d, r.count},
                                   {st.proposal_gradient.data() + offset, d, r.count},
                                   st.energies.data() + r.first,
                                   st.proposal_energies.data() + r.first,
                                   st.step_size.data(),
                                   {st.first_step.data(), static_cast<std::uint64_t>(l)}};
    };
    // The current states' energies and gradients (kept for every step; given when the run starts from a cache),
    // and their norms.
    auto initialize = [&](index group) {
        const metropolis_group<E> v = group_at(group, 0);
        if (!cached)
            energy.energy_and_gradient(basic_const_batch_view<space>(v.x),
                                       span_in<float, space>(v.u, static_cast<std::size_t>(v.range.count)), v.g,
                                       *v.workspace);
        X::add_chain_norms(v.lane, v.g.data, d, v.range.count, st.norms.data() + v.range.first,
                           st.totals.data() + 2 * group);
    };
    // One step of one group: the proposal, the accept step, the norms of the new states.
    auto step = [&](index group, index l) {
        const metropolis_group<E> v = group_at(group, l);
        const proposal_momenta momenta = propose(v);
        const kernels::metropolis_accept_arguments a{
            v.x.data, v.g.data, v.u, v.y.data, v.gy.data, v.uy, d, rng, v.first_chain(), v.step, st.step_size.data(), clamp,
            kernels::mala_counters{st.accepted.data() + v.range.first, st.non_finite.data() + v.range.first,
                                   adaptation != nullptr ? st.probability.data() + v.range.first : nullptr,
                                   st.norms.data() + v.range.first},
            momenta.start, momenta.end};
        X::metropolis_accept(v.lane, a, v.range.count, st.log_uniforms.data() + v.range.first);
        X::add_sum(v.lane, st.norms.data() + v.range.first, v.range.count, st.totals.data() + 2 * group);
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
            const task_range r = groups.range(group);
            X::add_sum(X::lane_of(st.workspaces[static_cast<std::size_t>(group)]), st.energies.data() + r.first,
                       r.count, st.totals.data() + 2 * group + 1);
        });
    };
    auto warmup = [&] {  // before a CUDA capture: the energy's plans for this batch size exist
        energy.energy_and_gradient(basic_const_batch_view<space>(x),
                                   span_in<float, space>(st.energies.data(), static_cast<std::size_t>(x.count)),
                                   basic_batch_view<space>{st.gradient.data(), d, x.count}, st.workspaces.front());
    };
    chain_key key{identity_of(energy), x.data, x.count, n_steps, rng.seed_value(), 0.0f, 0.0f,
                  clamp.low, clamp.high, adaptation != nullptr,
                  adaptation != nullptr ? static_cast<const void*>(st.adaptation_trace.data()) : nullptr,
                  leapfrog};
    key.cached = cached;
    st.replay.run(lane0, key, warmup, body);

    const auto totals = st.finish(groups.groups());
    X::download(lane0, st.host_accepted.data(), st.accepted.data(), x.count);
    X::download(lane0, st.host_non_finite.data(), st.non_finite.data(), x.count);
    sampler_stats stats;
    std::int64_t accepted_total = 0;
    for (index i = 0; i < x.count; ++i) {
        accepted_total += st.host_accepted[static_cast<std::size_t>(i)];
        stats.non_finite_rejections += st.host_non_finite[static_cast<std::size_t>(i)];
    }
    stats.mean_gradient_norm = totals.norms / static_cast<double>(x.count * (n_steps + 1));
    stats.mean_displacement = 0.5 * static_cast<double>(st.epsilon) * st.epsilon * stats.mean_gradient_norm;
    stats.acceptance = n_steps == 0 ? 0.0 : static_cast<double>(accepted_total) / static_cast<double>(x.count * n_steps);
    stats.mean_energy = totals.energies / static_cast<double>(x.count);
    return stats;
}

/// The warm-up of an adapting sampler (mala::adapt, hmc::adapt): validates, sizes the trace before any capture,
/// runs `warmup_steps` adapting steps through `advance(start)` and returns the averaged step, now the state's.
template <class State, class Advance>
float adapt_step_size(const char* where, State& st, index warmup_steps, const dual_averaging& settings,
                      Advance&& advance) {
    require_positive(where, "warmup_steps", warmup_steps);
    const dual_averaging_state start(settings, st.epsilon);  // validates the settings
    using X = typename State::execution_type;
    if (static_cast<index>(st.adaptation_trace.size()) < warmup_steps)  // before any capture
        st.adaptation_trace = X::template make_buffer<dual_averaging_record>(warmup_steps);
    st.adaptation_steps = 0;
    advance(start);
    dual_averaging_state finished;
    X::download(st.lane(), &finished, st.adaptation.data(), 1);
    st.adaptation_steps = warmup_steps;
    st.epsilon = static_cast<float>(finished.final_epsilon());
    return st.epsilon;
}

}  // namespace ebm::detail

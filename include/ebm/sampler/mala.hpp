#pragma once
// Metropolis-adjusted Langevin (MALA), equivalently one leapfrog step of HMC as in the Anatomy authors'
// evaluation code. Proposal y = x - (eps^2/2) dU/dx + eps z; accept if log u < U(x) - U(y) + log q(x|y) - log q(y|x),
// per chain, in log space. U and dU/dx of the current state are cached, so a step costs one evaluation.
// A proposal whose energy, gradient or ratio is NaN/Inf (or that leaves the clamp box) is rejected and the chain
// stays where it was.
//
// Written once for both backends: the chain, its buffers and the step-size adaptation (adapt) are the Metropolis
// chain of metropolis.hpp, which HMC (hmc.hpp) shares; this file gives its proposal.
#include <cstdint>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../kernels/langevin.hpp"
#include "../random/philox.hpp"
#include "adaptation.hpp"
#include "langevin.hpp"
#include "metropolis.hpp"

namespace ebm {

struct mala {
    float epsilon = 0.01f;
    index steps = 100;
    box clamp{};  // if enabled, proposals outside the box are rejected (exact MH for the restricted target)
    index chains_per_task = 50;

    template <class E>
    using state = detail::metropolis_buffers<E>;

    void validate() const {
        detail::require_positive("mala", "epsilon", epsilon);
        detail::require_finite("mala", "epsilon", epsilon);
        detail::check_common("mala", steps, chains_per_task, clamp);
    }
    [[nodiscard]] index steps_per_run() const { return steps; }
    [[nodiscard]] float step_size() const { return 0.5f * epsilon * epsilon; }
    /// Evaluations of dU/dx per step (the proposal's).
    [[nodiscard]] index gradients_per_step() const { return 1; }

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
        return detail::adapt_step_size("mala::adapt", st, warmup_steps, settings, [&](const dual_averaging_state& start) {
            advance("mala::adapt", st, energy, x, rng, first_step, warmup_steps, &start);
        });
    }

private:
    template <class E>
    sampler_stats advance(const char* where, state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                          std::uint64_t first_step, index n_steps, const dual_averaging_state* adaptation) const {
        using X = execution_for<E>;
        using space = memory_space_of_t<E>;
        const index d = x.dimension;
        // y = x - (eps^2/2) dU/dx + eps z (eps read from memory), then U(y) and dU/dx(y).
        auto propose = [&](const detail::metropolis_group<E>& v) {
            X::langevin_move(v.lane,
                             kernels::langevin_step{v.y.data, v.x.data, v.g.data, d, rng, v.first_chain(), v.step,
                                                    kernels::langevin_move{}, true, v.epsilon},
                             v.range.count, st.noise.data() + v.range.first * d);
            energy.energy_and_gradient(basic_const_batch_view<space>(v.y), v.proposal_energies(), v.gy, *v.workspace);
            return detail::proposal_momenta{};
        };
        return detail::run_metropolis(where, st, energy, x, rng, first_step, n_steps, adaptation, clamp, 1, propose);
    }
};

}  // namespace ebm

#pragma once
// Hamiltonian Monte Carlo with a unit mass matrix: per step, a momentum p_0 ~ N(0, I), L leapfrog steps of size eps
// from (x, p_0) to (y, p_L), then a Metropolis test on H = U + |p|^2 / 2: accept if
// log u < U(x) - U(y) - (|p_L|^2 - |p_0|^2) / 2. A proposal whose energy, gradient or ratio is NaN/Inf (or that ends
// outside the clamp box) is rejected and the chain stays where it was. U and dU/dx of the current state are cached,
// so a step costs L evaluations.
//
// The momentum is drawn from the stream MALA draws its noise from (purpose::langevin_noise, chain, step) and log u
// from MALA's (purpose::mala_accept): with L = 1, HMC is MALA -- the same proposal and the same test up to rounding --
// and draws the same numbers. The chain, its buffers and the step-size adaptation (adapt, target acceptance 0.65 by
// default) are the Metropolis chain of metropolis.hpp, shared with MALA, on both backends.
#include <cstdint>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "../kernels/hamiltonian.hpp"
#include "../kernels/noise.hpp"
#include "../random/philox.hpp"
#include "adaptation.hpp"
#include "langevin.hpp"
#include "metropolis.hpp"

namespace ebm {

namespace detail {

/// HMC's buffers: the Metropolis chain's and the two momenta.
template <class E>
struct hmc_buffers : metropolis_buffers<E> {
    using typename metropolis_buffers<E>::execution_type;
    typename execution_type::template buffer<float> momentum_start;  // p_0, dimension x max_chains
    typename execution_type::template buffer<float> momentum;        // p along the trajectory, then p_L

    hmc_buffers() = default;
    hmc_buffers(const E& energy, index chains, index per_task, float eps)
        : metropolis_buffers<E>(energy, chains, per_task, eps),
          momentum_start(execution_type::template make_buffer<float>(energy.dimension() * chains)),
          momentum(execution_type::template make_buffer<float>(energy.dimension() * chains)) {}
};

}  // namespace detail

/// The adaptation HMC uses by default: dual averaging toward acceptance 0.65 (Beskos et al. 2013; Stan's default
/// for static HMC is 0.8, BlackJAX's window adaptation 0.8: pass other settings to adapt()).
inline constexpr dual_averaging hmc_dual_averaging{.target_acceptance = 0.65};

struct hmc {
    float epsilon = 0.1f;    // leapfrog step
    index leapfrog = 10;     // L: leapfrog steps (gradient evaluations) per MCMC step
    index steps = 100;       // MCMC steps per run
    box clamp{};             // if enabled, trajectories ending outside the box are rejected
    index chains_per_task = 50;

    template <class E>
    using state = detail::hmc_buffers<E>;

    void validate() const {
        detail::require_positive("hmc", "epsilon", epsilon);
        detail::require_finite("hmc", "epsilon", epsilon);
        detail::require_positive("hmc", "leapfrog", leapfrog);
        detail::check_common("hmc", steps, chains_per_task, clamp);
    }
    [[nodiscard]] index steps_per_run() const { return steps; }
    /// The gradient step of a trajectory's first move, x -> x - (eps^2/2) dU/dx + eps p_0: the h of r_t = h v_t.
    [[nodiscard]] float step_size() const { return 0.5f * epsilon * epsilon; }
    /// Evaluations of dU/dx per step (one per leapfrog step).
    [[nodiscard]] index gradients_per_step() const { return leapfrog; }

    template <energy_function E>
    [[nodiscard]] state<E> make_state(const E& energy, index max_chains) const {
        validate();
        detail::require_positive("hmc::make_state", "max_chains", max_chains);
        return state<E>(energy, max_chains, chains_per_task, epsilon);
    }

    /// `steps` HMC steps with the state's leapfrog step (the policy's epsilon unless adapted).
    template <energy_function E>
    sampler_stats run(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                      std::uint64_t first_step) const {
        return advance("hmc::run", st, energy, x, rng, first_step, steps, nullptr);
    }

    /// Warm-up: `warmup_steps` steps adapting the leapfrog step toward settings.target_acceptance by dual averaging
    /// (hmc_dual_averaging: 0.65 by default); afterwards the state samples with the averaged step, which this
    /// returns. The per-step records are in st.adaptation_records().
    template <energy_function E>
    float adapt(state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng, std::uint64_t first_step,
                index warmup_steps, const dual_averaging& settings = hmc_dual_averaging) const {
        return detail::adapt_step_size("hmc::adapt", st, warmup_steps, settings, [&](const dual_averaging_state& start) {
            advance("hmc::adapt", st, energy, x, rng, first_step, warmup_steps, &start);
        });
    }

private:
    template <class E>
    sampler_stats advance(const char* where, state<E>& st, const E& energy, batch_view_for<E> x, const philox& rng,
                          std::uint64_t first_step, index n_steps, const dual_averaging_state* adaptation) const {
        using X = execution_for<E>;
        using space = memory_space_of_t<E>;
        validate();
        const index d = x.dimension;
        // p_0 ~ N(0, I); L leapfrog steps from (x, p_0) to (y, p_L), each followed by U(y) and dU/dx(y).
        auto propose = [&](const detail::metropolis_group<E>& v) {
            const index n = v.range.count * d;
            float* p0 = st.momentum_start.data() + v.range.first * d;
            float* p = st.momentum.data() + v.range.first * d;
            X::for_each(v.lane, v.range.count * kernels::blocks_per_chain(d),
                        kernels::normal_fill{p0, d, rng, purpose::langevin_noise, v.first_chain(), v.step, 1.0f});
            for (index j = 0; j < leapfrog; ++j) {
                const bool first = j == 0;
                X::for_each(v.lane, n,
                            kernels::leapfrog_drift{v.y.data, first ? v.x.data : v.y.data, p, first ? p0 : p,
                                                    first ? v.g.data : v.gy.data, v.epsilon, first ? 0.5f : 1.0f});
                energy.energy_and_gradient(basic_const_batch_view<space>(v.y), v.proposal_energies(), v.gy,
                                           *v.workspace);
            }
            X::for_each(v.lane, n, kernels::leapfrog_kick{p, v.gy.data, v.epsilon});
            return detail::proposal_momenta{p0, p};
        };
        return detail::run_metropolis(where, st, energy, x, rng, first_step, n_steps, adaptation, clamp, leapfrog,
                                      propose);
    }
};

}  // namespace ebm

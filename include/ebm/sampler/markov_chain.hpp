#pragma once
// A batch of chains that runs on from where it stopped: markov_chain owns a sampler's state and the step counter of
// the noise streams, so that run after run continues them (a policy's low-level run(state, energy, x, rng,
// first_step) draws the same noise again when given the same first_step twice), and it keeps the current states'
// energies and gradients between runs, so that a run of K steps costs K gradient evaluations, not K + 1 (the
// low-level run evaluates its starting states; MALA and HMC need their energies, ULA its gradient).
//
// Between runs the batch belongs to the chain: after changing the states or the energy's parameters from outside
// (a trainer's update, a rejuvenated chain), call states_changed(), and the next run evaluates them again.
//
//   ebm::markov_chain chain(ebm::mala{.epsilon = 0.1f, .steps = 10}, energy, x.view(), ebm::philox(seed));
//   chain.adapt(500);                        // MALA and HMC: warm-up toward the target acceptance
//   for (int draw = 0; draw < 1000; ++draw) {
//       const ebm::sampler_stats s = chain.run();  // 10 steps from where the last run stopped
//       record(x);
//   }
//
// A run of k steps followed by one of m steps gives the bits of one run of k + m steps (tests/unit/sampler).
#include <cstdint>

#include "../batch.hpp"
#include "../concepts/sampler.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"

namespace ebm {

template <class Sampler, class E>
    requires sampler<Sampler, E>
class markov_chain {
public:
    using state_type = typename Sampler::template state<E>;

    /// Chains x of `energy` (which must outlive the chain), the first run starting at step first_step.
    markov_chain(Sampler policy, const E& energy, batch_view_for<E> x, const philox& rng, std::uint64_t first_step = 0)
        : policy_(checked(policy, energy, x, first_step)),
          energy_(&energy),
          x_(x),
          rng_(rng),
          next_step_(first_step),
          state_(policy_.make_state(energy, x.count)) {}

    // One chain per batch: a copy would run a second chain on the same states with the same counter.
    markov_chain(const markov_chain&) = delete;
    markov_chain& operator=(const markov_chain&) = delete;
    markov_chain(markov_chain&&) noexcept = default;
    markov_chain& operator=(markov_chain&&) noexcept = default;

    /// steps_per_run() steps of the policy, from where the last run stopped.
    sampler_stats run() { return advance(policy_); }

    /// `steps` steps (a policy with a `steps` member: the library's samplers), from where the last run stopped.
    sampler_stats run(index steps)
        requires requires(Sampler s) { s.steps = steps; }
    {
        detail::require_non_negative("markov_chain::run", "steps", steps);
        Sampler policy = policy_;
        policy.steps = steps;
        return advance(policy);
    }

    /// Warm-up of an adapting sampler (mala, hmc): `warmup_steps` steps adapting the step size, which is then the
    /// state's; returns it.
    float adapt(index warmup_steps)
        requires requires(const Sampler& s, state_type& st, const E& e, batch_view_for<E> x, const philox& r) {
            { s.adapt(st, e, x, r, std::uint64_t{0}, index{1}) } -> std::convertible_to<float>;
        }
    {
        detail::require_positive("markov_chain::adapt", "warmup_steps", warmup_steps);
        start();
        const float epsilon = policy_.adapt(state_, *energy_, x_, rng_, next_step_, warmup_steps);
        finish(static_cast<std::uint64_t>(warmup_steps));
        return epsilon;
    }

    /// The states (or the energy's parameters) were changed from outside: the next run evaluates them again.
    void states_changed() { cached_ = false; }

    /// The step the next run starts at.
    [[nodiscard]] std::uint64_t next_step() const { return next_step_; }
    [[nodiscard]] batch_view_for<E> states() const { return x_; }
    [[nodiscard]] const Sampler& policy() const { return policy_; }
    /// The sampler's state (acceptance per chain, adaptation records, ...).
    [[nodiscard]] state_type& state() { return state_; }
    [[nodiscard]] const state_type& state() const { return state_; }

private:
    static const Sampler& checked(const Sampler& policy, const E& energy, batch_view_for<E> x, std::uint64_t first_step) {
        const char* where = "markov_chain";
        if (x.data == nullptr) detail::fail(where, "x must not be null", "nullptr");
        detail::require_positive(where, "x.count", x.count);
        if (x.dimension != energy.dimension())
            detail::fail(where, "x dimension must equal the energy's dimension " + detail::to_text(energy.dimension()),
                         x.dimension);
        if (first_step >= max_philox_step) detail::fail(where, "first_step must stay below 2^40", first_step);
        return policy;
    }
    // The policies of this library read the cache flag of their state; any other sampler runs as it always does.
    void start() {
        if constexpr (requires { state_.current_cached; }) state_.current_cached = cached_;
        cached_ = false;  // until the run has finished
    }
    void finish(std::uint64_t steps) {
        next_step_ += steps;
        cached_ = true;
    }
    sampler_stats advance(const Sampler& policy) {
        start();
        const sampler_stats stats = policy.run(state_, *energy_, x_, rng_, next_step_);
        finish(static_cast<std::uint64_t>(policy.steps_per_run()));
        return stats;
    }

    Sampler policy_;
    const E* energy_;
    batch_view_for<E> x_;
    philox rng_;
    std::uint64_t next_step_;
    state_type state_;
    bool cached_ = false;
};

}  // namespace ebm

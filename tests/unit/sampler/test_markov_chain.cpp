// markov_chain (sampler/markov_chain.hpp): runs continue the step counter and reuse the cached energies and
// gradients, with the bits of the low-level runs; gradient evaluations counted; states_changed(); validation.
#include <doctest/doctest.h>

#include <ebm/energy/sampling_targets.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/sampler/markov_chain.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "../common/expect_error.hpp"

namespace {

// The banana target, counting the chains whose energy and gradient are evaluated.
struct counting_banana {
    using workspace = ebm::banana<>::workspace;
    ebm::banana<> target;
    std::shared_ptr<std::atomic<long>> gradients = std::make_shared<std::atomic<long>>(0);

    [[nodiscard]] ebm::index dimension() const { return target.dimension(); }
    [[nodiscard]] workspace make_workspace(ebm::index n) const { return target.make_workspace(n); }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace& ws) const { target.energy(x, u, ws); }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        *gradients += x.count;
        target.energy_and_gradient(x, u, g, ws);
    }
};

ebm::batch start_states(ebm::index chains) {
    ebm::batch x(2, chains);
    ebm::banana<>().sample(x.view(), ebm::philox(5), ebm::purpose::evaluation, 0);
    return x;
}

bool same_bits(const ebm::batch& a, const ebm::batch& b) {
    return std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.view().size()) * sizeof(float)) == 0;
}

bool same_stats(const ebm::sampler_stats& a, const ebm::sampler_stats& b) {
    return a.mean_gradient_norm == b.mean_gradient_norm && a.mean_energy == b.mean_energy &&
           a.acceptance == b.acceptance && a.non_finite_rejections == b.non_finite_rejections;
}

// Runs of `steps` each through the chain and through the low-level run (first_step counted by hand) give the
// same states and statistics; the chain evaluates K gradients per run of K steps after its first run.
template <class Sampler>
void check_against_low_level(Sampler policy, ebm::index gradients_per_step) {
    const ebm::index chains = 37, runs = 4;
    policy.chains_per_task = 10;
    const ebm::philox rng(ebm::seed{2024});
    const counting_banana energy;
    ebm::batch a = start_states(chains), b = start_states(chains);
    ebm::markov_chain chain(policy, energy, a.view(), rng, 100);
    auto st = policy.make_state(energy, chains);
    std::uint64_t step = 100;
    long chain_gradients = 0, plain_gradients = 0;
    for (ebm::index r = 0; r < runs; ++r) {
        long before = *energy.gradients;
        const ebm::sampler_stats s = chain.run();
        chain_gradients += *energy.gradients - before;
        before = *energy.gradients;
        const ebm::sampler_stats t = policy.run(st, energy, b.view(), rng, step);
        plain_gradients += *energy.gradients - before;
        step += static_cast<std::uint64_t>(policy.steps);
        CHECK(same_bits(a, b));
        CHECK(same_stats(s, t));
    }
    CHECK(chain.next_step() == step);
    // ULA evaluates its last state (for its statistics) and MALA/HMC their first: the low-level runs evaluate one
    // state per run more than the chain, which evaluates it once, in its first run.
    const long per_run = policy.steps * gradients_per_step * chains;
    CHECK(chain_gradients == runs * per_run + chains);
    CHECK(plain_gradients == runs * (per_run + chains));
}

}  // namespace

TEST_CASE("markov_chain: run after run equals the low-level runs bit for bit, with one evaluation per step") {
    SUBCASE("langevin") { check_against_low_level(ebm::langevin{.epsilon = 0.2f, .steps = 5}, 1); }
    SUBCASE("langevin_decoupled") {
        check_against_low_level(ebm::langevin_decoupled{.step_size_lambda = 0.02f, .noise_sigma = 0.2f, .steps = 5}, 1);
    }
    SUBCASE("mala") { check_against_low_level(ebm::mala{.epsilon = 0.3f, .steps = 5}, 1); }
    SUBCASE("hmc") { check_against_low_level(ebm::hmc{.epsilon = 0.2f, .leapfrog = 3, .steps = 5}, 3); }
}

TEST_CASE("markov_chain: runs of k and m steps are one run of k + m, adapt continues the counter") {
    const ebm::index chains = 21;
    const ebm::philox rng(ebm::seed{7});
    const ebm::banana<> energy;
    ebm::batch a = start_states(chains), b = start_states(chains);
    ebm::markov_chain chain(ebm::hmc{.epsilon = 0.25f, .leapfrog = 4, .steps = 10}, energy, a.view(), rng);
    chain.run(3);
    chain.run(7);
    CHECK(chain.next_step() == 10);
    ebm::markov_chain whole(ebm::hmc{.epsilon = 0.25f, .leapfrog = 4, .steps = 10}, energy, b.view(), rng);
    whole.run();
    CHECK(same_bits(a, b));

    // Warm-up: the adapted step equals the low-level adapt's, and the next run starts after the warm-up.
    ebm::batch c = start_states(chains), d = start_states(chains);
    const ebm::mala policy{.epsilon = 0.3f, .steps = 4};
    ebm::markov_chain adapted(policy, energy, c.view(), rng, 50);
    const float eps = adapted.adapt(60);
    CHECK(adapted.next_step() == 110);
    auto st = policy.make_state(energy, chains);
    CHECK(policy.adapt(st, energy, d.view(), rng, 50, 60) == eps);
    adapted.run();
    policy.run(st, energy, d.view(), rng, 110);
    CHECK(same_bits(c, d));
}

TEST_CASE("markov_chain: states changed from outside are evaluated again after states_changed()") {
    const ebm::index chains = 16;
    const ebm::philox rng(ebm::seed{11});
    const ebm::banana<> energy;
    const ebm::mala policy{.epsilon = 0.3f, .steps = 3};
    ebm::batch a = start_states(chains), b = start_states(chains);
    ebm::markov_chain chain(policy, energy, a.view(), rng);
    auto st = policy.make_state(energy, chains);
    chain.run();
    policy.run(st, energy, b.view(), rng, 0);
    for (ebm::index k = 0; k < a.view().size(); ++k) {  // a trainer's update, a rejuvenation
        a.data()[k] *= 0.5f;
        b.data()[k] *= 0.5f;
    }
    chain.states_changed();
    const ebm::sampler_stats s = chain.run();
    const ebm::sampler_stats t = policy.run(st, energy, b.view(), rng, 3);
    CHECK(same_bits(a, b));
    CHECK(same_stats(s, t));
}

// One chain per batch: moved, never copied.
static_assert(!std::is_copy_constructible_v<ebm::markov_chain<ebm::langevin, ebm::banana<>>>);
static_assert(std::is_move_constructible_v<ebm::markov_chain<ebm::hmc, ebm::banana<>>>);

TEST_CASE("markov_chain: its arguments are checked, with messages naming them") {
    const ebm::banana<> energy;
    ebm::batch x = start_states(4), wrong(3, 4);
    const ebm::philox rng(1);
    const ebm::langevin ula{.epsilon = 0.1f, .steps = 2};
    using chain_type = ebm::markov_chain<ebm::langevin, ebm::banana<>>;
    EBM_CHECK_ERROR((chain_type(ula, energy, wrong.view(), rng)), "markov_chain", "x dimension", "3");
    EBM_CHECK_ERROR((chain_type(ula, energy, ebm::batch_view{nullptr, 2, 4}, rng)), "markov_chain", "must not be null");
    EBM_CHECK_ERROR((chain_type(ula, energy, x.view(), rng, ebm::max_philox_step)), "markov_chain", "first_step");
    chain_type chain(ula, energy, x.view(), rng);
    EBM_CHECK_ERROR(chain.run(-1), "markov_chain::run", "steps", "-1");
    ebm::markov_chain mala_chain(ebm::mala{.epsilon = 0.1f, .steps = 2}, energy, x.view(), rng);
    EBM_CHECK_ERROR(mala_chain.adapt(0), "markov_chain::adapt", "warmup_steps", "0");
    // A run past the end of the streams is refused by the sampler's own check.
    chain_type late(ula, energy, x.view(), rng, ebm::max_philox_step - 1);
    EBM_CHECK_ERROR(late.run(), "langevin::run", "first_step");
}

// The library's types model the concepts; a type missing a member does not (the concepts used as booleans).
#include <doctest/doctest.h>

#include <ebm/ebm.hpp>

#include <span>

namespace {

// A complete energy, then copies that each lack one member.
struct good_energy {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 1; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view, std::span<float>, workspace&) const {}
    void energy_and_gradient(ebm::const_batch_view, std::span<float>, ebm::batch_view, workspace&) const {}
};
struct energy_without_workspace {
    [[nodiscard]] ebm::index dimension() const { return 1; }
    [[nodiscard]] int make_workspace(ebm::index) const { return 0; }
    void energy(ebm::const_batch_view, std::span<float>, int&) const {}
    void energy_and_gradient(ebm::const_batch_view, std::span<float>, ebm::batch_view, int&) const {}
};
struct energy_without_gradient {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 1; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view, std::span<float>, workspace&) const {}
};
struct energy_without_dimension {
    struct workspace {};
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view, std::span<float>, workspace&) const {}
    void energy_and_gradient(ebm::const_batch_view, std::span<float>, ebm::batch_view, workspace&) const {}
};
struct energy_not_copyable : good_energy {
    energy_not_copyable() = default;
    energy_not_copyable(const energy_not_copyable&) = delete;
};

struct learnable_without_gradient : good_energy {
    [[nodiscard]] ebm::index parameter_count() const { return 0; }
    [[nodiscard]] std::span<float> parameters() { return {}; }
    [[nodiscard]] std::span<const float> parameters() const { return {}; }
};
struct learnable_complete : learnable_without_gradient {
    void accumulate_parameter_gradient(ebm::const_batch_view, std::span<const float>, std::span<float>, std::span<float>,
                                       workspace&) const {}
};

struct optimizer_without_state {
    float step(int&, std::span<float>, std::span<const float>) const { return 0; }
};
struct optimizer_complete {
    struct state {};
    [[nodiscard]] state make_state(ebm::index) const { return {}; }
    float step(state&, std::span<float>, std::span<const float>) const { return 0; }
};
struct optimizer_step_returns_nothing {
    struct state {};
    [[nodiscard]] state make_state(ebm::index) const { return {}; }
    void step(state&, std::span<float>, std::span<const float>) const {}
};

struct initializer_without_write_back {
    struct state {};
    [[nodiscard]] state make_state(ebm::index, ebm::index, const ebm::philox&) const { return {}; }
    void draw(state&, ebm::batch_view, ebm::const_batch_view, const ebm::philox&, std::uint64_t) const {}
};
struct initializer_complete : initializer_without_write_back {
    void write_back(state&, ebm::const_batch_view) const {}
};

struct sampler_without_steps {
    template <class E>
    struct state {};
    template <class E>
    [[nodiscard]] state<E> make_state(const E&, ebm::index) const { return {}; }
    template <class E>
    ebm::sampler_stats run(state<E>&, const E&, ebm::batch_view, const ebm::philox&, std::uint64_t) const { return {}; }
};
struct sampler_complete : sampler_without_steps {
    [[nodiscard]] ebm::index steps_per_run() const { return 1; }
};

using scaled_mlp = ebm::scaled_energy<ebm::mlp>;
using scaled_gmm = ebm::scaled_energy<ebm::gaussian_mixture>;

}  // namespace

// Library types.
static_assert(ebm::energy_function<ebm::gaussian_mixture>);
static_assert(ebm::energy_function<ebm::ring_mixture>);
static_assert(ebm::energy_function<ebm::mlp>);
static_assert(ebm::energy_function<scaled_mlp>);
static_assert(ebm::energy_function<scaled_gmm>);
static_assert(ebm::learnable_energy<ebm::mlp>);
static_assert(ebm::learnable_energy<scaled_mlp>);
static_assert(!ebm::learnable_energy<ebm::gaussian_mixture>);
static_assert(!ebm::learnable_energy<scaled_gmm>);  // scaling keeps "not learnable"
static_assert(ebm::sampler<ebm::langevin, ebm::mlp>);
static_assert(ebm::sampler<ebm::langevin_decoupled, ebm::mlp>);
static_assert(ebm::sampler<ebm::mala, ebm::mlp>);
static_assert(ebm::sampler<ebm::mala, ebm::gaussian_mixture>);
static_assert(ebm::sampler<ebm::langevin, scaled_mlp>);
static_assert(ebm::chain_initializer<ebm::uniform_noise>);
static_assert(ebm::chain_initializer<ebm::gaussian_noise>);
static_assert(ebm::chain_initializer<ebm::data_init>);
static_assert(ebm::chain_initializer<ebm::persistent_bank<ebm::uniform_noise>>);
static_assert(ebm::chain_initializer<ebm::persistent_bank<ebm::gaussian_noise>>);
static_assert(ebm::optimizer<ebm::sgd>);
static_assert(ebm::optimizer<ebm::adam>);
static_assert(ebm::check_energy_function<ebm::gaussian_mixture>());
static_assert(ebm::check_learnable_energy<ebm::mlp>());
static_assert(ebm::check_sampler<ebm::mala, ebm::mlp>());
static_assert(ebm::check_chain_initializer<ebm::persistent_bank<>>());
static_assert(ebm::check_optimizer<ebm::adam>());

// Test-local types: complete ones model the concepts, each incomplete one does not.
static_assert(ebm::energy_function<good_energy>);
static_assert(!ebm::energy_function<energy_without_workspace>);
static_assert(!ebm::energy_function<energy_without_gradient>);
static_assert(!ebm::energy_function<energy_without_dimension>);
static_assert(!ebm::energy_function<energy_not_copyable>);
static_assert(!ebm::learnable_energy<good_energy>);
static_assert(!ebm::learnable_energy<learnable_without_gradient>);
static_assert(ebm::learnable_energy<learnable_complete>);
static_assert(ebm::optimizer<optimizer_complete>);
static_assert(!ebm::optimizer<optimizer_without_state>);
static_assert(!ebm::optimizer<optimizer_step_returns_nothing>);
static_assert(ebm::chain_initializer<initializer_complete>);
static_assert(!ebm::chain_initializer<initializer_without_write_back>);
static_assert(ebm::sampler<sampler_complete, good_energy>);
static_assert(!ebm::sampler<sampler_without_steps, good_energy>);
static_assert(!ebm::sampler<ebm::langevin, energy_without_gradient>);  // a sampler needs a complete energy
// Policies are not energies, energies are not policies.
static_assert(!ebm::energy_function<ebm::langevin>);
static_assert(!ebm::optimizer<ebm::mlp>);
static_assert(!ebm::chain_initializer<ebm::sgd>);
// Energies that thread internally opt out of chain splitting (a network spreads blocks of chains over threads inside
// each call; its mlp preset, whose calls are short, opts back in); the default is to split.
static_assert(!ebm::split_chains_across_threads<ebm::network>());
static_assert(ebm::split_chains_across_threads<ebm::mlp>());
static_assert(ebm::split_chains_across_threads<ebm::gaussian_mixture>());

TEST_CASE("concepts: the library's types model them, incomplete types do not (checked at compile time)") {
    CHECK(ebm::learnable_energy<ebm::mlp>);
    CHECK(!ebm::energy_function<energy_without_gradient>);
}

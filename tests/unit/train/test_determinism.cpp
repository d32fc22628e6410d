// Determinism: the same seed gives bit-identical trainer parameters with 1 thread and with 2 threads
// (chains are cut into fixed tasks; the parameter gradient is reduced in a fixed order).
#include <doctest/doctest.h>

#include <ebm/energy/mlp.hpp>
#include <ebm/energy/toy.hpp>
#include <ebm/train/recipes.hpp>

#include <cstring>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

struct outcome {
    std::vector<float> parameters;
    std::vector<float> negatives;
    std::vector<double> d;
};

template <class Make>
outcome train(int threads, Make&& make) {
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    auto trainer = make();
    const ebm::index n = trainer.options().batch_size;
    ebm::batch positives(2, n);
    outcome out;
    for (std::uint64_t it = 0; it < 3; ++it) {
        ebm::toy::gmm().sample(positives, ebm::philox(55), ebm::purpose::data_sample, it);
        out.d.push_back(trainer.step(positives).d);
    }
    const auto p = trainer.energy().parameters();
    out.parameters.assign(p.begin(), p.end());
    const auto neg = trainer.negatives().values();
    out.negatives.assign(neg.begin(), neg.end());
    return out;
}

void check_identical(const outcome& a, const outcome& b) {
    REQUIRE(a.parameters.size() == b.parameters.size());
    CHECK(std::memcmp(a.parameters.data(), b.parameters.data(), a.parameters.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(a.negatives.data(), b.negatives.data(), a.negatives.size() * sizeof(float)) == 0);
    CHECK(a.d == b.d);
}

}  // namespace

TEST_CASE("make_convergent_trainer(mlp): 1 thread and 2 threads give bit-identical parameters") {
    auto make = [] {
        return ebm::make_convergent_trainer(ebm::mlp({2, 32, 64, 64, 64, 1}, {0.05f}, ebm::seed{1}),
                                            ebm::convergent_settings{.steps = 20, .bank_size = 1000, .batch_size = 100});
    };
    const auto one = train(1, make);
    const auto two = train(2, make);
    const auto again = train(2, make);
#if defined(_OPENMP)
    omp_set_num_threads(2);
#endif
    check_identical(one, two);
    check_identical(two, again);
    // And the training did something.
    const auto fresh = make();  // kept alive: parameters() is a view into it
    const auto untouched = fresh.energy().parameters();
    CHECK(std::memcmp(untouched.data(), one.parameters.data(), one.parameters.size() * sizeof(float)) != 0);
}

TEST_CASE("make_short_run_trainer(mlp): 1 thread and 2 threads give bit-identical parameters") {
    auto make = [] {
        return ebm::make_short_run_trainer(ebm::mlp({2, 32, 64, 64, 64, 1}, {0.05f}, ebm::seed{2}),
                                           ebm::short_run_settings{.steps = 20, .batch_size = 128});
    };
    const auto one = train(1, make);
    const auto two = train(2, make);
#if defined(_OPENMP)
    omp_set_num_threads(2);
#endif
    check_identical(one, two);
}

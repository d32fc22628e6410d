// The README's promise, checked: a run is bit-identical for any thread count. Every ConvNet energy (energy, dU/dx,
// the weighted parameter gradient) and one ml_trainer iteration on each, computed with 1 and with 2 OpenMP threads
// (omp_set_num_threads, the energy and its workspace made afresh under each count, so that oneDNN plans its
// primitives for that count), compared bit for bit. Registered without the OMP_NUM_THREADS=1 pin of the other
// ConvNet tests. The toy energies have the same check in tests/conformance/test_energy_conformance.cpp.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <span>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/train/ml_trainer.hpp>

#include "convnet_test_support.hpp"

namespace {

struct results {
    std::vector<float> u, g, u2, grad, trained;
};

std::size_t differing(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    std::size_t n = 0;
    for (std::size_t k = 0; k < a.size(); ++k) n += std::memcmp(&a[k], &b[k], sizeof(float)) != 0 ? 1 : 0;
    return n;
}

template <class Make>
results compute(int threads, const Make& make, ebm::index n) {
#if defined(_OPENMP)
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    results r;
    const auto net = make();
    const ebm::index d = net.dimension();
    const ebm::batch x = convnet_test::uniform_batch(d, n, 101);  // seed 101
    std::vector<float> w(static_cast<std::size_t>(n));
    for (ebm::index i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = (i % 2 == 0 ? 1.0f : -0.75f) / static_cast<float>(n);
    auto ws = net.make_workspace(n);
    r.u.resize(static_cast<std::size_t>(n));
    r.u2.resize(r.u.size());
    r.g.resize(static_cast<std::size_t>(d * n));
    r.grad.assign(static_cast<std::size_t>(net.parameter_count()), 0.25f);
    net.energy_and_gradient(x, r.u, ebm::batch_view{r.g.data(), d, n}, ws);
    std::vector<float> u_only(r.u.size());
    net.energy(x, u_only, ws);
    CHECK(differing(u_only, r.u) == 0);  // energy() and energy_and_gradient() agree
    net.accumulate_parameter_gradient(x, w, r.grad, r.u2, ws);

    // One training iteration: Langevin sampling from noise, the ML gradient, an Adam step (seed 7).
    ebm::ml_trainer trainer(make(), ebm::langevin_decoupled{.step_size_lambda = 1e-3f, .noise_sigma = 0.01f, .steps = 3},
                            ebm::uniform_noise{}, ebm::adam{.learning_rate = 1e-3f},
                            ebm::trainer_options{.batch_size = n, .random_seed = ebm::seed{7}});
    const ebm::batch data = convnet_test::uniform_batch(d, n, 102);  // seed 102
    (void)trainer.step(data);
    const auto p = std::as_const(trainer.energy()).parameters();
    r.trained.assign(p.begin(), p.end());
#if defined(_OPENMP)
    omp_set_num_threads(2);
#endif
    return r;
}

template <class Make>
void compare(const Make& make, ebm::index n) {
    const results one = compute(1, make, n);
    const results two = compute(2, make, n);
    const std::size_t du = differing(one.u, two.u), dg = differing(one.g, two.g), du2 = differing(one.u2, two.u2),
                      dp = differing(one.grad, two.grad), dt = differing(one.trained, two.trained);
    MESSAGE("1 vs 2 threads, " << n << " chains: elements differing: U " << du << ", dU/dx " << dg << " of "
            << one.g.size() << ", U (parameter pass) " << du2 << ", dU/dtheta " << dp << " of " << one.grad.size()
            << ", parameters after one training iteration " << dt);
    CHECK(du == 0);
    CHECK(dg == 0);
    CHECK(du2 == 0);
    CHECK(dp == 0);
    CHECK(dt == 0);
}

}  // namespace

TEST_CASE("nonlocal_net: 1 and 2 threads give the same bits (energy, dU/dx, dU/dtheta, one training iteration)") {
    compare([] { return ebm::nonlocal_net(3, 4, 0.05f, ebm::seed{9}); }, 11);  // 11 chains: a partial last block
}

TEST_CASE("convnet short_run(32): 1 and 2 threads give the same bits (energy, dU/dx, dU/dtheta, one training iteration)") {
    compare([] { return ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{9}); }, 16);
}

TEST_CASE("convnet vanilla: 1 and 2 threads give the same bits (energy, dU/dx, dU/dtheta, one training iteration)") {
    compare([] { return ebm::convnet::vanilla(3, 8, 0.05f, {}, ebm::seed{9}); }, 16);
}

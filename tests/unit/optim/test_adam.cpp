// Adam against its first two steps computed by hand in double, and against PyTorch 1.13's torch.optim.Adam
// (float32, on the same inputs) for three steps: the values are printed by tests/unit/torch/optim_reference.py adam,
// and the ctest entry torch_reference:adam reruns it and checks them against this file.
#include <doctest/doctest.h>

#include <ebm/optim/adam.hpp>

#include <cmath>
#include <vector>

namespace {
const std::vector<std::vector<float>> gradients = {{0.1f, 0.2f, -0.3f, 0.0f}, {-0.5f, 0.25f, 1.0f, 2.0f}, {0.3f, -0.1f, 0.05f, -1.0f}};
const std::vector<float> start = {1.0f, -2.0f, 0.5f, 3.0f};
}  // namespace

TEST_CASE("adam: first two steps by hand") {
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const ebm::adam opt{.learning_rate = 0.01f};
    auto st = opt.make_state(4);
    std::vector<float> p = start;
    CHECK(opt.step(st, p, gradients[0]) == 0.01f);
    for (std::size_t k = 0; k < 4; ++k) {
        // Step 1: m = (1-b1) g, v = (1-b2) g^2; bias-corrected m/c1 = g and sqrt(v/c2) = |g|: a step of lr sign(g).
        const double g1 = gradients[0][k];
        const double m1 = (1 - b1) * g1, v1 = (1 - b2) * g1 * g1;
        const double p1 = start[k] - lr / (1 - b1) * m1 / (std::sqrt(v1) / std::sqrt(1 - b2) + eps);
        CHECK(p[k] == doctest::Approx(p1).epsilon(1e-6));
        CHECK(p[k] == doctest::Approx(start[k] - (g1 > 0 ? lr : g1 < 0 ? -lr : 0.0)).epsilon(1e-6));
    }
    opt.step(st, p, gradients[1]);
    for (std::size_t k = 0; k < 4; ++k) {
        const double g1 = gradients[0][k], g2 = gradients[1][k];
        const double m1 = (1 - b1) * g1, v1 = (1 - b2) * g1 * g1;
        const double p1 = start[k] - lr / (1 - b1) * m1 / (std::sqrt(v1) / std::sqrt(1 - b2) + eps);
        const double m2 = b1 * m1 + (1 - b1) * g2, v2 = b2 * v1 + (1 - b2) * g2 * g2;
        const double p2 = p1 - lr / (1 - b1 * b1) * m2 / (std::sqrt(v2) / std::sqrt(1 - b2 * b2) + eps);
        CHECK(p[k] == doctest::Approx(p2).epsilon(1e-6));
        CHECK(st.first_moment[k] == doctest::Approx(m2).epsilon(1e-6));
        CHECK(st.second_moment[k] == doctest::Approx(v2).epsilon(1e-5));
    }
    CHECK(st.steps == 2);
}

TEST_CASE("adam: matches PyTorch's torch.optim.Adam(lr=0.01) for three steps") {
    const std::vector<std::vector<float>> torch = {
        {0x1.fae148p-1f, -0x1.0147aep+1f, 0x1.051eb8p-1f, 0x1.8p+1f},
        {0x1.fdf18ep-1f, -0x1.028f3ep+1f, 0x1.0274b6p-1f, 0x1.7f0c2ap+1f},
        {0x1.fe534p-1f, -0x1.034278p+1f, 0x1.003e0cp-1f, 0x1.7ec13ep+1f}};
    const ebm::adam opt{.learning_rate = 0.01f};
    auto st = opt.make_state(4);
    std::vector<float> p = start;
    for (std::size_t t = 0; t < 3; ++t) {
        opt.step(st, p, gradients[t]);
        for (std::size_t k = 0; k < 4; ++k) CHECK(p[k] == doctest::Approx(torch[t][k]).epsilon(2e-7));
    }
}

TEST_CASE("adam: the schedule lowers the rate after each completed step") {
    const ebm::adam opt{.learning_rate = 1e-3f, .schedule = {.factor = 0.1, .floor = 2e-5}};
    auto st = opt.make_state(2);
    std::vector<float> p = {0.0f, 0.0f};
    const std::vector<float> g = {1.0f, -1.0f};
    CHECK(opt.step(st, p, g) == doctest::Approx(1e-3));
    CHECK(opt.step(st, p, g) == doctest::Approx(1e-4));
    CHECK(opt.step(st, p, g) == doctest::Approx(2e-5));
    CHECK(opt.step(st, p, g) == doctest::Approx(2e-5));
}

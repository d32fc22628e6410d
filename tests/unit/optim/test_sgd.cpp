// SGD against hand-computed steps (PyTorch's torch.optim.SGD arithmetic), with and without momentum, plus
// PyTorch 1.13's own results for the same inputs (float32): printed by tests/unit/torch/optim_reference.py sgd, and
// checked against this file by the ctest entry torch_reference:sgd.
#include <doctest/doctest.h>

#include <ebm/optim/sgd.hpp>

#include <vector>

namespace {
const std::vector<std::vector<float>> gradients = {{0.1f, 0.2f, -0.3f, 0.0f}, {-0.5f, 0.25f, 1.0f, 2.0f}, {0.3f, -0.1f, 0.05f, -1.0f}};
const std::vector<float> start = {1.0f, -2.0f, 0.5f, 3.0f};
}  // namespace

TEST_CASE("sgd without momentum: p <- p - lr g") {
    const ebm::sgd opt{.learning_rate = 0.1f};
    auto st = opt.make_state(4);
    std::vector<float> p = start;
    std::vector<double> expected(start.begin(), start.end());
    for (const auto& g : gradients) {
        CHECK(opt.step(st, p, g) == 0.1f);
        for (std::size_t k = 0; k < 4; ++k) {
            expected[k] -= 0.1 * g[k];
            CHECK(p[k] == doctest::Approx(expected[k]).epsilon(1e-6));
        }
    }
    CHECK(st.steps == 3);
}

TEST_CASE("sgd with momentum: buf = g on the first step, then mu buf + g, and p <- p - lr buf") {
    const ebm::sgd opt{.learning_rate = 0.1f, .momentum = 0.9f};
    auto st = opt.make_state(4);
    std::vector<float> p = start;
    std::vector<double> expected(start.begin(), start.end()), buf(4, 0.0);
    // PyTorch 1.13, torch.optim.SGD([p], lr=0.1, momentum=0.9), float32, after each of the three steps.
    const std::vector<std::vector<float>> torch = {
        {0x1.fae148p-1f, -0x1.028f5cp+1f, 0x1.0f5c2ap-1f, 0x1.8p+1f},
        {0x1.07ef9ep+0f, -0x1.081062p+1f, 0x1.d3f7dp-2f, 0x1.666666p+1f},
        {0x1.09b3dp+0f, -0x1.0bbcd4p+1f, 0x1.8b923cp-2f, 0x1.5c28f6p+1f}};
    for (std::size_t t = 0; t < gradients.size(); ++t) {
        opt.step(st, p, gradients[t]);
        for (std::size_t k = 0; k < 4; ++k) {
            buf[k] = t == 0 ? gradients[t][k] : 0.9 * buf[k] + gradients[t][k];
            expected[k] -= 0.1 * buf[k];
            CHECK(p[k] == doctest::Approx(expected[k]).epsilon(1e-6));
            CHECK(p[k] == doctest::Approx(torch[t][k]).epsilon(1e-6));
            CHECK(st.momentum_buffer[k] == doctest::Approx(buf[k]).epsilon(1e-6));
        }
    }
}

TEST_CASE("sgd follows its schedule and returns the rate it used") {
    const ebm::sgd opt{.learning_rate = 0.1f, .schedule = {.factor = 0.5, .floor = 0.02}};
    auto st = opt.make_state(1);
    std::vector<float> p = {0.0f};
    const std::vector<float> g = {1.0f};
    const double rates[] = {0.1, 0.05, 0.025, 0.02, 0.02};
    double expected = 0;
    for (double r : rates) {
        CHECK(opt.step(st, p, g) == doctest::Approx(r).epsilon(1e-7));
        expected -= r;
    }
    CHECK(p[0] == doctest::Approx(expected).epsilon(1e-6));
}

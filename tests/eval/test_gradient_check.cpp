// ebm::check_gradients (include/ebm/eval/gradient_check.hpp): passes energies whose gradients are right (analytic
// targets, the toy MLP, a hand-written learnable energy) and names the coordinate, direction or tensor of a gradient
// that is wrong by a few percent (negative controls); puts the parameters back bit for bit; rejects bad options.
#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <ebm/energy/mlp.hpp>
#include <ebm/energy/parameter_tensor.hpp>
#include <ebm/energy/sampling_targets.hpp>
#include <ebm/eval/gradient_check.hpp>
#include <ebm/init/noise.hpp>

namespace {

ebm::batch uniform_points(ebm::index d, ebm::index n, float range, std::uint64_t seed_value) {
    ebm::batch x(d, n);
    ebm::uniform_noise{-range, range}.fill(x, ebm::philox(seed_value), ebm::purpose::user, 0);
    return x;
}

/// U(x) = sum_k a_k x_k^2 / 2 + b sum_k sin(x_k), θ = (a_0 .. a_{d-1}, b). `wrong_x` scales dU/dx_3 and `wrong_b`
/// scales dU/db: deliberate errors for the negative controls.
struct quadratic_sine {
    struct workspace {};
    ebm::index d = 8;
    float wrong_x = 1.0f, wrong_b = 1.0f;
    std::vector<float> theta = std::vector<float>(9, 0.0f);

    [[nodiscard]] ebm::index dimension() const { return d; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    [[nodiscard]] ebm::index parameter_count() const { return d + 1; }
    [[nodiscard]] std::span<float> parameters() { return theta; }
    [[nodiscard]] std::span<const float> parameters() const { return theta; }
    [[nodiscard]] std::vector<ebm::parameter_tensor> parameter_tensors() const {
        return {{"a", {d}, 0}, {"b", {1}, d}};
    }
    [[nodiscard]] float at(const float* x, float* g) const {
        float u = 0;
        for (ebm::index k = 0; k < d; ++k) {
            u += 0.5f * theta[static_cast<std::size_t>(k)] * x[k] * x[k] + theta.back() * std::sin(x[k]);
            if (g != nullptr)
                g[k] = (theta[static_cast<std::size_t>(k)] * x[k] + theta.back() * std::cos(x[k])) * (k == 3 ? wrong_x : 1.0f);
        }
        return u;
    }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), nullptr);
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), g.chain(i));
    }
    void accumulate_parameter_gradient(ebm::const_batch_view x, std::span<const float> w, std::span<float> grad,
                                       std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            const float* xi = x.chain(i);
            const float wi = w[static_cast<std::size_t>(i)];
            u[static_cast<std::size_t>(i)] = at(xi, nullptr);
            for (ebm::index k = 0; k < d; ++k) {
                grad[static_cast<std::size_t>(k)] += wi * 0.5f * xi[k] * xi[k];
                grad.back() += wi * std::sin(xi[k]) * wrong_b;
            }
        }
    }
};
static_assert(ebm::learnable_energy<quadratic_sine>);

quadratic_sine make_quadratic_sine() {
    quadratic_sine e;
    for (std::size_t k = 0; k < e.theta.size(); ++k) e.theta[k] = 0.5f + 0.1f * static_cast<float>(k);
    return e;
}

const std::vector<float> chain_weights = {0.5f, -0.25f, 1.0f, -0.75f, 0.3f};

}  // namespace

TEST_CASE("check_gradients: analytic targets pass") {
    const ebm::batch x = uniform_points(16, 5, 2.0f, 11);
    const auto gauss = ebm::check_gradients(ebm::gaussian_target(16, 100.0), x.view());
    MESSAGE("gaussian_target(16): " << gauss.report());
    CHECK(gauss.passed());
    CHECK(gauss.input_checks == 16 * 5);
    CHECK(gauss.parameter_checks == 0);
    const ebm::batch y = uniform_points(10, 5, 1.0f, 12);
    const auto funnel = ebm::check_gradients(ebm::funnel(10), y.view());
    MESSAGE("funnel(10): " << funnel.report());
    CHECK(funnel.passed());
    CHECK(funnel.worst_input_error < 5e-3);  // far inside the 1e-2 tolerance
}

TEST_CASE("check_gradients: a hand-written learnable energy passes, a wrong dU/dx or dU/dθ is named") {
    const ebm::batch x = uniform_points(8, 5, 2.0f, 13);
    auto good = make_quadratic_sine();
    const auto ok = ebm::check_gradients(good, x.view(), chain_weights);
    MESSAGE(ok.report());
    CHECK(ok.passed());
    CHECK(ok.input_checks == 8 * 5);
    CHECK(ok.parameter_checks == 4 + 2);  // 4 random directions, tensors "a" and "b"
    CHECK(ok.worst_parameter_error < 1e-3);

    auto bad_x = make_quadratic_sine();
    bad_x.wrong_x = 1.05f;  // dU/dx_3 5% off
    const auto rx = ebm::check_gradients(bad_x, x.view(), chain_weights);
    MESSAGE(rx.report());
    CHECK_FALSE(rx.passed());
    CHECK(rx.input_failures == 5);  // x[3] of every chain, nothing else
    for (const auto& f : rx.failures) CHECK(f.what.find("x[3]") != std::string::npos);
    CHECK(rx.parameter_failures == 0);

    auto bad_b = make_quadratic_sine();
    bad_b.wrong_b = 1.1f;  // dU/db 10% off
    const auto rb = ebm::check_gradients(bad_b, x.view(), chain_weights);
    MESSAGE(rb.report());
    CHECK_FALSE(rb.passed());
    CHECK(rb.input_failures == 0);
    bool named = false;
    for (const auto& f : rb.failures) named = named || f.what == "tensor 'b'";
    CHECK(named);
    for (const auto& f : rb.failures) CHECK(f.what != "tensor 'a'");
}

TEST_CASE("check_gradients: the toy MLP passes at a step that kinks rarely cross, and gets its parameters back") {
    auto net = ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{7});
    const std::vector<float> before(net.parameters().begin(), net.parameters().end());
    const ebm::batch x = uniform_points(2, 5, 2.0f, 14);
    const auto r = ebm::check_gradients(net, x.view(), chain_weights,
                                        {.input_step = 1e-4, .parameter_step = 1e-4, .parameter_directions = 6});
    MESSAGE("mlp (seed 7, points seed 14): " << r.report());
    CHECK(r.passed());
    CHECK(r.parameter_checks == 6 + 10);  // 6 random directions and the 10 named tensors
    const std::vector<float> after(net.parameters().begin(), net.parameters().end());
    CHECK(after == before);
}

TEST_CASE("check_gradients: bad options and inputs name the argument and value") {
    const ebm::batch x = uniform_points(4, 2, 1.0f, 15);
    const ebm::gaussian_target target(4, 10.0);
    const auto message = [&](const ebm::gradient_check_options& o) -> std::string {
        try {
            (void)ebm::check_gradients(target, x.view(), o);
        } catch (const ebm::error& e) {
            return e.what();
        }
        return "(no error)";
    };
    CHECK(message({.input_step = 0.0}) == "ebm::check_gradients: input_step must be > 0 (got 0)");
    CHECK(message({.tolerance = NAN}) == "ebm::check_gradients: tolerance must be finite (got nan)");
    CHECK(message({.coordinates = 0}) == "ebm::check_gradients: coordinates must be > 0 (got 0)");
    CHECK(message({.parameter_directions = -1}) == "ebm::check_gradients: parameter_directions must be >= 0 (got -1)");
    ebm::batch far = uniform_points(4, 2, 1.0f, 17);
    far.chain(1)[2] = 1e9f;  // 1e9 +- 1e-3 rounds to 1e9 in float
    CHECK_THROWS_WITH_AS((void)ebm::check_gradients(target, far.view()),
                         "ebm::check_gradients: input_step is below float resolution at chain 1, x[2] (choose a larger "
                         "step) (got 1e+09)",
                         ebm::error);
    const ebm::batch wrong(3, 2);
    CHECK_THROWS_WITH_AS((void)ebm::check_gradients(target, wrong.view()),
                         "ebm::check_gradients: x dimension must equal the energy's dimension 4 (got 3)", ebm::error);
    auto e = make_quadratic_sine();
    const ebm::batch y = uniform_points(8, 2, 1.0f, 16);
    CHECK_THROWS_WITH_AS((void)ebm::check_gradients(e, y.view(), std::vector<float>{1.0f}),
                         "ebm::check_gradients: weights must have one entry per chain (2) (got 1)", ebm::error);
}

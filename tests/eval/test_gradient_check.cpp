// ebm::check_gradients (include/ebm/eval/gradient_check.hpp): passes energies whose gradients and Hessian-vector
// products are right (analytic targets, the toys, the toy MLP, a hand-written learnable energy) and names the
// coordinate, direction or tensor of a derivative that is wrong by a few percent (negative controls); puts the
// parameters back bit for bit; rejects bad options. The energies' Hessian-vector products are checked here.
#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <ebm/energy/magnetized.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/energy/parameter_tensor.hpp>
#include <ebm/energy/sampling_targets.hpp>
#include <ebm/energy/scaled.hpp>
#include <ebm/energy/toy.hpp>
#include <ebm/eval/gradient_check.hpp>
#include <ebm/init/noise.hpp>

namespace {

ebm::batch uniform_points(ebm::index d, ebm::index n, float range, std::uint64_t seed_value) {
    ebm::batch x(d, n);
    ebm::uniform_noise{-range, range}.fill(x, ebm::philox(seed_value), ebm::purpose::user, 0);
    return x;
}

/// U(x) = sum_k a_k x_k^2 / 2 + b sum_k sin(x_k), θ = (a_0 .. a_{d-1}, b). `wrong_x` scales dU/dx_3, `wrong_b`
/// scales dU/db and `wrong_h` scales ((d2U/dx2) v)_5: deliberate errors for the negative controls.
struct quadratic_sine {
    struct workspace {};
    ebm::index d = 8;
    float wrong_x = 1.0f, wrong_b = 1.0f, wrong_h = 1.0f;
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
    /// d2U/dx2 = diag(a_k - b sin(x_k)).
    void hessian_vector_product(ebm::const_batch_view x, ebm::const_batch_view v, ebm::batch_view hv, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i)
            for (ebm::index k = 0; k < d; ++k)
                hv.chain(i)[k] = (theta[static_cast<std::size_t>(k)] - theta.back() * std::sin(x.chain(i)[k])) *
                                 v.chain(i)[k] * (k == 5 ? wrong_h : 1.0f);
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
static_assert(ebm::hessian_vector_energy<quadratic_sine>);

/// An energy with dU/dx only (no Hessian-vector products).
struct gradient_only {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view, std::span<float>, workspace&) const {}
    void energy_and_gradient(ebm::const_batch_view, std::span<float>, ebm::batch_view, workspace&) const {}
};
static_assert(ebm::energy_function<gradient_only> && !ebm::hessian_vector_energy<gradient_only>);

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

TEST_CASE("check_gradients: the Hessian-vector products of the analytic energies match differences of gradients") {
    // Seeds: points 21-28 and 30, directions seed 0. Every energy here is smooth, so a failure is an error in the
    // product.
    const auto check = [](const char* name, const auto& energy, const ebm::batch& x) {
        const auto r = ebm::check_gradients(energy, x.view());
        MESSAGE(std::string(name) << ": " << r.report());
        CHECK(r.passed());
        CHECK(r.hessian_checks == std::min<ebm::index>(x.dimension(), 64) * x.count());
        CHECK(r.worst_hessian_error < 5e-3);  // far inside the 1e-2 tolerance
        return r;
    };
    static_assert(ebm::hessian_vector_energy<ebm::gaussian_target<>> && ebm::hessian_vector_energy<ebm::funnel<>> &&
                  ebm::hessian_vector_energy<ebm::banana<>> && ebm::hessian_vector_energy<ebm::isotropic_mixture<>> &&
                  ebm::hessian_vector_energy<ebm::gaussian_mixture> && ebm::hessian_vector_energy<ebm::ring_mixture> &&
                  ebm::hessian_vector_energy<ebm::mlp>);
    // The wrappers offer the product exactly when the energy they wrap does.
    static_assert(ebm::hessian_vector_energy<ebm::scaled_energy<quadratic_sine>> &&
                  ebm::hessian_vector_energy<ebm::magnetized_energy<quadratic_sine>> &&
                  !ebm::hessian_vector_energy<ebm::scaled_energy<gradient_only>> &&
                  !ebm::hessian_vector_energy<ebm::magnetized_energy<gradient_only>>);
    check("gaussian_target(16)", ebm::gaussian_target(16, 100.0), uniform_points(16, 5, 2.0f, 21));
    check("funnel(10)", ebm::funnel(10), uniform_points(10, 5, 1.0f, 22));
    check("banana", ebm::banana(), uniform_points(2, 8, 1.5f, 23));
    check("isotropic_mixture(ring of 8)", ebm::isotropic_mixture({{1, 0}, {0, 1}, {-1, 0}, {0, -1}}, 0.5),
          uniform_points(2, 8, 1.5f, 24));
    check("toy::gmm", ebm::toy::gmm(), uniform_points(2, 8, 1.5f, 25));
    check("toy::rings", ebm::toy::rings(), uniform_points(2, 8, 4.0f, 26));
    // Full covariances in 3-D: the sum over components of r_k (P_k - s_k s_k^T) + g g^T with P_k not diagonal.
    const ebm::gaussian_mixture full({1.0, 2.0}, {{0.0, 0.5, -0.5}, {0.5, -0.5, 0.0}},
                                     {{1.0, 0.3, 0.1, 0.3, 0.5, 0.0, 0.1, 0.0, 0.8}, {0.4, -0.1, 0.0, -0.1, 0.6, 0.2, 0.0, 0.2, 0.9}});
    check("gaussian_mixture(3-D, full covariances)", full, uniform_points(3, 8, 1.0f, 27));
    // U / T: the product scales with the energy.
    check("tempered(gaussian_target(4), 0.5)", ebm::tempered(ebm::gaussian_target(4, 10.0), 0.5f),
          uniform_points(4, 5, 2.0f, 28));
    // + alpha |x - x*|: alpha (I - n n^T) / r added, n = (x - x*) / r.
    const std::vector<float> target = {0.3f, -0.2f};
    check("magnetized(toy::gmm, (0.3, -0.2), 2)", ebm::magnetized(ebm::toy::gmm(), target, 2.0f),
          uniform_points(2, 8, 1.5f, 30));
}

TEST_CASE("check_gradients: the toy MLP's Hessian-vector product is zero, as its differences of gradients are") {
    // LeakyReLU networks are piecewise linear: dU/dx is constant between kinks, so differences of gradients along a
    // step that crosses no kink are exactly zero, and so is the product.
    auto net = ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{7});
    const ebm::batch x = uniform_points(2, 5, 2.0f, 14);
    const auto r = ebm::check_gradients(net, x.view(), chain_weights, {.input_step = 1e-4, .parameter_step = 1e-4,
                                                                       .hessian_step = 1e-4});
    MESSAGE("mlp (seed 7, points seed 14): " << r.report());
    CHECK(r.passed());
    CHECK(r.hessian_checks == 2 * 5);
    CHECK(r.worst_hessian_error == 0.0);
    ebm::batch v = uniform_points(2, 5, 1.0f, 15), hv = uniform_points(2, 5, 1.0f, 16);
    auto ws = net.make_workspace(5);
    net.hessian_vector_product(x.view(), v.view(), hv.view(), ws);
    for (ebm::index k = 0; k < hv.view().size(); ++k) CHECK(hv.data()[k] == 0.0f);
}

TEST_CASE("check_gradients: a wrong Hessian-vector product is named, bad shapes are refused") {
    const ebm::batch x = uniform_points(8, 5, 2.0f, 29);
    auto bad_h = make_quadratic_sine();
    bad_h.wrong_h = 1.05f;  // ((d2U/dx2) v)_5 5% off
    const auto r = ebm::check_gradients(bad_h, x.view(), chain_weights);
    MESSAGE(r.report());
    CHECK_FALSE(r.passed());
    CHECK(r.input_failures == 0);
    CHECK(r.parameter_failures == 0);
    // (Hv)[5] of 4 chains, nothing else: chain 2's (Hv)[5] is small against its chain's scale floor (1% of its
    // largest coordinate) and the rounding allowance, where a 5% error stays inside the tolerance.
    CHECK(r.hessian_failures == 4);
    for (const auto& f : r.failures) CHECK(f.what.find("(Hv)[5]") != std::string::npos);
    CHECK(r.report().find("(d2U/dx2) v: 4 of 40 coordinates failed") != std::string::npos);

    const ebm::gaussian_target target(4, 10.0);
    auto ws = target.make_workspace(2);
    ebm::batch y(4, 2), v(4, 3), hv(4, 2), wrong(3, 2);
    CHECK_THROWS_WITH_AS(target.hessian_vector_product(y.view(), v.view(), hv.view(), ws),
                         "ebm::chain_energy::hessian_vector_product: v must have x's shape 4 x 2 (got '4 x 3')",
                         ebm::error);
    CHECK_THROWS_WITH_AS(target.hessian_vector_product(wrong.view(), wrong.view(), wrong.view(), ws),
                         "ebm::chain_energy::hessian_vector_product: x dimension must equal the energy's dimension 4 "
                         "(got 3)",
                         ebm::error);
    const auto gmm = ebm::toy::gmm();
    auto gws = gmm.make_workspace(2);
    ebm::batch p(2, 2), q(2, 2), out(2, 1);
    CHECK_THROWS_WITH_AS(gmm.hessian_vector_product(p.view(), q.view(), out.view(), gws),
                         "ebm::gaussian_mixture::hessian_vector_product: hv must have x's shape 2 x 2 (got '2 x 1')",
                         ebm::error);
    CHECK_THROWS_WITH_AS((void)ebm::check_gradients(target, y.view(), {.hessian_step = -1.0}),
                         "ebm::check_gradients: hessian_step must be > 0 (got -1)", ebm::error);
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
    CHECK(ok.hessian_checks == 8 * 5);

    auto bad_x = make_quadratic_sine();
    bad_x.wrong_x = 1.05f;  // dU/dx_3 5% off
    const auto rx = ebm::check_gradients(bad_x, x.view(), chain_weights);
    MESSAGE(rx.report());
    CHECK_FALSE(rx.passed());
    CHECK(rx.input_failures == 5);  // x[3] of every chain, and row 3 of the Hessian, whose differences use dU/dx_3
    for (const auto& f : rx.failures)
        CHECK((f.what.find(", x[3]") != std::string::npos || f.what.find(", (Hv)[3]") != std::string::npos));
    CHECK(rx.hessian_failures > 0);
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

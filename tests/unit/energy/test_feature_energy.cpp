// ebm::feature_energy (U_θ(x) = ⟨θ, h(x)⟩ on the fixed filter responses of eval::image_features): energies, input
// gradients and parameter gradients against a second implementation of the feature map written here from its
// definition, in double with plain loops; thread-count invariance; bad input.
#include <doctest/doctest.h>

#include <ebm/energy/feature_energy.hpp>
#include <ebm/init/noise.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../common/expect_error.hpp"

namespace {

// h(x) by the definition in eval/image_features.hpp: 5x5 filters, stride 2, edge-replicated padding 2, ReLU, means
// over a 4 x 4 grid of cells; index f * 16 + 4 * cell_row + cell_column.
std::vector<double> reference_features(const ebm::feature_energy& e, const std::vector<double>& x) {
    const ebm::index c_count = e.channels(), size = e.image_size(), side = size / 2, cell = side / 4;
    const auto& w = e.features().filters();
    std::vector<double> h(ebm::feature_energy::feature_count, 0.0);
    for (ebm::index f = 0; f < 64; ++f)
        for (ebm::index oy = 0; oy < side; ++oy)
            for (ebm::index ox = 0; ox < side; ++ox) {
                double r = 0;
                for (ebm::index c = 0; c < c_count; ++c)
                    for (ebm::index ky = 0; ky < 5; ++ky)
                        for (ebm::index kx = 0; kx < 5; ++kx) {
                            const ebm::index y = std::clamp<ebm::index>(2 * oy + ky - 2, 0, size - 1);
                            const ebm::index xx = std::clamp<ebm::index>(2 * ox + kx - 2, 0, size - 1);
                            r += static_cast<double>(w(f, (c * 5 + ky) * 5 + kx)) *
                                 x[static_cast<std::size_t>((c * size + y) * size + xx)];
                        }
                h[static_cast<std::size_t>(f * 16 + (oy / cell) * 4 + ox / cell)] +=
                    std::max(r, 0.0) / static_cast<double>(cell * cell);
            }
    return h;
}

double reference_energy(const ebm::feature_energy& e, const std::vector<double>& x) {
    const std::vector<double> h = reference_features(e, x);
    double u = 0;
    for (std::size_t j = 0; j < h.size(); ++j) u += static_cast<double>(e.parameters()[j]) * h[j];
    return u;
}

std::vector<double> chain_of(const ebm::batch& x, ebm::index i) {
    return {x.chain(i), x.chain(i) + x.dimension()};
}

ebm::feature_energy random_energy(ebm::index channels, ebm::index size) {
    ebm::feature_energy e(channels, size);
    std::vector<float> theta(static_cast<std::size_t>(e.parameter_count()));
    ebm::fill_uniform(ebm::philox(ebm::seed{5}), ebm::purpose::user, 0, 0, theta.data(), e.parameter_count(), -1.0f, 1.0f);
    std::copy(theta.begin(), theta.end(), e.parameters().begin());
    return e;
}

}  // namespace

TEST_CASE("feature_energy: energies, dU/dx and the parameter gradient against a double-precision reference") {
    for (const ebm::index channels : {1, 3}) {
        const ebm::index size = channels == 1 ? 16 : 8;
        CAPTURE(channels);
        const ebm::feature_energy e = random_energy(channels, size);
        const ebm::index n = 5;
        ebm::batch x(e.dimension(), n);
        ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(ebm::seed{11}), ebm::purpose::user, 0);
        auto ws = e.make_workspace(n);
        std::vector<float> u(n), u2(n), u3(n);
        ebm::batch g(e.dimension(), n);
        e.energy(x.view(), u, ws);
        e.energy_and_gradient(x.view(), u2, g.view(), ws);

        // The parameter gradient with weights w: Σ_i w_i h(x_i), added to what grad holds.
        const std::vector<float> w = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f};
        std::vector<float> grad(static_cast<std::size_t>(e.parameter_count()), 1.0f);
        e.accumulate_parameter_gradient(x.view(), w, grad, u3, ws);
        std::vector<double> expected_grad(grad.size(), 1.0);

        for (ebm::index i = 0; i < n; ++i) {
            const std::vector<double> xi = chain_of(x, i);
            const double reference = reference_energy(e, xi);
            CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(reference).epsilon(1e-4));
            CHECK(u2[static_cast<std::size_t>(i)] == u[static_cast<std::size_t>(i)]);
            CHECK(u3[static_cast<std::size_t>(i)] == u[static_cast<std::size_t>(i)]);
            const std::vector<double> h = reference_features(e, xi);
            for (std::size_t j = 0; j < h.size(); ++j) expected_grad[j] += w[static_cast<std::size_t>(i)] * h[j];

            // dU/dx along random directions: central differences of the double reference with a step of 1e-7,
            // far too small to cross a ReLU kink at float inputs.
            for (std::uint32_t direction = 0; direction < 3; ++direction) {
                std::vector<float> v(static_cast<std::size_t>(e.dimension()));
                ebm::fill_uniform(ebm::philox(ebm::seed{12}), ebm::purpose::user, static_cast<std::uint32_t>(i),
                                  direction, v.data(), e.dimension(), -1.0f, 1.0f);
                std::vector<double> plus = xi, minus = xi;
                const double step = 1e-7;
                double analytic = 0, scale = 0;
                for (std::size_t k = 0; k < v.size(); ++k) {
                    plus[k] += step * v[k];
                    minus[k] -= step * v[k];
                    analytic += static_cast<double>(g.chain(i)[k]) * v[k];
                    scale += std::abs(static_cast<double>(g.chain(i)[k]) * v[k]);
                }
                const double numeric = (reference_energy(e, plus) - reference_energy(e, minus)) / (2 * step);
                CAPTURE(i);
                CAPTURE(direction);
                CHECK(std::abs(analytic - numeric) <= 1e-5 * scale);
            }
        }
        double worst = 0;
        for (std::size_t j = 0; j < grad.size(); ++j)
            worst = std::max(worst, std::abs(grad[j] - expected_grad[j]) / (1.0 + std::abs(expected_grad[j])));
        CHECK(worst < 1e-5);
    }
}

TEST_CASE("feature_energy: the same bits for any thread count, a zero Hessian") {
    const ebm::feature_energy e = random_energy(1, 8);
    const ebm::index n = 7;
    ebm::batch x(e.dimension(), n);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(ebm::seed{3}), ebm::purpose::user, 0);
    const std::vector<float> w(n, 1.0f / n);
    auto run = [&](std::vector<float>& u, ebm::batch& g, std::vector<float>& grad) {
        auto ws = e.make_workspace(n);
        e.energy_and_gradient(x.view(), u, g.view(), ws);
        e.accumulate_parameter_gradient(x.view(), w, grad, u, ws);
    };
    std::vector<float> u1(n), u2(n), grad1(1024, 0.0f), grad2(1024, 0.0f);
    ebm::batch g1(e.dimension(), n), g2(e.dimension(), n);
#if defined(_OPENMP)
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run(u1, g1, grad1);
    omp_set_num_threads(3);
    run(u2, g2, grad2);
    omp_set_num_threads(threads);
#else
    FAIL("this test needs OpenMP: the build should have it (the thread promise is the README's)");
#endif
    CHECK(u1 == u2);
    CHECK(std::equal(g1.data(), g1.data() + g1.view().size(), g2.data()));
    CHECK(grad1 == grad2);

    CHECK(e.piecewise_linear());
    ebm::batch v(e.dimension(), n), hv(e.dimension(), n);
    std::fill(hv.data(), hv.data() + hv.view().size(), 1.0f);
    auto ws = e.make_workspace(n);
    e.hessian_vector_product(x.view(), v.view(), hv.view(), ws);
    CHECK(std::all_of(hv.data(), hv.data() + hv.view().size(), [](float a) { return a == 0.0f; }));
}

TEST_CASE("feature_energy: bad input") {
    EBM_CHECK_ERROR(ebm::feature_energy(1, 12), "feature_energy", "image_size must be a multiple of 8", "(got 12)");
    EBM_CHECK_ERROR(ebm::feature_energy(0, 8), "feature_energy", "channels", "(got 0)");
    const ebm::feature_energy e(1, 8);
    EBM_CHECK_ERROR((void)e.make_workspace(0), "feature_energy::make_workspace", "max_chains", "(got 0)");
    auto ws = e.make_workspace(2);
    ebm::batch x(64, 3), wrong(63, 2);
    std::vector<float> u(3), w(3, 1.0f), grad(1024), short_grad(10);
    EBM_CHECK_ERROR(e.energy(x.view(), u, ws), "feature_energy::energy", "at most 2 chains", "(got 3)");
    EBM_CHECK_ERROR(e.energy(wrong.view(), u, ws), "feature_energy::energy", "x", "63");
    const ebm::const_batch_view two{x.data(), 64, 2};
    EBM_CHECK_ERROR(e.accumulate_parameter_gradient(two, w, short_grad, u, ws),
                    "feature_energy::accumulate_parameter_gradient", "grad", "(got 10)");
    const ebm::feature_energy larger(1, 16);
    EBM_CHECK_ERROR(larger.energy(ebm::const_batch_view{x.data(), 64, 1}, u, ws), "feature_energy::energy", "x", "64");
    ebm::batch big(256, 1);
    EBM_CHECK_ERROR(larger.energy(big.view(), u, ws), "feature_energy::energy", "workspace", "(got 1)");
    // A workspace of a 3-channel energy of the same image size: refused before any thread starts.
    const ebm::feature_energy colour(3, 8);
    auto colour_ws = colour.make_workspace(2);
    EBM_CHECK_ERROR(e.energy(two, u, colour_ws), "feature_energy::energy", "make_workspace", "(got 2)");

    // The one-image building blocks of eval::image_features refuse a scratch that is not theirs.
    const ebm::eval::image_features grey(1), rgb(3);
    auto s = grey.make_scratch(8);
    std::vector<float> out(1024), image(3 * 64);
    EBM_CHECK_ERROR(rgb.compute_one(image.data(), s, out.data()), "eval::image_features::compute_one", "scratch", "(got 8)");
    ebm::eval::image_features::scratch empty;
    EBM_CHECK_ERROR(grey.vector_jacobian(out.data(), empty, image.data()), "eval::image_features::vector_jacobian",
                    "scratch", "(got 0)");
    EBM_CHECK_ERROR((void)grey.make_scratch(12), "eval::image_features::make_scratch", "multiple of 8", "(got 12)");
}

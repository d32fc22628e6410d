// Bad input to the energies: ebm::error naming the function, the argument and the value.
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/energy/scaled.hpp>
#include <ebm/energy/toy.hpp>

#include <vector>

#include "../common/expect_error.hpp"

TEST_CASE("gaussian_mixture: bad construction arguments") {
    const std::vector<double> id2 = {1, 0, 0, 1};
    EBM_CHECK_ERROR(ebm::gaussian_mixture({}, {}, {}), "gaussian_mixture", "weights", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0, 1.0}, {{0.0, 0.0}}, {id2, id2}), "gaussian_mixture", "means", "(got 1)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{0.0, 0.0}}, {}), "gaussian_mixture", "covariances", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({-2.0}, {{0.0, 0.0}}, {id2}), "gaussian_mixture", "weight", "(got -2)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{}}, {{}}), "gaussian_mixture", "dimension", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0, 1.0}, {{0.0, 0.0}, {0.0}}, {id2, id2}), "gaussian_mixture", "mean",
                    "(got 1)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{0.0, 0.0}}, {{1, 0, 0}}), "gaussian_mixture", "covariance", "(got 3)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{0.0, 0.0}}, {{1, 0.5, 0, 1}}), "gaussian_mixture", "symmetric", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{0.0, 0.0}}, {{1, 2, 2, 1}}), "gaussian_mixture", "positive definite",
                    "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture({1.0}, {{0.0, std::nan("")}}, {id2}), "gaussian_mixture", "mean entry", "nan");
    EBM_CHECK_ERROR(ebm::gaussian_mixture::isotropic({{0.0}}, 0.0), "gaussian_mixture::isotropic", "sd", "(got 0)");
    EBM_CHECK_ERROR(ebm::gaussian_mixture::isotropic({}, 1.0), "gaussian_mixture::isotropic", "means", "(got 0)");
}

TEST_CASE("gaussian_mixture::sample and ring_mixture::sample: output of the wrong dimension") {
    ebm::batch out(3, 2);
    EBM_CHECK_ERROR(ebm::toy::gmm().sample(out, ebm::philox(1), ebm::purpose::user, 0), "gaussian_mixture::sample", "out dimension",
                    "(got 3)");
    EBM_CHECK_ERROR(ebm::toy::rings().sample(out, ebm::philox(1), ebm::purpose::user, 0), "ring_mixture::sample",
                    "out dimension", "(got 3)");
}

TEST_CASE("ring_mixture and toy factories: bad arguments") {
    EBM_CHECK_ERROR(ebm::ring_mixture({}, 0.1), "ring_mixture", "radii", "(got 0)");
    EBM_CHECK_ERROR(ebm::ring_mixture({1.0, -2.0}, 0.1), "ring_mixture", "radius", "(got -2)");
    EBM_CHECK_ERROR(ebm::ring_mixture({1.0}, 0.0), "ring_mixture", "sd", "(got 0)");
    EBM_CHECK_ERROR(ebm::toy::rings(0), "toy::rings", "count", "(got 0)");
    EBM_CHECK_ERROR(ebm::toy::rings(17), "toy::rings", "count", "(got 17)");
    EBM_CHECK_ERROR(ebm::toy::gmm(8, 1.0, -0.1), "isotropic", "sd", "(got -0.1)");
    EBM_CHECK_ERROR(ebm::toy::plot_extent("moons"), "toy::plot_extent", "toy name", "'moons'");
}

TEST_CASE("mlp: bad layer sizes, slope and calls") {
    EBM_CHECK_ERROR(ebm::mlp({2, 1}, {0.05f}), "mlp", "sizes", "(got 2)");
    EBM_CHECK_ERROR(ebm::mlp({2, 0, 1}, {0.05f}), "mlp", "layer size", "(got 0)");
    EBM_CHECK_ERROR(ebm::mlp({2, -4, 1}, {0.05f}), "mlp", "layer size", "(got -4)");
    EBM_CHECK_ERROR(ebm::mlp({2, 8, 3}, {0.05f}), "mlp", "last layer size", "(got 3)");
    EBM_CHECK_ERROR(ebm::mlp({2, 8, 1}, {1.5f}), "mlp", "negative_slope", "(got 1.5)");
    EBM_CHECK_ERROR(ebm::mlp({2, 8, 1}, {-0.5f}), "mlp", "negative_slope", "(got -0.5)");

    const ebm::mlp net({2, 8, 8, 1}, {0.05f});
    EBM_CHECK_ERROR(net.make_workspace(0), "mlp::make_workspace", "max_chains", "(got 0)");
    auto ws = net.make_workspace(4);
    ebm::batch x3(3, 4), x2(2, 4), big(2, 5), g(2, 4);
    std::vector<float> u(4), short_u(2);
    EBM_CHECK_ERROR(net.energy(x3, u, ws), "mlp::energy", "x dimension", "(got 3)");
    EBM_CHECK_ERROR(net.energy(big, u, ws), "mlp::energy", "capacity", "(got 5)");
    EBM_CHECK_ERROR(net.energy(x2, short_u, ws), "mlp::energy", "u", "(got 2)");
    EBM_CHECK_ERROR(net.energy_and_gradient(x3, u, g, ws), "mlp::energy_and_gradient", "x dimension", "(got 3)");
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count())), w(4, 1.0f), w3(3, 1.0f), grad_short(7);
    EBM_CHECK_ERROR(net.accumulate_parameter_gradient(x2, w3, grad, u, ws), "mlp::accumulate_parameter_gradient", "weights",
                    "(got 3)");
    EBM_CHECK_ERROR(net.accumulate_parameter_gradient(x2, w, grad_short, u, ws), "mlp::accumulate_parameter_gradient",
                    "grad", "(got 7)");
    EBM_CHECK_ERROR(net.accumulate_parameter_gradient(x3, w, grad, u, ws), "mlp::accumulate_parameter_gradient",
                    "x dimension", "(got 3)");
}

TEST_CASE("scaled_energy: bad factor, epsilon and weights") {
    EBM_CHECK_ERROR(ebm::scaled_energy<ebm::gaussian_mixture>(ebm::toy::gmm(), 0.0f), "scaled_energy", "factor", "(got 0)");
    EBM_CHECK_ERROR(ebm::scaled_energy<ebm::gaussian_mixture>(ebm::toy::gmm(), -3.0f), "scaled_energy", "factor", "(got -3)");
    EBM_CHECK_ERROR(ebm::scaled_energy<ebm::gaussian_mixture>(ebm::toy::gmm(), INFINITY), "scaled_energy", "factor", "inf");
    EBM_CHECK_ERROR(ebm::scaled(ebm::toy::gmm(), -0.125f), "scaled", "epsilon", "(got -0.125)");
    const auto s = ebm::scaled(ebm::mlp({2, 4, 1}, {0.05f}), 0.5f);
    auto ws = s.make_workspace(2);
    ebm::batch x(2, 3);
    std::vector<float> w(3, 1.0f), grad(static_cast<std::size_t>(s.parameter_count())), u(3);
    EBM_CHECK_ERROR(s.accumulate_parameter_gradient(x, w, grad, u, ws), "scaled_energy::accumulate_parameter_gradient",
                    "weights", "(got 3)");
}

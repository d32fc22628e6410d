// Exact samplers of the analytic targets: moments and component frequencies of many independent draws agree with
// the closed forms within 4 standard errors (the draws are independent, so the standard errors are exact).
#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/toy.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "mcmc.hpp"
#include "seed.hpp"

namespace {

constexpr ebm::index draws = 200000;

// Checks that the mean of f over the draws is within 4 standard errors of `truth`.
void check_moment(const ebm::batch& x, const std::string& name, double truth, const std::function<double(const float*)>& f) {
    std::vector<double> values;
    values.reserve(static_cast<std::size_t>(x.count()));
    for (ebm::index i = 0; i < x.count(); ++i) values.push_back(f(x.chain(i)));
    const auto e = ebm_test::independent_mean(values);
    INFO(name << ": estimate " << e.mean << " +- " << e.mcse << ", truth " << truth);
    CHECK(std::abs(e.mean - truth) < 4.0 * e.mcse);
}

}  // namespace

TEST_CASE("gaussian_mixture::sample: moments of a full-covariance 3-D mixture") {
    EBM_TEST_SEED_VAR(seed, 5005);
    const std::vector<double> w = {0.5, 0.3, 0.2};
    const std::vector<std::vector<double>> mu = {{0.0, 1.0, -1.0}, {2.0, -1.0, 0.5}, {-1.5, 0.0, 2.0}};
    const std::vector<std::vector<double>> cov = {{1.0, 0.3, 0.1, 0.3, 0.8, -0.2, 0.1, -0.2, 0.5},
                                                  {0.4, -0.1, 0.0, -0.1, 0.6, 0.25, 0.0, 0.25, 1.2},
                                                  {0.3, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.3}};
    const ebm::gaussian_mixture target(w, mu, cov);
    ebm::batch x(3, draws);
    target.sample(x, ebm::philox(seed), ebm::purpose::evaluation, 0);
    double mean[3] = {0, 0, 0};
    for (std::size_t k = 0; k < 3; ++k)
        for (std::size_t a = 0; a < 3; ++a) mean[a] += w[k] * mu[k][a];
    for (std::size_t a = 0; a < 3; ++a) {
        check_moment(x, "mean " + std::to_string(a), mean[a], [a](const float* v) { return v[a]; });
        for (std::size_t b = a; b < 3; ++b) {
            double second = 0;
            for (std::size_t k = 0; k < 3; ++k) second += w[k] * (cov[k][a * 3 + b] + mu[k][a] * mu[k][b]);
            check_moment(x, "E[x" + std::to_string(a) + " x" + std::to_string(b) + "]", second,
                         [a, b](const float* v) { return static_cast<double>(v[a]) * v[b]; });
        }
    }
}

TEST_CASE("toy::gmm sample: mean, second moments and equal component frequencies") {
    EBM_TEST_SEED_VAR(seed, 5006);
    const auto target = ebm::toy::gmm();
    ebm::batch x(2, draws);
    target.sample(x, ebm::philox(seed), ebm::purpose::evaluation, 0);
    check_moment(x, "mean x", 0.0, [](const float* v) { return v[0]; });
    check_moment(x, "mean y", 0.0, [](const float* v) { return v[1]; });
    check_moment(x, "E x^2", 0.5 + 0.15 * 0.15, [](const float* v) { return double(v[0]) * v[0]; });
    check_moment(x, "E y^2", 0.5 + 0.15 * 0.15, [](const float* v) { return double(v[1]) * v[1]; });
    check_moment(x, "E xy", 0.0, [](const float* v) { return double(v[0]) * v[1]; });
    for (int k = 0; k < 8; ++k) {
        // Nearest mode by angle; with sd 0.15 at radius 1 misassignment is negligible (< 1e-6).
        check_moment(x, "component " + std::to_string(k), 1.0 / 8.0, [k](const float* v) {
            const double angle = std::atan2(v[1], v[0]);
            const int nearest = static_cast<int>(std::lround(angle / (2.0 * std::numbers::pi / 8.0)) + 8) % 8;
            return nearest == k ? 1.0 : 0.0;
        });
    }
}

TEST_CASE("toy::rings sample: radius moments, ring frequencies and isotropy") {
    EBM_TEST_SEED_VAR(seed, 5007);
    const auto target = ebm::toy::rings();
    ebm::batch x(2, draws);
    target.sample(x, ebm::philox(seed), ebm::purpose::evaluation, 0);
    auto radius = [](const float* v) { return std::hypot(double(v[0]), double(v[1])); };
    check_moment(x, "E r", 2.5, radius);
    check_moment(x, "E r^2", 7.5 + 0.15 * 0.15, [&](const float* v) { return radius(v) * radius(v); });
    check_moment(x, "mean x", 0.0, [](const float* v) { return v[0]; });
    check_moment(x, "E cos(2 angle)", 0.0, [](const float* v) { return std::cos(2.0 * std::atan2(v[1], v[0])); });
    for (int k = 1; k <= 4; ++k)
        check_moment(x, "ring " + std::to_string(k), 0.25,
                     [&, k](const float* v) { return std::lround(radius(v)) == k ? 1.0 : 0.0; });
}

TEST_CASE("toy::mixture_1d sample: mean, variance and component weights") {
    EBM_TEST_SEED_VAR(seed, 5008);
    const auto target = ebm::toy::mixture_1d();
    ebm::batch x(1, draws);
    target.sample(x, ebm::philox(seed), ebm::purpose::evaluation, 0);
    check_moment(x, "mean", 0.0, [](const float* v) { return v[0]; });
    check_moment(x, "E x^2", 0.01 + 2 * 0.3 * 0.36, [](const float* v) { return double(v[0]) * v[0]; });
    check_moment(x, "left", 0.3, [](const float* v) { return v[0] < -0.3f ? 1.0 : 0.0; });
    check_moment(x, "middle", 0.4, [](const float* v) { return std::abs(v[0]) <= 0.3f ? 1.0 : 0.0; });
}

// Grid densities, KL, entropy and the scipy-style Gaussian KDE against hand-computed and analytic values.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/eval/grid.hpp>
#include <ebm/eval/kde.hpp>

using ebm::eval::grid;

namespace {
std::vector<double> gaussian_masses(const grid& g, double mean_x, double sd, double mean_y = 0.0) {
    std::vector<double> log_p(static_cast<std::size_t>(g.size()));
    for (ebm::index k = 0; k < g.size(); ++k) {
        const double dx = g.coordinate(k % g.resolution) - mean_x;
        const double dy = g.dimension == 2 ? g.coordinate(k / g.resolution) - mean_y : 0.0;
        log_p[static_cast<std::size_t>(k)] = -0.5 * (dx * dx + dy * dy) / (sd * sd);
    }
    return ebm::eval::normalise_log_density(log_p);
}
}  // namespace

TEST_CASE("grid: linspace coordinates, cell measure and point order") {
    const grid g{2, 5, 2.0};
    CHECK(g.size() == 25);
    CHECK(g.spacing() == doctest::Approx(1.0));
    CHECK(g.cell_measure() == doctest::Approx(1.0));
    CHECK(g.coordinate(0) == doctest::Approx(-2.0));
    CHECK(g.coordinate(4) == doctest::Approx(2.0));
    const auto pts = g.points();
    CHECK(pts.chain(1)[0] == doctest::Approx(-1.0));  // x varies fastest
    CHECK(pts.chain(1)[1] == doctest::Approx(-2.0));
    CHECK(pts.chain(5)[1] == doctest::Approx(-1.0));
    CHECK_THROWS_AS((grid{3, 10, 1.0}.validate()), ebm::error);
    CHECK_THROWS_AS((grid{2, 1, 1.0}.validate()), ebm::error);
    CHECK_THROWS_AS((grid{2, 10, -1.0}.validate()), ebm::error);
}

TEST_CASE("normalise: masses sum to one, and bad inputs are rejected") {
    const std::vector<double> logs = {0.0, std::log(3.0), -INFINITY};
    const auto m = ebm::eval::normalise_log_density(logs);
    CHECK(m[0] == doctest::Approx(0.25));
    CHECK(m[1] == doctest::Approx(0.75));
    CHECK(m[2] == 0.0);
    CHECK_THROWS_AS(ebm::eval::normalise_log_density(std::vector<double>{0.0, NAN}), ebm::error);
    CHECK_THROWS_AS(ebm::eval::normalise_log_density(std::vector<double>{-INFINITY}), ebm::error);
    CHECK_THROWS_AS(ebm::eval::normalise_density(std::vector<double>{0.0, 0.0}), ebm::error);
    CHECK_THROWS_AS(ebm::eval::normalise_density(std::vector<double>{1.0, -1.0}), ebm::error);
    // Energies: min subtracted first, so huge energies do not underflow.
    const auto p = ebm::eval::density_from_energies(std::vector<double>{1e6, 1e6 + std::log(2.0)});
    CHECK(p[0] == doctest::Approx(2.0 / 3.0));
}

TEST_CASE("KL: zero for identical densities, hand value for two masses, analytic value for Gaussians") {
    const std::vector<double> q = {0.5, 0.25, 0.25, 0.0};
    const std::vector<double> p = {0.25, 0.25, 0.25, 0.25};
    CHECK(ebm::eval::kl_divergence(q, q) == 0.0);
    CHECK(ebm::eval::kl_divergence(q, p) == doctest::Approx(0.5 * std::log(2.0)));
    // p = 0 where q > 0: floored, large but finite.
    const std::vector<double> z = {0.0, 0.5, 0.5, 0.0};
    CHECK(std::isfinite(ebm::eval::kl_divergence(q, z)));
    CHECK(ebm::eval::kl_divergence(q, z) > 100);
    CHECK_THROWS_AS(ebm::eval::kl_divergence(q, std::vector<double>{1.0}), ebm::error);

    // KL(N(0,1) || N(1, 2^2)) = log 2 + (1 + 1)/8 - 1/2 on a fine 1D grid.
    const grid g1{1, 4001, 12.0};
    CHECK(ebm::eval::kl_divergence(gaussian_masses(g1, 0, 1), gaussian_masses(g1, 1, 2)) ==
          doctest::Approx(std::log(2.0) + 0.25 - 0.5).epsilon(1e-4));
    // 2D isotropic: KL(N(0, I) || N((1,0), 4I)) = 2 log 2 + (2 + 1)/8 - 1.
    const grid g2{2, 401, 10.0};
    CHECK(ebm::eval::kl_divergence(gaussian_masses(g2, 0, 1), gaussian_masses(g2, 1, 2)) ==
          doctest::Approx(2 * std::log(2.0) + 3.0 / 8.0 - 1.0).epsilon(1e-3));
}

TEST_CASE("entropy: differential entropy of Gaussians by the rectangle rule") {
    const double sd = 0.7;
    const grid g1{1, 2001, 7.0};
    CHECK(ebm::eval::grid_entropy(gaussian_masses(g1, 0.2, sd), g1.cell_measure()) ==
          doctest::Approx(0.5 * std::log(2 * std::numbers::pi * std::numbers::e * sd * sd)).epsilon(1e-5));
    const grid g2{2, 401, 7.0};
    CHECK(ebm::eval::grid_entropy(gaussian_masses(g2, 0.2, sd, -0.3), g2.cell_measure()) ==
          doctest::Approx(std::log(2 * std::numbers::pi * std::numbers::e * sd * sd)).epsilon(1e-4));
    // Uniform on the grid: log of the covered area.
    const grid g{2, 11, 1.0};
    const std::vector<double> uniform(static_cast<std::size_t>(g.size()), 1.0 / static_cast<double>(g.size()));
    CHECK(ebm::eval::grid_entropy(uniform, g.cell_measure()) == doctest::Approx(std::log(121 * g.cell_measure())));
}

TEST_CASE("toy grids: the true gmm density is normalised and its entropy is near the mixture's") {
    const auto toy = ebm::toy::gmm();
    const grid g = ebm::eval::toy_grid(2, ebm::toy::plot_extent("gmm"));
    const auto q = ebm::eval::grid_density_from_energy(toy, g);
    double total = 0;
    for (double m : q) total += m;
    CHECK(total == doctest::Approx(1.0));
    // Well separated components: H ≈ log 8 + log(2 pi e 0.15^2) = 1.0925; the grid truncates at 4 sd.
    CHECK(ebm::eval::grid_entropy(q, g.cell_measure()) == doctest::Approx(1.0925).epsilon(0.01));
    CHECK(ebm::eval::kl_divergence(q, q) == 0.0);
}

TEST_CASE("gaussian_kde: scipy's formula (cov ddof 1 times bw^2), computed by hand") {
    // 1D samples {0, 1, 3}: var = 7/3, bw 0.5 -> kernel variance 7/12 (values from the formula in Python).
    const std::vector<float> s1 = {0.0f, 1.0f, 3.0f};
    const ebm::eval::gaussian_kde k1(ebm::const_batch_view(s1.data(), 1, 3), 0.5);
    CHECK(k1.covariance(0, 0) == doctest::Approx(7.0 / 12.0));
    const double x1[] = {-1.0, 0.5, 1.0, 2.2};
    const double e1[] = {0.07953592715055527, 0.28187970617428065, 0.25364842000071736, 0.15402080282374583};
    for (int i = 0; i < 4; ++i) CHECK(k1(&x1[i]) == doctest::Approx(e1[i]).epsilon(1e-12));

    // 2D: five samples with correlated covariance, bw 0.6 -> kernel covariance [[0.45, 0.2925], [0.2925, 0.585]].
    const std::vector<float> s2 = {0.0f, 0.0f, 1.0f, 0.5f, 2.0f, 2.5f, -1.0f, 0.5f, 0.5f, -1.0f};
    const ebm::eval::gaussian_kde k2(ebm::const_batch_view(s2.data(), 2, 5), 0.6);
    CHECK(k2.covariance(0, 0) == doctest::Approx(0.45));
    CHECK(k2.covariance(0, 1) == doctest::Approx(0.2925));
    CHECK(k2.covariance(1, 1) == doctest::Approx(0.585));
    const double x2[4][2] = {{0.0, 0.0}, {0.3, 0.7}, {1.5, 1.5}, {-2.0, 1.0}};
    const double e2[] = {0.11066608141189949, 0.08442776196163759, 0.06898969302915942, 0.0046591387876760825};
    for (int i = 0; i < 4; ++i) CHECK(k2(x2[i]) == doctest::Approx(e2[i]).epsilon(1e-12));

    CHECK_THROWS_AS(ebm::eval::gaussian_kde(ebm::const_batch_view(s1.data(), 1, 3), 0.0), ebm::error);
    CHECK_THROWS_AS(ebm::eval::gaussian_kde(ebm::const_batch_view(s1.data(), 1, 1), 0.5), ebm::error);
    const std::vector<float> same = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    CHECK_THROWS_AS(ebm::eval::gaussian_kde(ebm::const_batch_view(same.data(), 2, 3), 0.5), ebm::error);
}

TEST_CASE("gaussian_kde::on_grid equals the exact sum within the 6-sd truncation bound") {
    const ebm::philox rng(2024);
    for (ebm::index d : {1, 2}) {
        CAPTURE(d);
        ebm::batch samples(d, 3000);
        ebm::fill_normal(rng, ebm::purpose::user, static_cast<std::uint32_t>(d), 0, samples.data(), samples.view().size());
        if (d == 2)  // correlate the axes so that the kernel is a tilted ellipse
            for (ebm::index i = 0; i < samples.count(); ++i) samples.chain(i)[1] = 0.8f * samples.chain(i)[0] + 0.5f * samples.chain(i)[1];
        const ebm::eval::gaussian_kde kde(samples.view(), 0.1);
        const grid g{d, d == 1 ? 301 : 61, 3.0};
        const auto fast = kde.on_grid(g);
        double peak = 0, worst = 0;
        for (ebm::index k = 0; k < g.size(); ++k) {
            std::vector<double> x(2, 0.0);
            x[0] = g.coordinate(k % g.resolution);
            if (d == 2) x[1] = g.coordinate(k / g.resolution);
            const double exact = kde(x.data());
            peak = std::max(peak, exact);
            worst = std::max(worst, std::abs(exact - fast[static_cast<std::size_t>(k)]));
        }
        // Each omitted kernel is below exp(-18) of its peak 1/(n sqrt((2 pi)^d det C)); bound the total loosely.
        CHECK(worst <= 1e-7 * peak);
    }
}

TEST_CASE("gaussian_kde of exact samples approximates the true density (small KL on the grid)") {
    const auto toy = ebm::toy::gmm();
    const grid g = ebm::eval::toy_grid(2, ebm::toy::plot_extent("gmm"), 100);
    ebm::batch samples(2, 10'000);
    toy.sample(samples.view(), ebm::philox(7), ebm::purpose::user, 0);
    const auto q = ebm::eval::grid_density_from_energy(toy, g);
    const auto kde = ebm::eval::normalise_density(ebm::eval::gaussian_kde(samples.view(), 0.1).on_grid(g));
    const double kl = ebm::eval::kl_divergence(q, kde);
    MESSAGE("KL(q || KDE of 10k exact gmm samples) = " << kl);
    CHECK(kl < 0.05);  // smoothing bias only: the kernel sd is 0.1 x 0.75, the component sd 0.15
}

// Image scores: the fixed feature map (ebm/eval/image_features.hpp), the Fréchet distance (frechet.hpp) and the
// kernel distance (kernel_distance.hpp). Every random input comes from Philox with the seed named in the test
// (INFO prints it on failure); nothing depends on timing or on the thread count.
#include <doctest/doctest.h>

#include <ebm/batch.hpp>
#include <ebm/eval/frechet.hpp>
#include <ebm/eval/image_features.hpp>
#include <ebm/eval/kernel_distance.hpp>
#include <ebm/eval/steady_state.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/random/philox.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "common/error_message.hpp"

namespace {

using ebm_test::message_of;

/// d x n samples of N(mean, diag(variance)): column j uses the normals of (purpose::user, chain j, step 0).
Eigen::MatrixXd gaussian_samples(std::uint64_t seed, const Eigen::VectorXd& mean, const Eigen::VectorXd& variance,
                                 ebm::index n) {
    const ebm::philox rng(ebm::seed{seed});
    const ebm::index d = mean.size();
    std::vector<float> z(static_cast<std::size_t>(d));
    Eigen::MatrixXd x(d, n);
    for (ebm::index j = 0; j < n; ++j) {
        ebm::fill_normal(rng, ebm::purpose::user, static_cast<std::uint32_t>(j), 0, z.data(), d);
        for (ebm::index i = 0; i < d; ++i) x(i, j) = mean(i) + std::sqrt(variance(i)) * z[static_cast<std::size_t>(i)];
    }
    return x;
}

/// d values in [low, high) from (purpose::user + 1, chain, step 0).
Eigen::VectorXd uniform_vector(std::uint64_t seed, std::uint32_t chain, ebm::index d, float low, float high) {
    std::vector<float> u(static_cast<std::size_t>(d));
    ebm::fill_uniform(ebm::philox(ebm::seed{seed}), static_cast<ebm::purpose>(1001), chain, 0, u.data(), d, low, high);
    Eigen::VectorXd v(d);
    for (ebm::index i = 0; i < d; ++i) v(i) = u[static_cast<std::size_t>(i)];
    return v;
}

/// A fixed, exactly representable test pattern: value ((p * 37 + k * 11) mod 17) / 8 - 1 at element p of image k.
ebm::batch pattern_images(ebm::index dimension, ebm::index count) {
    ebm::batch x(dimension, count);
    for (ebm::index k = 0; k < count; ++k)
        for (ebm::index p = 0; p < dimension; ++p)
            x.chain(k)[p] = static_cast<float>((p * 37 + k * 11) % 17) / 8.0f - 1.0f;
    return x;
}

/// Elementwise sqrt without Eigen's AVX-512 packet sqrt (which trips a GCC 12 -Wuninitialized false positive).
Eigen::VectorXd root(const Eigen::VectorXd& v) { return v.unaryExpr([](double t) { return std::sqrt(t); }); }

double relative_difference(double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300}); }

}  // namespace

TEST_CASE("image_features: filters are zero-mean, unit-norm and the documented Philox draw") {
    for (ebm::index channels : {1, 3}) {
        INFO("channels " << channels);
        const ebm::eval::image_features map(channels);
        const Eigen::MatrixXf& w = map.filters();
        CHECK(w.rows() == 64);
        CHECK(w.cols() == 25 * channels);
        for (ebm::index f = 0; f < w.rows(); ++f) {
            CHECK(std::abs(w.row(f).cast<double>().sum()) < 1e-6);
            CHECK(std::abs(w.row(f).cast<double>().norm() - 1.0) < 1e-6);
        }
    }
    // Filter 7 of the grey map, recomputed from its definition.
    const ebm::eval::image_features map(1);
    std::vector<float> z(25);
    ebm::fill_normal(ebm::philox(ebm::seed{0x45424D4645415431ull}), ebm::purpose::evaluation, 7, 0, z.data(), 25);
    double mean = 0, squares = 0;
    for (float v : z) mean += v;
    mean /= 25;
    for (float v : z) squares += (v - mean) * (v - mean);
    for (ebm::index k = 0; k < 25; ++k)
        CHECK(map.filters()(7, k) == doctest::Approx((z[static_cast<std::size_t>(k)] - mean) / std::sqrt(squares)).epsilon(1e-6));
}

TEST_CASE("image_features: equal the documented definition computed naively in double (a change of definition is caught)") {
    // A second implementation of definition version 1 (the header's comment), written from the text alone: filters
    // from fill_normal(seed "EBMFEAT1", purpose::evaluation, chain f) made zero-mean and unit-norm in double; a
    // direct stride-2 5x5 convolution with edge-replicating padding 2, in double; ReLU; the mean over each of the
    // 4 x 4 cells. The library (float filters, float Eigen products) must agree to float rounding: 1e-6 of the
    // largest feature (the sums have 25C terms of size <= 1, the float filters differ from the double ones by half
    // an ulp; observed: about 1e-7).
    for (const ebm::index channels : {ebm::index{1}, ebm::index{3}}) {
        const ebm::index size = 32, side = size / 2, cell = side / 4, images = 3;
        INFO("channels " << channels);
        const ebm::eval::image_features map(channels);
        const ebm::batch x = pattern_images(channels * size * size, images);
        const Eigen::MatrixXf f = map(x.view(), size);
        REQUIRE(f.rows() == 1024);
        REQUIRE(f.cols() == images);
        const ebm::index taps = 25 * channels;
        std::vector<double> filters(static_cast<std::size_t>(64 * taps));
        std::vector<float> z(static_cast<std::size_t>(taps));
        for (ebm::index filter = 0; filter < 64; ++filter) {
            ebm::fill_normal(ebm::philox(ebm::seed{0x45424D4645415431ull}), ebm::purpose::evaluation,
                             static_cast<std::uint32_t>(filter), 0, z.data(), taps);
            double mean = 0, squares = 0;
            for (float v : z) mean += v;
            mean /= static_cast<double>(taps);
            for (float v : z) squares += (v - mean) * (v - mean);
            for (ebm::index k = 0; k < taps; ++k)
                filters[static_cast<std::size_t>(filter * taps + k)] = (z[static_cast<std::size_t>(k)] - mean) / std::sqrt(squares);
        }
        const auto clamp = [&](ebm::index v) { return std::min(std::max(v, ebm::index{0}), size - 1); };
        double largest = 0, worst = 0;
        Eigen::MatrixXd reference(1024, images);
        for (ebm::index image = 0; image < images; ++image)
            for (ebm::index filter = 0; filter < 64; ++filter) {
                std::vector<double> map_values(static_cast<std::size_t>(side * side));
                for (ebm::index oy = 0; oy < side; ++oy)
                    for (ebm::index ox = 0; ox < side; ++ox) {
                        double r = 0;
                        for (ebm::index c = 0; c < channels; ++c)
                            for (ebm::index ky = 0; ky < 5; ++ky)
                                for (ebm::index kx = 0; kx < 5; ++kx)
                                    r += filters[static_cast<std::size_t>(filter * taps + (c * 5 + ky) * 5 + kx)] *
                                         x.chain(image)[c * size * size + clamp(2 * oy + ky - 2) * size + clamp(2 * ox + kx - 2)];
                        map_values[static_cast<std::size_t>(oy * side + ox)] = std::max(r, 0.0);
                    }
                for (ebm::index cy = 0; cy < 4; ++cy)
                    for (ebm::index cx = 0; cx < 4; ++cx) {
                        double sum = 0;
                        for (ebm::index yy = cy * cell; yy < (cy + 1) * cell; ++yy)
                            for (ebm::index xx = cx * cell; xx < (cx + 1) * cell; ++xx)
                                sum += map_values[static_cast<std::size_t>(yy * side + xx)];
                        reference(filter * 16 + cy * 4 + cx, image) = sum / static_cast<double>(cell * cell);
                    }
            }
        largest = reference.cwiseAbs().maxCoeff();
        worst = (f.cast<double>() - reference).cwiseAbs().maxCoeff();
        MESSAGE("channels " << channels << ": largest feature " << largest << ", largest difference from the naive "
                << "double reference " << worst);
        CHECK(largest > 0.1);  // the pattern has edges: the comparison is not between zeros
        CHECK(worst <= 1e-6 * largest);
    }
}

TEST_CASE("image_features: deterministic, independent of the batch and of the thread count") {
    const ebm::eval::image_features map(3);
    const ebm::batch x = pattern_images(3 * 16 * 16, 9);
    const Eigen::MatrixXf a = map(x.view(), 16);
    const Eigen::MatrixXf b = map(x.view(), 16);
    CHECK(a == b);
    // Image 4 alone gives the column it got inside the batch, bit for bit.
    const Eigen::MatrixXf alone = map(x.view().chains(4, 1), 16);
    CHECK(alone.col(0) == a.col(4));
    // A new map object draws the same filters.
    CHECK(ebm::eval::image_features(3).filters() == map.filters());
#if defined(_OPENMP)
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const Eigen::MatrixXf one = map(x.view(), 16);
    omp_set_num_threads(2);
    const Eigen::MatrixXf two = map(x.view(), 16);
    omp_set_num_threads(threads);
    CHECK(one == a);
    CHECK(two == a);
#endif
}

TEST_CASE("image_features: a flat image has (almost) no features, others non-negative ones") {
    const ebm::eval::image_features map(1);
    ebm::batch flat(16 * 16, 2);
    for (ebm::index p = 0; p < flat.dimension(); ++p) {
        flat.chain(0)[p] = -1.0f;
        flat.chain(1)[p] = 0.3f;
    }
    const Eigen::MatrixXf f = map(flat.view(), 16);
    CHECK(f.maxCoeff() < 1e-6f);  // zero-mean filters, edge padding: no invented border edges
    const ebm::batch x = pattern_images(16 * 16, 4);
    const Eigen::MatrixXf g = map(x.view(), 16);
    CHECK(g.minCoeff() >= 0.0f);
    CHECK(g.maxCoeff() > 0.1f);
}

TEST_CASE("image_features: bad input is refused with a clear message") {
    CHECK(message_of([] { ebm::eval::image_features map(0); }) ==
          "ebm::eval::image_features: channels must be > 0 (got 0)");
    const ebm::eval::image_features map(1);
    ebm::batch x = pattern_images(30 * 30, 2);
    CHECK(message_of([&] { (void)map(x.view(), 30); }) ==
          "ebm::eval::image_features: image_size must be a multiple of 8 (got 30)");
    CHECK(message_of([&] { (void)map(x.view(), 8); }) ==
          "ebm::eval::image_features: images dimension must equal 64 (got 900)");
    ebm::batch y = pattern_images(16 * 16, 2);
    y.chain(1)[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK(message_of([&] { (void)map(y.view(), 16); }) ==
          "ebm::eval::image_features: images must be finite; element 261 is not (got nan)");
    Eigen::MatrixXf wrong(1024, 3);
    CHECK(message_of([&] { map.compute(pattern_images(16 * 16, 2).view(), 16, wrong); }) ==
          "ebm::eval::image_features: out must be 1024 x 2 (got '1024 x 3')");
}

TEST_CASE("frechet_distance: a set against itself is 0 and FD is symmetric") {
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        INFO("seed " << seed);
        const Eigen::VectorXd mean = uniform_vector(seed, 0, 24, -1, 1);
        const Eigen::VectorXd variance = uniform_vector(seed, 1, 24, 0.1f, 3.0f);
        Eigen::MatrixXd x = gaussian_samples(seed, mean, variance, 600);
        x.row(1) += 0.5 * x.row(0);  // some correlation
        const Eigen::MatrixXd y = gaussian_samples(seed + 1000, mean * 0.5, variance.reverse(), 500);
        const auto sx = ebm::eval::fit_gaussian(x), sy = ebm::eval::fit_gaussian(y);
        const double scale = sx.covariance.trace() + sy.covariance.trace();
        CHECK(ebm::eval::frechet_distance(x, x) <= 1e-9 * 2 * sx.covariance.trace());
        CHECK(ebm::eval::frechet_distance(sy, sy) <= 1e-9 * 2 * sy.covariance.trace());
        const double xy = ebm::eval::frechet_distance(x, y), yx = ebm::eval::frechet_distance(y, x);
        CHECK(xy > 1.0);
        CHECK(std::abs(xy - yx) <= 1e-9 * scale);
        // float features give the same distance to float rounding
        CHECK(ebm::eval::frechet_distance(x.cast<float>(), y.cast<float>()) == doctest::Approx(xy).epsilon(1e-5));
    }
}

TEST_CASE("frechet_distance: one dimension is (m1 - m2)^2 + (s1 - s2)^2 exactly") {
    const Eigen::MatrixXd x = gaussian_samples(5, Eigen::VectorXd::Constant(1, 0.2), Eigen::VectorXd::Constant(1, 2.0), 50);
    const Eigen::MatrixXd y = gaussian_samples(6, Eigen::VectorXd::Constant(1, -0.7), Eigen::VectorXd::Constant(1, 0.5), 70);
    const auto moments = [](const Eigen::MatrixXd& v) {
        const double m = v.mean();
        return std::pair{m, std::sqrt((v.array() - m).square().sum() / static_cast<double>(v.cols() - 1))};
    };
    const auto [m1, s1] = moments(x);
    const auto [m2, s2] = moments(y);
    const double expected = (m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2);
    CHECK(relative_difference(ebm::eval::frechet_distance(x, y), expected) < 1e-12);
}

TEST_CASE("frechet_distance: Gaussian samples match the closed form for diagonal covariances (20 seeds)") {
    // FD(N(mu1, diag a), N(mu2, diag b)) = |mu1 - mu2|^2 + sum (sqrt a_i - sqrt b_i)^2. The estimate from n samples
    // per set has bias sum (a_i + b_i) / n (from the means) and, to first order, standard deviation
    // sqrt((4 sum (mu1_i - mu2_i)^2 (a_i + b_i) + 2 sum (sqrt a_i - sqrt b_i)^2 (a_i + b_i)) / n) (delta method; about
    // 0.12 here). Over 200 seeds the largest |estimate - closed - bias| was 3.0 standard deviations; we allow 4.5.
    constexpr ebm::index d = 5, n = 4000;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        INFO("seed " << seed);
        const Eigen::VectorXd mu1 = uniform_vector(seed, 0, d, -1, 1), mu2 = uniform_vector(seed, 1, d, -1, 1);
        const Eigen::VectorXd a = uniform_vector(seed, 2, d, 0.25f, 4.0f), b = uniform_vector(seed, 3, d, 0.25f, 4.0f);
        const double closed = (mu1 - mu2).squaredNorm() + (root(a) - root(b)).squaredNorm();
        const double bias = (a + b).sum() / n;
        const double sd = std::sqrt((4.0 * ((mu1 - mu2).array().square() * (a + b).array()).sum() +
                                     2.0 * ((root(a) - root(b)).array().square() * (a + b).array()).sum()) /
                                    n);
        const double fd = ebm::eval::frechet_distance(gaussian_samples(2 * seed, mu1, a, n),
                                                      gaussian_samples(2 * seed + 1, mu2, b, n));
        INFO("closed form " << closed << ", estimate " << fd << ", bias " << bias << ", sd " << sd);
        CHECK(std::abs(fd - closed - bias) < 4.5 * sd);
    }
}

TEST_CASE("frechet_distance: bad input is refused with a clear message") {
    const Eigen::MatrixXd x = Eigen::MatrixXd::Random(4, 10), y = Eigen::MatrixXd::Random(3, 10);
    CHECK(message_of([&] { (void)ebm::eval::frechet_distance(x, y); }) ==
          "ebm::eval::frechet_distance: both feature sets must have the same dimension (rows) 4 (got 3)");
    CHECK(message_of([&] { (void)ebm::eval::frechet_distance(x.leftCols(1), x); }) ==
          "ebm::eval::frechet_distance: x must hold at least 2 samples (columns) (got 1)");
    Eigen::MatrixXd bad = x;
    bad(1, 2) = std::numeric_limits<double>::infinity();
    CHECK(message_of([&] { (void)ebm::eval::frechet_distance(x, bad); }) ==
          "ebm::eval::frechet_distance: y must be finite; feature 1 of sample 2 is not (got inf)");
    CHECK(message_of([&] { (void)ebm::eval::fit_gaussian(Eigen::MatrixXf(0, 5)); }) ==
          "ebm::eval::fit_gaussian: features must have at least one feature (row) (got 0)");
    const auto s4 = ebm::eval::fit_gaussian(x), s3 = ebm::eval::fit_gaussian(y);
    CHECK(message_of([&] { (void)ebm::eval::frechet_distance(s4, s3); }) ==
          "ebm::eval::frechet_distance: both statistics must have the same dimension 4 (got 3)");
    auto broken = s4;
    broken.covariance(0, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK(message_of([&] { (void)ebm::eval::frechet_distance(s4, broken); }) ==
          "ebm::eval::frechet_distance: second statistics must be finite (got 'non-finite mean or covariance')");
}

TEST_CASE("kernel_distance: equals the MMD^2_u formula computed naively when a subset is the whole set") {
    constexpr ebm::index d = 3;
    const Eigen::MatrixXd x = gaussian_samples(21, Eigen::VectorXd::Zero(d), Eigen::VectorXd::Ones(d), 40);
    const Eigen::MatrixXd y = gaussian_samples(22, Eigen::VectorXd::Constant(d, 0.4), Eigen::VectorXd::Ones(d), 40);
    const auto k = [](const Eigen::VectorXd& a, const Eigen::VectorXd& b) { return std::pow(a.dot(b) / d + 1.0, 3); };
    double xx = 0, yy = 0, xy = 0;
    for (ebm::index i = 0; i < 40; ++i)
        for (ebm::index j = 0; j < 40; ++j) {
            if (i != j) xx += k(x.col(i), x.col(j));
            if (i != j) yy += k(y.col(i), y.col(j));
            xy += k(x.col(i), y.col(j));
        }
    const double expected = xx / (40.0 * 39.0) + yy / (40.0 * 39.0) - 2.0 * xy / (40.0 * 40.0);
    const auto r = ebm::eval::kernel_distance(x, y, {.subset_size = 1000, .subsets = 3});
    CHECK(r.subset_size == 40);
    CHECK(r.subsets == 3);
    CHECK(relative_difference(r.mean, expected) < 1e-12);
    CHECK(r.std < 1e-12 * std::abs(expected));  // every subset is the whole set, in another order
}

TEST_CASE("kernel_distance: near 0 for one distribution, clearly positive for two (10 seeds)") {
    // Default options (50 subsets of 1000) on d = 16, n = 3000: same-distribution KIDs measured over 200 seeds lie
    // within 0.0037 (standard deviation over subsets about 0.002); a mean shift of 0.25 per coordinate gives about 0.21 (smallest 0.18).
    constexpr ebm::index d = 16, n = 3000;
    const Eigen::VectorXd zero = Eigen::VectorXd::Zero(d), one = Eigen::VectorXd::Ones(d);
    for (std::uint64_t seed = 100; seed < 110; ++seed) {
        INFO("seed " << seed);
        const Eigen::MatrixXd x = gaussian_samples(3 * seed, zero, one, n);
        const Eigen::MatrixXd y = gaussian_samples(3 * seed + 1, zero, one, n);
        const Eigen::MatrixXd z = gaussian_samples(3 * seed + 2, Eigen::VectorXd::Constant(d, 0.25), one, n);
        const auto same = ebm::eval::kernel_distance(x, y);
        const auto different = ebm::eval::kernel_distance(x, z);
        INFO("same " << same.mean << " +- " << same.std << ", different " << different.mean);
        CHECK(std::abs(same.mean) < 0.01);
        CHECK(different.mean > 0.1);
        CHECK(same.subset_size == 1000);
        CHECK(same.subsets == 50);
    }
}

TEST_CASE("kernel_distance: deterministic and independent of the thread count") {
    const Eigen::MatrixXd x = gaussian_samples(31, Eigen::VectorXd::Zero(8), Eigen::VectorXd::Ones(8), 300);
    const Eigen::MatrixXd y = gaussian_samples(32, Eigen::VectorXd::Zero(8), Eigen::VectorXd::Ones(8) * 1.5, 250);
    const ebm::eval::kid_options o{.subset_size = 100, .subsets = 7};
    const auto a = ebm::eval::kernel_distance(x, y, o);
    const auto b = ebm::eval::kernel_distance(x, y, o);
    CHECK(a.mean == b.mean);
    CHECK(a.std == b.std);
    CHECK(a.std > 0);  // the subsets differ
#if defined(_OPENMP)
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto one = ebm::eval::kernel_distance(x, y, o);
    omp_set_num_threads(threads);
    CHECK(one.mean == a.mean);
    CHECK(one.std == a.std);
#endif
    // Another subset seed gives another (close) estimate.
    auto other = o;
    other.subset_seed = ebm::seed{1};
    CHECK(ebm::eval::kernel_distance(x, y, other).mean != a.mean);
}

TEST_CASE("kernel_distance: bad input is refused with a clear message") {
    const Eigen::MatrixXd x = Eigen::MatrixXd::Random(4, 10), y = Eigen::MatrixXd::Random(3, 10);
    CHECK(message_of([&] { (void)ebm::eval::kernel_distance(x, y); }) ==
          "ebm::eval::kernel_distance: both feature sets must have the same dimension (rows) 4 (got 3)");
    CHECK(message_of([&] { (void)ebm::eval::kernel_distance(x, x.leftCols(1)); }) ==
          "ebm::eval::kernel_distance: y must hold at least 2 samples (columns) (got 1)");
    CHECK(message_of([&] { (void)ebm::eval::kernel_distance(x, x, {.subset_size = 1}); }) ==
          "ebm::eval::kernel_distance: options.subset_size must be >= 2 (got 1)");
    CHECK(message_of([&] { (void)ebm::eval::kernel_distance(x, x, {.subsets = 0}); }) ==
          "ebm::eval::kernel_distance: options.subsets must be > 0 (got 0)");
    Eigen::MatrixXf bad = x.cast<float>();
    bad(0, 9) = std::numeric_limits<float>::quiet_NaN();
    CHECK(message_of([&] { (void)ebm::eval::kernel_distance(bad, x); }) ==
          "ebm::eval::kernel_distance: x must be finite; feature 0 of sample 9 is not (got nan)");
}

TEST_CASE("saturated_fraction: |v| > 0.99 counted exactly, the threshold an argument, bad input refused") {
    // 10 values: 3 beyond 0.99 in magnitude (1, -1, 0.995), 0.99 itself is not.
    const std::vector<float> v{1.0f, -1.0f, 0.995f, 0.99f, -0.99f, 0.5f, 0.0f, -0.3f, 0.98f, 0.1f};
    const ebm::const_batch_view x(v.data(), 5, 2);
    CHECK(ebm::eval::saturated_fraction(x) == 0.3);
    CHECK(ebm::eval::saturated_fraction(x, 0.4f) == 0.7);
    CHECK(ebm::eval::saturated_fraction(x, 1.0f) == 0.0);
    CHECK(message_of([&] { (void)ebm::eval::saturated_fraction(x, 0.0f); }) ==
          "ebm::eval::saturated_fraction: threshold must be > 0 (got 0)");
    const std::vector<float> bad{0.5f, NAN};
    CHECK(message_of([&] { (void)ebm::eval::saturated_fraction(ebm::const_batch_view(bad.data(), 2, 1)); }) ==
          "ebm::eval::saturated_fraction: x must be finite; value 1 is (got nan)");
    CHECK(message_of([&] { (void)ebm::eval::saturated_fraction(ebm::const_batch_view(nullptr, 2, 0)); }).find(
              "x must hold at least one value") != std::string::npos);
}

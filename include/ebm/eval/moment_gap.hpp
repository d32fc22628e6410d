#pragma once
// The moment-matching check of the short-run paper (§4.1): do two samples have the same feature means? For feature
// j, z_j = (mean_a,j − mean_b,j) / sqrt(var_a,j / n_a + var_b,j / n_b), the gap in units of its standard error
// (unbiased variances, sums in double). When both samples come from the same distribution each z_j is about N(0, 1),
// so the largest |z_j| over m features stays below the two-sided Bonferroni bound Φ⁻¹(1 − α / (2m)) with
// probability at least 1 − α, and the mean of z_j² is about 1 (more when the estimates move around a fixed point, as
// learned parameters do). Features are columns' rows: a and b are m x n matrices, one column per draw (the batch
// convention of eval/image_features.hpp).
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <cmath>
#include <limits>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "mcmc_diagnostics.hpp"  // inverse_normal_cdf

namespace ebm::eval {

struct moment_gap_result {
    std::vector<double> z;         // per feature
    double max_abs_z = 0;          // the largest |z_j|
    index worst_feature = 0;       // its j
    double mean_square_z = 0;      // mean of z_j²
    double max_abs_difference = 0; // the largest |mean_a,j − mean_b,j|, in the features' units
};

/// The gap between the feature means of samples a and b (m x n_a and m x n_b, n_a, n_b >= 2, finite). A feature
/// constant in both samples has z = 0 when the constants agree and ±infinity otherwise.
[[nodiscard]] inline moment_gap_result moment_gap(const Eigen::Ref<const Eigen::MatrixXf>& a,
                                                  const Eigen::Ref<const Eigen::MatrixXf>& b) {
    const char* where = "eval::moment_gap";
    if (a.rows() < 1) detail::fail(where, "a must have at least one feature (row)", a.rows());
    if (b.rows() != a.rows()) detail::fail(where, "b must have as many features (rows) as a = " + detail::to_text(a.rows()), b.rows());
    if (a.cols() < 2) detail::fail(where, "a must hold at least 2 draws (columns)", a.cols());
    if (b.cols() < 2) detail::fail(where, "b must hold at least 2 draws (columns)", b.cols());
    if (!a.allFinite()) detail::fail(where, "a must be finite", "a non-finite entry");
    if (!b.allFinite()) detail::fail(where, "b must be finite", "a non-finite entry");

    const auto mean_and_variance = [](const Eigen::Ref<const Eigen::MatrixXf>& x, index j, double& mean, double& variance) {
        const auto row = x.row(j).cast<double>();
        mean = row.mean();
        variance = (row.array() - mean).square().sum() / static_cast<double>(x.cols() - 1);
    };
    moment_gap_result r;
    r.z.resize(static_cast<std::size_t>(a.rows()));
    double squares = 0;
    for (index j = 0; j < a.rows(); ++j) {
        double mean_a = 0, var_a = 0, mean_b = 0, var_b = 0;
        mean_and_variance(a, j, mean_a, var_a);
        mean_and_variance(b, j, mean_b, var_b);
        const double difference = mean_a - mean_b;
        const double error = std::sqrt(var_a / static_cast<double>(a.cols()) + var_b / static_cast<double>(b.cols()));
        double z = 0;
        if (error > 0) z = difference / error;
        else if (difference != 0) z = std::copysign(std::numeric_limits<double>::infinity(), difference);
        r.z[static_cast<std::size_t>(j)] = z;
        squares += z * z;
        if (std::abs(z) > r.max_abs_z) {
            r.max_abs_z = std::abs(z);
            r.worst_feature = j;
        }
        r.max_abs_difference = std::max(r.max_abs_difference, std::abs(difference));
    }
    r.mean_square_z = squares / static_cast<double>(a.rows());
    return r;
}

/// Φ⁻¹(1 − α / (2m)): the bound that the largest |z_j| of m features exceeds with probability at most α when the
/// two samples share their means (Bonferroni; m >= 1, 0 < α < 1).
[[nodiscard]] inline double moment_gap_bound(index features, double alpha) {
    const char* where = "eval::moment_gap_bound";
    detail::require_positive(where, "features", features);
    if (!(alpha > 0 && alpha < 1)) detail::fail(where, "alpha must lie in (0, 1)", alpha);
    return inverse_normal_cdf(1.0 - alpha / (2.0 * static_cast<double>(features)));
}

}  // namespace ebm::eval

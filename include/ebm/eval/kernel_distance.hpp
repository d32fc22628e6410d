#pragma once
// Kernel distance (KID, Binkowski et al. 2018, on any features): the unbiased estimate of the squared MMD with
// the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
//   MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2,
// averaged over fixed random subsets, as torch-fidelity and clean-fid do. Defaults (kid_options): 50 subsets of
// m = 1000 samples from each set (m = the smaller set size when a set is smaller). Subset s takes the first m
// entries of a partial Fisher-Yates shuffle of each set drawn with Philox (seed 0x45424D4B49443031, "EBMKID01";
// purpose::evaluation; chain 2s for the first set, 2s + 1 for the second; step 0; draw k uses word k % 4 of
// block k / 4 and picks j = i + floor(word * (n - i) / 2^32)), so the score is the same on every run.
// The estimate is unbiased, so it can be slightly negative when the two sets come from one distribution.
// The result carries the mean over subsets and their standard deviation (divisor = subsets, as torch-fidelity).
// Arithmetic is in double; subsets run on OpenMP threads with one buffer set per thread and are summed in subset
// order, so the result does not depend on the thread count.
//   auto kid = ebm::eval::kernel_distance(features_a, features_b);   // d x n_a, d x n_b; kid.mean, kid.std
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"
#include "frechet.hpp"  // internal::require_features

namespace ebm::eval {

struct kid_options {
    index subset_size = 1000;  // m; the smaller set size when a set has fewer samples
    index subsets = 50;
    seed subset_seed{0x45424D4B49443031ull};  // "EBMKID01"
};

struct kid_result {
    double mean = 0;       // mean of MMD^2_u over the subsets
    double std = 0;        // standard deviation over the subsets (divisor: subsets)
    index subset_size = 0;  // m actually used
    index subsets = 0;
};

namespace internal {

/// Unbiased MMD^2 with the cubic kernel between the columns of x and y (both d x m, double). gram is scratch.
inline double mmd2_cubic_unbiased(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, Eigen::MatrixXd& gram) {
    const index m = x.cols();
    const double inv_d = 1.0 / static_cast<double>(x.rows());
    const auto cube = [inv_d](double dot) {
        const double k = dot * inv_d + 1.0;
        return k * k * k;
    };
    // Off-diagonal sum of a symmetric kernel matrix from the lower half of X^T X (half the work of a full product).
    const auto within = [&](const Eigen::MatrixXd& z) {
        gram.setZero();
        gram.selfadjointView<Eigen::Lower>().rankUpdate(z.transpose());
        double sum = 0;
        for (index j = 0; j < m; ++j)
            for (index i = j + 1; i < m; ++i) sum += cube(gram(i, j));
        return 2.0 * sum / (static_cast<double>(m) * static_cast<double>(m - 1));
    };
    const double kxx = within(x);
    const double kyy = within(y);
    gram.noalias() = x.transpose() * y;
    double cross = 0;
    for (index j = 0; j < m; ++j)
        for (index i = 0; i < m; ++i) cross += cube(gram(i, j));
    return kxx + kyy - 2.0 * cross / (static_cast<double>(m) * static_cast<double>(m));
}

/// Copies the first m entries of a Philox partial Fisher-Yates shuffle of the columns of `from` into `to`.
template <class Derived>
void draw_subset(const Eigen::MatrixBase<Derived>& from, index m, const philox& rng, std::uint32_t chain,
                 std::vector<std::uint32_t>& order, Eigen::MatrixXd& to) {
    const index n = from.cols();
    order.resize(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::uint32_t{0});
    philox::block_type words{};
    for (index i = 0; i < m; ++i) {
        if (i % 4 == 0) words = rng.block(purpose::evaluation, chain, 0, static_cast<std::uint32_t>(i / 4));
        const std::uint64_t word = words[static_cast<std::size_t>(i % 4)];
        const auto j = i + static_cast<index>((word * static_cast<std::uint64_t>(n - i)) >> 32);
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
        to.col(i) = from.col(order[static_cast<std::size_t>(i)]).template cast<double>();
    }
}

}  // namespace internal

/// KID between two feature sets (d x n1 and d x n2, float or double, finite, n >= 2, same d).
template <class DerivedA, class DerivedB>
[[nodiscard]] kid_result kernel_distance(const Eigen::MatrixBase<DerivedA>& x, const Eigen::MatrixBase<DerivedB>& y,
                                         const kid_options& options = {}) {
    static_assert(std::is_floating_point_v<typename DerivedA::Scalar> &&
                  std::is_floating_point_v<typename DerivedB::Scalar>, "features must be float or double");
    const char* where = "eval::kernel_distance";
    if (options.subset_size < 2) ebm::detail::fail(where, "options.subset_size must be >= 2", options.subset_size);
    ebm::detail::require_positive(where, "options.subsets", options.subsets);
    if (options.subsets > (index{1} << 30)) ebm::detail::fail(where, "options.subsets must be <= 2^30", options.subsets);
    if (x.rows() != y.rows())
        ebm::detail::fail(where, "both feature sets must have the same dimension (rows) " +
                                     ebm::detail::to_text(x.rows()), y.rows());
    internal::require_features(where, "x", x, 2);
    internal::require_features(where, "y", y, 2);
    constexpr index max_count = index{1} << 31;  // the shuffle scales 32-bit words by n
    if (x.cols() > max_count) ebm::detail::fail(where, "x must hold at most 2^31 samples", x.cols());
    if (y.cols() > max_count) ebm::detail::fail(where, "y must hold at most 2^31 samples", y.cols());

    const index d = x.rows();
    const index m = std::min({options.subset_size, static_cast<index>(x.cols()), static_cast<index>(y.cols())});
    const philox rng(options.subset_seed);
    std::vector<double> values(static_cast<std::size_t>(options.subsets));
#pragma omp parallel
    {
        Eigen::MatrixXd xs(d, m), ys(d, m), gram(m, m);
        std::vector<std::uint32_t> order;
#pragma omp for schedule(static)
        for (index s = 0; s < options.subsets; ++s) {
            internal::draw_subset(x, m, rng, static_cast<std::uint32_t>(2 * s), order, xs);
            internal::draw_subset(y, m, rng, static_cast<std::uint32_t>(2 * s + 1), order, ys);
            values[static_cast<std::size_t>(s)] = internal::mmd2_cubic_unbiased(xs, ys, gram);
        }
    }
    kid_result r;
    r.subset_size = m;
    r.subsets = options.subsets;
    for (double v : values) r.mean += v;
    r.mean /= static_cast<double>(options.subsets);
    for (double v : values) r.std += (v - r.mean) * (v - r.mean);
    r.std = std::sqrt(r.std / static_cast<double>(options.subsets));
    return r;
}

}  // namespace ebm::eval

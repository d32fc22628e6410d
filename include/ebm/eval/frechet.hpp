#pragma once
// Fréchet distance between Gaussians fitted to two feature sets (the FID formula, on any features):
//   FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})
// with mu the mean and S the sample covariance (divisor n - 1, as numpy.cov and pytorch-fid). Everything is in
// double. Both square roots come from Eigen's SelfAdjointEigenSolver: S1 = V diag(l) V^T gives
// S1^{1/2} = V diag(sqrt l) V^T, and the trace term is the sum of sqrt of the eigenvalues of the symmetric
// S1^{1/2} S2 S1^{1/2}. Eigenvalues that rounding made slightly negative (covariances are only positive
// semi-definite when n <= d) are clipped to 0, and so is a final FD below 0 (rounding of a zero distance).
// FD depends on the sample sizes (it is biased upward, more so for small n): compare scores at equal n.
//   auto fd = ebm::eval::frechet_distance(features_a, features_b);   // d x n_a, d x n_b (one column per sample)
//   auto ref = ebm::eval::fit_gaussian(features_b);                  // or: fit once, compare many times
//   auto fd2 = ebm::eval::frechet_distance(ebm::eval::fit_gaussian(features_a), ref);
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "../config.hpp"
#include "../error.hpp"

namespace ebm::eval {

/// Mean and sample covariance (divisor count - 1) of a feature set.
struct gaussian_statistics {
    Eigen::VectorXd mean;
    Eigen::MatrixXd covariance;
    index count = 0;

    [[nodiscard]] index dimension() const { return mean.size(); }
};

// Not ebm::eval::detail: that would hide ebm::detail from unqualified detail:: calls in other eval headers.
namespace internal {

/// Features must be d x n with d >= 1, n >= min_count and every value finite.
template <class Derived>
void require_features(std::string_view where, std::string_view name, const Eigen::MatrixBase<Derived>& x,
                      index min_count) {
    if (x.rows() < 1) ebm::detail::fail(where, std::string(name) + " must have at least one feature (row)", x.rows());
    if (x.cols() < min_count)
        ebm::detail::fail(where, std::string(name) + " must hold at least " + ebm::detail::to_text(min_count) +
                                     " samples (columns)", x.cols());
    for (index j = 0; j < x.cols(); ++j)
        for (index i = 0; i < x.rows(); ++i)
            if (!std::isfinite(static_cast<double>(x(i, j))))
                ebm::detail::fail(where, std::string(name) + " must be finite; feature " + ebm::detail::to_text(i) +
                                             " of sample " + ebm::detail::to_text(j) + " is not",
                                  static_cast<double>(x(i, j)));
}

/// Eigen-decomposition of a symmetric matrix; fails clearly if the solver does not converge.
inline Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> symmetric_eigen(const Eigen::MatrixXd& m, std::string_view where) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(m, Eigen::ComputeEigenvectors);
    if (solver.info() != Eigen::Success)
        throw ebm::runtime_error("ebm::" + std::string(where) + ": the symmetric eigen-solver did not converge (got " +
                                 ebm::detail::to_text(m.rows()) + " x " + ebm::detail::to_text(m.cols()) + ")");
    return solver;
}

}  // namespace internal

/// Fits mean and covariance to `features` (d x n, float or double, n >= 2, finite). The covariance is summed
/// in fixed blocks of 256 samples, in double, so the result does not depend on the thread count.
template <class Derived>
[[nodiscard]] gaussian_statistics fit_gaussian(const Eigen::MatrixBase<Derived>& features) {
    static_assert(std::is_floating_point_v<typename Derived::Scalar>, "features must be float or double");
    const char* where = "eval::fit_gaussian";
    internal::require_features(where, "features", features, 2);
    const index d = features.rows(), n = features.cols();
    gaussian_statistics s;
    s.count = n;
    s.mean = features.template cast<double>().rowwise().sum() / static_cast<double>(n);
    s.covariance = Eigen::MatrixXd::Zero(d, d);
    constexpr index block = 256;  // bounds the double copy to d x 256
    Eigen::MatrixXd centred(d, std::min(block, n));
    for (index start = 0; start < n; start += block) {
        const index m = std::min(block, n - start);
        centred.leftCols(m) = features.middleCols(start, m).template cast<double>().colwise() - s.mean;
        s.covariance.selfadjointView<Eigen::Lower>().rankUpdate(centred.leftCols(m));
    }
    s.covariance = s.covariance.selfadjointView<Eigen::Lower>();  // fill the upper half
    s.covariance /= static_cast<double>(n - 1);
    return s;
}

/// FD between two fitted Gaussians of the same dimension.
[[nodiscard]] inline double frechet_distance(const gaussian_statistics& a, const gaussian_statistics& b) {
    const char* where = "eval::frechet_distance";
    if (a.dimension() < 1) ebm::detail::fail(where, "first statistics must have dimension >= 1", a.dimension());
    if (b.dimension() != a.dimension())
        ebm::detail::fail(where, "both statistics must have the same dimension " + ebm::detail::to_text(a.dimension()),
                          b.dimension());
    const index d = a.dimension();
    for (const gaussian_statistics* s : {&a, &b}) {
        const char* name = s == &a ? "first" : "second";
        if (s->covariance.rows() != d || s->covariance.cols() != d)
            ebm::detail::fail(where, std::string(name) + " covariance must be " + ebm::detail::to_text(d) + " x " +
                                         ebm::detail::to_text(d),
                              ebm::detail::to_text(s->covariance.rows()) + " x " +
                                  ebm::detail::to_text(s->covariance.cols()));
        if (!s->mean.allFinite() || !s->covariance.allFinite())
            ebm::detail::fail(where, std::string(name) + " statistics must be finite", "non-finite mean or covariance");
    }
    // S1^{1/2} from the eigen-decomposition of S1 (eigenvalues clipped at 0).
    const auto e1 = internal::symmetric_eigen(a.covariance, where);
    // Scalar loops for the square roots: Eigen's AVX-512 packet sqrt trips GCC 12 -Wuninitialized.
    Eigen::VectorXd root_values(d);
    for (index k = 0; k < d; ++k) root_values(k) = std::sqrt(std::max(e1.eigenvalues()(k), 0.0));
    const Eigen::MatrixXd& v = e1.eigenvectors();
    const Eigen::MatrixXd root1 = v * root_values.asDiagonal() * v.transpose();
    Eigen::MatrixXd middle = root1 * b.covariance * root1;
    middle = 0.5 * (middle + middle.transpose()).eval();  // symmetric up to rounding; make it exactly so
    const auto e2 = internal::symmetric_eigen(middle, where);
    double trace_root = 0;
    for (index k = 0; k < d; ++k) trace_root += std::sqrt(std::max(e2.eigenvalues()(k), 0.0));
    const double fd = (a.mean - b.mean).squaredNorm() + a.covariance.trace() + b.covariance.trace() - 2.0 * trace_root;
    return std::max(fd, 0.0);
}

/// FD between Gaussians fitted to two feature sets (d x n1 and d x n2, n >= 2, same d).
template <class DerivedA, class DerivedB>
[[nodiscard]] double frechet_distance(const Eigen::MatrixBase<DerivedA>& x, const Eigen::MatrixBase<DerivedB>& y) {
    const char* where = "eval::frechet_distance";
    if (x.rows() != y.rows())
        ebm::detail::fail(where, "both feature sets must have the same dimension (rows) " +
                                     ebm::detail::to_text(x.rows()), y.rows());
    internal::require_features(where, "x", x, 2);
    internal::require_features(where, "y", y, 2);
    return frechet_distance(fit_gaussian(x), fit_gaussian(y));
}

}  // namespace ebm::eval

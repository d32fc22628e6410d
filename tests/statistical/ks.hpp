#pragma once
// Two-sample Kolmogorov-Smirnov test: the statistic D = sup |F_a - F_b| and its asymptotic p-value from the
// Kolmogorov distribution, Q(lambda) = 2 sum_{j>=1} (-1)^{j-1} exp(-2 j^2 lambda^2), evaluated at
// lambda = (sqrt(n_e) + 0.12 + 0.11 / sqrt(n_e)) D with n_e = n m / (n + m) (Stephens' correction, as in
// Numerical Recipes' kstwo). Accurate to a few percent of p for n_e >= 4, which is all these tests need.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace ebm_test {

/// Survival function of the Kolmogorov distribution, P(K > lambda).
inline double kolmogorov_q(double lambda) {
    if (lambda <= 0.0) return 1.0;
    if (lambda < 1.18) {
        // Small lambda: the Jacobi theta form of the CDF converges fast, P(K <= l) = sqrt(2 pi)/l sum exp(-(2j-1)^2 pi^2/(8 l^2)).
        const double y = std::exp(-std::numbers::pi * std::numbers::pi / (8.0 * lambda * lambda));
        double sum = 0;
        for (int j = 1; j <= 6; ++j) sum += std::pow(y, (2 * j - 1) * (2 * j - 1));
        return std::clamp(1.0 - std::sqrt(2.0 * std::numbers::pi) / lambda * sum, 0.0, 1.0);
    }
    double sum = 0;
    for (int j = 1; j <= 100; ++j) {
        const double term = std::exp(-2.0 * j * j * lambda * lambda);
        sum += (j % 2 == 1 ? term : -term);
        if (term < 1e-300) break;
    }
    return std::clamp(2.0 * sum, 0.0, 1.0);
}

struct ks_result {
    double statistic;
    double p_value;
};

/// Two-sample KS test of a against b (copies are sorted; ties are handled by stepping both samples).
inline ks_result ks_two_sample(std::vector<double> a, std::vector<double> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    const double n = static_cast<double>(a.size());
    const double m = static_cast<double>(b.size());
    std::size_t i = 0, j = 0;
    double d = 0;
    while (i < a.size() && j < b.size()) {
        const double v = std::min(a[i], b[j]);
        while (i < a.size() && a[i] == v) ++i;
        while (j < b.size() && b[j] == v) ++j;
        d = std::max(d, std::abs(static_cast<double>(i) / n - static_cast<double>(j) / m));
    }
    const double ne = n * m / (n + m);
    const double root = std::sqrt(ne);
    return {d, kolmogorov_q((root + 0.12 + 0.11 / root) * d)};
}

}  // namespace ebm_test

#pragma once
// Monte Carlo standard errors of chain averages by batch means: every chain's series is cut into batches
// much longer than the autocorrelation time, so batch means are nearly independent; the MCSE of the grand mean
// is sd(batch means) / sqrt(number of batches) and the effective sample size is var(f) / MCSE^2.
#include <cmath>
#include <cstddef>
#include <vector>

namespace ebm_test {

struct mc_estimate {
    double mean = 0;
    double mcse = 0;  // Monte Carlo standard error of mean
    double ess = 0;   // effective sample size
};

/// series: chains x length values, chain-major (chain c at [c * length, (c + 1) * length)).
inline mc_estimate batch_means(const std::vector<double>& series, std::size_t chains, std::size_t length,
                               std::size_t batches_per_chain) {
    const std::size_t batch_length = length / batches_per_chain;
    std::vector<double> means;
    double total = 0, total_sq = 0;
    std::size_t count = 0;
    for (std::size_t c = 0; c < chains; ++c)
        for (std::size_t b = 0; b < batches_per_chain; ++b) {
            double sum = 0;
            for (std::size_t t = 0; t < batch_length; ++t) {
                const double v = series[c * length + b * batch_length + t];
                sum += v;
                total += v;
                total_sq += v * v;
                ++count;
            }
            means.push_back(sum / static_cast<double>(batch_length));
        }
    mc_estimate e;
    e.mean = total / static_cast<double>(count);
    double spread = 0;
    for (double m : means) spread += (m - e.mean) * (m - e.mean);
    const double k = static_cast<double>(means.size());
    e.mcse = std::sqrt(spread / (k - 1.0) / k);
    const double variance = total_sq / static_cast<double>(count) - e.mean * e.mean;
    e.ess = variance / (e.mcse * e.mcse);
    return e;
}

/// Mean and standard error of independent values.
inline mc_estimate independent_mean(const std::vector<double>& values) {
    double sum = 0, sq = 0;
    for (double v : values) sum += v;
    const double n = static_cast<double>(values.size());
    const double mean = sum / n;
    for (double v : values) sq += (v - mean) * (v - mean);
    return {mean, std::sqrt(sq / (n - 1.0) / n), n};
}

}  // namespace ebm_test

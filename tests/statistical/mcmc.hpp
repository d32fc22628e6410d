#pragma once
// Monte Carlo standard errors of chain averages by batch means: every chain's series is cut into batches
// much longer than the autocorrelation time, so batch means are nearly independent; the MCSE of the grand mean
// is sd(batch means) / sqrt(number of batches) and the effective sample size is var(f) / MCSE^2.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <ebm/batch.hpp>
#include <ebm/random/philox.hpp>

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

/// Per-chain averages of x^2 over 1-D chains x: `burn` (a sampler policy, burn.steps steps) from step 0, then
/// `records` states each after a run of `record` (record.steps steps), in one state made for `record`.
template <class Burn, class Record, class Energy>
std::vector<double> chain_second_moments(const Burn& burn, const Record& record, const Energy& energy, ebm::batch& x,
                                         const ebm::philox& rng, ebm::index records) {
    auto st = record.make_state(energy, x.count());
    burn.run(st, energy, x, rng, 0);
    std::vector<double> moments(static_cast<std::size_t>(x.count()), 0.0);
    std::uint64_t step = static_cast<std::uint64_t>(burn.steps);
    for (ebm::index r = 0; r < records; ++r) {
        record.run(st, energy, x, rng, step);
        step += static_cast<std::uint64_t>(record.steps);
        for (ebm::index i = 0; i < x.count(); ++i) {
            const double v = x.chain(i)[0];
            moments[static_cast<std::size_t>(i)] += v * v / static_cast<double>(records);
        }
    }
    return moments;
}

}  // namespace ebm_test

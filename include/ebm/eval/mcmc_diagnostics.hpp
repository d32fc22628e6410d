#pragma once
// Convergence diagnostics of MCMC draws: bulk, tail and mean effective sample size (ESS) and rank-normalised split
// R-hat, defined as in Vehtari, Gelman, Simpson, Carpenter, Bürkner (2021), "Rank-normalization, folding, and
// localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2), and computed as
// ArviZ 0.23.4 computes them (az.ess, az.rhat, az.autocorr; arviz/stats/diagnostics.py and stats_utils.py).
// tests/eval/test_mcmc_diagnostics.cpp checks every value against ArviZ to 1e-6 relative (the differences are
// ~1e-14); tests/eval/arviz_reference.py writes the reference. docs/diagnostics_mcmc.md has the details.
//   double ess = ebm::ess_bulk(values, chains, draws);  // chain-major: chain c's draws at [c*draws, (c+1)*draws)
//   double r = ebm::split_rhat(values, chains, draws);
//   ebm::mcmc_trace trace(dimension, chains, steps);   // then trace.record(x) after every sampler step
//   ebm::trace_summary s = ebm::summarize(trace);      // s.ess_bulk_min, s.ess_tail_min, s.rhat_max
//
// The steps, all in double:
// - split: each chain's first and last floor(draws/2) draws become two chains (an odd count drops the middle draw,
//   index draws/2); the halves are ordered as ArviZ stacks them (all first halves, then all second halves).
// - rank normalisation: z = Φ⁻¹((r − 3/8) / (S + 1/4)) with r the average rank (ties share it) among all S split
//   draws; Φ⁻¹ is Wichura's AS241.
// - ESS of m chains of n draws: a_t = mean over chains of the biased (divisor n) autocovariance at lag t, by FFT;
//   W = a_0 n/(n − 1), var⁺ = W (n − 1)/n + variance of the chain means (m > 1), ρ_t = 1 − (W − a_t)/var⁺.
//   Geyer's initial positive sequence (pairs while their sum is > 0 and t < n − 3), then his initial monotone
//   sequence; τ = −1 + 2 Σ_{t≤T} ρ_t + ρ_{T+1}, floored at 1/log10(mn), ESS = mn/τ, so ESS ≤ mn log10(mn).
//   Draws whose range is below 1e-15 give ESS = mn (ArviZ's shortcut for a constant).
// - bulk ESS: ESS of the rank-normalised split draws. mean ESS: ESS of the split draws themselves.
// - tail ESS: min of the ESS of the split indicators I(x ≤ q05) and I(x ≤ q95); the quantiles are R's type 7 over
//   all draws (middle draws included), evaluated as scipy's mquantiles does, so that ties break the same way.
// - R-hat: sqrt((B/W + n − 1)/n) on rank-normalised split draws (B = n × variance of chain means, W = mean chain
//   variance, both divisor − 1), and the same on the split draws folded as |x − median|; the result is the larger
//   (the first if the second is NaN, as Python's max).
// Edge cases, as ArviZ: one chain gives R-hat NaN; a constant quantity gives R-hat NaN and ESS = the number of split
// draws; chains that are each constant at different values give R-hat +inf. Draws must be finite (ebm::error
// otherwise, where ArviZ would return NaN).
// Cost: one radix sort of the split draws (the folded order is merged from it), and per ESS one real FFT per chain
// plus one inverse for all chains; summarize() runs coordinates in parallel under OpenMP.
#include <unsupported/Eigen/FFT>

#include "../detail/eigen.hpp"  // host-compiled only

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../error.hpp"

namespace ebm {

namespace detail::mcmc {

/// Wichura's AS241 PPND16 for p in [0, 1] (not checked): relative error about 1e-16.
inline double ppnd16(double p) {
    const double q = p - 0.5;
    if (std::abs(q) <= 0.425) {
        const double r = 0.180625 - q * q;
        return q *
               (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r + 6.7265770927008700853e4) * r +
                    4.5921953931549871457e4) * r + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r +
                 1.3314166789178437745e2) * r + 3.3871328727963666080e0) /
               (((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r + 3.9307895800092710610e4) * r +
                    2.1213794301586595867e4) * r + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r +
                 4.2313330701600911252e1) * r + 1.0);
    }
    double r = q < 0.0 ? p : 1.0 - p;
    if (r <= 0.0) return q < 0.0 ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    r = std::sqrt(-std::log(r));
    double z = 0;
    if (r <= 5.0) {
        r -= 1.6;
        z = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r + 2.41780725177450611770e-1) * r +
                 1.27045825245236838258e0) * r + 3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r +
              4.63033784615654529590e0) * r + 1.42343711074968357734e0) /
            (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r + 1.51986665636164571966e-2) * r +
                 1.48103976427480074590e-1) * r + 6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r +
              2.05319162663775882187e0) * r + 1.0);
    } else {
        r -= 5.0;
        z = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 1.24266094738807843860e-3) * r +
                 2.65321895265761230930e-2) * r + 2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r +
              5.46378491116411436990e0) * r + 6.65790464350110377720e0) /
            (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r + 1.84631831751005468180e-5) * r +
                 7.86869131145613259100e-4) * r + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
              5.99832206555887937690e-1) * r + 1.0);
    }
    return q < 0.0 ? -z : z;
}

inline std::size_t size_of(index n) { return static_cast<std::size_t>(n); }

/// The draws of one quantity must be chains x draws, chains >= 1, draws >= 4 (ArviZ's minimum), all finite.
inline void require_draws(std::string_view where, std::span<const double> values, index chains, index draws) {
    require_positive(where, "chains", chains);
    if (draws < 4) fail(where, "draws must be >= 4 (per chain)", draws);
    if (chains > std::numeric_limits<index>::max() / draws)
        fail(where, "chains * draws must fit in an index", to_text(chains) + " * " + to_text(draws));
    if (static_cast<index>(values.size()) != chains * draws)
        fail(where, "values must hold chains * draws = " + to_text(chains) + " * " + to_text(draws) + " = " +
                        to_text(chains * draws) + " draws", values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
        if (!std::isfinite(values[i])) fail(where, "values must be finite; value " + to_text(i) + " is not", values[i]);
}

/// Smallest n >= target that is a multiple of 4 and 5-smooth: Eigen's kissfft has radices 2, 3, 4, 5 and a fast
/// real transform for multiples of 4 (ArviZ pads to scipy's next fast length; only the rounding differs).
inline index fft_length(index target) {
    for (index k = std::max<index>(1, (target + 3) / 4);; ++k) {
        index rest = k;
        for (index f : {2, 3, 5})
            while (rest % f == 0) rest /= f;
        if (rest == 1) return 4 * k;
    }
}

/// Reused buffers and the FFT plans of one thread.
struct workspace {
    Eigen::FFT<double> fft;
    std::vector<double> padded, power, lag_sum, chain_mean, rho, split, scores, indicator, split_indicator, sorted;
    std::vector<std::complex<double>> spectrum;
    std::vector<std::pair<double, index>> order, folded, radix_scratch;  // (value, position), sorted by value
    std::vector<std::size_t> counts;

    workspace() { fft.SetFlag(Eigen::FFT<double>::HalfSpectrum); }
};

/// Adds the power spectrum |FFT(x - mean x)|^2 of x[0..n), zero-padded to m, to w.power (m/2 + 1 bins).
inline void add_power_spectrum(const double* x, index n, index m, workspace& w) {
    double mean = 0;
    for (index t = 0; t < n; ++t) mean += x[t];
    mean /= static_cast<double>(n);
    w.padded.assign(size_of(m), 0.0);
    for (index t = 0; t < n; ++t) w.padded[size_of(t)] = x[t] - mean;
    w.spectrum.resize(size_of(m / 2 + 1));
    w.fft.fwd(w.spectrum.data(), w.padded.data(), m);
    for (std::size_t k = 0; k < w.spectrum.size(); ++k) w.power[k] += std::norm(w.spectrum[k]);
}

/// Sum over the series whose spectra w.power holds of their biased autocovariances (divisor n, as ArviZ's autocov)
/// at lags 0..n-1: the inverse FFT is linear, so one inverse serves all chains.
inline void autocovariance_sum(index n, index m, workspace& w, double* out) {
    for (std::size_t k = 0; k < w.spectrum.size(); ++k) w.spectrum[k] = std::complex<double>(w.power[k], 0.0);
    w.fft.inv(w.padded.data(), w.spectrum.data(), m);  // scaled by 1/m
    for (index t = 0; t < n; ++t) out[t] = w.padded[size_of(t)] / static_cast<double>(n);
}

/// ArviZ's _ess on m chains of n draws, chain-major.
inline double ess(std::span<const double> x, index m, index n, workspace& w) {
    const auto [low, high] = std::minmax_element(x.begin(), x.end());
    const double total = static_cast<double>(m * n);
    if (*high - *low < 1e-15) return total;  // numpy's finfo(float).resolution
    const index padded = fft_length(2 * n);
    w.power.assign(size_of(padded / 2 + 1), 0.0);
    w.chain_mean.resize(size_of(m));
    for (index c = 0; c < m; ++c) {
        const double* chain = x.data() + c * n;
        add_power_spectrum(chain, n, padded, w);
        double s = 0;
        for (index t = 0; t < n; ++t) s += chain[t];
        w.chain_mean[size_of(c)] = s / static_cast<double>(n);
    }
    w.lag_sum.resize(size_of(n));
    autocovariance_sum(n, padded, w, w.lag_sum.data());
    const auto acov = [&](index t) { return w.lag_sum[size_of(t)] / static_cast<double>(m); };
    const double dn = static_cast<double>(n);
    const double mean_var = acov(0) * dn / (dn - 1.0);
    double var_plus = mean_var * (dn - 1.0) / dn;
    if (m > 1) {
        double mean = 0;
        for (double v : w.chain_mean) mean += v;
        mean /= static_cast<double>(m);
        double ss = 0;
        for (double v : w.chain_mean) ss += (v - mean) * (v - mean);
        var_plus += ss / static_cast<double>(m - 1);
    }
    auto& rho = w.rho;
    rho.assign(size_of(n), 0.0);
    double rho_even = 1.0;
    double rho_odd = 1.0 - (mean_var - acov(1)) / var_plus;
    rho[0] = rho_even;
    rho[1] = rho_odd;
    // Geyer's initial positive sequence: pairs (even, odd) while their sum stays positive.
    index t = 1;
    while (t < n - 3 && rho_even + rho_odd > 0.0) {
        rho_even = 1.0 - (mean_var - acov(t + 1)) / var_plus;
        rho_odd = 1.0 - (mean_var - acov(t + 2)) / var_plus;
        if (rho_even + rho_odd >= 0) {
            rho[size_of(t + 1)] = rho_even;
            rho[size_of(t + 2)] = rho_odd;
        }
        t += 2;
    }
    const index max_t = t - 2;  // -1 when no pair was tried
    if (rho_even > 0) rho[size_of(max_t + 1)] = rho_even;
    // Geyer's initial monotone sequence.
    for (t = 1; t <= max_t - 2; t += 2) {
        if (rho[size_of(t + 1)] + rho[size_of(t + 2)] > rho[size_of(t - 1)] + rho[size_of(t)]) {
            rho[size_of(t + 1)] = (rho[size_of(t - 1)] + rho[size_of(t)]) / 2.0;
            rho[size_of(t + 2)] = rho[size_of(t + 1)];
        }
    }
    double sum = 0;
    for (index k = 0; k <= max_t; ++k) sum += rho[size_of(k)];
    double tau = -1.0 + 2.0 * sum + rho[size_of(max_t + 1)];  // max_t + 1 is 0 or at most n - 3
    const double tau_floor = 1.0 / std::log10(total);           // caps ESS at mn log10(mn)
    if (tau_floor > tau) tau = tau_floor;
    for (double r : rho)
        if (std::isnan(r)) return std::numeric_limits<double>::quiet_NaN();
    return total / tau;
}

/// ArviZ's _rhat (no split) on m chains of n draws, chain-major: NaN for a constant, +inf if only W is 0.
inline double rhat(std::span<const double> x, index m, index n, workspace& w) {
    const double dn = static_cast<double>(n);
    w.chain_mean.resize(size_of(m));
    double within = 0;
    for (index c = 0; c < m; ++c) {
        const double* chain = x.data() + c * n;
        double s = 0;
        for (index t = 0; t < n; ++t) s += chain[t];
        const double mean = s / dn;
        double ss = 0;
        for (index t = 0; t < n; ++t) ss += (chain[t] - mean) * (chain[t] - mean);
        w.chain_mean[size_of(c)] = mean;
        within += ss / (dn - 1.0);
    }
    within /= static_cast<double>(m);
    double grand = 0;
    for (double v : w.chain_mean) grand += v;
    grand /= static_cast<double>(m);
    double ss = 0;
    for (double v : w.chain_mean) ss += (v - grand) * (v - grand);
    const double between = dn * (ss / static_cast<double>(m - 1));
    return std::sqrt((between / within + dn - 1.0) / dn);
}

/// The split chains of x (chains x draws) into out (2 chains x draws/2), in ArviZ's order.
template <class T>
void split_chains(std::span<const T> x, index chains, index draws, std::vector<double>& out) {
    const index half = draws / 2;
    out.resize(size_of(2 * chains * half));
    for (index c = 0; c < chains; ++c) {
        const T* chain = x.data() + c * draws;
        for (index t = 0; t < half; ++t) {
            out[size_of(c * half + t)] = static_cast<double>(chain[t]);
            out[size_of((chains + c) * half + t)] = static_cast<double>(chain[draws - half + t]);
        }
    }
}

/// An unsigned key that orders as the double does (finite values; -0 and +0 get the same key, as they compare equal).
inline std::uint64_t order_key(double v) {
    const auto bits = std::bit_cast<std::uint64_t>(v == 0.0 ? 0.0 : v);
    return (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
}

/// (x_i, i) sorted by value, ties by position. A least-significant-digit radix sort on order_key (6 passes of 11
/// bits, passes where every key has the same digit skipped), about 4 times faster than std::sort on 10^5 draws.
inline void sort_with_positions(const std::vector<double>& x, workspace& w, std::vector<std::pair<double, index>>& order) {
    const std::size_t n = x.size();
    order.resize(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = {x[i], static_cast<index>(i)};
    if (n < 512) {
        std::sort(order.begin(), order.end());
        return;
    }
    constexpr int digit_bits = 11, passes = 6;
    constexpr std::size_t buckets = std::size_t{1} << digit_bits;
    w.counts.assign(passes * buckets, 0);
    for (double v : x) {
        const std::uint64_t key = order_key(v);
        for (int p = 0; p < passes; ++p) ++w.counts[size_of(p) * buckets + ((key >> (digit_bits * p)) & (buckets - 1))];
    }
    w.radix_scratch.resize(n);
    for (int p = 0; p < passes; ++p) {
        std::size_t* count = w.counts.data() + size_of(p) * buckets;
        if (std::find(count, count + buckets, n) != count + buckets) continue;  // one digit for all: order unchanged
        std::size_t start = 0;
        for (std::size_t b = 0; b < buckets; ++b) start += std::exchange(count[b], start);
        for (const auto& e : order) w.radix_scratch[count[(order_key(e.first) >> (digit_bits * p)) & (buckets - 1)]++] = e;
        order.swap(w.radix_scratch);
    }
}

/// z[i] for every (value, i) of the sorted `order`: the normal score of the average rank (scipy's rankdata
/// "average", ties share the mean of their ranks), Φ⁻¹((r − 3/8) / (S − 2·3/8 + 1)) as ArviZ writes it.
inline void normal_scores(const std::vector<std::pair<double, index>>& order, std::vector<double>& z) {
    const auto s = static_cast<index>(order.size());
    z.resize(order.size());
    const double denominator = static_cast<double>(s) - 2.0 * 0.375 + 1.0;
    for (index a = 0; a < s;) {
        index b = a + 1;
        while (b < s && order[size_of(b)].first == order[size_of(a)].first) ++b;
        const double rank = 0.5 * static_cast<double>(a + 1 + b);  // mean of the ranks a+1 .. b
        const double score = ppnd16((rank - 0.375) / denominator);
        for (index k = a; k < b; ++k) z[size_of(order[size_of(k)].second)] = score;
        a = b;
    }
}

/// (|x_i − median|, i) sorted, from the sorted (x_i, i), without a second sort: below the median the folded value
/// falls as x rises, above it rises (rounding is monotone), so the two runs merge in linear time.
inline void fold_sorted(const std::vector<std::pair<double, index>>& order, double median,
                        std::vector<std::pair<double, index>>& folded) {
    const auto s = static_cast<index>(order.size());
    index right = 0;
    while (right < s && order[size_of(right)].first < median) ++right;
    index left = right - 1;
    folded.clear();
    folded.reserve(order.size());
    while (left >= 0 || right < s) {
        const double l = left >= 0 ? std::abs(order[size_of(left)].first - median) : 0.0;
        const double r = right < s ? std::abs(order[size_of(right)].first - median) : 0.0;
        if (right >= s || (left >= 0 && l <= r)) {
            folded.emplace_back(l, order[size_of(left)].second);
            --left;
        } else {
            folded.emplace_back(r, order[size_of(right)].second);
            ++right;
        }
    }
}

/// a * b rounded to double, never fused into a neighbouring add (-ffp-contract=fast with FMA would do that).
inline double rounded_product(double a, double b) {
    const volatile double product = a * b;
    return product;
}

/// R's type 7 quantile of x, written as scipy's mquantiles(alphap=1, betap=1) evaluates it; reorders x. On tied
/// values the result may land an ulp off the tie, and the indicator x <= q must see the value numpy sees, so every
/// product is rounded on its own as numpy rounds it.
inline double quantile_type7(std::vector<double>& x, double p) {
    const index n = static_cast<index>(x.size());
    const double m = 1.0 + rounded_product(p, 1.0 - 1.0 - 1.0);
    const double aleph = rounded_product(static_cast<double>(n), p) + m;
    const double k = std::floor(std::clamp(aleph, 1.0, static_cast<double>(n - 1)));
    const double gamma = std::clamp(aleph - k, 0.0, 1.0);
    const auto upper = static_cast<index>(k);
    std::nth_element(x.begin(), x.begin() + upper - 1, x.end());
    const double below = x[size_of(upper - 1)];
    const double above = *std::min_element(x.begin() + upper, x.end());
    return rounded_product(1.0 - gamma, below) + rounded_product(gamma, above);
}

/// ESS of the split indicator I(x <= q_p) (ArviZ's _ess_quantile).
inline double quantile_ess(std::span<const double> x, index chains, index draws, double p, workspace& w) {
    w.sorted.assign(x.begin(), x.end());
    const double q = quantile_type7(w.sorted, p);
    w.indicator.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) w.indicator[i] = x[i] <= q ? 1.0 : 0.0;
    split_chains(std::span<const double>(w.indicator), chains, draws, w.split_indicator);
    return ess(w.split_indicator, 2 * chains, draws / 2, w);
}

/// Python's max(a, b) and min(a, b): the first unless the second compares greater (smaller).
inline double python_max(double a, double b) { return b > a ? b : a; }
inline double python_min(double a, double b) { return b < a ? b : a; }

}  // namespace detail::mcmc

/// Φ⁻¹(p), the standard normal quantile (Wichura's AS241, relative error about 1e-16): -inf at 0, +inf at 1.
[[nodiscard]] inline double inverse_normal_cdf(double p) {
    if (!(p >= 0.0 && p <= 1.0)) detail::fail("inverse_normal_cdf", "p must lie in [0, 1]", p);
    return detail::mcmc::ppnd16(p);
}

/// Normalised autocorrelation of one series at lags 0 .. size-1 (lag 0 = 1), by FFT, as az.autocorr. The
/// autocovariances use the divisor n at every lag. A constant series gives NaN at every lag (0/0, as ArviZ).
[[nodiscard]] inline std::vector<double> chain_autocorrelation(std::span<const double> series) {
    const char* where = "chain_autocorrelation";
    if (series.empty()) detail::fail(where, "series must not be empty", series.size());
    for (std::size_t i = 0; i < series.size(); ++i)
        if (!std::isfinite(series[i]))
            detail::fail(where, "series must be finite; value " + detail::to_text(i) + " is not", series[i]);
    const auto n = static_cast<index>(series.size());
    const index padded = detail::mcmc::fft_length(2 * n);
    detail::mcmc::workspace w;
    w.power.assign(detail::mcmc::size_of(padded / 2 + 1), 0.0);
    detail::mcmc::add_power_spectrum(series.data(), n, padded, w);
    std::vector<double> r(series.size());
    detail::mcmc::autocovariance_sum(n, padded, w, r.data());
    const double lag0 = r[0];
    for (double& v : r) v /= lag0;
    return r;
}

/// All diagnostics of one scalar quantity, plus its mean and variance (divisor n − 1) over all draws.
struct scalar_diagnostics {
    double ess_bulk = 0, ess_tail = 0, ess_mean = 0, rhat = 0, mean = 0, variance = 0;
};

namespace detail::mcmc {

inline constexpr unsigned want_bulk = 1, want_tail = 2, want_mean = 4, want_rhat = 8, want_all = 15;

/// The diagnostics asked for in `want`, sharing the split and the ranks; inputs already validated.
inline scalar_diagnostics diagnose(std::span<const double> x, index chains, index draws, unsigned want, workspace& w) {
    scalar_diagnostics d;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const index split_chain_count = 2 * chains, half = draws / 2;
    double total = 0;
    for (double v : x) total += v;
    d.mean = total / static_cast<double>(x.size());
    double ss = 0;
    for (double v : x) ss += (v - d.mean) * (v - d.mean);
    d.variance = ss / static_cast<double>(x.size() - 1);
    d.ess_bulk = d.ess_tail = d.ess_mean = d.rhat = nan;

    if (want & (want_bulk | want_rhat | want_mean)) split_chains(x, chains, draws, w.split);
    if (want & want_mean) d.ess_mean = ess(w.split, split_chain_count, half, w);
    if (want & (want_bulk | want_rhat)) {
        sort_with_positions(w.split, w, w.order);
        normal_scores(w.order, w.scores);
        if (want & want_bulk) d.ess_bulk = ess(w.scores, split_chain_count, half, w);
        if ((want & want_rhat) && chains >= 2) {  // ArviZ asks for 2 chains before splitting
            const double bulk = rhat(w.scores, split_chain_count, half, w);
            // Folded draws |x - median| (numpy's median: the split count is even, so the mean of the middle two).
            const std::size_t s = w.order.size();
            const double median = (w.order[s / 2 - 1].first + w.order[s / 2].first) / 2.0;
            fold_sorted(w.order, median, w.folded);
            normal_scores(w.folded, w.scores);
            d.rhat = python_max(bulk, rhat(w.scores, split_chain_count, half, w));
        }
    }
    if (want & want_tail)
        d.ess_tail = python_min(quantile_ess(x, chains, draws, 0.05, w), quantile_ess(x, chains, draws, 0.95, w));
    return d;
}

inline double diagnose_one(std::string_view where, std::span<const double> values, index chains, index draws,
                           unsigned want, double scalar_diagnostics::*field) {
    require_draws(where, values, chains, draws);
    workspace w;
    return diagnose(values, chains, draws, want, w).*field;
}

}  // namespace detail::mcmc

/// Bulk ESS of `chains` chains of `draws` draws (chain-major), as az.ess(method="bulk").
[[nodiscard]] inline double ess_bulk(std::span<const double> values, index chains, index draws) {
    return detail::mcmc::diagnose_one("ess_bulk", values, chains, draws, detail::mcmc::want_bulk,
                                      &scalar_diagnostics::ess_bulk);
}

/// Tail ESS (the smaller of the 5% and 95% quantile ESS), as az.ess(method="tail").
[[nodiscard]] inline double ess_tail(std::span<const double> values, index chains, index draws) {
    return detail::mcmc::diagnose_one("ess_tail", values, chains, draws, detail::mcmc::want_tail,
                                      &scalar_diagnostics::ess_tail);
}

/// ESS of the mean (split chains, no rank normalisation), as az.ess(method="mean").
[[nodiscard]] inline double ess_mean(std::span<const double> values, index chains, index draws) {
    return detail::mcmc::diagnose_one("ess_mean", values, chains, draws, detail::mcmc::want_mean,
                                      &scalar_diagnostics::ess_mean);
}

/// Rank-normalised split R-hat, the larger of bulk and folded, as az.rhat(method="rank"). NaN for one chain.
[[nodiscard]] inline double split_rhat(std::span<const double> values, index chains, index draws) {
    return detail::mcmc::diagnose_one("split_rhat", values, chains, draws, detail::mcmc::want_rhat,
                                      &scalar_diagnostics::rhat);
}

/// ess_bulk, ess_tail, ess_mean and split_rhat at once (one split, shared ranks), plus mean and variance.
[[nodiscard]] inline scalar_diagnostics diagnose(std::span<const double> values, index chains, index draws) {
    detail::mcmc::require_draws("diagnose", values, chains, draws);
    detail::mcmc::workspace w;
    return detail::mcmc::diagnose(values, chains, draws, detail::mcmc::want_all, w);
}

/// Chain states of `chains` chains in `dimension` coordinates over up to `capacity` draws, stored in float (the
/// samplers' precision) by coordinate, then chain, then draw, so that one coordinate's series is contiguous.
class mcmc_trace {
public:
    mcmc_trace(index dimension, index chains, index capacity) : dimension_(dimension), chains_(chains), capacity_(capacity) {
        detail::require_positive("mcmc_trace", "dimension", dimension);
        detail::require_positive("mcmc_trace", "chains", chains);
        detail::require_positive("mcmc_trace", "capacity", capacity);
        if (dimension > std::numeric_limits<index>::max() / chains / capacity)
            detail::fail("mcmc_trace", "dimension * chains * capacity must fit in an index",
                         detail::to_text(dimension) + " * " + detail::to_text(chains) + " * " + detail::to_text(capacity));
        values_.assign(detail::mcmc::size_of(dimension * chains * capacity), 0.0f);
    }

    /// Appends one draw per chain: chain i's state at x.data + i * dimension (x.count == chains, finite).
    void record(const_batch_view x) {
        const char* where = "mcmc_trace::record";
        detail::require_batch(where, "x", x, dimension_);
        if (x.count != chains_) detail::fail(where, "x must hold chains = " + detail::to_text(chains_) + " chains", x.count);
        if (draws_ == capacity_) detail::fail(where, "the trace is full (capacity " + detail::to_text(capacity_) + ")", draws_);
        for (index c = 0; c < chains_; ++c) {
            const float* state = x.chain(c);
            for (index k = 0; k < dimension_; ++k) values_[detail::mcmc::size_of((k * chains_ + c) * capacity_ + draws_)] = state[k];
        }
        ++draws_;
    }

    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] index chains() const { return chains_; }
    [[nodiscard]] index capacity() const { return capacity_; }
    [[nodiscard]] index draws() const { return draws_; }
    void clear() { draws_ = 0; }

    /// Coordinate k of one chain over the draws recorded so far.
    [[nodiscard]] std::span<const float> chain_series(index k, index chain) const {
        const char* where = "mcmc_trace::chain_series";
        detail::require_in_closed(where, "k", k, index{0}, dimension_ - 1);
        detail::require_in_closed(where, "chain", chain, index{0}, chains_ - 1);
        return {values_.data() + (k * chains_ + chain) * capacity_, detail::mcmc::size_of(draws_)};
    }

    /// Coordinate k, chain-major (chain c's draws at [c * draws(), (c + 1) * draws())), as the diagnostics take it.
    [[nodiscard]] std::vector<double> series(index k) const {
        detail::require_in_closed("mcmc_trace::series", "k", k, index{0}, dimension_ - 1);
        std::vector<double> out(detail::mcmc::size_of(chains_ * draws_));
        for (index c = 0; c < chains_; ++c) {
            const float* src = values_.data() + (k * chains_ + c) * capacity_;
            for (index t = 0; t < draws_; ++t) out[detail::mcmc::size_of(c * draws_ + t)] = src[t];
        }
        return out;
    }

private:
    index dimension_, chains_, capacity_, draws_ = 0;
    std::vector<float> values_;
};

/// Per-coordinate diagnostics of a trace and the worst coordinate. The minima and the maximum skip NaN (a constant
/// coordinate has R-hat NaN; one chain gives NaN everywhere) and are NaN only if every coordinate is.
struct trace_summary {
    double ess_bulk_min = 0, ess_tail_min = 0, rhat_max = 0;
    std::vector<double> mean, variance, ess_bulk, ess_tail, rhat;  // one entry per coordinate
};

/// Diagnoses every coordinate of `trace` (at least 4 draws). Coordinates are independent: with OpenMP they run in
/// parallel, and the result does not depend on the thread count.
[[nodiscard]] inline trace_summary summarize(const mcmc_trace& trace) {
    const char* where = "summarize";
    if (trace.draws() < 4) detail::fail(where, "the trace must hold at least 4 draws", trace.draws());
    const index dimension = trace.dimension(), chains = trace.chains(), draws = trace.draws();
    const std::size_t d = detail::mcmc::size_of(dimension);
    trace_summary s;
    s.mean.resize(d);
    s.variance.resize(d);
    s.ess_bulk.resize(d);
    s.ess_tail.resize(d);
    s.rhat.resize(d);
#if defined(_OPENMP)
#pragma omp parallel
#endif
    {
        detail::mcmc::workspace w;
        std::vector<double> series(detail::mcmc::size_of(chains * draws));
#if defined(_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
        for (index k = 0; k < dimension; ++k) {
            for (index c = 0; c < chains; ++c) {
                const std::span<const float> src = trace.chain_series(k, c);
                std::copy(src.begin(), src.end(), series.begin() + c * draws);
            }
            const auto r = detail::mcmc::diagnose(series, chains, draws,
                                                  detail::mcmc::want_bulk | detail::mcmc::want_tail |
                                                      detail::mcmc::want_rhat, w);
            const std::size_t i = detail::mcmc::size_of(k);
            s.mean[i] = r.mean;
            s.variance[i] = r.variance;
            s.ess_bulk[i] = r.ess_bulk;
            s.ess_tail[i] = r.ess_tail;
            s.rhat[i] = r.rhat;
        }
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.ess_bulk_min = s.ess_tail_min = s.rhat_max = nan;
    for (std::size_t i = 0; i < d; ++i) {
        if (!std::isnan(s.ess_bulk[i]) && !(s.ess_bulk[i] >= s.ess_bulk_min)) s.ess_bulk_min = s.ess_bulk[i];
        if (!std::isnan(s.ess_tail[i]) && !(s.ess_tail[i] >= s.ess_tail_min)) s.ess_tail_min = s.ess_tail[i];
        if (!std::isnan(s.rhat[i]) && !(s.rhat[i] <= s.rhat_max)) s.rhat_max = s.rhat[i];
    }
    return s;
}

}  // namespace ebm

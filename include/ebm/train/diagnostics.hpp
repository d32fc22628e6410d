#pragma once
// What the trainer records each iteration, the CSV log, and the correlation diagnostics of Anatomy Fig. 4.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/atomic_file.hpp"

namespace ebm {

struct iteration_record {
    std::uint64_t iteration = 0;
    double d = 0;                  // d_t = mean U(x+) - mean U(x-) (Anatomy Eq. 10)
    double v = 0;                  // v_t: mean ||dU/dx|| along the chains (states 0..L)
    double r = 0;                  // r_t = h * v_t: mean displacement per step from the gradient
    double acceptance = -1;        // mean MH acceptance; -1 for unadjusted samplers
    double positive_energy = 0;    // mean U(x+)
    double negative_energy = 0;    // mean U(x-)
    double learning_rate = 0;
    double seconds = 0;            // wall time of the iteration
    std::int64_t non_finite_rejections = 0;
    bool diverged = false;         // non-finite d or parameter gradient: the update was skipped
};

inline const char* csv_header() {
    return "iteration,d,v,r,acceptance,positive_energy,negative_energy,learning_rate,seconds,non_finite_rejections,"
           "diverged";
}

inline std::string csv_row(const iteration_record& rec) {
    char line[512];
    std::snprintf(line, sizeof line, "%llu,%.9g,%.9g,%.9g,%.6g,%.9g,%.9g,%.9g,%.6g,%lld,%d",
                  static_cast<unsigned long long>(rec.iteration), rec.d, rec.v, rec.r, rec.acceptance,
                  rec.positive_energy, rec.negative_energy, rec.learning_rate, rec.seconds,
                  static_cast<long long>(rec.non_finite_rejections), rec.diverged ? 1 : 0);
    return line;
}

/// Writes the records as CSV, atomically (io/atomic_file.hpp).
inline void write_csv(const std::filesystem::path& path, std::span<const iteration_record> records) {
    std::string text = std::string(csv_header()) + "\n";
    for (const auto& rec : records) text += csv_row(rec) + "\n";
    io::write_file_atomically(path, text, "write_csv");
}

/// Reads a CSV written by write_csv or csv_log (the same header, one record per row). The file is rejected whole:
/// a wrong header, a short or malformed row or a non-number is an error naming the line.
inline std::vector<iteration_record> read_csv(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) detail::fail("read_csv", "cannot open the diagnostics file", path.string());
    std::string line;
    if (!std::getline(in, line) || line != csv_header()) {
        std::string what = "'";
        what.append(path.string()).append("' does not start with the diagnostics header '").append(csv_header()).append("'");
        detail::fail("read_csv", what, line);
    }
    std::vector<iteration_record> records;
    for (std::size_t number = 2; std::getline(in, line); ++number) {
        if (line.empty()) continue;
        iteration_record rec;
        unsigned long long iteration = 0;
        long long rejections = 0;
        int diverged = 0, used = 0;
        const int fields = std::sscanf(line.c_str(), "%llu,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lld,%d%n", &iteration, &rec.d,
                                       &rec.v, &rec.r, &rec.acceptance, &rec.positive_energy, &rec.negative_energy,
                                       &rec.learning_rate, &rec.seconds, &rejections, &diverged, &used);
        if (fields != 11 || static_cast<std::size_t>(used) != line.size() || (diverged != 0 && diverged != 1)) {
            std::string what = "'";
            what.append(path.string()).append("' line ").append(std::to_string(number));
            what.append(" is not a diagnostics row of 11 numbers");
            detail::fail("read_csv", what, line);
        }
        rec.iteration = iteration;
        rec.non_finite_rejections = rejections;
        rec.diverged = diverged == 1;
        records.push_back(rec);
    }
    return records;
}

/// Normalised cross-correlation sum_t a_{t+lag} b_t / (n - 1) for lag in [-max_lag, max_lag] -- numpy's
/// correlate(a, b, 'full') convention, which the Anatomy code uses to plot d_t against r_t: a bar at lag +k means
/// a follows b by k steps -- with a rescaled to unit mean square (uncentred, unless centre_a) and b centred and
/// standardised. Returns 2*max_lag + 1 values, lag -max_lag first.
inline std::vector<double> cross_correlation(std::span<const double> a, std::span<const double> b, int max_lag,
                                             bool centre_a = false) {
    const std::size_t n = a.size();
    if (b.size() != n) detail::fail("cross_correlation", "b must have the length of a (" + detail::to_text(n) + ")", b.size());
    if (n < 3) detail::fail("cross_correlation", "series need at least 3 values", n);
    detail::require_non_negative("cross_correlation", "max_lag", max_lag);
    auto standardise = [n](std::span<const double> s, bool centre) {
        double mean = 0;
        for (double x : s) mean += x;
        mean /= static_cast<double>(n);
        std::vector<double> out(s.begin(), s.end());
        if (centre)
            for (double& x : out) x -= mean;
        double sq = 0;
        for (double x : out) sq += x * x;
        const double scale = std::sqrt(sq / static_cast<double>(n - 1));
        for (double& x : out) x = scale > 0 ? x / scale : 0.0;
        return out;
    };
    const auto sa = standardise(a, centre_a);
    const auto sb = standardise(b, true);
    std::vector<double> result;
    for (int lag = -max_lag; lag <= max_lag; ++lag) {
        double sum = 0;
        for (std::size_t t = 0; t < n; ++t) {
            const auto u = static_cast<std::ptrdiff_t>(t) + lag;
            if (u >= 0 && u < static_cast<std::ptrdiff_t>(n)) sum += sa[static_cast<std::size_t>(u)] * sb[t];
        }
        result.push_back(sum / static_cast<double>(n - 1));
    }
    return result;
}

/// Partial autocorrelation at lags 0..K from an autocorrelation acf[0..K] (acf[0] = 1), by the Durbin-Levinson
/// recursion: pacf[k] is the last coefficient of the best linear predictor of a_t from a_{t-1}..a_{t-k} (the
/// Yule-Walker PACF). pacf[0] = 1; an AR(p) series has pacf[k] = 0 beyond p. Where the recursion degenerates (the
/// prediction error reaches 0) the remaining lags are 0.
inline std::vector<double> partial_autocorrelation(std::span<const double> acf) {
    if (acf.empty()) detail::fail("partial_autocorrelation", "acf must hold lag 0 at least", acf.size());
    const std::size_t lags = acf.size() - 1;
    std::vector<double> pacf(lags + 1, 0.0), phi(lags + 1, 0.0), previous(lags + 1, 0.0);
    pacf[0] = 1.0;
    double error = acf[0];  // prediction error variance (relative), 1 for a normalised acf
    for (std::size_t k = 1; k <= lags; ++k) {
        if (!(error > 1e-12 * acf[0])) break;
        double numerator = acf[k];
        for (std::size_t j = 1; j < k; ++j) numerator -= previous[j] * acf[k - j];
        const double kk = numerator / error;
        phi[k] = kk;
        for (std::size_t j = 1; j < k; ++j) phi[j] = previous[j] - kk * previous[k - j];
        pacf[k] = kk;
        error *= 1.0 - kk * kk;
        previous = phi;
    }
    return pacf;
}

/// Autocorrelation at lags 0..max_lag of the centred, standardised series (or uncentred, as the Anatomy code
/// does for d_t, with centre = false).
inline std::vector<double> autocorrelation(std::span<const double> a, int max_lag, bool centre = true) {
    auto full = cross_correlation(a, a, max_lag, centre);
    if (!centre) {
        // cross_correlation always centres its second argument; redo the uncentred product.
        const std::size_t n = a.size();
        double sq = 0;
        for (double x : a) sq += x * x;
        const double scale = sq / static_cast<double>(n - 1);
        full.assign(static_cast<std::size_t>(2 * max_lag + 1), 0.0);
        for (int lag = 0; lag <= max_lag; ++lag) {
            double sum = 0;
            for (std::size_t t = 0; t + static_cast<std::size_t>(lag) < n; ++t) sum += a[t] * a[t + static_cast<std::size_t>(lag)];
            full[static_cast<std::size_t>(max_lag + lag)] = scale > 0 ? sum / static_cast<double>(n - 1) / scale : 0.0;
        }
    }
    return {full.begin() + max_lag, full.end()};
}

}  // namespace ebm

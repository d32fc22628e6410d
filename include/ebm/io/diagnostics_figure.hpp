#pragma once
// The diagnostics figure of Anatomy Fig. 4: d_t and r_t over training and the cross-correlation of d_t with r_t
// (top), the autocorrelations and partial autocorrelations of both over the last `window` iterations (bottom),
// normalised as the authors' plot_diagnostics (d_t uncentred, r_t centred; cross-correlation lags as their
// np.correlate(d, r, 'full')). Weak short-lag autocorrelation of d_t means convergent learning;
// strong negative short-lag autocorrelation means non-convergent learning. Needs PLplot (io/plot.hpp).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../train/diagnostics.hpp"
#include "plot.hpp"

namespace ebm::io {

struct diagnostics_figure_options {
    std::size_t window = 2000;  // the correlations use the last `window` iterations
    int max_lag = 15;
    index width = 1500;
    index height = 900;
};

/// Writes the figure for `records` (in iteration order) to `path` (PNG, atomically). Non-finite d_t or r_t
/// (iterations whose update was skipped) are left out of the curves and correlations.
inline void diagnostics_figure(const std::filesystem::path& path, const std::string& title,
                               std::span<const iteration_record> records, const diagnostics_figure_options& o = {}) {
    const char* where = "io::diagnostics_figure";
    detail::require_positive(where, "options.window", o.window);
    detail::require_positive(where, "options.max_lag", o.max_lag);
    std::vector<double> t, d, r;
    for (const auto& rec : records) {
        if (!std::isfinite(rec.d) || !std::isfinite(rec.r)) continue;
        t.push_back(static_cast<double>(rec.iteration + 1));
        d.push_back(rec.d);
        r.push_back(rec.r);
    }
    if (t.size() < 2) detail::fail(where, "need at least 2 iterations with finite d_t and r_t", t.size());
    figure fig(path, o.width, o.height, 3, 2);
    const series sd{t, d, "", 1};
    const series sr{t, r, "", 2};
    fig.line_panel(title + ": d#dt#u", "iteration t", "d#dt#u", std::span(&sd, 1), true, false);
    fig.line_panel("r#dt#u (mean Langevin displacement)", "iteration t", "r#dt#u", std::span(&sr, 1), false, false);
    const std::size_t window = std::min(d.size(), o.window);
    if (window >= 20) {
        const std::span<const double> dw(d.data() + d.size() - window, window), rw(r.data() + r.size() - window, window);
        const int lag = std::min(o.max_lag, static_cast<int>(window) - 1);
        const auto cross = cross_correlation(dw, rw, lag, false);
        const auto acf_d = autocorrelation(dw, lag, false);
        const auto acf_r = autocorrelation(rw, lag, true);
        std::vector<double> lags_full, lags;
        for (int k = -lag; k <= lag; ++k) lags_full.push_back(k);
        for (int k = 0; k <= lag; ++k) lags.push_back(k);
        const series cc{lags_full, cross, "", 1};
        fig.bar_panel("cross-correlation of d#dt#u and r#dt#u (last " + std::to_string(window) + " it.)", "lag",
                      "correlation", std::span(&cc, 1), 0.7, false);
        const series ac[2] = {{lags, acf_d, "d#dt#u", 1}, {lags, acf_r, "r#dt#u", 2}};
        fig.bar_panel("autocorrelation of d#dt#u and r#dt#u", "lag", "correlation", ac, 0.7, true);
        const auto pacf_d = partial_autocorrelation(acf_d), pacf_r = partial_autocorrelation(acf_r);
        const series pc[2] = {{lags, pacf_d, "d#dt#u", 1}, {lags, pacf_r, "r#dt#u", 2}};
        fig.bar_panel("partial autocorrelation of d#dt#u and r#dt#u", "lag", "partial correlation", pc, 0.7, true);
    }
    fig.finish();
}

}  // namespace ebm::io

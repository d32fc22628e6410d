#pragma once
// Labelled figures through PLplot's pngcairo device (link PLPLOT::plplot; Debian: libplplot-dev and
// plplot-driver-cairo): a grid of panels, each a line plot, a bar plot or a viridis image with a title and axis
// labels. PLplot keeps global state, so one figure is open at a time (a second open one is an error). The PNG is
// written to "<path>.tmp" and renamed over <path> by finish(); a figure destroyed unfinished removes it.
// Labels use PLplot's escapes: #fi...#fn italic, #d / #u sub/superscript, #gh theta.
#include <plplot/plplot.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "atomic_file.hpp"
#include "png.hpp"

namespace ebm::io {

/// A line (or a set of bars) of one panel; colour indexes the figure's palette (0 black, 1 blue, 2 orange,
/// 3 green, 4 red, 5 purple, 6 gray).
struct series {
    std::vector<double> x;
    std::vector<double> y;
    std::string label;
    int colour = 1;
    int style = 1;  // PLplot line style: 1 solid, 2.. dashed
};

namespace detail_plot {
inline bool& figure_open() {
    static bool open = false;
    return open;
}
inline constexpr int palette_base = 2;  // cmap0: 0 background, 1 axes, 2.. palette
inline void set_palette() {
    static const int colours[][3] = {{0, 0, 0},     {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                     {214, 39, 40}, {148, 103, 189}, {127, 127, 127}};
    plscmap0n(16);
    plscol0(0, 255, 255, 255);
    plscol0(1, 0, 0, 0);
    for (int k = 0; k < 7; ++k) plscol0(palette_base + k, colours[k][0], colours[k][1], colours[k][2]);
}
inline void set_viridis() {
    PLINT r[256], g[256], b[256];
    for (int k = 0; k < 256; ++k) {
        const rgb c = viridis(k / 255.0);
        r[k] = c[0], g[k] = c[1], b[k] = c[2];
    }
    plscmap1(r, g, b, 256);
}
inline void check_series(const char* where, std::span<const series> lines) {
    if (lines.empty()) detail::fail(where, "at least one series is needed", 0);
    for (const auto& s : lines) {
        if (s.x.size() != s.y.size() || s.x.empty())
            detail::fail(where, "series '" + s.label + "' needs x and y of the same, non-zero length", s.y.size());
        if (s.colour < 0 || s.colour > 6) detail::fail(where, "series colour must lie in [0, 6]", s.colour);
    }
}
}  // namespace detail_plot

class figure {
public:
    /// A width x height pixel PNG with columns x rows panels, filled row by row by the *_panel calls.
    figure(std::filesystem::path path, index width, index height, index columns, index rows)
        : path_(std::move(path)), file_(path_, "io::figure"), panels_(columns * rows) {
        const char* where = "io::figure";
        if (path_.empty()) detail::fail(where, "path must not be empty", path_.string());
        if (width < 100 || height < 100 || width > 10000 || height > 10000)
            detail::fail(where, "width and height must lie in [100, 10000] pixels", std::min(width, height));
        if (columns < 1 || rows < 1 || columns * rows > 64) detail::fail(where, "columns x rows must lie in [1, 64]", columns * rows);
        if (detail_plot::figure_open()) detail::fail(where, "another figure is still open (PLplot is global)", path_.string());
        detail_plot::figure_open() = true;
        plsdev("pngcairo");
        plsfnam(file_.temporary().c_str());
        plspage(0, 0, static_cast<PLINT>(width), static_cast<PLINT>(height), 0, 0);
        detail_plot::set_palette();
        plssub(static_cast<PLINT>(columns), static_cast<PLINT>(rows));
        plinit();
        detail_plot::set_viridis();
        plfontld(1);
        plschr(0, 0.9);
        open_ = true;
    }
    figure(const figure&) = delete;
    figure& operator=(const figure&) = delete;
    ~figure() {
        if (open_) {
            plend1();
            detail_plot::figure_open() = false;  // file_ then removes the unfinished temporary
        }
    }

    /// Lines over a shared frame; the ranges cover every series (plus 5 % margin); zero_line draws y = 0 dashed.
    void line_panel(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                    std::span<const series> lines, bool zero_line = false, bool legend = true, bool legend_bottom = false) {
        detail_plot::check_series("io::figure::line_panel", lines);
        double x0, x1, y0, y1;
        ranges(lines, x0, x1, y0, y1);
        frame(title, xlabel, ylabel, x0, x1, y0, y1);
        for (const auto& s : lines) {
            plcol0(detail_plot::palette_base + s.colour);
            pllsty(s.style);
            plline(static_cast<PLINT>(s.x.size()), s.x.data(), s.y.data());
        }
        pllsty(1);
        if (zero_line && y0 < 0 && y1 > 0) dashed_zero(x0, x1);
        if (legend) draw_legend(lines, false, legend_bottom);
    }

    /// Bars: each series is one set of bars at its x values (width `bar_width`, shifted by its offset in the set).
    void bar_panel(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                   std::span<const series> bars, double bar_width = 0.8, bool legend = true) {
        detail_plot::check_series("io::figure::bar_panel", bars);
        detail::require_positive("io::figure::bar_panel", "bar_width", bar_width);
        double x0, x1, y0, y1;
        ranges(bars, x0, x1, y0, y1);
        y0 = std::min(y0, 0.0), y1 = std::max(y1, 0.0);
        const double sets = static_cast<double>(bars.size());
        const double w = bar_width / sets;
        frame(title, xlabel, ylabel, x0 - bar_width, x1 + bar_width, y0, y1);
        for (std::size_t k = 0; k < bars.size(); ++k) {
            plcol0(detail_plot::palette_base + bars[k].colour);
            const double shift = (static_cast<double>(k) - (sets - 1) / 2) * w;
            for (std::size_t i = 0; i < bars[k].x.size(); ++i) {
                const double l = bars[k].x[i] + shift - w / 2, r = l + w, top = bars[k].y[i];
                PLFLT px[4] = {l, l, r, r}, py[4] = {0, top, top, 0};
                plfill(4, px, py);
            }
        }
        dashed_zero(x0 - bar_width, x1 + bar_width);
        if (legend) draw_legend(bars, true, false);
    }

    /// A resolution x resolution field (row-major, row 0 = smallest y) over [-extent, extent]^2 in viridis,
    /// colour range [low, high] (default: finite min/max).
    void image_panel(const std::string& title, std::span<const double> values, index resolution, double extent,
                     double low = std::numeric_limits<double>::quiet_NaN(),
                     double high = std::numeric_limits<double>::quiet_NaN()) {
        const char* where = "io::figure::image_panel";
        detail::require_positive(where, "resolution", resolution);
        detail::require_positive(where, "extent", extent);
        if (values.size() != static_cast<std::size_t>(resolution * resolution))
            detail::fail(where, "values must hold resolution^2 entries", values.size());
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (double v : values)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
        if (!std::isnan(low)) lo = low;
        if (!std::isnan(high)) hi = high;
        if (!(hi > lo)) hi = lo + 1;
        next_panel();
        plvpas(0.1, 0.95, 0.1, 0.88, 1.0);
        plwind(-extent, extent, -extent, extent);
        std::vector<std::vector<PLFLT>> columns(static_cast<std::size_t>(resolution), std::vector<PLFLT>(static_cast<std::size_t>(resolution)));
        std::vector<PLFLT*> rows(static_cast<std::size_t>(resolution));
        for (index ix = 0; ix < resolution; ++ix) {
            for (index iy = 0; iy < resolution; ++iy) {
                const double v = values[static_cast<std::size_t>(iy * resolution + ix)];
                columns[static_cast<std::size_t>(ix)][static_cast<std::size_t>(iy)] = std::isfinite(v) ? std::clamp(v, lo, hi) : lo;
            }
            rows[static_cast<std::size_t>(ix)] = columns[static_cast<std::size_t>(ix)].data();
        }
        plimage(const_cast<const PLFLT* const*>(rows.data()), static_cast<PLINT>(resolution), static_cast<PLINT>(resolution),
                -extent, extent, -extent, extent, lo, hi, -extent, extent, -extent, extent);
        plcol0(1);
        plbox("bcnst", 0, 0, "bcnstv", 0, 0);
        plmtex("t", 1.2, 0.5, 0.5, title.c_str());
    }

    /// Skips one panel position (left empty).
    void empty_panel() { next_panel(); }

    /// Closes the figure and renames the PNG into place.
    void finish() {
        if (!open_) detail::fail("io::figure::finish", "the figure is already finished", path_.string());
        plend1();
        open_ = false;
        detail_plot::figure_open() = false;
        if (!std::filesystem::exists(file_.temporary()))
            throw runtime_error("ebm::io::figure: PLplot wrote no file '" + file_.temporary().string() +
                                "' (pngcairo driver missing?)");
        file_.commit();
    }

private:
    void next_panel() {
        if (used_ >= panels_) detail::fail("io::figure", "all panels are already used", used_);
        ++used_;
        pladv(0);
    }
    static void ranges(std::span<const series> lines, double& x0, double& x1, double& y0, double& y1) {
        x0 = y0 = std::numeric_limits<double>::infinity();
        x1 = y1 = -x0;
        for (const auto& s : lines)
            for (std::size_t i = 0; i < s.x.size(); ++i)
                if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
                    x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
        if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
        if (!(x1 > x0)) x1 = x0 + 1;
        if (!(y1 > y0)) y0 -= 0.5, y1 += 0.5;
        const double m = 0.05 * (y1 - y0);
        y0 -= m, y1 += m;
    }
    void frame(const std::string& title, const std::string& xlabel, const std::string& ylabel, double x0, double x1,
               double y0, double y1) {
        next_panel();
        plvpor(0.14, 0.95, 0.14, 0.88);
        plwind(x0, x1, y0, y1);
        plcol0(1);
        plbox("bcnst", 0, 0, "bcnstv", 0, 0);
        pllab(xlabel.c_str(), ylabel.c_str(), title.c_str());
    }
    static void dashed_zero(double x0, double x1) {
        plcol0(1);
        pllsty(2);
        PLFLT zx[2] = {x0, x1}, zy[2] = {0, 0};
        plline(2, zx, zy);
        pllsty(1);
    }
    static void draw_legend(std::span<const series> lines, bool boxes, bool bottom) {
        std::vector<std::string> texts;
        for (const auto& s : lines) texts.push_back(s.label);
        bool any = false;
        for (const auto& t : texts) any = any || !t.empty();
        if (!any) return;
        const auto n = static_cast<PLINT>(lines.size());
        std::vector<PLINT> opt(lines.size(), boxes ? PL_LEGEND_COLOR_BOX : PL_LEGEND_LINE), text_colors(lines.size(), 1),
            line_colors, line_styles, box_colors, box_patterns(lines.size(), 0);
        std::vector<PLFLT> line_widths(lines.size(), 1.0), box_scales(lines.size(), 0.8), box_widths(lines.size(), 1.0);
        std::vector<const char*> text_ptrs, symbols(lines.size(), "");
        for (const auto& s : lines) {
            line_colors.push_back(detail_plot::palette_base + s.colour);
            box_colors.push_back(detail_plot::palette_base + s.colour);
            line_styles.push_back(s.style);
        }
        for (const auto& t : texts) text_ptrs.push_back(t.c_str());
        std::vector<PLINT> symbol_colors(lines.size(), 1), symbol_numbers(lines.size(), 0);
        std::vector<PLFLT> symbol_scales(lines.size(), 1.0);
        PLFLT width = 0, height = 0;
        pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                 (bottom ? PL_POSITION_BOTTOM : PL_POSITION_TOP | PL_POSITION_RIGHT) | PL_POSITION_INSIDE, 0.02, 0.02, 0.06,
                 0, 1, 1, 0, 0, n, opt.data(), 0.6, 0.7, 1.8, 0.0,
                 text_colors.data(), text_ptrs.data(), box_colors.data(), box_patterns.data(), box_scales.data(),
                 box_widths.data(), line_colors.data(), line_styles.data(), line_widths.data(), symbol_colors.data(),
                 symbol_scales.data(), symbol_numbers.data(), symbols.data());
    }

    std::filesystem::path path_;
    atomic_file file_;  // PLplot writes the temporary by name; finish() commits it
    index panels_;
    index used_ = 0;
    bool open_ = false;
};

}  // namespace ebm::io

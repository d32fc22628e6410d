#pragma once
// Densities on a regular grid, as the Anatomy toy code evaluates them (docs/toy2d.md):
//   grid                     N points per axis, np.linspace(-a, a, N) in 1 or 2 dimensions (x varies fastest)
//   energy_on_grid           U at every grid point, for any energy_function (chunked batches)
//   normalise_log_density    exp(log p - max log p) normalised to probability masses on the grid
//   grid_density_from_energy p ∝ exp(-U), min U subtracted first for stability
//   kl_divergence            KL(q||p) = sum q log(q/p) over grid masses (= the integral of q log(q/p) by the
//                            rectangle rule; the cell measure cancels)
//   grid_entropy             -sum q log(q / cell) : the differential entropy by the rectangle rule
// Masses are double precision and sum to 1; density at a point = mass / cell_measure().
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../error.hpp"
#include "../memory_space.hpp"

namespace ebm::eval {

/// A regular grid of `resolution` points per axis over [-extent, extent]^dimension, endpoints included.
struct grid {
    index dimension = 2;
    index resolution = 200;
    double extent = 1.0;

    void validate() const {
        if (dimension != 1 && dimension != 2) detail::fail("eval::grid", "dimension must be 1 or 2", dimension);
        if (resolution < 2) detail::fail("eval::grid", "resolution must be >= 2", resolution);
        detail::require_positive("eval::grid", "extent", extent);
        detail::require_finite("eval::grid", "extent", extent);
    }
    /// Number of grid points (resolution^dimension).
    [[nodiscard]] index size() const { return dimension == 1 ? resolution : resolution * resolution; }
    /// Distance between neighbouring points along an axis.
    [[nodiscard]] double spacing() const { return 2.0 * extent / static_cast<double>(resolution - 1); }
    /// Length (1D) or area (2D) of one cell.
    [[nodiscard]] double cell_measure() const { return dimension == 1 ? spacing() : spacing() * spacing(); }
    /// Coordinate of point i along an axis (i = 0 .. resolution-1).
    [[nodiscard]] double coordinate(index i) const { return -extent + spacing() * static_cast<double>(i); }
    /// All points as a chain-major batch; point k = ix + resolution * iy has coordinates (x_ix, y_iy).
    [[nodiscard]] batch points() const {
        validate();
        batch out(dimension, size());
        for (index k = 0; k < size(); ++k) {
            out.chain(k)[0] = static_cast<float>(coordinate(k % resolution));
            if (dimension == 2) out.chain(k)[1] = static_cast<float>(coordinate(k / resolution));
        }
        return out;
    }
};

/// The grid for a toy of the papers: 2D for gmm and rings (extent 1.6 / 4.6), 1D for mixture_1d (extent 1).
inline grid toy_grid(index dimension, double extent, index resolution = 200) {
    grid g{dimension, resolution, extent};
    g.validate();
    return g;
}

/// U(x) at every grid point, evaluated in chunks of `chunk` points (the energy's workspace is sized for one chunk).
template <energy_function E>
std::vector<double> energy_on_grid(const E& energy, const grid& g, index chunk = 1000) {
    static_assert(check_host_memory<E>());  // evaluation on the host: a GPU energy is copied to a CPU one first
    g.validate();
    detail::require_positive("eval::energy_on_grid", "chunk", chunk);
    if (energy.dimension() != g.dimension)
        detail::fail("eval::energy_on_grid", "energy dimension must equal the grid dimension " + detail::to_text(g.dimension),
                     energy.dimension());
    const batch pts = g.points();
    const index n = g.size();
    const index width = std::min(chunk, n);
    auto ws = energy.make_workspace(width);
    std::vector<float> u(static_cast<std::size_t>(width));
    std::vector<double> out(static_cast<std::size_t>(n));
    for (index first = 0; first < n; first += width) {
        const index count = std::min(width, n - first);
        energy.energy(pts.view().chains(first, count), std::span<float>(u.data(), static_cast<std::size_t>(count)), ws);
        for (index i = 0; i < count; ++i) out[static_cast<std::size_t>(first + i)] = u[static_cast<std::size_t>(i)];
    }
    return out;
}

/// Probability masses exp(l_k - max l) / sum: log densities (up to a constant) -> masses summing to 1.
/// -inf entries get mass 0; NaN or +inf entries, or all entries -inf, are an error.
inline std::vector<double> normalise_log_density(std::span<const double> log_density) {
    if (log_density.empty()) detail::fail("eval::normalise_log_density", "log_density must not be empty", 0);
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < log_density.size(); ++k) {
        const double v = log_density[k];
        if (std::isnan(v) || v == std::numeric_limits<double>::infinity())
            detail::fail("eval::normalise_log_density", "entry " + detail::to_text(k) + " must not be NaN or +inf", v);
        top = std::max(top, v);
    }
    if (!std::isfinite(top)) detail::fail("eval::normalise_log_density", "at least one entry must be finite", top);
    std::vector<double> mass(log_density.size());
    double total = 0;
    for (std::size_t k = 0; k < mass.size(); ++k) total += mass[k] = std::exp(log_density[k] - top);
    for (double& m : mass) m /= total;
    return mass;
}

/// Non-negative density values -> masses summing to 1 (error on negative/non-finite values or a zero sum).
inline std::vector<double> normalise_density(std::span<const double> density) {
    double total = 0;
    for (std::size_t k = 0; k < density.size(); ++k) {
        if (!(density[k] >= 0) || !std::isfinite(density[k]))
            detail::fail("eval::normalise_density", "entry " + detail::to_text(k) + " must be finite and >= 0", density[k]);
        total += density[k];
    }
    if (!(total > 0)) detail::fail("eval::normalise_density", "density must have a positive sum", total);
    std::vector<double> mass(density.begin(), density.end());
    for (double& m : mass) m /= total;
    return mass;
}

/// Masses of p ∝ exp(-U) on the grid, from energies at the grid points (min U subtracted first).
inline std::vector<double> density_from_energies(std::span<const double> energies) {
    std::vector<double> log_p(energies.size());
    for (std::size_t k = 0; k < energies.size(); ++k) log_p[k] = -energies[k];
    return normalise_log_density(log_p);
}

/// Masses of p ∝ exp(-U) on the grid for an energy function.
template <energy_function E>
std::vector<double> grid_density_from_energy(const E& energy, const grid& g) {
    const auto u = energy_on_grid(energy, g);
    return density_from_energies(u);
}

namespace detail_eval {
inline void require_masses(const char* where, const char* name, std::span<const double> m) {
    for (std::size_t k = 0; k < m.size(); ++k)
        if (!(m[k] >= 0) || !std::isfinite(m[k]))
            detail::fail(where, std::string(name) + " entry " + detail::to_text(k) + " must be finite and >= 0", m[k]);
}
}  // namespace detail_eval

/// KL(q||p) = sum_k q_k log(q_k / p_k) over grid masses (both normalised on the grid). Cells with q_k = 0
/// contribute 0; a p_k of 0 where q_k > 0 is floored at the smallest normal double (a large but finite value).
inline double kl_divergence(std::span<const double> q, std::span<const double> p) {
    if (q.size() != p.size())
        detail::fail("eval::kl_divergence", "p must have the size of q (" + detail::to_text(q.size()) + ")", p.size());
    if (q.empty()) detail::fail("eval::kl_divergence", "q must not be empty", 0);
    detail_eval::require_masses("eval::kl_divergence", "q", q);
    detail_eval::require_masses("eval::kl_divergence", "p", p);
    constexpr double floor = std::numeric_limits<double>::min();
    double kl = 0;
    for (std::size_t k = 0; k < q.size(); ++k)
        if (q[k] > 0) kl += q[k] * (std::log(q[k]) - std::log(std::max(p[k], floor)));
    return std::max(kl, 0.0);  // exact 0 for identical inputs despite rounding
}

/// Differential entropy by the rectangle rule: -sum_k q_k log(q_k / cell_measure) (q_k = 0 contributes 0).
inline double grid_entropy(std::span<const double> q, double cell_measure) {
    detail::require_positive("eval::grid_entropy", "cell_measure", cell_measure);
    detail_eval::require_masses("eval::grid_entropy", "q", q);
    double h = 0;
    for (double m : q)
        if (m > 0) h -= m * std::log(m / cell_measure);
    return h;
}

/// Densities (mass / cell measure) for display; log_densities with a floor (the authors' plots add 1e-10).
inline std::vector<double> to_density(std::span<const double> mass, double cell_measure) {
    std::vector<double> d(mass.begin(), mass.end());
    for (double& v : d) v /= cell_measure;
    return d;
}
inline std::vector<double> to_log_density(std::span<const double> mass, double cell_measure, double floor = 1e-10) {
    std::vector<double> d(mass.size());
    for (std::size_t k = 0; k < mass.size(); ++k) d[k] = std::log(mass[k] / cell_measure + floor);
    return d;
}

}  // namespace ebm::eval

#pragma once
// check_gradients: an energy's analytic gradients against central differences of its own energies, for energies
// you write yourself. dU/dx is checked for every energy_function; for a learnable_energy, also the weighted
// parameter gradient d(sum_i w_i U_i)/dθ (the ML update's), along random directions in θ and along one direction per
// parameter tensor where the energy names them (parameter_tensors()), so that an error in a small tensor such as a
// bias is not lost in the sum over all of them; for a hessian_vector_energy, also the Hessian-vector product
// (d2U/dx2) v against central differences of the energy's own gradients along a random direction v per chain.
//
// The energies are float, so a central difference with step h carries a rounding error of about 6e-8 |U| / h next
// to its truncation error h^2 |U'''| / 6: the default steps (1e-3) suit |U| up to about 10 and derivatives of order 1.
// Piecewise-linear networks (LeakyReLU, ReLU) have kinks: a kink within h of x makes a central difference wrong,
// which the report shows as a failure at that coordinate; a smaller step makes that rarer (and costs rounding).
// A derivative passes when |analytic - numeric| <= tolerance * scale + noise, with scale the larger of |analytic|,
// |numeric| and 1% of the chain's largest |numeric| for dU/dx, and the sum of |terms| of the directional
// derivative for dU/dθ; noise = 4 FLT_EPSILON (|U(+h)| + |U(-h)|) / (2h) is the float rounding of the two energies
// carried into the difference (sums of |w_i U_i| for dU/dθ; for (d2U/dx2) v the same with the gradients'
// coordinates in place of the energies, and the scale of dU/dx). The reported relative error is
// |analytic - numeric| / (scale + noise / tolerance), so it passes at <= tolerance. The steps are the ones actually
// taken: float(x + h) - float(x - h).
//
// Host energies only (CPU); the check allocates, so call it outside any sampling loop.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../batch.hpp"
#include "../concepts/hessian_vector_energy.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../memory_space.hpp"
#include "../random/distributions.hpp"

namespace ebm {

struct gradient_check_options {
    double input_step = 1e-3;      // h for the coordinates of x
    double parameter_step = 1e-3;  // h along each direction in θ (directions have entries in [-1, 1])
    double hessian_step = 1e-3;    // h along each chain's direction v (entries in [-1, 1]) for (d2U/dx2) v
    double tolerance = 1e-2;       // relative, see above
    index coordinates = 64;        // coordinates of x checked per chain, evenly spread (all when the dimension is smaller)
    index parameter_directions = 4;  // random directions in θ, besides one per named parameter tensor
    std::uint64_t seed = 0;        // of the random directions (Philox, purpose::user)
};

struct gradient_check_result {
    struct failure {
        std::string what;  // "chain 3, x[17]", "direction 2", "tensor '0.bias'" or "chain 3, (Hv)[17]"
        double analytic = 0, numeric = 0, relative_error = 0;
    };
    index input_checks = 0, input_failures = 0;
    index parameter_checks = 0, parameter_failures = 0;
    index hessian_checks = 0, hessian_failures = 0;  // coordinates of (d2U/dx2) v
    double worst_input_error = 0, worst_parameter_error = 0, worst_hessian_error = 0;  // largest relative error seen
    std::vector<failure> failures;  // the first 20

    [[nodiscard]] bool passed() const { return input_failures == 0 && parameter_failures == 0 && hessian_failures == 0; }

    /// A few lines: counts, worst errors, then each recorded failure.
    [[nodiscard]] std::string report() const {
        char line[256];
        std::string out;
        const auto counts = [&](const char* what, const char* items, index failed, index checked, double worst) {
            std::snprintf(line, sizeof line, "%s: %lld of %lld %s failed (worst relative error %.3g)\n", what,
                          static_cast<long long>(failed), static_cast<long long>(checked), items, worst);
            out += line;
        };
        counts("dU/dx", "derivatives", input_failures, input_checks, worst_input_error);
        if (parameter_checks > 0)
            counts("dU/dtheta", "directional derivatives", parameter_failures, parameter_checks, worst_parameter_error);
        if (hessian_checks > 0)
            counts("(d2U/dx2) v", "coordinates", hessian_failures, hessian_checks, worst_hessian_error);
        for (const failure& f : failures) {
            std::snprintf(line, sizeof line, "  %s: analytic %.8g, central difference %.8g (relative error %.3g)\n",
                          f.what.c_str(), f.analytic, f.numeric, f.relative_error);
            out += line;
        }
        return out;
    }
};

namespace detail {

/// Rounding of a float energy, per unit of |U|, carried into a central difference (4 FLT_EPSILON).
inline constexpr double float_noise = 4.0 * 1.1920928955078125e-7;

inline void validate_gradient_check(const char* where, const gradient_check_options& o, index dimension,
                                    const_batch_view x) {
    for (const auto& [name, value] : {std::pair{"input_step", o.input_step}, std::pair{"parameter_step", o.parameter_step},
                                      std::pair{"hessian_step", o.hessian_step}, std::pair{"tolerance", o.tolerance}}) {
        require_finite(where, name, value);
        require_positive(where, name, value);
    }
    require_positive(where, "coordinates", o.coordinates);
    require_non_negative(where, "parameter_directions", o.parameter_directions);
    if (x.data == nullptr || x.count <= 0) fail(where, "x must hold at least one chain", x.count);
    if (x.dimension != dimension)
        fail(where, "x dimension must equal the energy's dimension " + to_text(dimension), x.dimension);
}

enum class checked_derivative { input, parameter, hessian };

inline void record(gradient_check_result& r, checked_derivative kind, std::string what, double analytic, double numeric,
                   double scale, double noise, double tolerance) {
    const double error = std::abs(analytic - numeric) / std::max(scale + noise / tolerance, 1e-30);
    const auto pick = [kind](auto& input, auto& parameter, auto& hessian) -> auto& {
        return kind == checked_derivative::input ? input : kind == checked_derivative::parameter ? parameter : hessian;
    };
    pick(r.input_checks, r.parameter_checks, r.hessian_checks) += 1;
    double& worst = pick(r.worst_input_error, r.worst_parameter_error, r.worst_hessian_error);
    worst = std::max(worst, error);
    if (error <= tolerance) return;
    pick(r.input_failures, r.parameter_failures, r.hessian_failures) += 1;
    if (r.failures.size() < 20) r.failures.push_back({std::move(what), analytic, numeric, error});
}

/// Per chain, the largest |numeric| of its checked coordinates sets the floor of their scale (1% of it), so that a
/// coordinate whose derivative is near zero is judged against the chain's magnitude, not its own.
inline void record_per_chain(gradient_check_result& r, checked_derivative kind, const char* label, index n,
                             const std::vector<index>& coordinate, const std::vector<double>& analytic,
                             const std::vector<double>& numeric, const std::vector<double>& noise, double tolerance) {
    const auto checked = static_cast<index>(coordinate.size());
    for (index i = 0; i < n; ++i) {
        double largest = 0;
        for (index j = 0; j < checked; ++j) largest = std::max(largest, std::abs(numeric[static_cast<std::size_t>(i * checked + j)]));
        for (index j = 0; j < checked; ++j) {
            const auto s = static_cast<std::size_t>(i * checked + j);
            record(r, kind, "chain " + std::to_string(i) + ", " + label + "[" + std::to_string(coordinate[static_cast<std::size_t>(j)]) + "]",
                   analytic[s], numeric[s], std::max({std::abs(analytic[s]), std::abs(numeric[s]), 0.01 * largest}),
                   noise[s], tolerance);
        }
    }
}

/// `checked` coordinates evenly spread over d.
inline std::vector<index> spread_coordinates(index d, index checked) {
    std::vector<index> coordinate(static_cast<std::size_t>(checked));
    for (index j = 0; j < checked; ++j) coordinate[static_cast<std::size_t>(j)] = j * d / checked;
    return coordinate;
}

template <class E>
void check_input_gradient(const E& energy, const_batch_view x, const gradient_check_options& o,
                          gradient_check_result& r) {
    const index n = x.count, d = x.dimension;
    auto ws = energy.make_workspace(n);
    batch g(d, n), shifted(d, n);
    std::vector<float> u(static_cast<std::size_t>(n)), up(u.size()), down(u.size());
    energy.energy_and_gradient(x, u, g.view(), ws);
    std::copy(x.data, x.data + n * d, shifted.data());
    const std::vector<index> coordinate = spread_coordinates(d, std::min(d, o.coordinates));
    const auto checked = static_cast<index>(coordinate.size());
    std::vector<double> analytic(static_cast<std::size_t>(n * checked)), numeric(analytic.size()), noise(analytic.size());
    std::vector<double> width(static_cast<std::size_t>(n));  // float(x + h) - float(x - h), the step actually taken
    for (index j = 0; j < checked; ++j) {
        const index k = coordinate[static_cast<std::size_t>(j)];
        for (index i = 0; i < n; ++i) shifted.chain(i)[k] = static_cast<float>(x.chain(i)[k] + o.input_step);
        energy.energy(shifted.view(), up, ws);
        for (index i = 0; i < n; ++i) {
            width[static_cast<std::size_t>(i)] = shifted.chain(i)[k];
            shifted.chain(i)[k] = static_cast<float>(x.chain(i)[k] - o.input_step);
            width[static_cast<std::size_t>(i)] -= shifted.chain(i)[k];
            if (!(width[static_cast<std::size_t>(i)] > 0))
                fail("check_gradients", "input_step is below float resolution at chain " + std::to_string(i) + ", x[" +
                                            std::to_string(k) + "] (choose a larger step)",
                     x.chain(i)[k]);
        }
        energy.energy(shifted.view(), down, ws);
        for (index i = 0; i < n; ++i) {
            shifted.chain(i)[k] = x.chain(i)[k];
            const auto s = static_cast<std::size_t>(i);
            const auto at = static_cast<std::size_t>(i * checked + j);
            analytic[at] = g.chain(i)[k];
            numeric[at] = (static_cast<double>(up[s]) - static_cast<double>(down[s])) / width[s];
            noise[at] = float_noise * (std::abs(static_cast<double>(up[s])) + std::abs(static_cast<double>(down[s]))) / width[s];
        }
    }
    record_per_chain(r, checked_derivative::input, "x", n, coordinate, analytic, numeric, noise, o.tolerance);
}

/// (d2U/dx2) v at the chains of x, v random per chain, against (dU/dx(x + h v) - dU/dx(x - h v)) / 2h. The analytic
/// product is taken along the displacement actually made in float, (float(x + h v) - float(x - h v)) / 2h.
template <class E>
void check_hessian_vector(const E& energy, const_batch_view x, const gradient_check_options& o,
                          gradient_check_result& r) {
    const index n = x.count, d = x.dimension;
    auto ws = energy.make_workspace(n);
    batch direction(d, n), plus(d, n), minus(d, n), hv(d, n), g_plus(d, n), g_minus(d, n);
    std::vector<float> u(static_cast<std::size_t>(n));
    const philox rng(seed{o.seed});
    for (index i = 0; i < n; ++i) {
        // Stream (user, chain i, step 1): apart from the parameter directions' (user, t, 0).
        fill_uniform(rng, purpose::user, static_cast<std::uint32_t>(i), 1, direction.chain(i), d, -1.0f, 1.0f);
        for (index k = 0; k < d; ++k) {
            const float xk = x.chain(i)[k], vk = direction.chain(i)[k];
            plus.chain(i)[k] = static_cast<float>(xk + o.hessian_step * vk);
            minus.chain(i)[k] = static_cast<float>(xk - o.hessian_step * vk);
            direction.chain(i)[k] =
                static_cast<float>((static_cast<double>(plus.chain(i)[k]) - minus.chain(i)[k]) / (2.0 * o.hessian_step));
        }
    }
    energy.hessian_vector_product(x, direction.view(), hv.view(), ws);
    energy.energy_and_gradient(plus.view(), u, g_plus.view(), ws);
    energy.energy_and_gradient(minus.view(), u, g_minus.view(), ws);
    const std::vector<index> coordinate = spread_coordinates(d, std::min(d, o.coordinates));
    const auto checked = static_cast<index>(coordinate.size());
    std::vector<double> analytic(static_cast<std::size_t>(n * checked)), numeric(analytic.size()), noise(analytic.size());
    for (index i = 0; i < n; ++i)
        for (index j = 0; j < checked; ++j) {
            const index k = coordinate[static_cast<std::size_t>(j)];
            const auto at = static_cast<std::size_t>(i * checked + j);
            const double up = g_plus.chain(i)[k], down = g_minus.chain(i)[k];
            analytic[at] = hv.chain(i)[k];
            numeric[at] = (up - down) / (2.0 * o.hessian_step);
            noise[at] = float_noise * (std::abs(up) + std::abs(down)) / (2.0 * o.hessian_step);
        }
    record_per_chain(r, checked_derivative::hessian, "(Hv)", n, coordinate, analytic, numeric, noise, o.tolerance);
}

}  // namespace detail

/// dU/dx of `energy` at the chains of x against central differences of its energies.
template <class E>
    requires energy_function<E>
gradient_check_result check_gradients(const E& energy, const_batch_view x, const gradient_check_options& options = {}) {
    static_assert(!in_device_memory<E>, "ebm::check_gradients: checks host (CPU) energies; copy a device energy's "
                                        "parameters into its CPU twin to check it");
    detail::validate_gradient_check("check_gradients", options, energy.dimension(), x);
    gradient_check_result r;
    detail::check_input_gradient(energy, x, options, r);
    if constexpr (hessian_vector_energy<E>) detail::check_hessian_vector(energy, x, options, r);
    return r;
}

/// dU/dx as above and the weighted parameter gradient d(sum_i w_i U(x_i))/dθ. The parameters are moved and put back
/// exactly (bit for bit) before the call returns.
template <class E>
    requires learnable_energy<E>
gradient_check_result check_gradients(E& energy, const_batch_view x, std::span<const float> weights,
                                      const gradient_check_options& options = {}) {
    static_assert(!in_device_memory<E>, "ebm::check_gradients: checks host (CPU) energies; copy a device energy's "
                                        "parameters into its CPU twin to check it");
    const char* where = "check_gradients";
    detail::validate_gradient_check(where, options, energy.dimension(), x);
    if (static_cast<index>(weights.size()) != x.count)
        detail::fail(where, "weights must have one entry per chain (" + detail::to_text(x.count) + ")", weights.size());
    gradient_check_result r;
    detail::check_input_gradient(std::as_const(energy), x, options, r);
    if constexpr (hessian_vector_energy<E>) detail::check_hessian_vector(std::as_const(energy), x, options, r);

    const index n = x.count, p = energy.parameter_count();
    auto ws = energy.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), grad(static_cast<std::size_t>(p), 0.0f);
    std::as_const(energy).accumulate_parameter_gradient(x, weights, grad, u, ws);
    const std::span<const float> current = std::as_const(energy).parameters();
    const std::vector<float> theta(current.begin(), current.end());
    double magnitude = 0;  // sum_i |w_i U_i| of the last weighted_energy()
    const auto weighted_energy = [&] {
        std::as_const(energy).energy(x, u, ws);
        double s = 0;
        magnitude = 0;
        for (index i = 0; i < n; ++i) {
            const double term = static_cast<double>(weights[static_cast<std::size_t>(i)]) * u[static_cast<std::size_t>(i)];
            s += term;
            magnitude += std::abs(term);
        }
        return s;
    };
    // One directional derivative along `direction` (entries outside [first, first + count) are zero).
    std::vector<float> plus(theta.size()), minus(theta.size());
    const auto check_direction = [&](const std::string& what, const std::vector<float>& direction, index first,
                                     index count) {
        std::copy(theta.begin(), theta.end(), plus.begin());
        std::copy(theta.begin(), theta.end(), minus.begin());
        double analytic = 0, scale = 0;
        for (index k = first; k < first + count; ++k) {
            const auto j = static_cast<std::size_t>(k);
            plus[j] = static_cast<float>(theta[j] + options.parameter_step * direction[j]);
            minus[j] = static_cast<float>(theta[j] - options.parameter_step * direction[j]);
            const double step = (static_cast<double>(plus[j]) - minus[j]) / (2.0 * options.parameter_step);
            analytic += static_cast<double>(grad[j]) * step;
            scale += std::abs(static_cast<double>(grad[j]) * step);
        }
        const std::span<float> target = energy.parameters();
        std::copy(plus.begin(), plus.end(), target.begin());
        const double up = weighted_energy();
        double noise = magnitude;
        std::copy(minus.begin(), minus.end(), energy.parameters().begin());
        const double down = weighted_energy();
        noise = detail::float_noise * (noise + magnitude) / (2.0 * options.parameter_step);
        std::copy(theta.begin(), theta.end(), energy.parameters().begin());
        detail::record(r, detail::checked_derivative::parameter, what, analytic, (up - down) / (2.0 * options.parameter_step), scale, noise,
                       options.tolerance);
    };
    std::vector<float> direction(theta.size());
    for (index t = 0; t < options.parameter_directions; ++t) {
        fill_uniform(philox(seed{options.seed}), purpose::user, static_cast<std::uint32_t>(t), 0, direction.data(), p,
                     -1.0f, 1.0f);
        check_direction("direction " + std::to_string(t), direction, 0, p);
    }
    if constexpr (requires { energy.parameter_tensors(); }) {
        fill_uniform(philox(seed{options.seed}), purpose::user, static_cast<std::uint32_t>(options.parameter_directions),
                     0, direction.data(), p, -1.0f, 1.0f);
        for (const auto& tensor : energy.parameter_tensors())
            check_direction("tensor '" + tensor.name + "'", direction, tensor.offset, tensor.count());
    }
    return r;
}

}  // namespace ebm

#pragma once
// Finite-difference helpers for the energy gradient tests.
#include <ebm/batch.hpp>
#include <ebm/energy/mlp.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/random/distributions.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace ebm_test {

/// Points whose coordinates are multiples of 2^-8 in [-range, range]: with a step h = 2^-k (k <= 12) the shifted
/// points x +- h, x +- 2h are exact in float, so differences of a double-valued density are differences in double.
inline ebm::batch dyadic_points(ebm::index dimension, ebm::index count, double range, std::uint64_t seed) {
    ebm::batch x(dimension, count);
    ebm::uniform_noise{static_cast<float>(-range), static_cast<float>(range)}.fill(x, ebm::philox(seed),
                                                                                   ebm::purpose::user, 0);
    for (ebm::index k = 0; k < x.view().size(); ++k) x.data()[k] = std::round(x.data()[k] * 256.0f) / 256.0f;
    return x;
}

/// Richardson-extrapolated central difference of f along coordinate k at x (all in double):
/// (4 D(h) - D(2h)) / 3 with D(h) = (f(x + h e_k) - f(x - h e_k)) / 2h; the error is O(h^4).
template <class F>
double richardson_derivative(F&& f, std::vector<float> x, std::size_t k, float h) {
    const float x0 = x[k];
    auto at = [&](float v) {
        x[k] = v;
        return f(x.data());
    };
    const double d1 = (at(x0 + h) - at(x0 - h)) / (2.0 * h);
    const double d2 = (at(x0 + 2 * h) - at(x0 - 2 * h)) / (4.0 * h);
    return (4.0 * d1 - d2) / 3.0;
}

/// The toy net of the Anatomy paper.
inline ebm::mlp toy_net(std::uint64_t seed = 7) {
    return ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{seed});
}

/// An independent double-precision forward pass of an mlp from its flat parameters (PyTorch state_dict order).
inline double reference_mlp_energy(const ebm::mlp& net, std::span<const double> params, const double* x) {
    const auto& sizes = net.layer_sizes();
    std::vector<double> a(x, x + sizes[0]), z;
    for (ebm::index l = 0; l < net.layers(); ++l) {
        const auto in = sizes[static_cast<std::size_t>(l)], out = sizes[static_cast<std::size_t>(l) + 1];
        z.assign(static_cast<std::size_t>(out), 0.0);
        for (ebm::index o = 0; o < out; ++o) {
            double s = params[static_cast<std::size_t>(net.bias_offset(l) + o)];
            for (ebm::index i = 0; i < in; ++i)
                s += params[static_cast<std::size_t>(net.weight_offset(l) + o * in + i)] * a[static_cast<std::size_t>(i)];
            z[static_cast<std::size_t>(o)] = s;
        }
        if (l + 1 < net.layers())
            for (double& v : z) v = v > 0 ? v : net.negative_slope() * v;
        a = z;
    }
    return a[0];
}

inline std::vector<double> to_double(std::span<const float> v) { return {v.begin(), v.end()}; }

}  // namespace ebm_test

#pragma once
// Second implementations, in double and written directly from the documented definitions, of the ConvNet energies'
// forward passes: ebm::convnet (energy/convnet.hpp: convolutions with zero padding, LeakyReLU after all but the
// last, optional negation) and ebm::nonlocal_net (energy/convnet_nonlocal.hpp's header comment). Central differences
// of these in double (step 1e-6, error ~1e-9 relative) are the references for the float gradients: without
// PyTorch they are the only gradient check, so they must be tight.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include <ebm/energy/convnet_architecture.hpp>
#include <ebm/energy/convnet_nonlocal_layout.hpp>

namespace convnet_test {

/// U(x) of ebm::convnet with architecture `arch` and flat parameters `p` (state_dict order), in double.
inline double convnet_energy(const ebm::convnet_architecture& arch, bool negate, std::span<const double> p,
                             std::span<const double> x) {
    std::vector<double> in(x.begin(), x.end()), out;
    ebm::index c = arch.channels, h = arch.height, w = arch.width, offset = 0;
    for (std::size_t l = 0; l < arch.layers.size(); ++l) {
        const ebm::conv_layer& layer = arch.layers[l];
        const ebm::index k = layer.kernel, s = layer.stride, pad = layer.padding, co = layer.out_channels;
        const ebm::index oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
        const double* weight = p.data() + offset;
        const double* bias = weight + co * c * k * k;
        offset += co * c * k * k + co;
        out.assign(static_cast<std::size_t>(co * oh * ow), 0.0);
        for (ebm::index o = 0; o < co; ++o)
            for (ebm::index y = 0; y < oh; ++y)
                for (ebm::index xx = 0; xx < ow; ++xx) {
                    double v = bias[o];
                    for (ebm::index ci = 0; ci < c; ++ci)
                        for (ebm::index ky = 0; ky < k; ++ky)
                            for (ebm::index kx = 0; kx < k; ++kx) {
                                const ebm::index iy = y * s + ky - pad, ix = xx * s + kx - pad;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                v += weight[((o * c + ci) * k + ky) * k + kx] * in[static_cast<std::size_t>((ci * h + iy) * w + ix)];
                            }
                    if (l + 1 < arch.layers.size() && v < 0) v *= arch.negative_slope;
                    out[static_cast<std::size_t>((o * oh + y) * ow + xx)] = v;
                }
        in.swap(out);
        c = co, h = oh, w = ow;
    }
    return negate ? -in[0] : in[0];
}

/// U(x) of ebm::nonlocal_net(channels, n_f, slope) with flat parameters `p`, in double.
inline double nonlocal_energy(ebm::index channels, ebm::index n_f, double slope, std::span<const double> p,
                              std::span<const double> x) {
    const ebm::detail::nonlocal_layout arch(channels, n_f);
    using ref = ebm::detail::nonlocal_layout::conv_ref;
    // out (r.out x n) = W in + b for a 1x1 convolution or a linear layer (in: r.in x n).
    const auto dense = [&](const ref& r, const std::vector<double>& in, ebm::index n) {
        std::vector<double> out(static_cast<std::size_t>(r.out * n));
        for (ebm::index o = 0; o < r.out; ++o)
            for (ebm::index j = 0; j < n; ++j) {
                double v = p[static_cast<std::size_t>(r.bias + o)];
                for (ebm::index i = 0; i < r.in; ++i)
                    v += p[static_cast<std::size_t>(r.weight + o * r.in + i)] * in[static_cast<std::size_t>(i * n + j)];
                out[static_cast<std::size_t>(o * n + j)] = v;
            }
        return out;
    };
    const auto pool = [](const std::vector<double>& in, ebm::index c, ebm::index side) {  // 2x2 max, stride 2
        const ebm::index half = side / 2;
        std::vector<double> out(static_cast<std::size_t>(c * half * half));
        for (ebm::index ci = 0; ci < c; ++ci)
            for (ebm::index y = 0; y < half; ++y)
                for (ebm::index xx = 0; xx < half; ++xx) {
                    const auto at = [&](ebm::index dy, ebm::index dx) {
                        return in[static_cast<std::size_t>((ci * side + 2 * y + dy) * side + 2 * xx + dx)];
                    };
                    out[static_cast<std::size_t>((ci * half + y) * half + xx)] =
                        std::max({at(0, 0), at(0, 1), at(1, 0), at(1, 1)});
                }
        return out;
    };
    const auto leaky = [&](std::vector<double>& v) {
        for (double& t : v) t = t > 0 ? t : slope * t;
    };
    std::vector<double> a(x.begin(), x.end());
    ebm::index c = channels;
    for (int st = 0; st < 3; ++st) {
        const ebm::index side = 32 >> st, n = side * side;
        if (st > 0) {  // non-local block st - 1 on a (c x n)
            const auto& b = arch.blocks[static_cast<std::size_t>(st - 1)];
            const ebm::index ci = b.inner, m = n / 4;
            const auto theta = dense(b.theta, a, n);
            const auto g = pool(dense(b.g, a, n), ci, side);
            const auto phi = pool(dense(b.phi, a, n), ci, side);
            std::vector<double> y(static_cast<std::size_t>(ci * n), 0.0), row(static_cast<std::size_t>(m));
            for (ebm::index r = 0; r < n; ++r) {
                double top = -INFINITY, sum = 0;
                for (ebm::index q = 0; q < m; ++q) {
                    double s = 0;
                    for (ebm::index k = 0; k < ci; ++k)
                        s += theta[static_cast<std::size_t>(k * n + r)] * phi[static_cast<std::size_t>(k * m + q)];
                    row[static_cast<std::size_t>(q)] = s;
                    top = std::max(top, s);
                }
                for (double& s : row) sum += (s = std::exp(s - top));
                for (ebm::index k = 0; k < ci; ++k) {
                    double v = 0;
                    for (ebm::index q = 0; q < m; ++q)
                        v += g[static_cast<std::size_t>(k * m + q)] * row[static_cast<std::size_t>(q)] / sum;
                    y[static_cast<std::size_t>(k * n + r)] = v;
                }
            }
            auto z = dense(b.w, y, n);
            for (std::size_t k = 0; k < z.size(); ++k) z[k] += a[k];
            a.swap(z);
        }
        // conv3x3, padding 1, stride 1; LeakyReLU; 2x2 max-pool
        const ref& cv = arch.convs[static_cast<std::size_t>(st)];
        std::vector<double> out(static_cast<std::size_t>(cv.out * n));
        for (ebm::index o = 0; o < cv.out; ++o)
            for (ebm::index y = 0; y < side; ++y)
                for (ebm::index xx = 0; xx < side; ++xx) {
                    double v = p[static_cast<std::size_t>(cv.bias + o)];
                    for (ebm::index k = 0; k < c; ++k)
                        for (ebm::index ky = 0; ky < 3; ++ky)
                            for (ebm::index kx = 0; kx < 3; ++kx) {
                                const ebm::index iy = y + ky - 1, ix = xx + kx - 1;
                                if (iy < 0 || iy >= side || ix < 0 || ix >= side) continue;
                                v += p[static_cast<std::size_t>(cv.weight + ((o * c + k) * 3 + ky) * 3 + kx)] *
                                     a[static_cast<std::size_t>((k * side + iy) * side + ix)];
                            }
                    out[static_cast<std::size_t>((o * side + y) * side + xx)] = v;
                }
        leaky(out);
        a = pool(out, cv.out, side);
        c = cv.out;
    }
    auto h = dense(arch.fcs[0], a, 1);
    leaky(h);
    return dense(arch.fcs[1], h, 1)[0];
}

/// (f(t + e v) - f(t - e v)) / 2e in double, e = 1e-6 (f: a double function of a double vector).
template <class F>
double central_difference(const F& f, const std::vector<double>& t, const std::vector<double>& v, double e = 1e-6) {
    std::vector<double> plus(t), minus(t);
    for (std::size_t k = 0; k < t.size(); ++k) {
        plus[k] += e * v[k];
        minus[k] -= e * v[k];
    }
    return (f(plus) - f(minus)) / (2 * e);
}

}  // namespace convnet_test

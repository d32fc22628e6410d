#pragma once
// Pooling over square windows (kernel x kernel every `stride`, no padding) for a batch of chains, one output or input
// element per call, written once for the host and the device: ebm::network runs them chain by chain on the CPU, the
// device network (backend/network_gemm.hpp) launches them over the whole batch. Element k is chain k / size and
// (channel, row, column) of that chain's CHW tensor.
//
// The backward passes are gathers (each input element sums the windows that reach it, in increasing window order):
// no atomics, the same order for every thread count, and the same sums, bit for bit, as scattering window by window
// into zeros.
#include <cstdint>

#include "../config.hpp"
#include "portable_math.hpp"

namespace ebm::kernels {

/// One pooling layer: input channels x in_h x in_w, output channels x out_h x out_w.
struct pool_geometry {
    index channels, in_h, in_w, out_h, out_w, kernel, stride;
    [[nodiscard]] EBM_HOST_DEVICE index in_size() const { return channels * in_h * in_w; }
    [[nodiscard]] EBM_HOST_DEVICE index out_size() const { return channels * out_h * out_w; }

    /// Output element k of a batch: its chain and window, and the window's top-left input element in the chain.
    struct window {
        index chain, output, corner;
    };
    [[nodiscard]] EBM_HOST_DEVICE window window_of(index k) const {
        const index chain = k / out_size(), o = k - chain * out_size();
        const index c = o / (out_h * out_w), r = o - c * out_h * out_w;
        const index y = r / out_w, x = r - y * out_w;
        return {chain, o, (c * in_h + y * stride) * in_w + x * stride};
    }

    /// Input element k of a batch: its chain, its index in the chain, where its channel's outputs start in the batch,
    /// and the windows that contain it, rows y0..y1 and columns x0..x1 (empty when y0 > y1 or x0 > x1).
    struct reach {
        index chain, input, first_output, y0, y1, x0, x1;
    };
    [[nodiscard]] EBM_HOST_DEVICE reach reach_of(index k) const {
        const index chain = k / in_size(), i = k - chain * in_size();
        const index c = i / (in_h * in_w), r = i - c * in_h * in_w;
        const index h = r / in_w, w = r - h * in_w;
        const auto first = [this](index p) { return p < kernel ? index{0} : (p - kernel) / stride + 1; };
        const auto last = [this](index p, index out) { return p / stride < out - 1 ? p / stride : out - 1; };
        return {chain, i, chain * out_size() + c * out_h * out_w, first(h), last(h, out_h), first(w), last(w, out_w)};
    }
};

/// out = the mean of each window (summed in row-major window order, then scaled).
struct average_pool {
    float* out;
    const float* in;
    pool_geometry g;
    EBM_HOST_DEVICE void operator()(index k) const {
        const pool_geometry::window at = g.window_of(k);
        const float* corner = in + at.chain * g.in_size() + at.corner;
        float sum = 0.0f;
        for (index dy = 0; dy < g.kernel; ++dy)
            for (index dx = 0; dx < g.kernel; ++dx) sum += corner[dy * g.in_w + dx];
        out[k] = sum * (1.0f / static_cast<float>(g.kernel * g.kernel));
    }
};

/// g_in = the sum over the windows containing the element of g_out / (kernel * kernel); one call per input element.
struct average_pool_backward {
    float* g_in;
    const float* g_out;
    pool_geometry g;
    EBM_HOST_DEVICE void operator()(index k) const {
        const pool_geometry::reach r = g.reach_of(k);
        const float scale = 1.0f / static_cast<float>(g.kernel * g.kernel);
        float sum = 0.0f;
        for (index y = r.y0; y <= r.y1; ++y)
            for (index x = r.x0; x <= r.x1; ++x) sum += g_out[r.first_output + y * g.out_w + x] * scale;
        g_in[k] = sum;
    }
};

/// PyTorch's max-pooling (its CPU kernel): the first maximum in row-major window order; a NaN wins and propagates.
/// argmax gets the winner's index within the chain's input (the switches the backward passes route through).
struct max_pool {
    float* out;
    std::int32_t* argmax;
    const float* in;
    pool_geometry g;
    EBM_HOST_DEVICE void operator()(index k) const {
        const pool_geometry::window at = g.window_of(k);
        const float* image = in + at.chain * g.in_size();
        index best = at.corner;
        float largest = portable::bits_float(0xff800000u);  // -infinity
        for (index dy = 0; dy < g.kernel; ++dy)
            for (index dx = 0; dx < g.kernel; ++dx) {
                const index i = at.corner + dy * g.in_w + dx;
                const float v = image[i];
                if (v > largest || (portable::float_bits(v) & 0x7fffffffu) > 0x7f800000u) {  // NaN: a bit test
                    largest = v;
                    best = i;
                }
            }
        out[k] = image[best];
        argmax[k] = static_cast<std::int32_t>(best);
    }
};

/// out = in at the switches (max-pooling's derivative along a tangent: the tangent of the winners).
struct gather_switches {
    float* out;
    const float* in;
    const std::int32_t* argmax;
    pool_geometry g;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = in[(k / g.out_size()) * g.in_size() + argmax[k]]; }
};

/// g_in = the sum of g_out over the windows whose switch is this element; one call per input element.
struct max_pool_backward {
    float* g_in;
    const float* g_out;
    const std::int32_t* argmax;
    pool_geometry g;
    EBM_HOST_DEVICE void operator()(index k) const {
        const pool_geometry::reach r = g.reach_of(k);
        float sum = 0.0f;
        for (index y = r.y0; y <= r.y1; ++y)
            for (index x = r.x0; x <= r.x1; ++x) {
                const index o = r.first_output + y * g.out_w + x;
                if (argmax[o] == static_cast<std::int32_t>(r.input)) sum += g_out[o];
            }
        g_in[k] = sum;
    }
};

}  // namespace ebm::kernels

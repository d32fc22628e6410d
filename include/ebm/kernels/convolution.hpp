#pragma once
// Per-element pieces of a convolutional energy on the GPU: bias + LeakyReLU, LeakyReLU', the top gradient and the
// energy read-out, and im2col / col2im, which turn a convolution into matrix products (backend/convolution_gemm.hpp).
// Like everything in kernels/, plain C++ marked EBM_HOST_DEVICE: the CUDA backend launches them and the CPU tests
// run them in a loop.
//
// Activation layouts. Element (chain n, channel c, row h, column w) of a tensor with H x W planes sits at
// n * chain_stride + c * channel_stride + h * W + w: NCHW (the batches' layout: chain_stride = C*H*W,
// channel_stride = H*W) or CNHW (channel-major, what one GEMM over all chains writes: chain_stride = H*W,
// channel_stride = N*H*W).
//
// Index arithmetic is 32-bit unsigned (integer division is the costly part of these memory-bound passes; 64-bit
// division is several times slower on a GPU); callers guarantee every extent below 2^31 (convolution_gemm checks).
#include "../config.hpp"

namespace ebm::kernels {

/// z <- LeakyReLU(z + b[channel]) in place, channel = (k / plane) % channels (NCHW: plane = H*W; CNHW: plane =
/// N*H*W); without `activation` only the bias is added.
struct bias_leaky_relu {
    float* z;
    const float* bias;
    index plane;
    index channels;
    float slope;
    bool activation;
    EBM_HOST_DEVICE void operator()(index k) const {
        // 32-bit division where everything fits (several times cheaper on a GPU than 64-bit).
        const bool narrow = ((k | plane | channels) >> 31) == 0;
        const index channel = narrow ? static_cast<index>(static_cast<unsigned>(k) / static_cast<unsigned>(plane) %
                                                          static_cast<unsigned>(channels))
                                     : (k / plane) % channels;
        const float v = z[k] + bias[channel];
        z[k] = activation ? (v > 0.0f ? v : slope * v) : v;
    }
};

/// d <- d * LeakyReLU'(z), from the stored output a (a > 0 iff z > 0 when slope > 0).
struct leaky_relu_backward {
    float* d;
    const float* a;
    float slope;
    EBM_HOST_DEVICE void operator()(index k) const { d[k] = a[k] > 0.0f ? d[k] : slope * d[k]; }
};

/// top[i] = sign * (weights ? weights[i] : 1): dU/d(network output).
struct top_gradient {
    float* top;
    const float* weights;
    float sign;
    EBM_HOST_DEVICE void operator()(index k) const { top[k] = weights != nullptr ? sign * weights[k] : sign; }
};

/// u[i] = sign * (out[i] + *bias), or sign * out[i] when bias is null (the bias already added).
struct read_energy {
    float* u;
    const float* out;
    float sign;
    const float* bias = nullptr;
    EBM_HOST_DEVICE void operator()(index k) const { u[k] = sign * (bias != nullptr ? out[k] + *bias : out[k]); }
};

/// Where element (n, c, h, w) of an activation tensor sits (see the header comment).
struct activation_layout {
    unsigned chain_stride;
    unsigned channel_stride;
};
EBM_HOST_DEVICE inline activation_layout nchw_layout(index channels, index plane) {
    return {static_cast<unsigned>(channels * plane), static_cast<unsigned>(plane)};
}
EBM_HOST_DEVICE inline activation_layout cnhw_layout(index chains, index plane) {
    return {static_cast<unsigned>(plane), static_cast<unsigned>(chains * plane)};
}

/// out[c][j * plane + p] = in[j][c][p] for `chains` chains of channels x plane: NCHW to CNHW (what one GEMM over
/// the chains reads as a matrix). One call per element of out.
struct nchw_to_cnhw {
    float* out;
    const float* in;
    index channels;
    index plane;
    index chains;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index columns = chains * plane;
        const index c = k / columns, q = k - c * columns;
        const index j = q / plane, p = q - j * plane;
        out[k] = in[(j * channels + c) * plane + p];
    }
};

/// The geometry of one convolution (square kernel, equal stride and padding in both directions) applied to the
/// chains [first_chain, first_chain + chunk_chains) of a batch; `columns` = chunk_chains * out_h * out_w.
struct convolution_geometry {
    unsigned channels, height, width;  // input
    unsigned out_h, out_w;
    unsigned kernel, stride, padding;
    unsigned first_chain, chunk_chains;
    [[nodiscard]] EBM_HOST_DEVICE unsigned columns() const { return chunk_chains * out_h * out_w; }
};

/// im2col: col[(c*K + kh)*K + kw][j] = a(n, c, oh*s - p + kh, ow*s - p + kw) (0 outside the image), row-major with
/// `columns` columns, j = (n - first_chain)*out_h*out_w + oh*out_w + ow, where a = in, or, when `bias` is given, the
/// previous layer's activation LeakyReLU(in + bias[c]) computed on the fly from its stored pre-activation (so no
/// separate bias pass). One call per (c, j): it writes the K*K rows of that column (consecutive calls write
/// consecutive addresses of each row).
struct im2col {
    float* col;
    const float* in;
    activation_layout layout;
    convolution_geometry g;
    const float* bias = nullptr;
    float slope = 0.0f;
    EBM_HOST_DEVICE void operator()(index k) const {
        const unsigned columns = g.columns(), plane = g.out_h * g.out_w;
        const unsigned kk = static_cast<unsigned>(k);
        const unsigned c = kk / columns, j = kk - c * columns;
        const unsigned n = j / plane, p = j - n * plane;
        const unsigned oh = p / g.out_w, ow = p - oh * g.out_w;
        const float* src = in + static_cast<std::size_t>(g.first_chain + n) * layout.chain_stride +
                           static_cast<std::size_t>(c) * layout.channel_stride;
        float* dst = col + static_cast<std::size_t>(c) * g.kernel * g.kernel * columns + j;
        const int top = static_cast<int>(oh * g.stride) - static_cast<int>(g.padding);
        const int left = static_cast<int>(ow * g.stride) - static_cast<int>(g.padding);
        const float b = bias != nullptr ? bias[c] : 0.0f;
        for (unsigned kh = 0; kh < g.kernel; ++kh) {
            const int ih = top + static_cast<int>(kh);
            const bool row_inside = ih >= 0 && ih < static_cast<int>(g.height);
            for (unsigned kw = 0; kw < g.kernel; ++kw) {
                const int iw = left + static_cast<int>(kw);
                float v = 0.0f;
                if (row_inside && iw >= 0 && iw < static_cast<int>(g.width)) {
                    v = src[static_cast<unsigned>(ih) * g.width + static_cast<unsigned>(iw)];
                    if (bias != nullptr) {
                        v += b;
                        v = v > 0.0f ? v : slope * v;
                    }
                }
                *dst = v;
                dst += columns;
            }
        }
    }
};

/// col2im as a gather (fixed summation order, no atomics: deterministic): out(n, c, h, w) = the sum over the (kh, kw)
/// with h = oh*s - p + kh and w = ow*s - p + kw (0 <= oh < out_h, 0 <= ow < out_w) of col[(c*K + kh)*K + kw][j], kh
/// outer and kw inner, both increasing; times LeakyReLU' of the layer below when `activation` is given: its stored
/// pre-activation z (same layout as out) plus bias[c] (when given) decides, (z + b) > 0 ? 1 : slope.
/// One call per element of out for the chunk's chains. Within an image row, calls take the columns w class by class
/// of w mod s (w = s*m + class, m increasing), so that neighbouring calls read neighbouring columns of col.
struct col2im {
    float* out;
    activation_layout layout;
    const float* col;
    const float* activation;  // nullptr: no LeakyReLU'
    float slope;
    convolution_geometry g;
    const float* bias = nullptr;
    EBM_HOST_DEVICE void operator()(index k) const {
        const unsigned columns = g.columns(), plane = g.out_h * g.out_w, image = g.height * g.width;
        const unsigned kk = static_cast<unsigned>(k);
        const unsigned per_channel = g.chunk_chains * image;
        const unsigned c = kk / per_channel, r = kk - c * per_channel;
        const unsigned n = r / image, q0 = r - n * image;
        const unsigned h = q0 / g.width, t = q0 - h * g.width;
        // t -> w: the columns of class 0 (w = 0, s, 2s, ...), then class 1, ...
        unsigned w_class = 0, start = 0;
        for (; w_class + 1 < g.stride; ++w_class) {
            const unsigned in_class = w_class < g.width ? (g.width - w_class + g.stride - 1) / g.stride : 0;
            if (t < start + in_class) break;
            start += in_class;
        }
        const unsigned w = (t - start) * g.stride + w_class;
        const float* base = col + static_cast<std::size_t>(c) * g.kernel * g.kernel * columns + n * plane;
        // The (kh, oh) with oh*s + kh = h + p: kh = (h + p) % s, then every s-th; oh = (h + p - kh) / s falls by one
        // per step. Only those are visited (no division in the loops): K/s x K/s terms instead of K x K tests.
        const unsigned th = h + g.padding, tw = w + g.padding;
        const unsigned kh_first = th % g.stride, kw_first = tw % g.stride;
        float sum = 0.0f;
        for (unsigned kh = kh_first, oh = th / g.stride; kh < g.kernel; kh += g.stride, --oh) {
            if (oh >= g.out_h) continue;  // below the output (oh wraps to a large value once past 0: then no more rows)
            const float* row = base + static_cast<std::size_t>(kh * g.kernel) * columns + oh * g.out_w;
            for (unsigned kw = kw_first, ow = tw / g.stride; kw < g.kernel; kw += g.stride, --ow)
                if (ow < g.out_w) sum += row[static_cast<std::size_t>(kw) * columns + ow];
        }
        const std::size_t o = static_cast<std::size_t>(g.first_chain + n) * layout.chain_stride +
                              static_cast<std::size_t>(c) * layout.channel_stride + h * g.width + w;
        if (activation != nullptr && !(activation[o] + (bias != nullptr ? bias[c] : 0.0f) > 0.0f)) sum *= slope;
        out[o] = sum;
    }
};

}  // namespace ebm::kernels

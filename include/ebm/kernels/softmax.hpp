#pragma once
// Row-wise softmax of the non-local block's attention (A = softmax_rows(S), rows of length m) and the row operations
// of its derivatives, one row per call, written once for the host and the device: ebm::network runs them row by row
// on the CPU, the device network (backend/network_gemm.hpp) launches them over every row of the batch. Sums run in
// index order; e^x is kernels/portable_math.hpp's (the same bits on both).
#include "../config.hpp"
#include "portable_math.hpp"

namespace ebm::kernels {

/// a <- softmax(a) along each row of m: e^(a - max) / sum.
struct softmax_rows {
    float* a;
    index m;
    EBM_HOST_DEVICE void operator()(index row) const {
        float* r = a + row * m;
        float top = r[0];
        for (index i = 1; i < m; ++i) top = r[i] > top ? r[i] : top;
        float sum = 0.0f;
        for (index i = 0; i < m; ++i) {
            r[i] = portable::exp(r[i] - top);
            sum += r[i];
        }
        for (index i = 0; i < m; ++i) r[i] /= sum;
    }
};

/// d <- a .* (d - <d, a>) along each row: the softmax's Jacobian (symmetric) applied to d, from the softmax a. It is
/// the backward pass (d = dL/dA gives dL/dS) and the tangent (d = S_t gives A_t) alike.
struct softmax_rows_backward {
    float* d;
    const float* a;
    index m;
    EBM_HOST_DEVICE void operator()(index row) const {
        float* dr = d + row * m;
        const float* ar = a + row * m;
        float dot = 0.0f;
        for (index i = 0; i < m; ++i) dot += dr[i] * ar[i];
        for (index i = 0; i < m; ++i) dr[i] = ar[i] * (dr[i] - dot);
    }
};

/// The tangent of softmax_rows_backward along (a_t, d_t), with d = dL/dA and c = <d, a>:
/// d_t <- a_t .* (d - c) + a .* (d_t - c_t), c_t = <d_t, a> + <d, a_t>.
struct softmax_rows_backward_tangent {
    float* d_t;
    const float* d;
    const float* a;
    const float* a_t;
    index m;
    EBM_HOST_DEVICE void operator()(index row) const {
        const index o = row * m;
        float c = 0.0f, c_t = 0.0f;
        for (index i = 0; i < m; ++i) {
            c += d[o + i] * a[o + i];
            c_t += d_t[o + i] * a[o + i] + d[o + i] * a_t[o + i];
        }
        for (index i = 0; i < m; ++i)
            d_t[o + i] = a_t[o + i] * (d[o + i] - c) + a[o + i] * (d_t[o + i] - c_t);
    }
};

}  // namespace ebm::kernels

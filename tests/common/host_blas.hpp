#pragma once
// The reference ops of the matrix-product engines (backend/convolution_gemm.hpp, backend/network_gemm.hpp) on the
// host: cuBLAS's sgemm semantics (column-major, op(A) m x k, op(B) k x n) summed in double, the strided-batched form
// as a loop over the batches, and an element pass as a plain loop. The CUDA backend runs the same engines with cuBLAS
// and kernel launches.
#include <ebm/config.hpp>

namespace ebm_test {

struct host_ops {
    void gemm(bool ta, bool tb, ebm::index m, ebm::index n, ebm::index k, float alpha, const float* a, ebm::index lda,
              const float* b, ebm::index ldb, float beta, float* c, ebm::index ldc) const {
        for (ebm::index j = 0; j < n; ++j)
            for (ebm::index i = 0; i < m; ++i) {
                double s = 0;
                for (ebm::index p = 0; p < k; ++p)
                    s += static_cast<double>(ta ? a[p + i * lda] : a[i + p * lda]) *
                         static_cast<double>(tb ? b[j + p * ldb] : b[p + j * ldb]);
                float& out = c[i + j * ldc];
                out = static_cast<float>(alpha * s + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * out));
            }
    }
    void gemm_batched(bool ta, bool tb, ebm::index m, ebm::index n, ebm::index k, float alpha, const float* a,
                      ebm::index lda, ebm::index stride_a, const float* b, ebm::index ldb, ebm::index stride_b,
                      float beta, float* c, ebm::index ldc, ebm::index stride_c, ebm::index batches) const {
        for (ebm::index i = 0; i < batches; ++i)
            gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
    }
    template <class F>
    void elements(ebm::index n, const F& f) const {
        for (ebm::index k = 0; k < n; ++k) f(k);
    }
};

}  // namespace ebm_test

#pragma once
// The reference ops of the matrix-product engines (backend/convolution_gemm.hpp, backend/network_gemm.hpp) on the
// host: cuBLAS's sgemm semantics (column-major, op(A) m x k, op(B) k x n) summed in double, the strided-batched form
// as a loop over the batches, and an element pass as a plain loop. The CUDA backend runs the same engines with cuBLAS
// and kernel launches, so every call is also held to cuBLAS's argument rules (what cublasSgemm would refuse with
// CUBLAS_STATUS_INVALID_VALUE: negative sizes, leading dimensions below the stored rows, 32-bit overflow), which a
// loop GEMM alone would not notice.
#include <climits>
#include <stdexcept>
#include <string>

#include <ebm/config.hpp>

namespace ebm_test {

struct host_ops {
    static void require(bool ok, const char* what, ebm::index value) {
        if (!ok) throw std::logic_error(std::string("host_ops: cuBLAS would refuse this call: ") + what + " (" +
                                        std::to_string(value) + ")");
    }
    static void check(bool ta, bool tb, ebm::index m, ebm::index n, ebm::index k, ebm::index lda, ebm::index ldb,
                      ebm::index ldc) {
        const auto at_least_one = [](ebm::index v) { return v > 1 ? v : ebm::index{1}; };
        for (const ebm::index v : {m, n, k, lda, ldb, ldc}) require(v >= 0 && v <= INT_MAX, "a size outside [0, 2^31)", v);
        require(lda >= at_least_one(ta ? k : m), "lda below the rows of the stored A", lda);
        require(ldb >= at_least_one(tb ? n : k), "ldb below the rows of the stored B", ldb);
        require(ldc >= at_least_one(m), "ldc below m", ldc);
    }
    void gemm(bool ta, bool tb, ebm::index m, ebm::index n, ebm::index k, float alpha, const float* a, ebm::index lda,
              const float* b, ebm::index ldb, float beta, float* c, ebm::index ldc) const {
        check(ta, tb, m, n, k, lda, ldb, ldc);
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
        require(batches >= 0 && batches <= INT_MAX, "a batch count outside [0, 2^31)", batches);
        require(stride_a >= 0 && stride_b >= 0 && stride_c >= 0, "a negative stride", stride_a < 0 ? stride_a : stride_c);
        for (ebm::index i = 0; i < batches; ++i)
            gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
    }
    template <class F>
    void elements(ebm::index n, const F& f) const {
        for (ebm::index k = 0; k < n; ++k) f(k);
    }
};

}  // namespace ebm_test

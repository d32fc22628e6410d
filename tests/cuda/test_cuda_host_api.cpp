// The CUDA backend's host-side API (check.cuh, memory.cuh) compiled by the C++ compiler and linked with cudart:
// error messages name the call, file and line; an allocation failure names the bytes requested; without a GPU
// the calls fail with a readable ebm::runtime_error instead of crashing. Runs on any machine with the toolkit.
#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/backend/cuda/check.cuh>
#include <ebm/backend/cuda/memory.cuh>

#include <string>
#include <vector>

namespace cb = ebm::cuda_backend;

namespace {
std::string message_of(auto&& f) { return ebm_test::message_of<ebm::runtime_error>(f); }
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("EBM_CUDA_CHECK names the error, the call, the file and the line") {
    const int line = __LINE__ + 1;
    const std::string m = message_of([] { EBM_CUDA_CHECK(cudaErrorInvalidValue); });
    INFO(m);
    CHECK(contains(m, "ebm::cuda: cudaErrorInvalidValue failed: cudaErrorInvalidValue"));
    CHECK(contains(m, "test_cuda_host_api.cpp:" + std::to_string(line)));
    CHECK(message_of([] { EBM_CUDA_CHECK(cudaSuccess); }).empty());
}

TEST_CASE("EBM_CUBLAS_CHECK and EBM_CUDNN_CHECK name the library status") {
    const std::string blas = message_of([] { EBM_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED); });
    INFO(blas);
    CHECK(contains(blas, "CUBLAS_STATUS_NOT_INITIALIZED"));
    CHECK(contains(blas, "test_cuda_host_api.cpp:"));
    const std::string dnn = message_of([] { EBM_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
    INFO(dnn);
    CHECK(contains(dnn, "CUDNN_STATUS_BAD_PARAM"));
    CHECK(contains(dnn, "test_cuda_host_api.cpp:"));
    CHECK(message_of([] { EBM_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS); }).empty());
    CHECK(message_of([] { EBM_CUDNN_CHECK(CUDNN_STATUS_SUCCESS); }).empty());
}

TEST_CASE("an out-of-memory failure reports the bytes requested") {
    const std::string m = message_of([] { EBM_CUDA_CHECK_ALLOCATION(cudaErrorMemoryAllocation, std::size_t{123456789}); });
    INFO(m);
    CHECK(contains(m, "out of device memory"));
    CHECK(contains(m, "requested 123456789 bytes"));
    CHECK(contains(m, "cudaErrorMemoryAllocation"));
    if (cb::device_count() > 0) {
        // A real allocation far beyond any GPU's memory (1 PiB).
        const std::string real = message_of([] { cb::device_buffer<float> huge(std::ptrdiff_t{1} << 48); });
        INFO(real);
        CHECK(contains(real, "requested 1125899906842624 bytes"));
    }
}

TEST_CASE("without a usable device, allocation fails with a readable ebm::runtime_error, and device_count never throws") {
    const int devices = cb::device_count();
    CHECK(devices >= 0);
    if (devices == 0) {
        const std::string m = message_of([] { cb::device_buffer<float> b(16); });
        INFO(m);
        CHECK(contains(m, "ebm::cuda: cudaMalloc"));
        CHECK(contains(m, "memory.cuh:"));
    } else {
        cb::device_buffer<float> b(16);
        CHECK(b.size() == 16);
        std::vector<float> host(16, 2.5f), back(16);
        b.upload(host);
        b.download(back);
        CHECK(back == host);
    }
}

#pragma once
// RAII owners of device resources: device_buffer<T> (cudaMalloc'd array), stream, event, graph (a captured,
// instantiated CUDA graph), cublas_handle. Move-only; destructors never throw (a failure there is ignored: the
// context is being torn down anyway). Host API only: compiles with a plain C++ compiler too.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "../../config.hpp"
#include "../../error.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"

namespace ebm::cuda_backend {

/// Number of CUDA devices, 0 when there is no device or no usable driver (never throws).
inline int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

/// An owning array of `size` T in device memory.
template <class T>
class device_buffer {
public:
    using value_type = T;
    using memory_space = ebm::device_space;
    device_buffer() = default;
    explicit device_buffer(index size) { resize(size); }
    /// A device copy of host data.
    explicit device_buffer(std::span<const T> host) {
        resize(static_cast<index>(host.size()));
        upload(host);
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    device_buffer(device_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    device_buffer& operator=(device_buffer&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    ~device_buffer() { release(); }

    /// Reallocates to `size` elements (contents are not kept); 0 frees.
    void resize(index size) {
        ebm::detail::require_non_negative("cuda::device_buffer", "size", size);
        if (size == size_) return;
        release();
        if (size == 0) return;
        const std::size_t bytes = static_cast<std::size_t>(size) * sizeof(T);
        void* p = nullptr;
        EBM_CUDA_CHECK_ALLOCATION(cudaMalloc(&p, bytes), bytes);
        data_ = static_cast<T*>(p);
        size_ = size;
    }

    [[nodiscard]] T* data() { return data_; }
    [[nodiscard]] const T* data() const { return data_; }
    [[nodiscard]] index size() const { return size_; }
    [[nodiscard]] std::size_t bytes() const { return static_cast<std::size_t>(size_) * sizeof(T); }
    [[nodiscard]] bool empty() const { return size_ == 0; }

    /// Host -> device, synchronous (pageable memory); host.size() must not exceed size().
    void upload(std::span<const T> host, index offset = 0) {
        check_span("upload", host.size(), offset);
        if (host.empty()) return;
        EBM_CUDA_CHECK(cudaMemcpy(data_ + offset, host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
    }
    /// Device -> host, synchronous.
    void download(std::span<T> host, index offset = 0) const {
        check_span("download", host.size(), offset);
        if (host.empty()) return;
        EBM_CUDA_CHECK(cudaMemcpy(host.data(), data_ + offset, host.size_bytes(), cudaMemcpyDeviceToHost));
    }
    /// All bytes zero, ordered on `stream`.
    void zero(cudaStream_t stream = nullptr) {
        if (size_ > 0) EBM_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream));
    }

private:
    void release() noexcept {
        if (data_ != nullptr) (void)cudaFree(data_);
        data_ = nullptr;
        size_ = 0;
    }
    void check_span(const char* what, std::size_t n, index offset) const {
        if (offset < 0 || static_cast<index>(n) + offset > size_)
            ebm::detail::fail(std::string("cuda::device_buffer::") + what,
                              "host range must fit the buffer of " + ebm::detail::to_text(size_) + " elements at offset " +
                                  ebm::detail::to_text(offset),
                              n);
    }

    T* data_ = nullptr;
    index size_ = 0;
};

/// A non-blocking CUDA stream.
class stream {
public:
    stream() { EBM_CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking)); }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;
    stream(stream&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    stream& operator=(stream&& other) noexcept {
        if (this != &other) {
            if (handle_ != nullptr) (void)cudaStreamDestroy(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~stream() {
        if (handle_ != nullptr) (void)cudaStreamDestroy(handle_);
    }
    [[nodiscard]] cudaStream_t get() const { return handle_; }
    operator cudaStream_t() const { return handle_; }  // NOLINT
    void synchronize() const { EBM_CUDA_CHECK(cudaStreamSynchronize(handle_)); }

private:
    cudaStream_t handle_ = nullptr;
};

/// A CUDA event for timing (elapsed milliseconds between two recorded events).
class event {
public:
    event() { EBM_CUDA_CHECK(cudaEventCreate(&handle_)); }
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    ~event() {
        if (handle_ != nullptr) (void)cudaEventDestroy(handle_);
    }
    void record(cudaStream_t s) { EBM_CUDA_CHECK(cudaEventRecord(handle_, s)); }
    void synchronize() const { EBM_CUDA_CHECK(cudaEventSynchronize(handle_)); }
    [[nodiscard]] float milliseconds_since(const event& start) const {
        float ms = 0;
        EBM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.handle_, handle_));
        return ms;
    }
    [[nodiscard]] cudaEvent_t get() const { return handle_; }

private:
    cudaEvent_t handle_ = nullptr;
};

/// A CUDA graph: `capture(s, body)` records everything `body()` enqueues on stream s (kernels, cuBLAS and cuDNN
/// calls, memsets) without running it, and instantiates it; `launch(s)` replays it with one launch. Pointers and
/// kernel arguments are frozen at capture; values that change between replays must be read from device memory.
class graph {
public:
    graph() = default;
    graph(const graph&) = delete;
    graph& operator=(const graph&) = delete;
    graph(graph&& other) noexcept
        : graph_(std::exchange(other.graph_, nullptr)), exec_(std::exchange(other.exec_, nullptr)) {}
    graph& operator=(graph&& other) noexcept {
        if (this != &other) {
            release();
            graph_ = std::exchange(other.graph_, nullptr);
            exec_ = std::exchange(other.exec_, nullptr);
        }
        return *this;
    }
    ~graph() { release(); }

    template <class Body>
    void capture(cudaStream_t s, Body&& body) {
        release();
        EBM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        try {
            body();
        } catch (...) {
            cudaGraph_t broken = nullptr;
            (void)cudaStreamEndCapture(s, &broken);
            if (broken != nullptr) (void)cudaGraphDestroy(broken);
            (void)cudaGetLastError();
            throw;
        }
        EBM_CUDA_CHECK(cudaStreamEndCapture(s, &graph_));
        EBM_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
    }
    [[nodiscard]] bool ready() const { return exec_ != nullptr; }
    void launch(cudaStream_t s) const {
        if (exec_ == nullptr) ebm::detail::fail("cuda::graph::launch", "the graph must be captured first", "empty");
        EBM_CUDA_CHECK(cudaGraphLaunch(exec_, s));
    }
    /// Number of nodes (kernels, copies, library calls' kernels) in the captured graph.
    [[nodiscard]] std::size_t nodes() const {
        std::size_t n = 0;
        if (graph_ != nullptr) EBM_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &n));
        return n;
    }

private:
    void release() noexcept {
        if (exec_ != nullptr) (void)cudaGraphExecDestroy(exec_);
        if (graph_ != nullptr) (void)cudaGraphDestroy(graph_);
        exec_ = nullptr;
        graph_ = nullptr;
    }
    cudaGraph_t graph_ = nullptr;
    cudaGraphExec_t exec_ = nullptr;
};

/// A cuBLAS handle bound to a stream, FP32 math by default (set tf32 for TF32 tensor cores on Ampere/Hopper).
class cublas_handle {
public:
    explicit cublas_handle(cudaStream_t s = nullptr, bool tf32 = false) {
        EBM_CUBLAS_CHECK(cublasCreate(&handle_));
        EBM_CUBLAS_CHECK(cublasSetStream(handle_, s));
        EBM_CUBLAS_CHECK(cublasSetMathMode(handle_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    }
    cublas_handle(const cublas_handle&) = delete;
    cublas_handle& operator=(const cublas_handle&) = delete;
    cublas_handle(cublas_handle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    ~cublas_handle() {
        if (handle_ != nullptr) (void)cublasDestroy(handle_);
    }
    cublas_handle& operator=(cublas_handle&& other) noexcept {
        if (this != &other) {
            if (handle_ != nullptr) (void)cublasDestroy(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    void set_stream(cudaStream_t s) { EBM_CUBLAS_CHECK(cublasSetStream(handle_, s)); }
    void set_tf32(bool tf32) {
        EBM_CUBLAS_CHECK(cublasSetMathMode(handle_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    }
    [[nodiscard]] cublasHandle_t get() const { return handle_; }
    operator cublasHandle_t() const { return handle_; }  // NOLINT

private:
    cublasHandle_t handle_ = nullptr;
};

}  // namespace ebm::cuda_backend

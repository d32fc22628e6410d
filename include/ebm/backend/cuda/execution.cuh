#pragma once
// The CUDA execution (backend/execution.hpp has the interface): device buffers, work ordered on a stream (the lane;
// an energy's workspace owns one), element functors launched one element per thread, reductions in a fixed order
// (reductions.cuh), the fused Langevin move (one Philox block per thread), the Metropolis accept step (MALA, HMC) as
// one block per chain, one group of chains for the whole batch, and the K-step body captured once as a CUDA graph and replayed
// while its key (pointers, sizes, hyper-parameters baked into the kernels) stays the same. Needs nvcc.
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "../../config.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/langevin.hpp"
#include "../../memory_space.hpp"
#include "../cpu/cpu.hpp"
#include "../execution.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"
#include "launch.cuh"
#include "memory.cuh"
#include "reductions.cuh"

namespace ebm {

template <>
struct execution<cuda> {
    using backend = cuda;
    using memory_space = device_space;
    template <class T>
    using buffer = cuda_backend::device_buffer<T>;
    using lane = cudaStream_t;
    /// What owns a lane (a workspace of an energy that orders its own work): a non-blocking stream.
    using owned_lane = cuda_backend::stream;

    template <class T>
    [[nodiscard]] static buffer<T> make_buffer(index n) {
        buffer<T> b(n);
        b.zero();
        EBM_CUDA_CHECK(cudaStreamSynchronize(nullptr));  // zero() ran on the legacy stream
        return b;
    }
    /// The stream of an energy's workspace: ws.lane() (wrappers forward their inner workspace's) or ws.get_stream().
    template <class W>
    [[nodiscard]] static lane lane_of(const W& workspace) {
        if constexpr (requires { workspace.lane(); })
            return workspace.lane();
        else
            return workspace.get_stream();
    }

    template <class F>
    static void for_each(lane s, index n, const F& f) {
        cuda_backend::launch_elements(n, f, s);
    }
    static void synchronize(lane s) { EBM_CUDA_CHECK(cudaStreamSynchronize(s)); }
    /// Waits for all work on the device (every stream).
    static void wait_all() { EBM_CUDA_CHECK(cudaDeviceSynchronize()); }

    /// Host -> device on the lane; the host range may be reused when this returns (pageable memory is staged).
    template <class T>
    static void upload(lane s, T* destination, const T* host, index n) {
        if (n > 0)
            EBM_CUDA_CHECK(cudaMemcpyAsync(destination, host, static_cast<std::size_t>(n) * sizeof(T),
                                           cudaMemcpyHostToDevice, s));
    }
    /// Device -> host after the lane's earlier work; returns when the host range holds the values.
    template <class T>
    static void download(lane s, T* host, const T* source, index n) {
        if (n <= 0) return;
        EBM_CUDA_CHECK(cudaMemcpyAsync(host, source, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDeviceToHost, s));
        EBM_CUDA_CHECK(cudaStreamSynchronize(s));
    }
    template <class T>
    static void copy(lane s, T* destination, const T* source, index n) {
        if (n > 0 && destination != source)
            EBM_CUDA_CHECK(cudaMemcpyAsync(destination, source, static_cast<std::size_t>(n) * sizeof(T),
                                           cudaMemcpyDeviceToDevice, s));
    }
    template <class T>
    static void set(lane s, T* destination, T value) {
        cuda_backend::set_value<T>(destination, value, s);
    }
    template <class T>
    [[nodiscard]] static T get(lane s, const T* source) {
        T value{};
        download(s, &value, source, 1);
        return value;
    }

    static void chain_norms(lane s, const float* g, index dimension, index count, float* norms) {
        cuda_backend::chain_norms(g, dimension, count, norms, s);
    }
    static void add_chain_norms(lane s, const float* g, index dimension, index count, float* norms, double* total) {
        cuda_backend::chain_norms(g, dimension, count, norms, s);
        cuda_backend::accumulate_total(norms, count, 1.0, total, s);
    }
    static void add_sum(lane s, const float* values, index n, double* total) {
        cuda_backend::accumulate_total(values, n, 1.0, total, s);
    }
    static void count_non_finite(lane s, const float* values, index n, unsigned long long* count) {
        cuda_backend::count_non_finite(values, n, count, s);
    }

    /// kernels::langevin_step, one Philox block (four elements of one chain) per thread.
    static void langevin_move(lane s, const kernels::langevin_step& step, index count, float*) {
        cuda_backend::launch_elements(count * kernels::blocks_per_chain(step.dimension), step, s);
    }
    /// One block per chain (reductions.cuh).
    static void metropolis_accept(lane s, const kernels::metropolis_accept_arguments& a, index count, float*) {
        cuda_backend::metropolis_accept(a, count, s);
    }

    /// One group: the whole batch is one stream of launches.
    struct grouping_type {
        index chains = 0;
        [[nodiscard]] index groups() const { return 1; }
        [[nodiscard]] detail::task_range range(index) const { return {0, chains}; }
    };
    [[nodiscard]] static grouping_type grouping(index chains, index, bool) { return {chains}; }
    [[nodiscard]] static index max_groups(index, index, bool) { return 1; }
    template <class F>
    static void for_groups(const grouping_type&, F&& f) {
        std::forward<F>(f)(index{0});
    }

    /// The K-step body as a CUDA graph: captured when the key changes (after `warmup`, run outside the capture so
    /// that the energy's per-batch-size plans and the libraries' lazily loaded kernels exist before it), then
    /// replayed with one launch. With enabled = false the body is enqueued directly.
    template <class Key>
    struct replay {
        bool enabled = true;
        cuda_backend::graph captured;
        Key key{};

        template <class Warmup, class Body>
        void run(lane s, const Key& k, Warmup&& warmup, Body&& body) {
            if (!enabled) {
                body();
                return;
            }
            if (!captured.ready() || !(key == k)) {
                warmup();
                EBM_CUDA_CHECK(cudaStreamSynchronize(s));
                captured.capture(s, std::forward<Body>(body));
                key = k;
            }
            captured.launch(s);
        }
    };
};

}  // namespace ebm

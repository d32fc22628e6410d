// The machine's fp32 FMA peak: independent AVX-512 FMA chains (enough to cover latency x ports), per thread, run
// on 1 and 2 threads with OpenMP. Prints GFLOP/s (an FMA on 16 floats counts 32 flops).
//   peak_flops                      # table for 1 and 2 threads
//   peak_flops --threads 2 --quiet  # just the number (used by bench_convnet)
//   peak_flops --threads 1 --quiet --per-core-cpu   # per core, per second of thread CPU time (load-robust)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr int chains = 16;  // 4-cycle latency x 2 FMA ports needs >= 8; 16 leaves room

__attribute__((target("avx512f"), noinline)) double fma_loop(long iterations) {
    __m512 acc[chains];
    for (int k = 0; k < chains; ++k) acc[k] = _mm512_set1_ps(0.001f * static_cast<float>(k));
    const __m512 a = _mm512_set1_ps(0.999999f);
    const __m512 b = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < chains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    }
    __m512 sum = acc[0];
    for (int k = 1; k < chains; ++k) sum = _mm512_add_ps(sum, acc[k]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum);
    double total = 0;
    for (float v : lanes) total += static_cast<double>(v);
    return total;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best wall-clock GFLOP/s of `threads` threads over many short runs (robust to short bursts of other load);
// per_core_cpu gets the best GFLOP/s per second of thread CPU time (robust to any other load).
double measure(int threads, double* per_core_cpu = nullptr) {
    const long iterations = 5'000'000;
    const double flops_per_thread = static_cast<double>(iterations) * chains * 32.0;
    double best = 0, best_cpu = 0, sink = 0;
    for (int r = 0; r < 20; ++r) {
        const auto start = std::chrono::steady_clock::now();
        double cpu_rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink) reduction(max : cpu_rate)
        {
            const double c0 = thread_cpu_seconds();
            sink += fma_loop(iterations);
            cpu_rate = flops_per_thread / (thread_cpu_seconds() - c0) * 1e-9;
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::max(best, static_cast<double>(threads) * flops_per_thread / s * 1e-9);
        best_cpu = std::max(best_cpu, cpu_rate);
    }
    if (sink == 12345.0) std::printf(" ");  // keep the loop
    if (per_core_cpu != nullptr) *per_core_cpu = best_cpu;
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (!__builtin_cpu_supports("avx512f")) {
        std::fprintf(stderr, "peak_flops: this CPU has no AVX-512F\n");
        return 1;
    }
    int threads = 0;
    bool quiet = false, per_core = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = std::stoi(argv[++i]);
        if (std::strcmp(argv[i], "--quiet") == 0) quiet = true;
        if (std::strcmp(argv[i], "--per-core-cpu") == 0) per_core = true;
    }
    if (threads > 0) {
        double core = 0;
        const double wall = measure(threads, &core);
        const double g = per_core ? core : wall;
        if (quiet)
            std::printf("%.1f\n", g);
        else
            std::printf("fp32 AVX-512 FMA peak, %d thread(s): %.1f GFLOP/s\n", threads, g);
        return 0;
    }
    for (int t : {1, 2}) {
        double per_core = 0;
        const double g = measure(t, &per_core);
        std::printf("fp32 AVX-512 FMA peak, %d thread(s): %.1f GFLOP/s wall clock; %.1f GFLOP/s per core per CPU second\n",
                    t, g, per_core);
    }
    return 0;
}

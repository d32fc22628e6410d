// Langevin steps per second on the GPU: the short-run ConvNet (32x32x3, n_f 64, batch 64: 26.2 GFLOP per step) on
// cuDNN, the Anatomy non-local net (32x32x3, n_f 32, batch 100) on cuDNN + cuBLAS and the Anatomy toy MLP
// (2-32-64-64-64-1, batch 100) on cuBLAS, each with the K-step chain replayed as one CUDA graph and launched kernel
// by kernel (the ConvNet also in TF32). items_per_second = Langevin steps/s of the whole batch.
// The PyTorch reference is torch_langevin_cuda.py; docs/cuda.md has the FLOP bound and the graph-saving estimate.
#include <benchmark/benchmark.h>

#include <ebm/backend/cuda/cuda.cuh>

#include <cstdio>

namespace cb = ebm::cuda_backend;

namespace {

/// The library's own sampler (ebm::langevin_decoupled, the short-run recipe) on a device energy: chains from
/// U[-1, 1] each iteration, K steps replayed as one CUDA graph (or enqueued kernel by kernel).
template <class Energy>
void run_chain(benchmark::State& state, const Energy& energy, ebm::index chains, ebm::index steps, bool graph,
               double flops_per_step) {
    const ebm::langevin_decoupled policy{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = steps};
    auto st = policy.make_state(energy, chains);
    st.replay.enabled = graph;
    ebm::batch_in<ebm::cuda> x(energy.dimension(), chains);
    const ebm::philox rng(ebm::seed{1});
    const ebm::uniform_noise init{-1.0f, 1.0f};
    std::uint64_t first = 0;
    init.fill(x.view(), rng, ebm::purpose::init_noise, 0, 0, st.lane());
    policy.run(st, energy, x.view(), rng, first);  // warm-up (and graph capture)
    for (auto _ : state) {
        first += static_cast<std::uint64_t>(steps);
        init.fill(x.view(), rng, ebm::purpose::init_noise, first, 0, st.lane());
        const ebm::sampler_stats stats = policy.run(st, energy, x.view(), rng, first);
        benchmark::DoNotOptimize(stats.mean_energy);
    }
    state.SetItemsProcessed(state.iterations() * steps);
    if (flops_per_step > 0)
        state.counters["TFLOP/s"] = benchmark::Counter(flops_per_step * static_cast<double>(steps) * 1e-12,
                                                       benchmark::Counter::kIsIterationInvariantRate);
}

void convnet_steps(benchmark::State& state) {
    const bool graph = state.range(0) != 0, tf32 = state.range(1) != 0;
    const cb::convnet net = cb::convnet::short_run(32, 64, 3, 0.2f);
    const ebm::index chains = 64;
    // Forward + backward-data: about twice the forward FLOPs (26.2 GFLOP per step for this configuration).
    const double flops = 2.0 * net.forward_flops_per_chain() * static_cast<double>(chains);
    // TF32 is a property of the workspace; the chain state makes its own, so build the state accordingly.
    if (tf32) {
        struct tf32_net : cb::convnet {
            using cb::convnet::convnet;
            explicit tf32_net(const cb::convnet& n) : cb::convnet(n) {}
            [[nodiscard]] workspace make_workspace(ebm::index m) const { return cb::convnet::make_workspace(m, true); }
        };
        run_chain(state, tf32_net(net), chains, 100, graph, flops);
    } else {
        run_chain(state, net, chains, 100, graph, flops);
    }
}

void nonlocal_steps(benchmark::State& state) {
    const bool graph = state.range(0) != 0;
    const cb::nonlocal_net net(3, 32, 0.05f, ebm::seed{1});
    run_chain(state, net, 100, 100, graph, 0.0);
}

void mlp_steps(benchmark::State& state) {
    const bool graph = state.range(0) != 0;
    const cb::mlp net({2, 32, 64, 64, 64, 1}, 0.05f, ebm::seed{123});
    run_chain(state, net, 100, 500, graph, 0.0);
}

}  // namespace

BENCHMARK(convnet_steps)->ArgNames({"graph", "tf32"})->Args({1, 0})->Args({0, 0})->Args({1, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(nonlocal_steps)->ArgNames({"graph"})->Args({1})->Args({0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(mlp_steps)->ArgNames({"graph"})->Args({1})->Args({0})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
    if (cb::device_count() == 0) {
        std::printf("bench_cuda_langevin: no CUDA device; nothing to measure (see docs/cuda.md)\n");
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

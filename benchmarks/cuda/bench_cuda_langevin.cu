// Langevin steps per second on the GPU, for the side-by-side table with PyTorch (run_gpu_bench.sh,
// compare_cuda.py, docs/cuda.md):
//   convnet   the short-run ConvNet (32x32x3, n_f 64; 26.2 GFLOP per step at batch 64) at batches 64, 256 and 1024,
//             FP32 and TF32, per engine: gemm (im2col + cuBLAS, the default), cudnn-find (timed algorithms,
//             deterministic or not), cudnn-heuristic (cuDNN's order, deterministic: the previous default)
//   nonlocal  the Anatomy non-local net (n_f 32, batch 100) on cuDNN + cuBLAS, timed and heuristic algorithms
//   mlp       the Anatomy toy MLP (2-32-64-64-64-1, batch 100, K 500): engine=whole-chain runs the K steps as one
//             kernel (compute_options::whole_chain, the default), engine=fused one kernel per evaluation
//   train_mlp one whole iteration of the convergent toy recipe (K 500, batch 100, bank, SGD) with that MLP, both ways
//   train     one whole short-run training iteration (batch 64: K = 100 steps, the parameter gradient, Adam)
//   engine=network  the same ConvNet (batches 64 and 256), non-local net and MLP as composed networks
//             (cuda_backend::network: backend/network_gemm.hpp), beside the specialised classes above
// The K-step chain is replayed as one CUDA graph (graph=0 rows enqueue kernel by kernel). items_per_second =
// Langevin steps/s of the whole batch (iterations/s for train); the label carries the row's key for compare_cuda.py.
#include <benchmark/benchmark.h>

#include <ebm/backend/cuda/cuda.cuh>
#include <ebm/energy/network_presets.hpp>
#include <ebm/random/distributions.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace cb = ebm::cuda_backend;

namespace {

/// The engines compared, by index (the benchmark's argument).
cb::compute_options engine_options(int engine, bool tf32) {
    cb::compute_options o;
    o.tf32 = tf32;
    switch (engine) {
        case 0: o.convolutions = cb::convolution_engine::gemm; break;
        case 1: o.convolutions = cb::convolution_engine::cudnn; o.search = true; o.deterministic = true; break;
        case 2: o.convolutions = cb::convolution_engine::cudnn; o.search = true; o.deterministic = false; break;
        default: o.convolutions = cb::convolution_engine::cudnn; o.search = false; o.deterministic = true; break;
    }
    return o;
}
const char* engine_name(int engine) {
    static const char* names[] = {"gemm", "cudnn-find", "cudnn-find", "cudnn-heuristic"};
    return names[engine];
}

std::string label(const char* workload, ebm::index batch, bool tf32, const std::string& engine, bool deterministic,
                  bool graph) {
    return std::string("workload=") + workload + " batch=" + std::to_string(batch) +
           " precision=" + (tf32 ? "tf32" : "fp32") + " engine=" + engine +
           " deterministic=" + (deterministic ? "1" : "0") + " graph=" + (graph ? "1" : "0");
}

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
    const ebm::index chains = state.range(0);
    const int engine = static_cast<int>(state.range(1));
    const bool tf32 = state.range(2) != 0, graph = state.range(3) != 0;
    cb::convnet net = cb::convnet::short_run(32, 64, 3, 0.2f);
    const cb::compute_options o = engine_options(engine, tf32);
    net.set_compute_options(o);
    // Forward + backward-data: about twice the forward FLOPs (26.2 GFLOP per step at batch 64).
    const double flops = 2.0 * net.forward_flops_per_chain() * static_cast<double>(chains);
    state.SetLabel(label("convnet", chains, tf32, engine_name(engine),
                         o.convolutions == cb::convolution_engine::gemm || o.deterministic, graph));
    run_chain(state, net, chains, chains >= 1024 ? 20 : 100, graph, flops);
}

void nonlocal_steps(benchmark::State& state) {
    const bool search = state.range(0) != 0, tf32 = state.range(1) != 0, graph = state.range(2) != 0;
    cb::nonlocal_net net(3, 32, 0.05f, ebm::seed{1});
    cb::compute_options o;
    o.tf32 = tf32;
    o.search = search;
    net.set_compute_options(o);
    state.SetLabel(label("nonlocal", 100, tf32, search ? "cudnn-find" : "cudnn-heuristic", true, graph));
    run_chain(state, net, 100, 100, graph, 0.0);
}

/// The short-run ConvNet (0), the non-local net (1) or the toy MLP (2) as a composed network (engine=network), FP32.
void network_steps(benchmark::State& state) {
    const int which = static_cast<int>(state.range(0));
    const ebm::index chains = state.range(1);
    const bool graph = state.range(2) != 0;
    const ebm::convnet_architecture short_run = ebm::short_run_architecture(32, 64, 3, 0.2f);
    const ebm::network_spec spec = which == 0   ? ebm::convnet_network(short_run)
                                   : which == 1 ? ebm::nonlocal_network(3, 32, 0.05f)
                                                : ebm::mlp_network({2, 32, 64, 64, 64, 1}, 0.05f);
    const cb::network net(spec, ebm::seed{1});
    const char* workload = which == 0 ? "convnet" : which == 1 ? "nonlocal" : "mlp";
    state.SetLabel(label(workload, chains, false, "network", true, graph));
    const double flops = which == 0 ? 2.0 * ebm::forward_flops(short_run) * static_cast<double>(chains) : 0.0;
    run_chain(state, net, chains, which == 2 ? 500 : 100, graph, flops);
}

/// The toy MLP with or without the whole-chain kernel, and its engine's name for the label.
cb::mlp toy_mlp(bool whole_chain) {
    cb::mlp net({2, 32, 64, 64, 64, 1}, 0.05f, ebm::seed{123});
    cb::compute_options o;
    o.whole_chain = whole_chain;
    net.set_compute_options(o);
    return net;
}
std::string mlp_engine(const cb::mlp& net) {
    return net.runs_langevin_chain() ? "whole-chain" : (net.fused() ? "fused" : "cublas");
}

void mlp_steps(benchmark::State& state) {
    const bool graph = state.range(0) != 0;
    const cb::mlp net = toy_mlp(state.range(1) != 0);
    state.SetLabel(label("mlp", 100, false, mlp_engine(net), true, graph));
    run_chain(state, net, 100, 500, graph, 0.0);
}

/// One whole iteration of the short-run recipe (make_short_run_trainer: K = 100, Adam 1e-4, data noise 0.03),
/// positives a fixed host batch of 64 images in [-1, 1].
void train_iterations(benchmark::State& state) {
    const int engine = static_cast<int>(state.range(0));
    const bool tf32 = state.range(1) != 0;
    cb::convnet net = cb::convnet::short_run(32, 64, 3, 0.2f);
    const cb::compute_options o = engine_options(engine, tf32);
    net.set_compute_options(o);
    state.SetLabel(label("train", 64, tf32, engine_name(engine),
                         o.convolutions == cb::convolution_engine::gemm || o.deterministic, true));
    auto trainer = ebm::make_short_run_trainer(std::move(net));
    ebm::batch positives(3 * 32 * 32, 64);
    ebm::fill_uniform(ebm::philox(ebm::seed{7}), ebm::purpose::init_noise, 0, 0, positives.data(),
                      positives.dimension() * positives.count(), -1.0f, 1.0f);
    benchmark::DoNotOptimize(trainer.step(positives.view()).d);  // warm-up (plans, graph capture)
    for (auto _ : state) benchmark::DoNotOptimize(trainer.step(positives.view()).d);
    state.SetItemsProcessed(state.iterations());
}

/// One whole iteration of the Anatomy convergent toy recipe (make_convergent_trainer: K = 500, eps 0.125, persistent
/// bank of 10,000, SGD) with the toy MLP, batch 100; positives: 64 batches from the Anatomy toy mixture (8 modes on
/// the unit circle, sd 0.15; toy::gmm() needs Eigen, which nvcc translation units do not include), cycled as in
/// bench_toy's BM_convergent_iteration on the CPU.
void train_mlp_iterations(benchmark::State& state) {
    cb::mlp net = toy_mlp(state.range(0) != 0);
    state.SetLabel(label("train_mlp", 100, false, mlp_engine(net), true, true));
    auto trainer = ebm::make_convergent_trainer(std::move(net));
    const ebm::philox rng(123);
    std::vector<ebm::batch> positives;
    for (int k = 0; k < 64; ++k) {
        positives.emplace_back(2, 100);
        for (ebm::index i = 0; i < 100; ++i) {
            float z[2];
            ebm::fill_normal(rng, ebm::purpose::data_sample, static_cast<std::uint32_t>(i), static_cast<std::uint64_t>(k), z,
                             2, 0.15f);
            const float mode = 6.2831853f * static_cast<float>((i * 5 + k) % 8) / 8.0f;
            positives.back().chain(i)[0] = std::cos(mode) + z[0];
            positives.back().chain(i)[1] = std::sin(mode) + z[1];
        }
    }
    std::size_t next = 0;
    benchmark::DoNotOptimize(trainer.step(positives[next++].view()).d);  // warm-up (graph capture)
    for (auto _ : state) {
        benchmark::DoNotOptimize(trainer.step(positives[next].view()).d);
        next = (next + 1) % positives.size();
    }
    state.SetItemsProcessed(state.iterations());
}

void convnet_arguments(benchmark::internal::Benchmark* b) {
    b->ArgNames({"batch", "engine", "tf32", "graph"});
    for (int tf32 : {0, 1})
        for (long batch : {64L, 256L, 1024L})
            for (int engine : {0, 1, 2, 3}) b->Args({batch, engine, tf32, 1});
    b->Args({64, 0, 0, 0});  // the graph's saving for the default engine
}

}  // namespace

BENCHMARK(convnet_steps)->Apply(convnet_arguments)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(nonlocal_steps)->ArgNames({"search", "tf32", "graph"})->Args({1, 0, 1})->Args({0, 0, 1})->Args({1, 1, 1})
    ->Args({1, 0, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(mlp_steps)->ArgNames({"graph", "whole_chain"})->Args({1, 1})->Args({1, 0})->Args({0, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(train_mlp_iterations)->ArgNames({"whole_chain"})->Args({1})->Args({0})->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(network_steps)->ArgNames({"net", "batch", "graph"})->Args({0, 64, 1})->Args({0, 256, 1})->Args({1, 100, 1})
    ->Args({2, 100, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(train_iterations)->ArgNames({"engine", "tf32"})->Args({0, 0})->Args({2, 0})->Args({0, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

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

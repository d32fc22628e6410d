// ConvNet energies through oneDNN: Langevin steps per second for the seed configuration (32x32x3, n_f 64, batch 64,
// short-run net, LeakyReLU 0.2) next to the same loop in PyTorch, achieved GFLOP/s, a per-primitive breakdown,
// thread scaling and memory against K.
//
//   build/.../benchmarks/convnet/bench_convnet                      # all benchmarks, then the summary
//   EBM_BENCH_TORCH=0 ... (skip the PyTorch run)   EBM_PEAK_GFLOPS=<2-thread peak> (else measured by peak_flops)
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <ebm/backend/cpu/onednn.hpp>
#include <ebm/energy/convnet.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/sampler/langevin.hpp>

namespace {

constexpr ebm::index seed_batch = 64;

ebm::convnet seed_net(ebm::index n_f = 64) { return ebm::convnet::short_run(32, n_f, 3, 0.2f, {}, ebm::seed{1}); }

ebm::batch uniform_batch(ebm::index d, ebm::index n) {
    ebm::batch x(d, n);
    const ebm::philox rng(5);
    for (ebm::index i = 0; i < n; ++i)
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(i), 0, x.chain(i), d, -1.0f, 1.0f);
    return x;
}

long resident_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// The short-run sampler loop (ebm::langevin_decoupled, lambda 1, sigma 0.01): each iteration is K steps.
void BM_langevin_seed(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const ebm::index steps = state.range(1);
    omp_set_num_threads(threads);
    const auto net = seed_net();
    ebm::batch x = uniform_batch(net.dimension(), seed_batch);
    const ebm::langevin_decoupled sampler{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = steps};
    auto st = sampler.make_state(net, seed_batch);
    const ebm::philox rng(3);
    sampler.run(st, net, x, rng, 0);  // warm-up: first-touch of buffers, JIT caches
    std::uint64_t step0 = static_cast<std::uint64_t>(steps);
    for (auto _ : state) {
        sampler.run(st, net, x, rng, step0);
        step0 += static_cast<std::uint64_t>(steps);
    }
    // The sampler evaluates K + 1 gradients per run (the last for the path's statistics).
    const double evaluations = static_cast<double>(state.iterations()) * static_cast<double>(steps + 1);
    const double flops_per_step = 2.0 * net.forward_flops_per_chain() * seed_batch;  // forward + backward-data
    state.counters["steps_per_s"] = benchmark::Counter(evaluations, benchmark::Counter::kIsRate);
    state.counters["GFLOP_per_s"] = benchmark::Counter(evaluations * flops_per_step * 1e-9, benchmark::Counter::kIsRate);
    state.counters["threads"] = threads;
}
BENCHMARK(BM_langevin_seed)->Args({2, 10})->Args({1, 10})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// energy_and_gradient of `net` on seed_batch uniform chains with `threads` threads, timed by `state` (steps_per_s,
// GFLOP_per_s: forward + backward-data); returns how many primitives run on oneDNN's reference kernels.
std::size_t time_energy_and_gradient(benchmark::State& state, const ebm::convnet& net, int threads) {
    omp_set_num_threads(threads);
    const ebm::batch x = uniform_batch(net.dimension(), seed_batch);
    ebm::batch g(net.dimension(), seed_batch);
    std::vector<float> u(seed_batch);
    auto ws = net.make_workspace(seed_batch);
    net.energy_and_gradient(x, u, g, ws);
    for (auto _ : state) net.energy_and_gradient(x, u, g, ws);
    const double calls = static_cast<double>(state.iterations());
    state.counters["steps_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
    state.counters["GFLOP_per_s"] =
        benchmark::Counter(calls * 2.0 * net.forward_flops_per_chain() * seed_batch * 1e-9, benchmark::Counter::kIsRate);
    return ws.reference_kernels().size();
}

// energy_and_gradient alone (one Langevin step's network work) and the parameter-gradient pass of the ML update.
void BM_energy_and_gradient(benchmark::State& state) {
    time_energy_and_gradient(state, seed_net(), static_cast<int>(state.range(0)));
}
BENCHMARK(BM_energy_and_gradient)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_parameter_gradient(benchmark::State& state) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const auto net = seed_net();
    const ebm::batch x = uniform_batch(net.dimension(), seed_batch);
    std::vector<float> u(seed_batch), w(seed_batch, 1.0f / seed_batch);
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()));
    auto ws = net.make_workspace(seed_batch);
    net.accumulate_parameter_gradient(x, w, grad, u, ws);
    for (auto _ : state) net.accumulate_parameter_gradient(x, w, grad, u, ws);
}
BENCHMARK(BM_parameter_gradient)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// One Langevin step's network work (energy_and_gradient) of the short-run net at other widths n_f (32x32x3, batch
// 64, one thread). Widths that are not multiples of oneDNN's SIMD block (4, 8, 12) need the layout search of
// convnet.hpp: without it their second convolution ran on oneDNN's reference kernels (15.7 s per training iteration
// at n_f 8 against 0.15 s at n_f 16). reference_kernels counts the primitives still served by those.
void BM_energy_and_gradient_width(benchmark::State& state) {
    state.counters["reference_kernels"] = static_cast<double>(time_energy_and_gradient(state, seed_net(state.range(0)), 1));
}
BENCHMARK(BM_energy_and_gradient_width)->Arg(4)->Arg(8)->Arg(12)->Arg(16)->Arg(32)->Arg(64)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// ---- summary printed after the benchmarks ----

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best steps per second over `repeats` runs of `steps` steps; cpu_rate (if given) gets the best rate per second of
// process CPU time (with one thread: the idle-machine rate, robust to other load on the machine).
double measure_steps_per_second(int threads, ebm::index steps, int repeats, double* cpu_rate = nullptr) {
    omp_set_num_threads(threads);
    const auto net = seed_net();
    ebm::batch x = uniform_batch(net.dimension(), seed_batch);
    const ebm::langevin_decoupled sampler{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = steps};
    auto st = sampler.make_state(net, seed_batch);
    const ebm::philox rng(3);
    sampler.run(st, net, x, rng, 0);
    double best = 0, best_cpu = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu0 = process_cpu_seconds();
        sampler.run(st, net, x, rng, static_cast<std::uint64_t>((r + 1) * steps));
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::max(best, static_cast<double>(steps + 1) / s);
        best_cpu = std::max(best_cpu, static_cast<double>(steps + 1) / (process_cpu_seconds() - cpu0));
    }
    if (cpu_rate != nullptr) *cpu_rate = best_cpu;
    return best;
}

// Per-primitive breakdown of energy_and_gradient: wall clock with `threads` threads, or (cpu = true, one thread)
// process CPU time, which other load on the machine does not inflate.
void print_layer_breakdown(int threads, bool cpu) {
    omp_set_num_threads(threads);
    const auto net = seed_net();
    const ebm::batch x = uniform_batch(net.dimension(), seed_batch);
    ebm::batch g(net.dimension(), seed_batch);
    std::vector<float> u(seed_batch);
    auto ws = net.make_workspace(seed_batch);
    for (int k = 0; k < 2; ++k) net.energy_and_gradient(x, u, g, ws);
    ws.profiling().enabled = true;
    const int calls = 5;
    std::vector<std::string> labels;
    std::vector<double> best;  // per label: best (over repeats) mean time per call
    for (int r = 0; r < 3; ++r) {
        ws.profiling().clear();
        for (int k = 0; k < calls; ++k) net.energy_and_gradient(x, u, g, ws);
        const auto& prof = ws.profiling();
        if (labels.empty()) {
            labels = prof.labels;
            best.assign(labels.size(), 1e30);
        }
        for (std::size_t i = 0; i < labels.size(); ++i)
            best[i] = std::min(best[i], (cpu ? prof.cpu_seconds.at(labels[i]) : prof.seconds.at(labels[i])) / calls);
    }
    double total = 0;
    for (double b : best) total += b;
    const double step_gflop = 2.0 * net.forward_flops_per_chain() * seed_batch * 1e-9;
    std::printf("\nPer-primitive time of one Langevin step (energy_and_gradient, batch 64, %d thread%s, %s, best of 3 x %d):\n",
                threads, threads > 1 ? "s" : "", cpu ? "process CPU time" : "wall clock", calls);
    for (std::size_t i = 0; i < labels.size(); ++i)
        std::printf("  %-36s %8.2f ms  %5.1f%%\n", labels[i].c_str(), 1e3 * best[i], 100.0 * best[i] / total);
    std::printf("  %-36s %8.2f ms  (%.1f GFLOP/s)\n", "total", 1e3 * total, step_gflop / total);
}

double torch_steps_per_second(int threads, double* cpu_rate = nullptr) {
    const char* script = EBM_TORCH_LANGEVIN;
    const std::string cmd = std::string("/usr/bin/python3 ") + script + " --threads " + std::to_string(threads) +
                            " --steps 10 --repeats 3 2>/dev/null";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    char line[512] = {0};
    std::string out;
    while (fgets(line, sizeof line, pipe) != nullptr) out += line;
    pclose(pipe);
    const auto at = out.find("steps_per_second ");
    if (at == std::string::npos) return -1;
    std::printf("PyTorch reference: %s", out.c_str());
    if (const auto c = out.find("cpu_steps_per_second "); c != std::string::npos && cpu_rate != nullptr)
        *cpu_rate = std::stod(out.substr(c + 21));
    return std::stod(out.substr(at + 17));
}

double peak_gflops(const char* args = " --threads 2 --quiet") {
    if (const char* env = std::getenv("EBM_PEAK_GFLOPS"); env != nullptr && std::string(args).find("--threads 2") != std::string::npos)
        return std::stod(env);
    FILE* pipe = popen((std::string(EBM_PEAK_FLOPS_PROGRAM) + args).c_str(), "r");
    if (pipe == nullptr) return -1;
    double value = -1;
    if (std::fscanf(pipe, "%lf", &value) != 1) value = -1;
    pclose(pipe);
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    std::printf("\n==== ConvNet (oneDNN %s) seed configuration: 32x32x3, n_f 64, batch 64, LeakyReLU 0.2 ====\n",
                ebm::onednn::version().c_str());
    const auto net = seed_net();
    const double step_gflop = 2.0 * net.forward_flops_per_chain() * seed_batch * 1e-9;
    double ours1_cpu = 0;
    const double ours2 = measure_steps_per_second(2, 10, 5);
    const double ours1 = measure_steps_per_second(1, 10, 3, &ours1_cpu);
    std::printf("ebm Langevin: %.2f steps/s with 2 threads, %.2f with 1 (scaling %.2fx); %.1f GFLOP per step\n", ours2,
                ours1, ours2 / ours1, step_gflop);
    const double core_peak = peak_gflops(" --threads 1 --quiet --per-core-cpu");
    std::printf("ebm Langevin, 1 thread, per CPU second: %.2f steps = %.1f GFLOP/s per core = %.0f%% of the per-core "
                "FMA peak %.1f GFLOP/s (load-robust)\n",
                ours1_cpu, ours1_cpu * step_gflop, 100.0 * ours1_cpu * step_gflop / core_peak, core_peak);
    const double peak = peak_gflops();
    if (peak > 0)
        std::printf("achieved %.1f GFLOP/s = %.0f%% of the measured 2-thread fp32 FMA peak %.1f GFLOP/s\n",
                    ours2 * step_gflop, 100.0 * ours2 * step_gflop / peak, peak);
    // Memory must not grow with K: one sampler state, a 5-step run, then a 60-step run.
    {
        const ebm::langevin_decoupled short_run{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = 5};
        const ebm::langevin_decoupled long_run{.step_size_lambda = 1.0f, .noise_sigma = 0.01f, .steps = 60};
        ebm::batch x = uniform_batch(net.dimension(), seed_batch);
        auto st = short_run.make_state(net, seed_batch);
        short_run.run(st, net, x, ebm::philox(3), 0);
        const long rss_k5 = resident_kib();
        long_run.run(st, net, x, ebm::philox(3), 5);
        const long rss_k60 = resident_kib();
        std::printf("resident memory: %ld KiB after K = 5, %ld KiB after a further K = 60 (growth %ld KiB)\n", rss_k5,
                    rss_k60, rss_k60 - rss_k5);
    }
    print_layer_breakdown(1, true);
    print_layer_breakdown(2, false);
    const char* env = std::getenv("EBM_BENCH_TORCH");
    if (env == nullptr || std::string(env) != "0") {
        double torch1_cpu = 0;
        const double torch2 = torch_steps_per_second(2);
        const double torch1 = torch_steps_per_second(1, &torch1_cpu);
        if (torch2 > 0 && torch1 > 0) {
            std::printf("ratio ebm / PyTorch, 2 threads, wall clock: %.2fx  (goal >= 1.6x)\n", ours2 / torch2);
            std::printf("ratio ebm / PyTorch, 1 thread, wall clock:  %.2fx\n", ours1 / torch1);
            std::printf("ratio ebm / PyTorch, 1 thread, per CPU second (robust to other load): %.2fx "
                        "(ebm %.2f, PyTorch %.2f steps per CPU second)\n",
                        ours1_cpu / torch1_cpu, ours1_cpu, torch1_cpu);
        } else {
            std::printf("PyTorch reference not available (/usr/bin/python3 cannot import torch)\n");
        }
    }
    return 0;
}

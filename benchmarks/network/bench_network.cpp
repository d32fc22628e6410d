// ebm::network (composed from layers) in the same process on the same machine: the presets layer by layer on blocks
// of chains (network_execution::blocks, Eigen) against their default execution — the toy MLP (batch 100) on the dense
// kernels (what ebm::mlp runs) and, with oneDNN, the short-run ConvNet (32x32x3, n_f 64, batch 64) and the VanillaNet
// (n_f 32, batch 64) on the oneDNN convolution stack (what ebm::convnet runs). (The presets were measured against the
// specialised classes they replaced before those were deleted: see docs/networks.md.)
// Per pair: energy_and_gradient (one Langevin step's network work) and accumulate_parameter_gradient (the ML
// update's), with 2 threads; the summary prints the first's time / the second's.
//
//   build/release/benchmarks/network/bench_network [--benchmark_min_time=2]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <ebm/energy/mlp.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/random/distributions.hpp>

namespace {

std::map<std::string, double>& seconds_per_call() {
    static std::map<std::string, double> times;
    return times;
}

ebm::batch uniform_batch(ebm::index d, ebm::index n) {
    ebm::batch x(d, n);
    const ebm::philox rng(5);
    for (ebm::index i = 0; i < n; ++i)
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(i), 0, x.chain(i), d, -1.0f, 1.0f);
    return x;
}

template <class Net>
void time_pass(benchmark::State& state, const Net& net, ebm::index n, bool parameters, const std::string& key) {
#if defined(_OPENMP)
    omp_set_num_threads(2);
#endif
    const ebm::batch x = uniform_batch(net.dimension(), n);
    ebm::batch g(net.dimension(), n);
    std::vector<float> u(static_cast<std::size_t>(n)), w(static_cast<std::size_t>(n), 1.0f / static_cast<float>(n));
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()));
    auto ws = net.make_workspace(n);
    const auto once = [&] {
        if (parameters)
            net.accumulate_parameter_gradient(x, w, grad, u, ws);
        else
            net.energy_and_gradient(x, u, g, ws);
    };
    once();
    for (auto _ : state) once();
    state.counters["calls_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.SetLabel(key);
}

// The pairs: (name, batch, specialised factory, network factory).
void register_all() {
    const auto add = [](const std::string& name, auto make, ebm::index n) {
        for (const bool parameters : {false, true}) {
            const std::string key = name + (parameters ? " parameter gradient" : " energy_and_gradient");
            benchmark::RegisterBenchmark(key.c_str(), [=](benchmark::State& s) {
                const auto net = make();
                time_pass(s, net, n, parameters, key);
            })->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
        }
    };
    const auto blocks = ebm::network_execution::blocks;
    add("mlp toy (dense)", [] { return ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{1}); }, 100);
    add("mlp toy (blocks)", [=] { return ebm::network(ebm::mlp_network({2, 32, 64, 64, 64, 1}, 0.05f), ebm::seed{1}, blocks); }, 100);
#if EBM_HAVE_ONEDNN
    add("short_run n_f 64 (oneDNN)", [] { return ebm::network(ebm::short_run_network(32, 64, 3, 0.2f), ebm::seed{1}); }, 64);
    add("short_run n_f 64 (blocks)", [=] { return ebm::network(ebm::short_run_network(32, 64, 3, 0.2f), ebm::seed{1}, blocks); }, 64);
    add("vanilla n_f 32 (oneDNN)", [] { return ebm::network(ebm::vanilla_network(3, 32, 0.05f), ebm::seed{1}); }, 64);
    add("vanilla n_f 32 (blocks)", [=] { return ebm::network(ebm::vanilla_network(3, 32, 0.05f), ebm::seed{1}, blocks); }, 64);
#endif
}

// Prints the time ratios per pass from the benchmarks' real times.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) seconds_per_call()[r.report_label] = r.GetAdjustedRealTime();
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\ntime ratios (2 threads, same process):\n");
        const std::vector<std::pair<std::string, std::string>> pairs = {
            {"mlp toy (blocks)", "mlp toy (dense)"},
            {"short_run n_f 64 (blocks)", "short_run n_f 64 (oneDNN)"},
            {"vanilla n_f 32 (blocks)", "vanilla n_f 32 (oneDNN)"}};
        for (const auto& [net, special] : pairs)
            for (const char* pass : {" energy_and_gradient", " parameter gradient"}) {
                const auto a = seconds_per_call().find(net + pass), b = seconds_per_call().find(special + pass);
                if (a == seconds_per_call().end() || b == seconds_per_call().end()) continue;
                std::printf("  %-28s %-20s %8.3f ms vs %8.3f ms: %.2fx\n", net.c_str(), pass, a->second, b->second,
                            a->second / b->second);
            }
    }
};

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}

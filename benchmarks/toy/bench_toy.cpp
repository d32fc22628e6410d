// Google Benchmark programs for the Anatomy toy experiments (docs/toy2d.md):
//   - chain-steps/s of ULA (ebm::langevin) and MALA (ebm::mala) on the analytic mixture toy::gmm() and on the
//     toy network mlp({2,32,64,64,64,1}, leaky_relu{0.05}) wrapped in scaled(), batch 100;
//   - one full trainer iteration of each toy regime (convergent: L = 500, persistent bank; non-convergent:
//     L = 100, Gaussian init), positives drawn from toy::gmm();
//   - every benchmark takes the OpenMP thread count as its last argument (1 and 2), so thread scaling is
//     read off side by side.
// items_processed counts chain-steps (chains x Langevin/MALA steps), so "items_per_second" is chain-steps/s.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <vector>

#include <ebm/ebm.hpp>

namespace {

constexpr ebm::index batch_size = 100;

ebm::mlp toy_net() { return ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{123}); }

// States spread over the toy's support, as chains in the middle of a run would be.
ebm::batch start_states(ebm::index count) {
    ebm::batch x(2, count);
    ebm::toy::gmm().sample(x.view(), ebm::philox(7), ebm::purpose::evaluation, 0);
    return x;
}

void set_threads(benchmark::State& state, int position) {
    const int threads = static_cast<int>(state.range(position));
    omp_set_num_threads(threads);
    state.counters["threads"] = threads;
}

// One run of `steps` steps of sampler S on energy E per benchmark iteration; the chains keep moving
// from run to run (first_step advances), so every run samples fresh noise.
template <class S, class E>
void run_sampler(benchmark::State& state, const S& sampler, const E& energy) {
    set_threads(state, 0);
    auto st = sampler.make_state(energy, batch_size);
    ebm::batch x = start_states(batch_size);
    const ebm::philox rng(123);
    std::uint64_t step = 0;
    double acceptance = 0;
    std::int64_t runs = 0;
    for (auto _ : state) {
        const auto stats = sampler.run(st, energy, x.view(), rng, step);
        benchmark::DoNotOptimize(stats);
        benchmark::ClobberMemory();
        acceptance += stats.acceptance;
        ++runs;
        step += static_cast<std::uint64_t>(sampler.steps_per_run());
    }
    state.SetItemsProcessed(state.iterations() * batch_size * sampler.steps_per_run());
    if (runs > 0 && acceptance >= 0) state.counters["acceptance"] = acceptance / static_cast<double>(runs);
    omp_set_num_threads(2);
}

constexpr float gmm_epsilon = 0.05f;   // a step at which MALA accepts most proposals on the sd-0.15 mixture
constexpr float mlp_epsilon = 0.125f;  // the convergent toy recipe's epsilon; energy is F / (eps^2 / 2)
constexpr ebm::index sampler_steps = 100;

void BM_ula_gmm(benchmark::State& state) {
    run_sampler(state, ebm::langevin{.epsilon = gmm_epsilon, .steps = sampler_steps}, ebm::toy::gmm());
}
void BM_mala_gmm(benchmark::State& state) {
    run_sampler(state, ebm::mala{.epsilon = gmm_epsilon, .steps = sampler_steps}, ebm::toy::gmm());
}
void BM_ula_mlp(benchmark::State& state) {
    run_sampler(state, ebm::langevin{.epsilon = mlp_epsilon, .steps = sampler_steps},
                ebm::scaled(toy_net(), mlp_epsilon));
}
void BM_mala_mlp(benchmark::State& state) {
    run_sampler(state, ebm::mala{.epsilon = mlp_epsilon, .steps = sampler_steps}, ebm::scaled(toy_net(), mlp_epsilon));
}

// Bare energy-and-gradient evaluation of the scaled toy net on 100 chains (one thread): the floor of a step.
void BM_mlp_energy_and_gradient(benchmark::State& state) {
    const auto energy = ebm::scaled(toy_net(), mlp_epsilon);
    auto ws = energy.make_workspace(batch_size);
    ebm::batch x = start_states(batch_size);
    ebm::batch g(2, batch_size);
    std::vector<float> u(batch_size);
    for (auto _ : state) {
        energy.energy_and_gradient(x.view(), u, g.view(), ws);
        benchmark::DoNotOptimize(g.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
}

// Langevin noise alone: Philox4x32-10 + Box-Muller for 100 chains x 2 elements, chain by chain (fill_normal) and
// batched over the chains as the samplers draw it (detail::fill_normal_chains; same numbers).
void BM_noise_per_chain(benchmark::State& state) {
    const ebm::philox rng(123);
    std::vector<float> z(2 * batch_size);
    std::uint64_t step = 0;
    for (auto _ : state) {
        for (ebm::index i = 0; i < batch_size; ++i)
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), step, z.data() + 2 * i, 2);
        ++step;
        benchmark::DoNotOptimize(z.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
}
void BM_noise_batched(benchmark::State& state) {
    const ebm::philox rng(123);
    std::vector<float> z(2 * batch_size);
    std::uint64_t step = 0;
    for (auto _ : state) {
        ebm::detail::fill_normal_chains(rng, ebm::purpose::langevin_noise, 0, batch_size, step, z.data(), 2);
        ++step;
        benchmark::DoNotOptimize(z.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
}

// Positive batches drawn once from toy::gmm(), cycled through by the trainer benchmarks.
std::vector<ebm::batch> positive_batches(int count) {
    std::vector<ebm::batch> out;
    const auto q = ebm::toy::gmm();
    const ebm::philox rng(123);
    for (int k = 0; k < count; ++k) {
        out.emplace_back(2, batch_size);
        q.sample(out.back().view(), rng, ebm::purpose::data_sample, static_cast<std::uint64_t>(k));
    }
    return out;
}

template <class T>
void run_trainer(benchmark::State& state, T& trainer) {
    set_threads(state, 0);
    const auto positives = positive_batches(64);
    std::size_t next = 0;
    for (auto _ : state) {
        const auto rec = trainer.step(positives[next].view());
        next = (next + 1) % positives.size();
        benchmark::DoNotOptimize(rec);
    }
    state.SetItemsProcessed(state.iterations() * batch_size * trainer.sampler().steps_per_run());
    state.counters["s_per_iteration"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    omp_set_num_threads(2);
}

void BM_convergent_iteration(benchmark::State& state) {
    auto trainer = ebm::make_convergent_trainer(toy_net());  // L = 500, eps 0.125, SGD, bank of 10,000
    run_trainer(state, trainer);
}
void BM_non_convergent_iteration(benchmark::State& state) {
    auto trainer = ebm::make_non_convergent_trainer(toy_net());  // L = 100, eps 0.01, Adam, N(0, 1) init
    run_trainer(state, trainer);
}

void threads_1_2(benchmark::internal::Benchmark* b) {
    b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_ula_gmm)->Apply(threads_1_2);
BENCHMARK(BM_mala_gmm)->Apply(threads_1_2);
BENCHMARK(BM_ula_mlp)->Apply(threads_1_2);
BENCHMARK(BM_mala_mlp)->Apply(threads_1_2);
BENCHMARK(BM_mlp_energy_and_gradient)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_noise_per_chain)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_noise_batched)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_convergent_iteration)->Apply(threads_1_2);
BENCHMARK(BM_non_convergent_iteration)->Apply(threads_1_2);

BENCHMARK_MAIN();

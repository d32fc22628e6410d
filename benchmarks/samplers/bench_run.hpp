#pragma once
// bench_samplers' runs, for energies of either backend (no Eigen, no diagnostics: the CUDA translation unit includes
// this too). A run: `chains` chains from host initial states, `warmup` steps (adaptation for the adaptive samplers;
// not timed), then draws x thin steps, each draw handed to `record` as a host batch (copied from the device for CUDA
// energies; the copy is part of the timed phase). A chain that leaves the finite floats stops the run (diverged).
#include <ebm/backend/execution.hpp>
#include <ebm/batch.hpp>
#include <ebm/sampler/hmc.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/sampler/markov_chain.hpp>

#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bench {

struct settings {
    ebm::index warmup = 1000;
    ebm::index draws = 1000;
    ebm::index thin = 5;
    std::uint64_t seed = 1;
    ebm::index timing_repeats = 2;  // further timed runs of the recorded phase (seconds: the fastest of all)
};

/// A sampler by name (ula, mala, mala_adapt, hmc5, hmc20) with its (first) step.
struct sampler_choice {
    std::string name;
    float epsilon;
    [[nodiscard]] ebm::index leapfrog() const { return name == "hmc5" ? 5 : name == "hmc20" ? 20 : 1; }
    [[nodiscard]] bool adaptive() const { return name == "mala_adapt" || name.rfind("hmc", 0) == 0; }
};

/// What a run measured (the diagnostics of the recorded draws are the caller's).
struct timed_run {
    double epsilon = 0;      // the step sampled with (adapted for the adaptive samplers)
    double seconds = 0;      // the recorded phase: the fastest of it and its timing repeats
    double acceptance = -1;  // mean over the recorded runs; -1 for ULA
    bool diverged = false;
};

using recorder = std::function<void(ebm::const_batch_view)>;

/// The step of the fixed-step samplers (and the first step of the adaptive ones) per target.
inline float default_epsilon(const std::string& target) {
    static const std::map<std::string, float> table = {{"gauss2", 1.0f}, {"gauss100", 0.6f}, {"funnel10", 0.2f},
                                                       {"banana2", 0.2f}, {"gmm", 0.1f},     {"mlp", 0.05f}};
    const auto it = table.find(target);
    return it == table.end() ? 0.01f : it->second;
}

/// True when no value is NaN or +-Inf (a bit test over the exponent: a loop the compiler vectorises).
inline bool all_finite(const float* v, ebm::index n) {
    ebm::index non_finite = 0;
    for (ebm::index k = 0; k < n; ++k) non_finite += (std::bit_cast<std::uint32_t>(v[k]) & 0x7f800000u) == 0x7f800000u;
    return non_finite == 0;
}

template <class Sampler, class Energy>
timed_run run_with(Sampler policy, const sampler_choice& choice, const Energy& energy, const ebm::batch& init,
                   const settings& s, const recorder& record) {
    using backend = ebm::backend_of_t<Energy>;
    using X = ebm::execution<backend>;
    const ebm::index chains = init.count();
    const ebm::philox rng(ebm::seed{s.seed});
    ebm::batch_in<backend> x(init.dimension(), chains);
    ebm::copy_from_host(init.view(), x.view());
    ebm::batch host(init.dimension(), chains);
    policy.steps = s.thin;
    // One task per thread (a task's chains run all their steps without a barrier; results do not depend on it).
    policy.chains_per_task = std::max<ebm::index>(1, (chains + omp_get_max_threads() - 1) / omp_get_max_threads());
    // A chain continues from run to run with its states' energies and gradients: thin steps cost thin gradients.
    ebm::markov_chain chain(policy, energy, x.view(), rng);
    timed_run r;
    r.epsilon = choice.epsilon;
    if constexpr (requires { chain.adapt(s.warmup); }) {
        if (choice.adaptive()) r.epsilon = chain.adapt(s.warmup);
    }
    if (!choice.adaptive()) chain.run(s.warmup);
    X::wait_all();
    ebm::batch warm(init.dimension(), chains);  // the post-warm-up states, where every timed phase starts
    ebm::copy_to_host(ebm::basic_const_batch_view<typename backend::memory_space>(x.view()), warm.view());
    double acceptance = 0;
    ebm::index recorded = 0;
    auto start = std::chrono::steady_clock::now();
    for (ebm::index t = 0; t < s.draws && !r.diverged; ++t) {
        acceptance += chain.run().acceptance;
        ebm::copy_to_host(ebm::basic_const_batch_view<typename backend::memory_space>(x.view()), host.view());
        r.diverged = !all_finite(host.data(), host.view().size());
        if (!r.diverged) {
            record(host.view());
            ++recorded;
        }
    }
    std::vector<double> seconds{std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
    // The timing repeats (BlackJAX's protocol): the same phase again from the post-warm-up states with fresh noise
    // (the steps after the recorded phase), each draw copied into a buffer as the recorder does (memory not touched
    // before, as the recorder's reserved buffer); not recorded.
    for (ebm::index repeat = 1; repeat <= s.timing_repeats && !r.diverged; ++repeat) {
        const std::unique_ptr<float[]> copies(new float[static_cast<std::size_t>(s.draws * host.view().size())]);
        ebm::copy_from_host(warm.view(), x.view());
        const auto first = static_cast<std::uint64_t>(s.warmup + repeat * s.draws * s.thin);
        ebm::markov_chain again(chain.policy(), energy, x.view(), rng, first);
        if constexpr (requires { chain.state().epsilon; }) again.state().epsilon = chain.state().epsilon;  // adapted
        X::wait_all();
        start = std::chrono::steady_clock::now();
        for (ebm::index t = 0; t < s.draws; ++t) {
            again.run();
            ebm::copy_to_host(ebm::basic_const_batch_view<typename backend::memory_space>(x.view()), host.view());
            const bool finite = all_finite(host.data(), host.view().size());
            std::copy(host.data(), host.data() + host.view().size(), copies.get() + t * host.view().size());
            if (!finite) break;
        }
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    r.seconds = *std::min_element(seconds.begin(), seconds.end());
    r.acceptance = choice.name == "ula" ? -1.0 : acceptance / static_cast<double>(std::max<ebm::index>(recorded, 1));
    return r;
}

/// The run of a sampler by name on `energy`.
template <class Energy>
timed_run run_one(const sampler_choice& choice, const Energy& energy, const ebm::batch& init, const settings& s,
                  const recorder& record) {
    if (choice.name == "ula") return run_with(ebm::langevin{.epsilon = choice.epsilon}, choice, energy, init, s, record);
    if (choice.name == "mala" || choice.name == "mala_adapt")
        return run_with(ebm::mala{.epsilon = choice.epsilon}, choice, energy, init, s, record);
    return run_with(ebm::hmc{.epsilon = choice.epsilon, .leapfrog = choice.leapfrog()}, choice, energy, init, s, record);
}

/// Runs one target on the GPU (bench_samplers_cuda.cu): the analytic targets and the trained mlp (its parameters,
/// F scaled by `mlp_factor`); returns false for a target with no device energy.
bool run_cuda(const std::string& target, const sampler_choice& choice, const ebm::batch& init, const settings& s,
              const recorder& record, const std::vector<float>& mlp_parameters, float mlp_factor, timed_run& out);

}  // namespace bench

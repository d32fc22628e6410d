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

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>

namespace bench {

struct settings {
    ebm::index warmup = 1000;
    ebm::index draws = 1000;
    ebm::index thin = 5;
    std::uint64_t seed = 1;
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
    double seconds = 0;      // the recorded phase
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
    auto st = policy.make_state(energy, chains);
    timed_run r;
    r.epsilon = choice.epsilon;
    if constexpr (requires { policy.adapt(st, energy, x.view(), rng, 0, s.warmup); }) {
        if (choice.adaptive()) r.epsilon = policy.adapt(st, energy, x.view(), rng, 0, s.warmup);
    }
    if (!choice.adaptive()) {
        Sampler burn = policy;
        burn.steps = s.warmup;
        burn.run(st, energy, x.view(), rng, 0);
    }
    X::wait_all();
    double acceptance = 0;
    ebm::index recorded = 0;
    const auto start = std::chrono::steady_clock::now();
    for (ebm::index t = 0; t < s.draws && !r.diverged; ++t) {
        const auto first = static_cast<std::uint64_t>(s.warmup + t * s.thin);
        acceptance += policy.run(st, energy, x.view(), rng, first).acceptance;
        ebm::copy_to_host(ebm::basic_const_batch_view<typename backend::memory_space>(x.view()), host.view());
        r.diverged = !std::all_of(host.data(), host.data() + host.view().size(), [](float v) { return std::isfinite(v); });
        if (!r.diverged) {
            record(host.view());
            ++recorded;
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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

#pragma once
// The samplers' K-step chains on the GPU, driven by the SAME policy objects as on the CPU (ebm::langevin,
// ebm::langevin_decoupled, ebm::mala: only their hyper-parameters are read: step_size(), noise_scale(),
// steps_per_run(), clamp, epsilon), for a device energy E (one whose batches live in device memory and whose
// workspace has a stream, e.g. cuda_backend::mlp).
//
// One Langevin step is: energy_and_gradient (cuBLAS/cuDNN) -> per-chain gradient norms -> running total of norms
// -> fused noise + move (functors.cuh: the Philox noise of (langevin_noise, chain, step), bit-identical to the CPU's).
// A MALA step is: fused proposal -> energy_and_gradient at the proposal -> one accept kernel per step (residual sums,
// MH decision with the shared mala_decide, copy of accepted chains, norms). Everything stays on the device; the
// statistics (mean gradient norm, r_t, acceptance, mean energy) are reduced on the device and read once per run.
//
// MALA's step size lives in device memory (chain_state::step_size): the proposal and accept kernels read it there.
// With adaptation (adapt_mala, the CPU's mala::adapt), one device thread updates the dual-averaging state after
// every step from the per-chain acceptance probabilities (functors.cuh: dual_averaging_step), so a warm-up needs no
// host round trip per step and is one graph like any other run.
//
// The K steps are captured once in a CUDA graph and replayed every run: the first step of the run (and MALA's step
// size, and the adaptation's initial state) are written to device memory before the launch and the kernels read
// them from there (step_counter), so the same graph serves every training iteration. The graph is re-captured only
// when its inputs change (batch pointer, chain count, step count, Langevin step and noise, clamp box, the energy's
// parameter pointer, adaptation on/off). Before a capture the energy is evaluated once outside it, so that its
// per-batch-size plans and the libraries' lazily loaded kernels exist before the capture starts (nothing is
// allocated or loaded while capturing). Needs nvcc.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../../batch.hpp"
#include "../../concepts/sampler.hpp"
#include "../../config.hpp"
#include "../../error.hpp"
#include "../../kernels/langevin.hpp"
#include "../../random/philox.hpp"
#include "../../sampler/adaptation.hpp"
#include "check.cuh"
#include "cuda_tag.hpp"
#include "functors.cuh"
#include "launch.cuh"
#include "memory.cuh"
#include "reductions.cuh"

namespace ebm::cuda_backend {

/// Per-run device buffers of a Langevin or MALA chain on a device energy E, sized once for max_chains.
template <class E>
struct chain_state {
    index max_chains = 0;
    index dimension = 0;
    typename E::workspace workspace;
    device_buffer<float> gradient, energies, norms;                      // dimension x max_chains, max_chains, max_chains
    device_buffer<float> proposal, proposal_gradient, proposal_energies;  // MALA only
    device_buffer<double> probability;                                    // MALA only: min(1, ratio) per chain
    device_buffer<std::int64_t> accepted, non_finite;                     // MALA only: per chain, over the last run
    device_buffer<float> step_size;                                       // MALA only: the step the kernels read
    device_buffer<dual_averaging_device> adaptation;                      // MALA only: dual averaging (adapt_mala)
    device_buffer<dual_averaging_record> adaptation_trace;                // MALA only: one record per warm-up step
    device_buffer<double> totals;                                         // [0] sum of norms, [1] sum of energies
    device_buffer<std::uint64_t> first_step;                              // read by the graph's kernels
    bool use_graph = true;
    float epsilon = 0.0f;                                                 // MALA's step (the policy's, or adapted)
    index adaptation_steps = 0;                                           // records of the last adapt_mala

    graph chain_graph;
    struct capture_key {
        const float* x = nullptr;
        const void* parameters = nullptr;
        index count = -1, steps = -1;
        float step = 0, noise = 0, clamp_low = 0, clamp_high = 0;
        bool mala = false;
        bool adapt = false;          // MALA with dual averaging
        index chains_per_task = 0;   // adaptation: the CPU's summation groups
        const void* trace = nullptr; // adaptation: the record buffer
        friend bool operator==(const capture_key&, const capture_key&) = default;
    } captured;

    chain_state(const E& energy, index chains, bool mala)
        : max_chains(chains), dimension(energy.dimension()), workspace(energy.make_workspace(chains)),
          gradient(energy.dimension() * chains), energies(chains), norms(chains), totals(2), first_step(1) {
        if (mala) {
            proposal.resize(dimension * chains);
            proposal_gradient.resize(dimension * chains);
            proposal_energies.resize(chains);
            probability.resize(chains);
            accepted.resize(chains);
            non_finite.resize(chains);
            step_size.resize(1);
            adaptation.resize(1);
        }
    }

    [[nodiscard]] cudaStream_t get_stream() const { return workspace.get_stream(); }

    /// Per-chain accepted counts of the last MALA run (synchronous download).
    [[nodiscard]] std::vector<std::int64_t> chain_accepted(index count) const {
        std::vector<std::int64_t> host(static_cast<std::size_t>(count));
        accepted.download(host);
        return host;
    }

    /// The records of the last adapt_mala, one per warm-up step (synchronous download).
    [[nodiscard]] std::vector<dual_averaging_record> adaptation_records() const {
        std::vector<dual_averaging_record> host(static_cast<std::size_t>(adaptation_steps));
        adaptation_trace.download(host);
        return host;
    }
};

template <class E>
[[nodiscard]] chain_state<E> make_langevin_state(const E& energy, index max_chains) {
    ebm::detail::require_positive("cuda::make_langevin_state", "max_chains", max_chains);
    return chain_state<E>(energy, max_chains, false);
}

template <class E>
[[nodiscard]] chain_state<E> make_mala_state(const E& energy, index max_chains, float epsilon) {
    ebm::detail::require_positive("cuda::make_mala_state", "max_chains", max_chains);
    ebm::detail::require_positive("cuda::make_mala_state", "epsilon", epsilon);
    chain_state<E> st(energy, max_chains, true);
    st.epsilon = epsilon;
    return st;
}

namespace detail {

inline void check_device_run(const char* where, index dimension, index max_chains, batch_view x,
                             std::uint64_t first_step, index steps) {
    if (x.dimension != dimension)
        ebm::detail::fail(where, "x dimension must equal the energy's dimension " + ebm::detail::to_text(dimension),
                          x.dimension);
    if (x.count <= 0 || x.count > max_chains)
        ebm::detail::fail(where, "x must hold between 1 and max_chains = " + ebm::detail::to_text(max_chains) + " chains",
                          x.count);
    if (first_step + static_cast<std::uint64_t>(steps) > max_philox_step)
        ebm::detail::fail(where, "first_step + steps must stay below 2^40", first_step);
    ebm::detail::require_non_negative(where, "steps", steps);
}

/// Enqueues the whole K-step Langevin chain on st's stream (captured into a graph or run directly).
template <class E>
void enqueue_langevin(chain_state<E>& st, const E& energy, batch_view x, const philox& rng, float step, float noise,
                      index steps, kernels::box clamp) {
    cudaStream_t s = st.get_stream();
    const index n = x.count, d = x.dimension;
    const std::span<float> u(st.energies.data(), static_cast<std::size_t>(n));
    const batch_view g{st.gradient.data(), d, n};
    const kernels::langevin_move move{step, noise, clamp};
    for (index l = 0; l <= steps; ++l) {
        energy.energy_and_gradient(x, u, g, st.workspace);
        chain_norms(g.data, d, n, st.norms.data(), s);
        accumulate_total(st.norms.data(), n, 1.0, st.totals.data(), s);
        if (l == steps) break;  // the path's last state: its norms and energy only
        const step_counter counter{st.first_step.data(), static_cast<std::uint64_t>(l)};
        launch_elements(n * blocks_per_chain(d),
                        langevin_step{x.data, x.data, g.data, d, rng, 0, counter, move, noise != 0.0f}, s);
    }
    accumulate_total(st.energies.data(), n, 1.0, st.totals.data() + 1, s);
}

/// Enqueues the K-step MALA chain; the step is read from st.step_size. With `adapt`, the dual averaging of
/// st.adaptation follows every step (chains_per_task: the CPU sampler's summation groups).
template <class E>
void enqueue_mala(chain_state<E>& st, const E& energy, batch_view x, const philox& rng, index steps, kernels::box clamp,
                  bool adapt, index chains_per_task) {
    cudaStream_t s = st.get_stream();
    const index n = x.count, d = x.dimension;
    const std::span<float> u(st.energies.data(), static_cast<std::size_t>(n));
    const batch_view g{st.gradient.data(), d, n};
    const std::span<float> uy(st.proposal_energies.data(), static_cast<std::size_t>(n));
    const batch_view y{st.proposal.data(), d, n};
    const batch_view gy{st.proposal_gradient.data(), d, n};
    const float* eps = st.step_size.data();
    st.accepted.zero(s);
    st.non_finite.zero(s);
    energy.energy_and_gradient(x, u, g, st.workspace);
    chain_norms(g.data, d, n, st.norms.data(), s);
    accumulate_total(st.norms.data(), n, 1.0, st.totals.data(), s);
    for (index l = 0; l < steps; ++l) {
        const step_counter counter{st.first_step.data(), static_cast<std::uint64_t>(l)};
        launch_elements(n * blocks_per_chain(d),
                        langevin_step{y.data, x.data, g.data, d, rng, 0, counter, kernels::langevin_move{}, true, eps}, s);
        energy.energy_and_gradient(y, uy, gy, st.workspace);
        device::mala_accept_arguments a{x.data, g.data, u.data(), y.data, gy.data, uy.data(), d, rng, 0, counter, 0.0f,
                                        0.0f, clamp,
                                        {st.accepted.data(), st.non_finite.data(), st.probability.data(), st.norms.data()},
                                        eps};
        mala_accept(a, n, s);
        accumulate_total(st.norms.data(), n, 1.0, st.totals.data(), s);
        if (adapt)
            launch_elements(1, dual_averaging_step{st.adaptation.data(), st.probability.data(), n, chains_per_task,
                                                   st.step_size.data(), st.adaptation_trace.data(),
                                                   st.adaptation_trace.size()}, s);
    }
    accumulate_total(st.energies.data(), n, 1.0, st.totals.data() + 1, s);
}

/// Runs `enqueue` through st's graph (capturing it when the key changed) or directly. Before a capture, one
/// energy_and_gradient of x outside the capture makes the energy's plans for this batch size and loads the
/// libraries' kernels (its results are overwritten by the chain).
template <class E, class Enqueue>
void run_chain(chain_state<E>& st, const E& energy, batch_view x, const typename chain_state<E>::capture_key& key,
               std::uint64_t first_step, Enqueue&& enqueue) {
    cudaStream_t s = st.get_stream();
    st.totals.zero(s);
    set_value<std::uint64_t>(st.first_step.data(), first_step, s);
    if (!st.use_graph) {
        enqueue();
        return;
    }
    if (!st.chain_graph.ready() || !(st.captured == key)) {
        energy.energy_and_gradient(x, std::span<float>(st.energies.data(), static_cast<std::size_t>(x.count)),
                                   batch_view{st.gradient.data(), x.dimension, x.count}, st.workspace);
        EBM_CUDA_CHECK(cudaStreamSynchronize(s));
        st.chain_graph.capture(s, enqueue);
        st.captured = key;
    }
    st.chain_graph.launch(s);
}

/// The statistics of a MALA run of `steps` steps with step eps (one synchronisation).
template <class E>
sampler_stats mala_statistics(chain_state<E>& st, index count, index steps, float eps) {
    double totals[2] = {0, 0};
    std::vector<std::int64_t> accepted(static_cast<std::size_t>(count)), non_finite(static_cast<std::size_t>(count));
    EBM_CUDA_CHECK(cudaMemcpyAsync(totals, st.totals.data(), sizeof totals, cudaMemcpyDeviceToHost, st.get_stream()));
    EBM_CUDA_CHECK(cudaMemcpyAsync(accepted.data(), st.accepted.data(), accepted.size() * sizeof(std::int64_t),
                                   cudaMemcpyDeviceToHost, st.get_stream()));
    EBM_CUDA_CHECK(cudaMemcpyAsync(non_finite.data(), st.non_finite.data(), non_finite.size() * sizeof(std::int64_t),
                                   cudaMemcpyDeviceToHost, st.get_stream()));
    EBM_CUDA_CHECK(cudaStreamSynchronize(st.get_stream()));
    sampler_stats stats;
    std::int64_t accepted_total = 0;
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        accepted_total += accepted[i];
        stats.non_finite_rejections += non_finite[i];
    }
    stats.mean_gradient_norm = totals[0] / static_cast<double>(count * (steps + 1));
    stats.mean_displacement = 0.5 * static_cast<double>(eps) * eps * stats.mean_gradient_norm;
    stats.acceptance = steps == 0 ? 0.0 : static_cast<double>(accepted_total) / static_cast<double>(count * steps);
    stats.mean_energy = totals[1] / static_cast<double>(count);
    return stats;
}

}  // namespace detail

/// Runs policy.steps_per_run() unadjusted Langevin steps of `policy` (ebm::langevin or ebm::langevin_decoupled: any
/// type with step_size(), noise_scale(), steps_per_run() and clamp) on the device batch x, in place. Returns the
/// same statistics as the CPU sampler (reduced on the device; one synchronisation per run).
template <class Policy, class E>
sampler_stats run_langevin(const Policy& policy, chain_state<E>& st, const E& energy, batch_view x, const philox& rng,
                           std::uint64_t first_step) {
    const index steps = policy.steps_per_run();
    detail::check_device_run("cuda::run_langevin", energy.dimension(), st.max_chains, x, first_step, steps);
    const float step = policy.step_size(), noise = policy.noise_scale();
    const typename chain_state<E>::capture_key key{x.data, energy.parameters().data(), x.count, steps, step, noise,
                                                   policy.clamp.low, policy.clamp.high, false};
    detail::run_chain(st, energy, x, key, first_step,
                      [&] { detail::enqueue_langevin(st, energy, x, rng, step, noise, steps, policy.clamp); });
    double totals[2] = {0, 0};
    EBM_CUDA_CHECK(cudaMemcpyAsync(totals, st.totals.data(), sizeof totals, cudaMemcpyDeviceToHost, st.get_stream()));
    EBM_CUDA_CHECK(cudaStreamSynchronize(st.get_stream()));
    sampler_stats stats;
    stats.mean_gradient_norm = totals[0] / static_cast<double>(x.count * (steps + 1));
    stats.mean_displacement = static_cast<double>(step) * stats.mean_gradient_norm;
    stats.mean_energy = totals[1] / static_cast<double>(x.count);
    return stats;
}

namespace detail {
template <class E>
void check_mala_state(const char* where, const chain_state<E>& st) {
    if (st.proposal.empty()) ebm::detail::fail(where, "the state must come from make_mala_state", "langevin state");
}
}  // namespace detail

/// Runs policy.steps MALA steps (ebm::mala) on the device batch x with the state's step st.epsilon (the policy's
/// epsilon, or what adapt_mala left there), as ebm::mala::run.
template <class Policy, class E>
sampler_stats run_mala(const Policy& policy, chain_state<E>& st, const E& energy, batch_view x, const philox& rng,
                       std::uint64_t first_step) {
    const index steps = policy.steps;
    detail::check_device_run("cuda::run_mala", energy.dimension(), st.max_chains, x, first_step, steps);
    detail::check_mala_state("cuda::run_mala", st);
    const float eps = st.epsilon;
    ebm::detail::require_positive("cuda::run_mala", "st.epsilon", eps);
    const typename chain_state<E>::capture_key key{x.data, energy.parameters().data(), x.count, steps, 0.0f, 0.0f,
                                                   policy.clamp.low, policy.clamp.high, true, false, 0, nullptr};
    set_value<float>(st.step_size.data(), eps, st.get_stream());
    detail::run_chain(st, energy, x, key, first_step,
                      [&] { detail::enqueue_mala(st, energy, x, rng, steps, policy.clamp, false, 0); });
    return detail::mala_statistics(st, x.count, steps, eps);
}

/// Warm-up with step-size adaptation, as ebm::mala::adapt: `warmup_steps` MALA steps whose step follows the dual
/// averaging of `settings` from st.epsilon toward settings.target_acceptance, entirely on the device (one
/// graph); afterwards st.epsilon is the averaged step (returned). The per-step records (acceptance fed to the
/// update, next step, averaged step) are in st.adaptation_records(). The initial state is computed on the host
/// with the CPU class's own expressions (log), the final step likewise (exp of the averaged log step).
template <class Policy, class E>
float adapt_mala(const Policy& policy, chain_state<E>& st, const E& energy, batch_view x, const philox& rng,
                 std::uint64_t first_step, index warmup_steps, const dual_averaging& settings = {}) {
    const char* where = "cuda::adapt_mala";
    ebm::detail::require_positive(where, "warmup_steps", warmup_steps);
    detail::check_device_run(where, energy.dimension(), st.max_chains, x, first_step, warmup_steps);
    detail::check_mala_state(where, st);
    settings.validate();
    const float eps0 = st.epsilon;
    ebm::detail::require_positive(where, "st.epsilon", eps0);
    index chains_per_task = x.count;
    if constexpr (requires { policy.chains_per_task; }) chains_per_task = policy.chains_per_task;
    ebm::detail::require_positive(where, "policy.chains_per_task", chains_per_task);

    // dual_averaging_state(settings, eps0): mu = log(10 eps0), log_epsilon = log(eps0), in double on the host.
    const double initial = static_cast<double>(eps0);
    dual_averaging_device state{settings.target_acceptance, settings.gamma, settings.t0, settings.kappa,
                                std::log(10.0 * initial), std::log(initial)};
    if (st.adaptation_trace.size() < warmup_steps) st.adaptation_trace.resize(warmup_steps);  // before any capture
    st.adaptation_steps = 0;
    const typename chain_state<E>::capture_key key{x.data, energy.parameters().data(), x.count, warmup_steps, 0.0f,
                                                   0.0f, policy.clamp.low, policy.clamp.high, true, true,
                                                   chains_per_task, st.adaptation_trace.data()};
    cudaStream_t s = st.get_stream();
    set_value<dual_averaging_device>(st.adaptation.data(), state, s);
    set_value<float>(st.step_size.data(), static_cast<float>(state.current()), s);  // the CPU's first step
    detail::run_chain(st, energy, x, key, first_step, [&] {
        detail::enqueue_mala(st, energy, x, rng, warmup_steps, policy.clamp, true, chains_per_task);
    });
    EBM_CUDA_CHECK(cudaStreamSynchronize(s));  // the buffers' copies run on the legacy stream: order them after
    st.adaptation.download(std::span<dual_averaging_device>(&state, 1));
    st.adaptation_steps = warmup_steps;
    // final_epsilon() with the host's exp, as the CPU sampler computes it from the same averaged log step.
    st.epsilon = static_cast<float>(state.count == 0 ? std::exp(state.log_epsilon) : std::exp(state.log_epsilon_bar));
    return st.epsilon;
}

}  // namespace ebm::cuda_backend

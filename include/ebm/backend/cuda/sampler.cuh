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
// The K steps are captured once in a CUDA graph and replayed every run: the first step of the run is written to
// device memory before the launch and every kernel reads it from there (step_counter), so the same graph serves
// every training iteration. The graph is re-captured only when its inputs change (batch pointer, chain count,
// step count, step size, noise, clamp box, the energy's parameter pointer). Needs nvcc.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "../../batch.hpp"
#include "../../concepts/sampler.hpp"
#include "../../config.hpp"
#include "../../error.hpp"
#include "../../kernels/langevin.hpp"
#include "../../random/philox.hpp"
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
    device_buffer<float> probability;                                     // MALA only: min(1, ratio) per chain
    device_buffer<std::int64_t> accepted, non_finite;                     // MALA only: per chain, over the last run
    device_buffer<double> totals;                                         // [0] sum of norms, [1] sum of energies
    device_buffer<std::uint64_t> first_step;                              // read by the graph's kernels
    bool use_graph = true;
    float epsilon = 0.0f;                                                 // MALA's step (the policy's)

    graph chain_graph;
    struct capture_key {
        const float* x = nullptr;
        const void* parameters = nullptr;
        index count = -1, steps = -1;
        float step = 0, noise = 0, clamp_low = 0, clamp_high = 0;
        bool mala = false;
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
        }
    }

    [[nodiscard]] cudaStream_t get_stream() const { return workspace.get_stream(); }

    /// Per-chain accepted counts of the last MALA run (synchronous download).
    [[nodiscard]] std::vector<std::int64_t> chain_accepted(index count) const {
        std::vector<std::int64_t> host(static_cast<std::size_t>(count));
        accepted.download(host);
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

template <class E>
void enqueue_mala(chain_state<E>& st, const E& energy, batch_view x, const philox& rng, float eps, index steps,
                  kernels::box clamp) {
    cudaStream_t s = st.get_stream();
    const index n = x.count, d = x.dimension;
    const std::span<float> u(st.energies.data(), static_cast<std::size_t>(n));
    const batch_view g{st.gradient.data(), d, n};
    const std::span<float> uy(st.proposal_energies.data(), static_cast<std::size_t>(n));
    const batch_view y{st.proposal.data(), d, n};
    const batch_view gy{st.proposal_gradient.data(), d, n};
    const float h = 0.5f * eps * eps;
    const kernels::langevin_move move{h, eps, kernels::box{}};
    st.accepted.zero(s);
    st.non_finite.zero(s);
    energy.energy_and_gradient(x, u, g, st.workspace);
    chain_norms(g.data, d, n, st.norms.data(), s);
    accumulate_total(st.norms.data(), n, 1.0, st.totals.data(), s);
    for (index l = 0; l < steps; ++l) {
        const step_counter counter{st.first_step.data(), static_cast<std::uint64_t>(l)};
        launch_elements(n * blocks_per_chain(d), langevin_step{y.data, x.data, g.data, d, rng, 0, counter, move, true}, s);
        energy.energy_and_gradient(y, uy, gy, st.workspace);
        device::mala_accept_arguments a{x.data, g.data, u.data(), y.data, gy.data, uy.data(), d, rng, 0, counter, h,
                                        2.0f * eps * eps, clamp,
                                        {st.accepted.data(), st.non_finite.data(), st.probability.data(), st.norms.data()}};
        mala_accept(a, n, s);
        accumulate_total(st.norms.data(), n, 1.0, st.totals.data(), s);
    }
    accumulate_total(st.energies.data(), n, 1.0, st.totals.data() + 1, s);
}

/// Runs `enqueue` through st's graph (capturing it when the key changed) or directly.
template <class E, class Enqueue>
void run_chain(chain_state<E>& st, const typename chain_state<E>::capture_key& key, std::uint64_t first_step,
               Enqueue&& enqueue) {
    cudaStream_t s = st.get_stream();
    st.totals.zero(s);
    set_value<std::uint64_t>(st.first_step.data(), first_step, s);
    if (!st.use_graph) {
        enqueue();
        return;
    }
    if (!st.chain_graph.ready() || !(st.captured == key)) {
        st.chain_graph.capture(s, enqueue);
        st.captured = key;
    }
    st.chain_graph.launch(s);
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
    detail::run_chain(st, key, first_step, [&] { detail::enqueue_langevin(st, energy, x, rng, step, noise, steps, policy.clamp); });
    double totals[2] = {0, 0};
    EBM_CUDA_CHECK(cudaMemcpyAsync(totals, st.totals.data(), sizeof totals, cudaMemcpyDeviceToHost, st.get_stream()));
    EBM_CUDA_CHECK(cudaStreamSynchronize(st.get_stream()));
    sampler_stats stats;
    stats.mean_gradient_norm = totals[0] / static_cast<double>(x.count * (steps + 1));
    stats.mean_displacement = static_cast<double>(step) * stats.mean_gradient_norm;
    stats.mean_energy = totals[1] / static_cast<double>(x.count);
    return stats;
}

/// Runs policy.steps MALA steps (ebm::mala: epsilon from the state, which starts at the policy's epsilon) on the
/// device batch x. Step-size adaptation is not offered on the device yet (it needs the acceptance on the host after
/// every step): adapt on the CPU and copy the step into st.epsilon.
template <class Policy, class E>
sampler_stats run_mala(const Policy& policy, chain_state<E>& st, const E& energy, batch_view x, const philox& rng,
                       std::uint64_t first_step) {
    const index steps = policy.steps;
    detail::check_device_run("cuda::run_mala", energy.dimension(), st.max_chains, x, first_step, steps);
    if (st.proposal.empty()) ebm::detail::fail("cuda::run_mala", "the state must come from make_mala_state", "langevin state");
    const float eps = st.epsilon;
    const typename chain_state<E>::capture_key key{x.data, energy.parameters().data(), x.count, steps, eps, eps,
                                                   policy.clamp.low, policy.clamp.high, true};
    detail::run_chain(st, key, first_step, [&] { detail::enqueue_mala(st, energy, x, rng, eps, steps, policy.clamp); });
    double totals[2] = {0, 0};
    std::vector<std::int64_t> accepted(static_cast<std::size_t>(x.count)), non_finite(static_cast<std::size_t>(x.count));
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
    stats.mean_gradient_norm = totals[0] / static_cast<double>(x.count * (steps + 1));
    stats.mean_displacement = 0.5 * static_cast<double>(eps) * eps * stats.mean_gradient_norm;
    stats.acceptance = steps == 0 ? 0.0 : static_cast<double>(accepted_total) / static_cast<double>(x.count * steps);
    stats.mean_energy = totals[1] / static_cast<double>(x.count);
    return stats;
}

}  // namespace ebm::cuda_backend

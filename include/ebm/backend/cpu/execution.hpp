#pragma once
// The CPU execution (backend/execution.hpp has the interface): host buffers (64-byte aligned), work that runs as it
// is called, OpenMP threads over fixed-size chain groups (boundaries independent of the thread count, so results
// are bit-identical for any OMP_NUM_THREADS), reductions in a fixed order, and the two sampler primitives with the
// CPU's vectorised paths: batched Philox/Box-Muller noise, then the shared move; batched log-uniforms, then the
// shared MALA decision chain by chain.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "../../config.hpp"
#include "../../detail/aligned_buffer.hpp"
#include "../../kernels/elements.hpp"
#include "../../kernels/langevin.hpp"
#include "../../kernels/noise.hpp"
#include "../../memory_space.hpp"
#include "../../random/distributions.hpp"
#include "../execution.hpp"
#include "cpu.hpp"

namespace ebm {

template <>
struct execution<cpu> {
    using backend = cpu;
    using memory_space = host_space;
    template <class T>
    using buffer = detail::aligned_vector<T>;
    struct lane {};
    /// What owns a lane (a workspace of an energy that orders its own work): nothing on the CPU.
    struct owned_lane {
        [[nodiscard]] lane get() const { return {}; }
    };

    template <class T>
    [[nodiscard]] static buffer<T> make_buffer(index n) {
        return buffer<T>(static_cast<std::size_t>(n), T{});
    }
    template <class W>
    [[nodiscard]] static lane lane_of(const W&) {
        return {};
    }

    template <class F>
    static void for_each(lane, index n, const F& f) {
#pragma omp simd
        for (index k = 0; k < n; ++k) f(k);
    }
    /// Gaussian noise of whole chains (HMC's momenta, the initializers' states) through the batched fill, which
    /// draws kernels::normal_fill's numbers bit for bit, vectorised across Philox blocks.
    static void for_each(lane l, index n, const kernels::normal_fill& f) {
        const index per_chain = kernels::blocks_per_chain(f.dimension);
        if (f.chains != nullptr || f.accumulate || n % per_chain != 0) {
            for_each<kernels::normal_fill>(l, n, f);
            return;
        }
        detail::fill_normal_chains(f.rng, f.stream, f.first_chain, n / per_chain, f.step.value(), f.out, f.dimension,
                                   f.scale);
    }
    static void synchronize(lane) {}
    /// Waits for all work of the backend (nothing to wait for on the CPU).
    static void wait_all() {}

    template <class T>
    static void upload(lane, T* destination, const T* host, index n) {
        if (n > 0 && destination != host) std::memmove(destination, host, static_cast<std::size_t>(n) * sizeof(T));
    }
    template <class T>
    static void download(lane, T* host, const T* source, index n) {
        upload(lane{}, host, source, n);
    }
    template <class T>
    static void copy(lane, T* destination, const T* source, index n) {
        upload(lane{}, destination, source, n);
    }
    template <class T>
    static void set(lane, T* destination, T value) {
        *destination = value;
    }
    template <class T>
    [[nodiscard]] static T get(lane, const T* source) {
        return *source;
    }

    /// norms[i] = ||g_i||.
    static void chain_norms(lane, const float* g, index dimension, index count, float* norms) {
        squared_norms(g, dimension, count, norms);
        for (index i = 0; i < count; ++i) norms[i] = std::sqrt(norms[i]);
    }
    /// *total += sum_i ||g_i|| (each norm from a float sum of squares, added in double); norms: count floats of scratch.
    static void add_chain_norms(lane, const float* g, index dimension, index count, float* norms, double* total) {
        squared_norms(g, dimension, count, norms);
        double sum = 0;
        for (index i = 0; i < count; ++i) sum += std::sqrt(static_cast<double>(norms[i]));
        *total += sum;
    }
    static void add_sum(lane, const float* values, index n, double* total) {
        double sum = 0;
        for (index k = 0; k < n; ++k) sum += values[k];
        *total += sum;
    }
    static void count_non_finite(lane, const float* values, index n, unsigned long long* count) {
        unsigned long long found = 0;
        for (index k = 0; k < n; ++k) found += std::isfinite(values[k]) ? 0u : 1u;
        *count += found;
    }

    /// The Langevin move of `count` chains: their noise in one vectorised pass into scratch (the numbers of
    /// kernels::langevin_step, bit for bit), then the shared move element by element.
    static void langevin_move(lane, const kernels::langevin_step& s, index count, float* scratch) {
        const kernels::langevin_move m = s.effective_move();
        const index n = s.dimension * count;
        float* y = s.y;
        const float* x = s.x;
        const float* g = s.g;
        if (s.noise) {
            detail::fill_normal_chains(s.rng, purpose::langevin_noise, s.first_chain, count, s.step.value(), scratch,
                                       s.dimension);
            const float* z = scratch;
#pragma omp simd
            for (index k = 0; k < n; ++k) y[k] = m(x[k], g[k], z[k]);
        } else {
#pragma omp simd
            for (index k = 0; k < n; ++k) y[k] = m(x[k], g[k], 0.0f);
        }
    }

    /// The Metropolis accept step (MALA, HMC) for `count` chains, in passes over blocks of chains that the compiler
    /// vectorises: the log-uniforms (kernels::accept_log_uniform's numbers); per chain the two sums of the log ratio
    /// (element order) and the box test; the shared decision (kernels::mala_decide); the copy of accepted proposals;
    /// the norms of the new states' gradients. `scratch` holds count floats.
    static void metropolis_accept(lane, const kernels::metropolis_accept_arguments& a, index count, float* scratch) {
        constexpr index block = 64;
        const index d = a.dimension;
        const float eps = *a.epsilon;
        const float scale = a.ratio_scale(eps);
        const bool want_probability = a.counters.probability != nullptr;
        detail::fill_log_uniforms(a.rng, purpose::mala_accept, a.first_chain, count, a.step.value(), scratch);
        alignas(64) float forward[block], backward[block];
        bool inside[block], accept[block];
        for (index first = 0; first < count; first += block) {
            const index n = std::min(block, count - first);
            const index base = first * d;
            if (a.hamiltonian()) {  // |p_0|^2 and |p_L|^2
                squared_norms(a.momentum_start + base, d, n, forward);
                squared_norms(a.momentum_end + base, d, n, backward);
            } else {  // MALA's residuals, chains interleaved as in squared_norms
                const kernels::mala_residuals terms{kernels::mala_move(eps).step};
                for (index i = 0; i < n; i += interleave) {
                    const index m = std::min(interleave, n - i);
                    float f[interleave] = {}, b[interleave] = {};
                    for (index k = 0; k < d; ++k)
                        for (index l = 0; l < m; ++l) {
                            const index e = base + (i + l) * d + k;
                            terms(a.x[e], a.g[e], a.y[e], a.gy[e], f[l], b[l]);
                        }
                    std::copy(f, f + m, forward + i);
                    std::copy(b, b + m, backward + i);
                }
            }
            for (index i = 0; i < n; ++i) inside[i] = true;
            if (a.clamp.enabled())
                for (index i = 0; i < n; ++i)
                    for (index k = base + i * d; k < base + (i + 1) * d; ++k)
                        inside[i] = inside[i] && a.y[k] >= a.clamp.low && a.y[k] <= a.clamp.high;
            for (index i = 0; i < n; ++i) {
                const index c = first + i;
                const kernels::mala_outcome out = kernels::mala_decide(scratch[c], a.u[c], a.uy[c], forward[i], backward[i],
                                                                       scale, inside[i], want_probability);
                accept[i] = out.accept;
                a.counters.non_finite[c] += out.finite ? 0 : 1;
                a.counters.accepted[c] += out.accept ? 1 : 0;
                if (out.accept) a.u[c] = a.uy[c];
                if (want_probability) a.counters.probability[c] = out.probability;
            }
            for (index i = 0; i < n; ++i) {
                if (!accept[i]) continue;
                for (index k = base + i * d; k < base + (i + 1) * d; ++k) {  // a loop, not a memmove call: d is small
                    a.x[k] = a.y[k];
                    a.g[k] = a.gy[k];
                }
            }
            float* norms = a.counters.norms + first;
            squared_norms(a.g + base, d, n, norms);
            for (index i = 0; i < n; ++i) norms[i] = static_cast<float>(std::sqrt(static_cast<double>(norms[i])));
        }
    }

    /// sum_k v[k]^2 of one chain, in float, in order.
    static float squared_norm(const float* v, index dimension) {
        float sq = 0;
        for (index k = 0; k < dimension; ++k) sq += v[k] * v[k];
        return sq;
    }
    /// Chains interleaved in a sum: for blocks of `interleave` chains, sums[i] = sum over k in order of
    /// term(i, k), each chain's sum advancing one element per pass over the block. The additions of one chain
    /// stay in order (squared_norm's bits) while those of the block's chains overlap: a sum over k alone waits for
    /// each addition to finish.
    static constexpr index interleave = 16;
    static void squared_norms(const float* v, index dimension, index count, float* sums) {
        index i = 0;
        for (; i + interleave <= count; i += interleave) {
            float s[interleave] = {};
            const float* block = v + i * dimension;
            for (index k = 0; k < dimension; ++k)
                for (index l = 0; l < interleave; ++l) s[l] += block[l * dimension + k] * block[l * dimension + k];
            std::copy(s, s + interleave, sums + i);
        }
        for (; i < count; ++i) sums[i] = squared_norm(v + i * dimension, dimension);
    }

    /// Chains cut into groups of per_group (one group when the energy threads internally).
    struct grouping_type {
        index chains = 0;
        index per_group = 1;
        [[nodiscard]] index groups() const { return (chains + per_group - 1) / per_group; }
        [[nodiscard]] detail::task_range range(index group) const {
            const index first = group * per_group;
            return {first, std::min(per_group, chains - first)};
        }
    };
    [[nodiscard]] static grouping_type grouping(index chains, index per_group, bool splittable) {
        return {chains, splittable ? per_group : std::max<index>(chains, 1)};
    }
    /// Groups for at most max_chains chains: the number of workspaces a sampler state needs.
    [[nodiscard]] static index max_groups(index max_chains, index per_group, bool splittable) {
        return grouping(max_chains, per_group, splittable).groups();
    }
    template <class F>
    static void for_groups(const grouping_type& groups, F&& f) {
        cpu::parallel_tasks(groups.groups(), std::forward<F>(f));
    }

    /// Runs the body as it is called (nothing to capture on the CPU).
    template <class Key>
    struct replay {
        bool enabled = true;
        template <class Warmup, class Body>
        void run(lane, const Key&, Warmup&&, Body&& body) {
            body();
        }
    };
};

}  // namespace ebm

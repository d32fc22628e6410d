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
        for (index i = 0; i < count; ++i) norms[i] = std::sqrt(squared_norm(g + i * dimension, dimension));
    }
    /// *total += sum_i ||g_i|| (each norm from a float sum of squares, added in double); norms is unused here.
    static void add_chain_norms(lane, const float* g, index dimension, index count, float*, double* total) {
        double sum = 0;
        for (index i = 0; i < count; ++i) sum += std::sqrt(static_cast<double>(squared_norm(g + i * dimension, dimension)));
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

    /// The Metropolis accept step (MALA, HMC) for `count` chains: log-uniforms in one vectorised pass
    /// (kernels::accept_log_uniform's numbers), then chain by chain the two sums of the log ratio, the shared decision
    /// and the copy of accepted proposals. `scratch` holds count floats.
    static void metropolis_accept(lane, const kernels::metropolis_accept_arguments& a, index count, float* scratch) {
        const index d = a.dimension;
        const float eps = *a.epsilon;
        const float scale = a.ratio_scale(eps);
        detail::fill_log_uniforms(a.rng, purpose::mala_accept, a.first_chain, count, a.step.value(), scratch);
        for (index i = 0; i < count; ++i) {
            const index base = i * d;
            float forward_sq = 0, backward_sq = 0;
            bool inside = true;
            for (index k = 0; k < d; ++k) {
                a.add_terms(base + k, eps, forward_sq, backward_sq);
                if (a.clamp.enabled() && (a.y[base + k] < a.clamp.low || a.y[base + k] > a.clamp.high)) inside = false;
            }
            const kernels::mala_outcome out =
                kernels::mala_decide(scratch[i], a.u[i], a.uy[i], forward_sq, backward_sq, scale, inside,
                                     a.counters.probability != nullptr);
            if (!out.finite) ++a.counters.non_finite[i];
            if (out.accept) {
                std::copy(a.y + base, a.y + base + d, a.x + base);
                std::copy(a.gy + base, a.gy + base + d, a.g + base);
                a.u[i] = a.uy[i];
                ++a.counters.accepted[i];
            }
            if (a.counters.probability != nullptr) a.counters.probability[i] = out.probability;
            a.counters.norms[i] = static_cast<float>(std::sqrt(static_cast<double>(squared_norm(a.g + base, d))));
        }
    }

    /// sum_k v[k]^2 of one chain, in float, in order.
    static float squared_norm(const float* v, index dimension) {
        float sq = 0;
        for (index k = 0; k < dimension; ++k) sq += v[k] * v[k];
        return sq;
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

#pragma once
// sampler: advances a batch of chains in place for steps_per_run() steps and returns statistics. The batch is in
// the energy's memory space (batch_view_for<E>: batch_view or device_batch_view).
// Two levels: the policy holds hyper-parameters; `state<E>` (made once per energy and batch size) holds
// workspaces and caches, so run() never allocates.
#include <concepts>
#include <cstdint>

#include "../batch.hpp"
#include "../random/philox.hpp"
#include "energy_function.hpp"

namespace ebm {

/// What one run of a sampler reports.
struct sampler_stats {
    double mean_gradient_norm = 0;  // v_t: mean ||dU/dx|| over chains and the L+1 states of the path
    double mean_displacement = 0;   // r_t = h * v_t, h the gradient step (eps^2/2 in the Anatomy form)
    double acceptance = -1;         // mean MH acceptance; -1 for unadjusted samplers
    double mean_energy = 0;         // mean U over chains at the final state
    std::int64_t non_finite_rejections = 0;  // proposals rejected because U or dU/dx was NaN/Inf
    std::int64_t non_finite_chains = 0;      // unadjusted samplers: chains whose final energy is NaN/Inf (diverged)
};

namespace detail {
template <class S, class E>
concept has_sampler_state = requires { typename S::template state<E>; };
template <class S, class E>
concept has_make_sampler_state = has_sampler_state<S, E> && requires(const S& s, const E& e, index m) {
    { s.make_state(e, m) } -> std::same_as<typename S::template state<E>>;
};
template <class S, class E>
concept has_run = has_sampler_state<S, E> && requires(const S& s, typename S::template state<E>& st, const E& e,
                                                      batch_view_for<E> x, const philox& rng, std::uint64_t step) {
    { s.run(st, e, x, rng, step) } -> std::same_as<sampler_stats>;
};
template <class S>
concept has_steps_per_run = requires(const S& s) {
    { s.steps_per_run() } -> std::convertible_to<index>;
};
}  // namespace detail

template <class S, class E>
concept sampler = energy_function<E> && std::copy_constructible<S> && detail::has_make_sampler_state<S, E> &&
                  detail::has_run<S, E> && detail::has_steps_per_run<S>;

template <class S, class E>
constexpr bool check_sampler() {
    static_assert(detail::has_sampler_state<S, E>,
                  "ebm::sampler: the type needs a nested `template <class E> struct state` for per-run buffers");
    static_assert(detail::has_make_sampler_state<S, E>,
                  "ebm::sampler: the type needs `state<E> make_state(const E&, index max_chains) const`");
    static_assert(detail::has_run<S, E> || in_device_memory<E>,
                  "ebm::sampler: the type needs `sampler_stats run(state<E>&, const E&, batch_view x, const philox&, "
                  "std::uint64_t first_step) const`");
    static_assert(detail::has_run<S, E> || !in_device_memory<E>,
                  "ebm::sampler: the energy keeps its data in device memory (CUDA backend), but the sampler has no "
                  "`sampler_stats run(state<E>&, const E&, device_batch_view x, const philox&, std::uint64_t) const`: "
                  "it cannot run on that backend (write it against the execution interface, as ebm::langevin is)");
    static_assert(detail::has_steps_per_run<S>, "ebm::sampler: the type needs `index steps_per_run() const`");
    return true;
}

}  // namespace ebm

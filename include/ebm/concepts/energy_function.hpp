#pragma once
// energy_function: batched per-chain energies U(x_i), and energies plus dU/dx in one call.
// Each call gets a workspace made once by make_workspace(max_chains), so no call allocates.
// Batches and spans are those of the memory space the energy declares (memory_space.hpp): batch_view and
// std::span for host energies, device_batch_view and device_span for device energies (whose workspace also
// names the stream its work is ordered on: `cudaStream_t get_stream() const`).
#include <concepts>
#include <span>

#include "../batch.hpp"
#include "../config.hpp"

namespace ebm {

namespace detail {
template <class E>
concept has_workspace_type = requires { typename E::workspace; };
template <class E>
concept has_dimension = requires(const E& e) {
    { e.dimension() } -> std::convertible_to<index>;
};
template <class E>
concept has_make_workspace = has_workspace_type<E> && requires(const E& e, index n) {
    { e.make_workspace(n) } -> std::same_as<typename E::workspace>;
};
template <class E>
concept has_energy = has_workspace_type<E> &&
    requires(const E& e, const_batch_view_for<E> x, span_in<float, memory_space_of_t<E>> u, typename E::workspace& ws) {
        e.energy(x, u, ws);
    };
template <class E>
concept has_energy_and_gradient =
    has_workspace_type<E> && requires(const E& e, const_batch_view_for<E> x, span_in<float, memory_space_of_t<E>> u,
                                      batch_view_for<E> g, typename E::workspace& ws) { e.energy_and_gradient(x, u, g, ws); };
}  // namespace detail

template <class E>
concept energy_function = std::copy_constructible<E> && detail::has_dimension<E> && detail::has_make_workspace<E> &&
                          detail::has_energy<E> && detail::has_energy_and_gradient<E>;

/// One readable sentence per missing member: call as `check_energy_function<MyEnergy>();`.
template <class E>
constexpr bool check_energy_function() {
    static_assert(detail::has_workspace_type<E>,
                  "ebm::energy_function: the type needs a nested `workspace` type (an empty struct if it needs none)");
    static_assert(detail::has_dimension<E>, "ebm::energy_function: the type needs `index dimension() const`");
    static_assert(detail::has_make_workspace<E>,
                  "ebm::energy_function: the type needs `workspace make_workspace(index max_chains) const`");
    static_assert(detail::has_energy<E> || in_device_memory<E>,
                  "ebm::energy_function: the type needs `void energy(const_batch_view x, std::span<float> u, "
                  "workspace&) const`");
    static_assert(detail::has_energy<E> || !in_device_memory<E>,
                  "ebm::energy_function: the type keeps its data in device memory, so it needs `void "
                  "energy(const_device_batch_view x, device_span<float> u, workspace&) const`");
    static_assert(detail::has_energy_and_gradient<E> || in_device_memory<E>,
                  "ebm::energy_function: the type needs `void energy_and_gradient(const_batch_view x, "
                  "std::span<float> u, batch_view grad, workspace&) const`");
    static_assert(detail::has_energy_and_gradient<E> || !in_device_memory<E>,
                  "ebm::energy_function: the type keeps its data in device memory, so it needs `void "
                  "energy_and_gradient(const_device_batch_view x, device_span<float> u, device_batch_view grad, "
                  "workspace&) const`");
    static_assert(std::copy_constructible<E>, "ebm::energy_function: the type must be copy-constructible");
    return true;
}

/// Energies whose chains must not be split across threads by the sampler (they thread internally,
/// e.g. oneDNN convolutions) declare `static constexpr bool split_chains_across_threads = false;`.
template <class E>
constexpr bool split_chains_across_threads() {
    if constexpr (requires { E::split_chains_across_threads; })
        return E::split_chains_across_threads;
    else
        return true;
}

}  // namespace ebm

#pragma once
// learnable_energy: an energy_function with a flat parameter vector θ and
// accumulate_parameter_gradient(x, w, grad, u, ws): grad += Σ_i w_i ∂U(x_i)/∂θ, and u_i = U(x_i).
// The ML gradient (Anatomy Eq. 8) is this with w = +1/n on data and -1/m on samples. Parameters, weights, gradient
// and energies live in the energy's memory space (std::span on the host, device_span on a device).
#include <concepts>
#include <span>

#include "energy_function.hpp"

namespace ebm {

namespace detail {
template <class E>
concept has_parameter_count = requires(const E& e) {
    { e.parameter_count() } -> std::convertible_to<index>;
};
template <class E>
concept has_parameters = requires(E& e, const E& ce) {
    { e.parameters() } -> std::same_as<span_in<float, memory_space_of_t<E>>>;
    { ce.parameters() } -> std::same_as<span_in<const float, memory_space_of_t<E>>>;
};
template <class E>
concept has_accumulate_parameter_gradient =
    has_workspace_type<E> &&
    requires(const E& e, const_batch_view_for<E> x, span_in<const float, memory_space_of_t<E>> w,
             span_in<float, memory_space_of_t<E>> grad, span_in<float, memory_space_of_t<E>> u,
             typename E::workspace& ws) { e.accumulate_parameter_gradient(x, w, grad, u, ws); };
}  // namespace detail

template <class E>
concept learnable_energy = energy_function<E> && detail::has_parameter_count<E> && detail::has_parameters<E> &&
                           detail::has_accumulate_parameter_gradient<E>;

template <class E>
constexpr bool check_learnable_energy() {
    check_energy_function<E>();
    static_assert(detail::has_parameter_count<E>, "ebm::learnable_energy: the type needs `index parameter_count() const`");
    static_assert(detail::has_parameters<E>,
                  "ebm::learnable_energy: the type needs `std::span<float> parameters()` and "
                  "`std::span<const float> parameters() const` (one flat, contiguous vector; device_span for an energy "
                  "in device memory)");
    static_assert(detail::has_accumulate_parameter_gradient<E>,
                  "ebm::learnable_energy: the type needs `void accumulate_parameter_gradient(const_batch_view x, "
                  "std::span<const float> weights, std::span<float> grad, std::span<float> u, workspace&) const` "
                  "(device views and device_span for an energy in device memory)");
    return true;
}

}  // namespace ebm

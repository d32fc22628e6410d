#pragma once
// hessian_vector_energy: an energy_function that also gives Hessian-vector products in x, one direction per chain:
// hessian_vector_product(x, v, hv, ws) sets hv_i = ∇²U(x_i) v_i. The Jacobian of a Langevin step
// x - (ε²/2) ∇U(x) + ε z is I - (ε²/2) ∇²U(x), so derivatives through a sampling chain need these products.
// A network of piecewise-linear units (ReLU, LeakyReLU, max-pooling) has ∇²U = 0 wherever U is twice
// differentiable (everywhere but its kinks, a set of measure zero): its exact product is zero.
// Views are those of the energy's memory space, as for energy_function.
#include <concepts>

#include "../batch.hpp"
#include "energy_function.hpp"

namespace ebm {

namespace detail {
template <class E>
concept has_hessian_vector_product =
    has_workspace_type<E> && requires(const E& e, const_batch_view_for<E> x, const_batch_view_for<E> v,
                                      batch_view_for<E> hv, typename E::workspace& ws) {
        e.hessian_vector_product(x, v, hv, ws);
    };
}  // namespace detail

template <class E>
concept hessian_vector_energy = energy_function<E> && detail::has_hessian_vector_product<E>;

/// One readable sentence per missing member: call as `check_hessian_vector_energy<MyEnergy>();`.
template <class E>
constexpr bool check_hessian_vector_energy() {
    check_energy_function<E>();
    static_assert(detail::has_hessian_vector_product<E>,
                  "ebm::hessian_vector_energy: the type needs `void hessian_vector_product(const_batch_view x, "
                  "const_batch_view v, batch_view hv, workspace&) const` setting hv_i = (d2U/dx2)(x_i) v_i (device "
                  "views for an energy in device memory)");
    return true;
}

}  // namespace ebm

#pragma once
// Shared pieces of the energies' Hessian-vector products (concepts/hessian_vector_energy.hpp): the shape check of a
// call, and the exact product of a piecewise-linear network, which is zero.
#include <algorithm>

#include "../batch.hpp"
#include "../error.hpp"

namespace ebm::detail {

/// x holds `dimension` coordinates per chain; v and hv have x's shape.
template <class Space>
void check_hessian_vector_call(const char* where, index dimension, basic_const_batch_view<Space> x,
                               basic_const_batch_view<Space> v, basic_batch_view<Space> hv) {
    if (x.dimension != dimension) fail(where, "x dimension must equal the energy's dimension " + to_text(dimension), x.dimension);
    if (v.dimension != x.dimension || v.count != x.count)
        fail(where, "v must have x's shape " + to_text(x.dimension) + " x " + to_text(x.count),
             to_text(v.dimension) + " x " + to_text(v.count));
    if (hv.dimension != x.dimension || hv.count != x.count)
        fail(where, "hv must have x's shape " + to_text(x.dimension) + " x " + to_text(x.count),
             to_text(hv.dimension) + " x " + to_text(hv.count));
}

/// A network whose units are all piecewise linear (ReLU, LeakyReLU, max-pooling; affine layers between them) has
/// d2U/dx2 = 0 wherever U is twice differentiable: every point but the kinks, a set of measure zero. There the exact
/// product is zero, and it is the derivative of the gradient the network computes (piecewise constant in x).
inline void piecewise_linear_hessian_vector(const char* where, index dimension, const_batch_view x, const_batch_view v,
                                            batch_view hv) {
    check_hessian_vector_call(where, dimension, x, v, hv);
    std::fill(hv.data, hv.data + hv.size(), 0.0f);
}

}  // namespace ebm::detail

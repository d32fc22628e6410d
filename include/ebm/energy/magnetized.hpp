#pragma once
// The magnetised energy of attraction-diffusion (Anatomy Sec. 4.4, after Hill et al. 2019):
//   U_m(x) = U(x) + alpha * ||x - x*||,   dU_m/dx = dU/dx + alpha * (x - x*) / ||x - x*||  (0 at x = x*),
// which pulls chains toward a target state x* with constant force alpha. Landscape mapping runs it at low
// temperature: magnetized(tempered(F, T), x*, alpha) is F/T + alpha ||x - x*||. Wraps any energy of either backend
// (the target lives in the inner energy's memory; the extra term runs as kernels/ functors on its execution);
// parameters and parameter gradients forward to the inner energy (the magnetic term has none).
#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/hessian_vector_energy.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../error.hpp"
#include "identity.hpp"

namespace ebm {

namespace kernels {

/// diff[i * dimension + e] = x[i * dimension + e] - target[e]. Call for k in [0, count * dimension).
struct difference_to_target {
    float* diff;
    const float* x;
    const float* target;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const { diff[k] = x[k] - target[k % dimension]; }
};

/// u[i] += alpha * norms[i]. Call for i in [0, count).
struct add_magnetic_energy {
    float* u;
    const float* norms;
    float alpha;
    EBM_HOST_DEVICE void operator()(index i) const { u[i] += alpha * norms[i]; }
};

/// g[k] += alpha * diff[k] / norms[chain of k] (nothing where the norm is 0). Call for k in [0, count * dimension).
struct add_magnetic_gradient {
    float* g;
    const float* diff;
    const float* norms;
    float alpha;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const {
        const float n = norms[k / dimension];
        if (n > 0.0f) g[k] += alpha * (diff[k] / n);
    }
};

/// hv_i += alpha (v_i / r_i - d_i (d_i . v_i) / r_i^3), d_i = x_i - x*, r_i = ||d_i||: the magnetic term's Hessian
/// along v (nothing where r_i = 0, as for the gradient). Call for i in [0, count).
struct add_magnetic_hessian_vector {
    float* hv;
    const float* diff;
    const float* v;
    const float* norms;
    float alpha;
    index dimension;
    EBM_HOST_DEVICE void operator()(index i) const {
        const float r = norms[i];
        if (!(r > 0.0f)) return;
        const float* d = diff + i * dimension;
        const float* vi = v + i * dimension;
        float* h = hv + i * dimension;
        float dv = 0;
        for (index e = 0; e < dimension; ++e) dv += d[e] * vi[e];
        const float along = alpha / r, across = alpha * dv / (r * r * r);
        for (index e = 0; e < dimension; ++e) h[e] += along * vi[e] - across * d[e];
    }
};

}  // namespace kernels

template <energy_function E>
class magnetized_energy {
    using space = memory_space_of_t<E>;
    using X = execution_for<E>;
    template <class T>
    using span = span_in<T, space>;

public:
    using memory_space = space;
    using inner_type = E;

    struct workspace {
        typename E::workspace inner;
        typename X::template buffer<float> diff;   // x - x*, dimension x max_chains
        typename X::template buffer<float> norms;  // ||x_i - x*||
        [[nodiscard]] auto lane() const { return X::lane_of(inner); }
    };

    static constexpr bool split_chains_across_threads = ebm::split_chains_across_threads<E>();

    /// target: x* on the host (dimension() values), copied into the inner energy's memory.
    magnetized_energy(E inner, std::span<const float> target, float alpha)
        : inner_(std::move(inner)), alpha_(alpha), host_target_(target.begin(), target.end()) {
        detail::require_non_negative("magnetized_energy", "alpha", alpha);
        detail::require_finite("magnetized_energy", "alpha", alpha);
        if (static_cast<index>(target.size()) != inner_.dimension())
            detail::fail("magnetized_energy", "target must have the energy's dimension " +
                                                  detail::to_text(inner_.dimension()), target.size());
        for (std::size_t e = 0; e < target.size(); ++e)
            if (!std::isfinite(target[e]))
                detail::fail("magnetized_energy", "target must be finite; element " + detail::to_text(e) + " is not",
                             target[e]);
        target_ = X::template make_buffer<float>(inner_.dimension());
        X::upload(typename X::lane{}, target_.data(), host_target_.data(), inner_.dimension());
        X::wait_all();
    }
    magnetized_energy(const magnetized_energy& other)
        : magnetized_energy(other.inner_, std::span<const float>(other.host_target_), other.alpha_) {}
    magnetized_energy(magnetized_energy&&) noexcept = default;

    [[nodiscard]] const E& inner() const { return inner_; }
    [[nodiscard]] E& inner() { return inner_; }
    [[nodiscard]] float alpha() const { return alpha_; }
    [[nodiscard]] std::span<const float> target() const { return host_target_; }
    [[nodiscard]] index dimension() const { return inner_.dimension(); }
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        return {inner_.make_workspace(max_chains), X::template make_buffer<float>(inner_.dimension() * max_chains),
                X::template make_buffer<float>(max_chains)};
    }

    void energy(basic_const_batch_view<space> x, span<float> u, workspace& ws) const {
        inner_.energy(x, u, ws.inner);
        add_energy(x, u.data(), ws);
    }
    void energy_and_gradient(basic_const_batch_view<space> x, span<float> u, basic_batch_view<space> g,
                             workspace& ws) const {
        inner_.energy_and_gradient(x, u, g, ws.inner);
        add_energy(x, u.data(), ws);
        X::for_each(ws.lane(), x.size(),
                    kernels::add_magnetic_gradient{g.data, ws.diff.data(), ws.norms.data(), alpha_, x.dimension});
    }

    /// The inner energy's (d2U/dx2) v plus the magnetic term's, where the inner energy gives the product.
    void hessian_vector_product(basic_const_batch_view<space> x, basic_const_batch_view<space> v,
                                basic_batch_view<space> hv, workspace& ws) const requires hessian_vector_energy<E> {
        inner_.hessian_vector_product(x, v, hv, ws.inner);
        differences_and_norms(x, ws);
        X::for_each(ws.lane(), x.count,
                    kernels::add_magnetic_hessian_vector{hv.data, ws.diff.data(), v.data, ws.norms.data(), alpha_,
                                                         x.dimension});
    }

    [[nodiscard]] index parameter_count() const requires learnable_energy<E> { return inner_.parameter_count(); }
    [[nodiscard]] span<float> parameters() requires learnable_energy<E> { return inner_.parameters(); }
    [[nodiscard]] span<const float> parameters() const requires learnable_energy<E> { return inner_.parameters(); }
    /// The inner energy's parameter gradient; u includes the magnetic term.
    void accumulate_parameter_gradient(basic_const_batch_view<space> x, span<const float> weights, span<float> grad,
                                       span<float> u, workspace& ws) const requires learnable_energy<E> {
        inner_.accumulate_parameter_gradient(x, weights, grad, u, ws.inner);
        add_energy(x, u.data(), ws);
    }

    /// What this wrapper's kernels bake in (for the samplers' CUDA graph keys).
    template <class Identity>
    void identify(Identity& id) const {
        detail::identify(inner_, id);
        id.add(alpha_);
        id.add(static_cast<const void*>(target_.data()));
    }

private:
    // ws.diff = x - x*, ws.norms = ||x_i - x*||.
    void differences_and_norms(basic_const_batch_view<space> x, workspace& ws) const {
        if (x.count > static_cast<index>(ws.norms.size()))
            detail::fail("magnetized_energy", "x exceeds the workspace capacity " + detail::to_text(ws.norms.size()),
                         x.count);
        const auto lane = ws.lane();
        X::for_each(lane, x.size(), kernels::difference_to_target{ws.diff.data(), x.data, target_.data(), x.dimension});
        X::chain_norms(lane, ws.diff.data(), x.dimension, x.count, ws.norms.data());
    }
    void add_energy(basic_const_batch_view<space> x, float* u, workspace& ws) const {
        differences_and_norms(x, ws);
        X::for_each(ws.lane(), x.count, kernels::add_magnetic_energy{u, ws.norms.data(), alpha_});
    }

    E inner_;
    float alpha_;
    std::vector<float> host_target_;
    typename X::template buffer<float> target_;
};

/// U(x) + alpha ||x - target|| (target on the host, copied to the energy's memory).
template <energy_function E>
magnetized_energy<E> magnetized(E inner, std::span<const float> target, float alpha) {
    return {std::move(inner), target, alpha};
}

}  // namespace ebm

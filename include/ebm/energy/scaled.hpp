#pragma once
// U(x) = factor * F(x): the Anatomy rescaled energy U = F / (eps^2/2) (Eq. 11) is scaled(F, epsilon), and the
// tempered energy U/T of landscape mapping is tempered(F, T). Wraps any energy of either backend (the scaling runs
// as a kernels/ functor on the inner energy's execution); parameters, parameter gradients and workspaces forward
// to the inner energy.
#include <span>
#include <utility>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/hessian_vector_energy.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../concepts/whole_langevin_chain.hpp"
#include "../error.hpp"
#include "identity.hpp"
#include "../kernels/elements.hpp"

namespace ebm {

template <energy_function E>
class scaled_energy {
    using space = memory_space_of_t<E>;
    template <class T>
    using span = span_in<T, space>;

public:
    using memory_space = space;
    using inner_type = E;

    struct workspace {
        typename E::workspace inner;
        typename execution_for<E>::template buffer<float> weights;  // factor * w for parameter gradients
        /// The lane of the inner energy's workspace (where this wrapper's work is ordered too).
        [[nodiscard]] auto lane() const { return execution_for<E>::lane_of(inner); }
    };

    /// An energy that threads internally (oneDNN) stays whole under the wrapper.
    static constexpr bool split_chains_across_threads = ebm::split_chains_across_threads<E>();

    scaled_energy(E inner, float factor) : inner_(std::move(inner)), factor_(factor) {
        detail::require_positive("scaled_energy", "factor", factor);
        detail::require_finite("scaled_energy", "factor", factor);
    }

    [[nodiscard]] const E& inner() const { return inner_; }
    [[nodiscard]] E& inner() { return inner_; }
    [[nodiscard]] float factor() const { return factor_; }
    [[nodiscard]] index dimension() const { return inner_.dimension(); }
    [[nodiscard]] workspace make_workspace(index max_chains) const {
        return {inner_.make_workspace(max_chains), execution_for<E>::template make_buffer<float>(max_chains)};
    }

    void energy(basic_const_batch_view<space> x, span<float> u, workspace& ws) const {
        inner_.energy(x, u, ws.inner);
        scale(ws, u.data(), u.data(), x.count);
    }
    void energy_and_gradient(basic_const_batch_view<space> x, span<float> u, basic_batch_view<space> g,
                             workspace& ws) const {
        inner_.energy_and_gradient(x, u, g, ws.inner);
        scale(ws, u.data(), u.data(), x.count);
        scale(ws, g.data, g.data, g.size());
    }

    /// factor * (d2F/dx2) v, where the inner energy gives Hessian-vector products.
    void hessian_vector_product(basic_const_batch_view<space> x, basic_const_batch_view<space> v,
                                basic_batch_view<space> hv, workspace& ws) const requires hessian_vector_energy<E> {
        inner_.hessian_vector_product(x, v, hv, ws.inner);
        scale(ws, hv.data, hv.data, hv.size());
    }

    [[nodiscard]] index parameter_count() const requires learnable_energy<E> { return inner_.parameter_count(); }
    [[nodiscard]] span<float> parameters() requires learnable_energy<E> { return inner_.parameters(); }
    [[nodiscard]] span<const float> parameters() const requires learnable_energy<E> { return inner_.parameters(); }
    void accumulate_parameter_gradient(basic_const_batch_view<space> x, span<const float> weights, span<float> grad,
                                       span<float> u, workspace& ws) const requires learnable_energy<E> {
        if (weights.size() > static_cast<std::size_t>(ws.weights.size()))
            detail::fail("scaled_energy::accumulate_parameter_gradient",
                         "weights exceed the workspace capacity " + detail::to_text(ws.weights.size()), weights.size());
        scale(ws, ws.weights.data(), weights.data(), static_cast<index>(weights.size()));
        inner_.accumulate_parameter_gradient(x, span<const float>(ws.weights.data(), weights.size()), grad, u, ws.inner);
        scale(ws, u.data(), u.data(), x.count);
    }

    /// Wrappers between this one and the energy that runs a whole chain, this one included.
    static constexpr int chain_factors = 1 + [] {
        if constexpr (requires { E::chain_factors; }) return E::chain_factors;
        else return 0;
    }();
    /// A whole unadjusted Langevin chain run by the inner energy (concepts/whole_langevin_chain.hpp), this wrapper's
    /// factor applied after each evaluation as energy_and_gradient applies it: the same states, bit for bit.
    [[nodiscard]] bool runs_langevin_chain() const requires runs_whole_langevin_chain<E> {
        return chain_factors <= kernels::langevin_chain::max_factors && inner_.runs_langevin_chain();
    }
    void run_langevin_chain(kernels::langevin_chain c, workspace& ws) const requires runs_whole_langevin_chain<E> {
        if (c.factor_count >= kernels::langevin_chain::max_factors)
            detail::fail("scaled_energy::run_langevin_chain", "at most " +
                         detail::to_text(kernels::langevin_chain::max_factors) + " nested wrappers", c.factor_count + 1);
        c.factors[c.factor_count++] = factor_;
        inner_.run_langevin_chain(c, ws.inner);
    }

    /// What this wrapper's kernels bake in (for the samplers' CUDA graph keys).
    template <class Identity>
    void identify(Identity& id) const {
        detail::identify(inner_, id);
        id.add(factor_);
    }

private:
    void scale(const workspace& ws, float* out, const float* in, index n) const {
        execution_for<E>::for_each(ws.lane(), n, kernels::scale_values{out, in, factor_});
    }

    E inner_;
    float factor_;
};

/// The Anatomy rescaled energy U = F / (eps^2 / 2) (Appendix A, Eq. 11).
template <energy_function E>
scaled_energy<E> scaled(E inner, float epsilon) {
    detail::require_positive("scaled", "epsilon", epsilon);
    detail::require_finite("scaled", "epsilon", epsilon);
    return {std::move(inner), 2.0f / (epsilon * epsilon)};
}

/// The tempered energy U / T (landscape mapping samples exp(-U/T) at low temperature T).
template <energy_function E>
scaled_energy<E> tempered(E inner, float temperature) {
    detail::require_positive("tempered", "temperature", temperature);
    detail::require_finite("tempered", "temperature", temperature);
    return {std::move(inner), 1.0f / temperature};
}

}  // namespace ebm

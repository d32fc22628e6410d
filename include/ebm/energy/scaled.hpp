#pragma once
// U(x) = factor * F(x): the Anatomy rescaled energy U = F / (eps^2/2) (Eq. 11) is scaled(F, epsilon).
// Wraps any energy; parameters, parameter gradients and workspaces forward to the inner energy.
#include <span>
#include <utility>

#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/learnable_energy.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"

namespace ebm {

template <energy_function E>
class scaled_energy {
public:
    struct workspace {
        typename E::workspace inner;
        detail::aligned_vector<float> weights;  // factor * w for parameter gradients
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
        return {inner_.make_workspace(max_chains), detail::aligned_vector<float>(static_cast<std::size_t>(max_chains))};
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        inner_.energy(x, u, ws.inner);
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] *= factor_;
    }
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        inner_.energy_and_gradient(x, u, g, ws.inner);
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] *= factor_;
        for (index k = 0; k < g.size(); ++k) g.data[k] *= factor_;
    }

    [[nodiscard]] index parameter_count() const requires learnable_energy<E> { return inner_.parameter_count(); }
    [[nodiscard]] std::span<float> parameters() requires learnable_energy<E> { return inner_.parameters(); }
    [[nodiscard]] std::span<const float> parameters() const requires learnable_energy<E> { return inner_.parameters(); }
    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> weights, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const requires learnable_energy<E> {
        if (weights.size() > ws.weights.size())
            detail::fail("scaled_energy::accumulate_parameter_gradient",
                         "weights exceed the workspace capacity " + detail::to_text(ws.weights.size()), weights.size());
        for (std::size_t i = 0; i < weights.size(); ++i) ws.weights[i] = factor_ * weights[i];
        inner_.accumulate_parameter_gradient(x, std::span<const float>(ws.weights.data(), weights.size()), grad, u,
                                             ws.inner);
        for (index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] *= factor_;
    }

private:
    E inner_;
    float factor_;
};

/// The Anatomy rescaled energy U = F / (eps^2 / 2) (Appendix A, Eq. 11).
template <energy_function E>
scaled_energy<E> scaled(E inner, float epsilon) {
    detail::require_positive("scaled", "epsilon", epsilon);
    return {std::move(inner), 2.0f / (epsilon * epsilon)};
}

}  // namespace ebm

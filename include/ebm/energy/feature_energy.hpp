#pragma once
// ebm::feature_energy: an energy linear in its parameters, U_θ(x) = ⟨θ, h(x)⟩, on the fixed filter responses h of
// eval/image_features.hpp (64 zero-mean random 5x5 filters, stride 2, ReLU, means over a 4 x 4 grid of cells: 1,024
// responses per image). It is the FRAME / deep FRAME model of the short-run paper §4.1 (only the top-layer weights
// are learned); the paper's f_θ(x) = ⟨θ', h(x)⟩ is −U, so θ' = −θ.
//
// Why it matters: ∂U/∂θ = h(x), so Algorithm 1's gradient is E_data[h] − E_q[h], and a fixed point of learning
// matches the feature means of the samples to those of the data. With short-run chains from noise (non-persistent,
// K steps), q is the K-step distribution, not p_θ: the learned chain itself is the moment-matching estimator
// (docs/generator.md, "Moment matching").
//
// ReLU makes U piecewise linear in x: its Hessian is zero wherever it exists (piecewise_linear() is true,
// hessian_vector_product() writes zeros), so the generator's pullback skips the products. θ starts at zero (U = 0:
// Langevin chains then only diffuse). Chains are spread over OpenMP threads, one scratch per thread, each chain
// computed alone; the parameter gradient is one product of the batch's features with the weights after the
// parallel part, so every result is bit-identical for any thread count. Nothing is allocated after make_workspace().
#include <span>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../config.hpp"
#include "../detail/chain_threads.hpp"
#include "../error.hpp"
#include "../eval/image_features.hpp"  // Eigen, host-compiled only
#include "../random/philox.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

class feature_energy {
public:
    using features_type = eval::image_features;
    static constexpr index feature_count = features_type::dimension;  // 1,024

    struct workspace {
        index max_chains = 0;
        std::vector<features_type::scratch> threads;  // one per OpenMP thread
        Eigen::MatrixXf features;                      // feature_count x max_chains, column i = h(x_i)
    };

    /// Images of `channels` x `image_size` x `image_size` (image_size a multiple of 8, as the feature map needs);
    /// `filter_seed` other than the default gives another bank of random filters.
    feature_energy(index channels, index image_size,
                   seed filter_seed = seed{features_type::default_seed})
        : features_(check_shape(channels, image_size), filter_seed),
          channels_(channels),
          image_size_(image_size),
          theta_(static_cast<std::size_t>(feature_count), 0.0f) {}

    [[nodiscard]] index dimension() const { return channels_ * image_size_ * image_size_; }
    [[nodiscard]] index channels() const { return channels_; }
    [[nodiscard]] index image_size() const { return image_size_; }
    [[nodiscard]] const features_type& features() const { return features_; }
    [[nodiscard]] index parameter_count() const { return feature_count; }
    [[nodiscard]] std::span<float> parameters() { return theta_; }
    [[nodiscard]] std::span<const float> parameters() const { return theta_; }
    [[nodiscard]] std::vector<parameter_tensor> parameter_tensors() const { return {{"theta", {feature_count}, 0}}; }
    /// ReLU features: the Hessian in x is zero wherever it exists.
    [[nodiscard]] bool piecewise_linear() const { return true; }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        detail::require_positive("feature_energy::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.max_chains = max_chains;
        ws.threads.reserve(static_cast<std::size_t>(detail::chain_threads()));
        for (int t = 0; t < detail::chain_threads(); ++t) ws.threads.push_back(features_.make_scratch(image_size_));
        ws.features.resize(feature_count, max_chains);
        return ws;
    }

    /// h(x_i) for every chain into the workspace's columns 0..x.count-1 (read them with ws.features), and u_i.
    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        check(where_energy, x, u, ws);
        evaluate(x, u, nullptr, ws);
    }

    /// u_i and dU/dx_i = Σ_j θ_j ∂h_j/∂x (x_i).
    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        check(where_gradient, x, u, ws);
        detail::require_batch(where_gradient, "g", g, dimension());
        if (g.count != x.count) detail::fail(where_gradient, "g must hold x.count states", g.count);
        evaluate(x, u, &g, ws);
    }

    /// grad += Σ_i w_i h(x_i) (the ML gradient when w = 1/n on data and −1/m on samples), and u_i = U(x_i).
    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> w, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const {
        const char* where = "feature_energy::accumulate_parameter_gradient";
        check(where, x, u, ws);
        if (static_cast<index>(w.size()) < x.count) detail::fail(where, "weights must hold x.count entries", w.size());
        if (static_cast<index>(grad.size()) != feature_count)
            detail::fail(where, "grad must have parameter_count() = 1024 entries", grad.size());
        evaluate(x, u, nullptr, ws);
        Eigen::Map<Eigen::VectorXf>(grad.data(), feature_count).noalias() +=
            ws.features.leftCols(x.count) * Eigen::Map<const Eigen::VectorXf>(w.data(), x.count);
    }

    /// (d²U/dx²) v = 0 (wherever the Hessian exists: U is piecewise linear in x).
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace& ws) const {
        const char* where = "feature_energy::hessian_vector_product";
        detail::require_batch(where, "x", x, dimension());
        detail::require_batch(where, "v", v, dimension());
        detail::require_batch(where, "hv", hv, dimension());
        if (v.count != x.count || hv.count != x.count) detail::fail(where, "v and hv must hold x.count states", hv.count);
        if (x.count > ws.max_chains) detail::fail(where, "x holds more chains than the workspace's max_chains", x.count);
        std::fill(hv.data, hv.data + hv.size(), 0.0f);
    }

private:
    static constexpr const char* where_energy = "feature_energy::energy";
    static constexpr const char* where_gradient = "feature_energy::energy_and_gradient";

    static index check_shape(index channels, index image_size) {
        const char* where = "feature_energy";
        detail::require_positive(where, "channels", channels);
        detail::require_positive(where, "image_size", image_size);
        if (image_size % 8 != 0) detail::fail(where, "image_size must be a multiple of 8", image_size);
        return channels;
    }

    void check(const char* where, const_batch_view x, std::span<float> u, const workspace& ws) const {
        detail::require_batch(where, "x", x, dimension());
        if (static_cast<index>(u.size()) < x.count) detail::fail(where, "u must hold x.count entries", u.size());
        // Checked here, before the chains are spread over threads (an exception must not leave a parallel region).
        if (x.count > ws.max_chains || ws.threads.empty() ||
            ws.threads.front().image_size != image_size_ || ws.threads.front().patches.rows() != features_.patch_size() ||
            ws.features.rows() != feature_count || ws.features.cols() != ws.max_chains)
            detail::fail(where, "the workspace must come from this energy's make_workspace() for at most " +
                                    detail::to_text(ws.max_chains) + " chains; x.count", x.count);
    }

    void evaluate(const_batch_view x, std::span<float> u, batch_view* g, workspace& ws) const {
        const Eigen::Map<const Eigen::VectorXf> theta(theta_.data(), feature_count);
        detail::for_chains(ws.threads, x.count, [&](index i, features_type::scratch& s) {
            float* h = &ws.features(0, i);
            features_.compute_one(x.chain(i), s, h);
            u[static_cast<std::size_t>(i)] = theta.dot(Eigen::Map<const Eigen::VectorXf>(h, feature_count));
            if (g != nullptr) features_.vector_jacobian(theta_.data(), s, g->chain(i));
        });
    }

    features_type features_;
    index channels_, image_size_;
    std::vector<float> theta_;
};

}  // namespace ebm

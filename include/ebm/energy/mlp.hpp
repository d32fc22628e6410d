#pragma once
// A fully connected energy network U(x) = W_L a_{L-1} + b_L, a_l = LeakyReLU(W_l a_{l-1} + b_l): the Anatomy
// toy net is mlp({2, 32, 64, 64, 64, 1}, 0.05). Batched forward and backward with Eigen on chain-major batches
// (a batch is a column-major dimension x count matrix); all buffers live in the workspace.
// Parameters are one flat vector in PyTorch's state_dict order: per layer weight (out x in, row-major), bias
// (parameter_tensors() names them as nn.Sequential does).
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../detail/simd_rows.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "hessian_vector.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

struct leaky_relu {
    float negative_slope = 0.01f;
};

class mlp {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;

public:
    struct workspace {
        index capacity = 0;
        std::vector<detail::aligned_vector<float>> pre;   // z_l, per hidden layer: out_l x capacity
        std::vector<detail::aligned_vector<float>> post;  // a_l = LeakyReLU(z_l)
        detail::aligned_vector<float> delta_a, delta_b;   // backward buffers, max width x capacity
        detail::aligned_vector<float> output;             // 1 x capacity
        // Parameter gradient only: the caller's chain weights and the bias gradients' row sums in aligned buffers, so
        // that Eigen's vectorised reductions (whose peeling depends on where a buffer starts) give the same bits
        // wherever the caller's weights and grad start.
        detail::aligned_vector<float> chain_weights;      // 1 x capacity
        detail::aligned_vector<float> row_sums;           // max width
        // Fast path only: W_l^T of the hidden layers (in x out, row-major) for the forward pass, and the parameters
        // they were made from; refreshed whenever the parameters differ from that copy.
        detail::aligned_vector<float> transposed;
        detail::aligned_vector<float> transposed_from;
    };

    /// sizes = {input, hidden..., 1}; weights drawn as PyTorch's nn.Linear default, U(-1/sqrt(in), 1/sqrt(in)),
    /// from the Philox stream (parameter_init, layer, 0) of `init_seed`.
    mlp(std::vector<index> sizes, leaky_relu activation, seed init_seed = seed{0})
        : sizes_(std::move(sizes)), slope_(activation.negative_slope) {
        if (sizes_.size() < 3) detail::fail("mlp", "sizes must list input, at least one hidden layer and output", sizes_.size());
        for (index s : sizes_) detail::require_positive("mlp", "layer size", s);
        if (sizes_.back() != 1) detail::fail("mlp", "the last layer size must be 1 (one energy per chain)", sizes_.back());
        detail::require_in_closed("mlp", "negative_slope", slope_, 0.0f, 1.0f);
        tensors_ = mlp_parameter_tensors(sizes_);
        for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
            weight_offset_.push_back(tensors_[2 * l].offset);
            bias_offset_.push_back(tensors_[2 * l + 1].offset);
        }
        parameters_.assign(static_cast<std::size_t>(tensors_.back().offset + tensors_.back().count()), 0.0f);
        reset_parameters(init_seed);
    }

    /// PyTorch's default initialisation of nn.Linear, from the given seed.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
            const float bound = 1.0f / std::sqrt(static_cast<float>(sizes_[l]));
            fill_uniform(rng, purpose::parameter_init, static_cast<std::uint32_t>(2 * l), 0,
                         parameters_.data() + weight_offset_[l], sizes_[l] * sizes_[l + 1], -bound, bound);
            fill_uniform(rng, purpose::parameter_init, static_cast<std::uint32_t>(2 * l + 1), 0,
                         parameters_.data() + bias_offset_[l], sizes_[l + 1], -bound, bound);
        }
    }

    [[nodiscard]] index dimension() const { return sizes_.front(); }
    [[nodiscard]] const std::vector<index>& layer_sizes() const { return sizes_; }
    [[nodiscard]] float negative_slope() const { return slope_; }
    [[nodiscard]] index parameter_count() const { return static_cast<index>(parameters_.size()); }
    /// Names, shapes and offsets of the parameters as PyTorch's nn.Sequential(Linear, LeakyReLU, ..., Linear) names
    /// them ("0.weight", "0.bias", "2.weight", ...): io/safetensors exchanges them with PyTorch.
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return tensors_; }
    [[nodiscard]] std::span<float> parameters() { return {parameters_.data(), parameters_.size()}; }
    [[nodiscard]] std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }
    [[nodiscard]] index layers() const { return static_cast<index>(sizes_.size()) - 1; }
    /// Offsets of layer l's weight and bias in the flat vector (for loaders using state_dict names).
    [[nodiscard]] index weight_offset(index l) const { return weight_offset_[static_cast<std::size_t>(l)]; }
    [[nodiscard]] index bias_offset(index l) const { return bias_offset_[static_cast<std::size_t>(l)]; }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        detail::require_positive("mlp::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity = max_chains;
        index widest = sizes_.front();
        for (std::size_t l = 1; l + 1 < sizes_.size(); ++l) {
            ws.pre.emplace_back(static_cast<std::size_t>(sizes_[l] * max_chains));
            ws.post.emplace_back(static_cast<std::size_t>(sizes_[l] * max_chains));
            widest = std::max(widest, sizes_[l]);
        }
        ws.delta_a.resize(static_cast<std::size_t>(widest * max_chains));
        ws.delta_b.resize(static_cast<std::size_t>(widest * max_chains));
        ws.output.resize(static_cast<std::size_t>(max_chains));
        ws.chain_weights.resize(static_cast<std::size_t>(max_chains));
        ws.row_sums.resize(static_cast<std::size_t>(widest));
        if (fast_path()) {
            index total = 0;
            for (std::size_t l = 0; l + 2 < sizes_.size(); ++l) total += sizes_[l] * sizes_[l + 1];
            ws.transposed.resize(static_cast<std::size_t>(total));
            ws.transposed_from.resize(parameters_.size());
        }
        return ws;
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        check_call("mlp::energy", x, u, ws);
        forward(x, ws);
        std::copy(ws.output.begin(), ws.output.begin() + x.count, u.begin());
    }

    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        check_call("mlp::energy_and_gradient", x, u, ws);
        if (fast_path()) {
            fast_forward(x, ws);
            std::copy(ws.output.begin(), ws.output.begin() + x.count, u.begin());
            fast_input_gradient(x.count, g, ws);
            return;
        }
        forward(x, ws);
        std::copy(ws.output.begin(), ws.output.begin() + x.count, u.begin());
        const index n = x.count;
        const index last = layers() - 1;
        // dU/da_{L-1} = w_L^T for every chain, then through the LeakyReLUs.
        Eigen::Map<matrix> delta(ws.delta_a.data(), sizes_[static_cast<std::size_t>(last)], n);
        const auto w_last = weight(last);
        for (index i = 0; i < n; ++i) delta.col(i) = w_last.row(0).transpose();
        backward(n, ws, /*accumulate_into=*/nullptr);
        // delta now holds dU/dz_1 (first hidden pre-activation); dU/dx = W_1^T delta.
        Eigen::Map<matrix> gx(g.data, dimension(), n);
        Eigen::Map<const matrix> d1(first_delta(ws), sizes_[1], n);
        gx.noalias() = weight(0).transpose() * d1;
    }

    /// hv_i = (d2U/dx2)(x_i) v_i: zero, as the network is piecewise linear (energy/hessian_vector.hpp).
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace&) const {
        detail::piecewise_linear_hessian_vector("mlp::hessian_vector_product", dimension(), x, v, hv);
    }

    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> weights, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const {
        check_call("mlp::accumulate_parameter_gradient", x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            detail::fail("mlp::accumulate_parameter_gradient", "weights must have one entry per chain (" +
                                                                   detail::to_text(x.count) + ")", weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            detail::fail("mlp::accumulate_parameter_gradient", "grad must have parameter_count() = " +
                                                                   detail::to_text(parameter_count()) + " entries", grad.size());
        forward(x, ws);
        std::copy(ws.output.begin(), ws.output.begin() + x.count, u.begin());
        const index n = x.count;
        const index last = layers() - 1;
        std::copy(weights.begin(), weights.end(), ws.chain_weights.begin());
        Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>, Eigen::Aligned64> w(ws.chain_weights.data(), n);
        // Output layer: dW_L += w a_{L-1}^T, db_L += sum w.
        const auto a_last = activation(last - 1, x, ws, n);
        Eigen::Map<row_major>(grad.data() + weight_offset(last), 1, sizes_[static_cast<std::size_t>(last)]).noalias() +=
            w * a_last.transpose();
        grad[static_cast<std::size_t>(bias_offset(last))] += w.sum();
        Eigen::Map<matrix> delta(ws.delta_a.data(), sizes_[static_cast<std::size_t>(last)], n);
        delta.noalias() = weight(last).transpose() * w;
        backward(n, ws, grad.data());
        // First layer: dW_1 += delta_1 x^T, db_1 += delta_1 1.
        Eigen::Map<const matrix> d1(first_delta(ws), sizes_[1], n);
        Eigen::Map<const matrix> xm(x.data, dimension(), n);
        Eigen::Map<row_major>(grad.data() + weight_offset(0), sizes_[1], dimension()).noalias() += d1 * xm.transpose();
        add_row_sums(d1, grad.data() + bias_offset(0), ws);
    }

private:
    [[nodiscard]] Eigen::Map<const row_major> weight(index l) const {
        return {parameters_.data() + weight_offset(l), sizes_[static_cast<std::size_t>(l) + 1],
                sizes_[static_cast<std::size_t>(l)]};
    }
    [[nodiscard]] Eigen::Map<const vector> bias(index l) const {
        return {parameters_.data() + bias_offset(l), sizes_[static_cast<std::size_t>(l) + 1]};
    }
    // a_l for hidden layer l (0-based over hidden layers), or x for l = -1.
    [[nodiscard]] Eigen::Map<const matrix> activation(index hidden, const_batch_view x, const workspace& ws, index n) const {
        if (hidden < 0) return {x.data, dimension(), n};
        return {ws.post[static_cast<std::size_t>(hidden)].data(), sizes_[static_cast<std::size_t>(hidden) + 1], n};
    }
    // to[j] += sum_i d(j, i), the sums formed in the workspace's aligned buffer (see workspace::row_sums).
    static void add_row_sums(const Eigen::Ref<const matrix>& d, float* to, workspace& ws) {
        Eigen::Map<vector, Eigen::Aligned64> sums(ws.row_sums.data(), d.rows());
        sums.noalias() = d.rowwise().sum();
        for (index j = 0; j < d.rows(); ++j) to[j] += sums[j];
    }

    // After backward(), dU/dz of the first hidden layer lives in delta_a or delta_b depending on depth parity.
    [[nodiscard]] const float* first_delta(const workspace& ws) const {
        return (layers() - 2) % 2 == 1 ? ws.delta_b.data() : ws.delta_a.data();
    }

    void check_call(const char* where, const_batch_view x, std::span<float> u, const workspace& ws) const {
        if (x.dimension != dimension()) detail::fail(where, "x dimension must equal " + detail::to_text(dimension()), x.dimension);
        if (x.count > ws.capacity)
            detail::fail(where, "x holds more chains than the workspace capacity " + detail::to_text(ws.capacity), x.count);
        if (static_cast<index>(u.size()) < x.count)
            detail::fail(where, "u must have one entry per chain (" + detail::to_text(x.count) + ")", u.size());
    }

    void forward(const_batch_view x, workspace& ws) const {
        if (fast_path()) {
            fast_forward(x, ws);
            return;
        }
        const index n = x.count;
        const index hidden = layers() - 1;
        for (index l = 0; l < hidden; ++l) {
            const auto input = activation(l - 1, x, ws, n);
            Eigen::Map<matrix> z(ws.pre[static_cast<std::size_t>(l)].data(), sizes_[static_cast<std::size_t>(l) + 1], n);
            Eigen::Map<matrix> a(ws.post[static_cast<std::size_t>(l)].data(), sizes_[static_cast<std::size_t>(l) + 1], n);
            z.noalias() = weight(l) * input;
            z.colwise() += bias(l);
            a = z.cwiseMax(slope_ * z);
        }
        Eigen::Map<Eigen::Matrix<float, 1, Eigen::Dynamic>> out(ws.output.data(), n);
        out.noalias() = weight(hidden) * activation(hidden - 1, x, ws, n);
        out.array() += parameters_[static_cast<std::size_t>(bias_offset(hidden))];
    }

    // delta (in delta_a) holds dU/da of the last hidden layer. Walks down to dU/dz of the first hidden layer,
    // ping-ponging between delta_a and delta_b; adds parameter gradients of hidden layers 2.. when asked.
    void backward(index n, workspace& ws, float* accumulate_into) const {
        float* current = ws.delta_a.data();
        float* other = ws.delta_b.data();
        for (index l = layers() - 2; l >= 0; --l) {  // hidden layer l has weight l, output size sizes_[l+1]
            const index width = sizes_[static_cast<std::size_t>(l) + 1];
            Eigen::Map<matrix> d(current, width, n);
            Eigen::Map<const matrix> z(ws.pre[static_cast<std::size_t>(l)].data(), width, n);
            d = (z.array() > 0.0f).select(d, slope_ * d);  // dU/dz_l
            if (l == 0) break;
            if (accumulate_into != nullptr) {
                const auto input = activation(l - 1, const_batch_view{}, ws, n);
                Eigen::Map<row_major>(accumulate_into + weight_offset(l), width, sizes_[static_cast<std::size_t>(l)])
                    .noalias() += d * input.transpose();
                add_row_sums(d, accumulate_into + bias_offset(l), ws);
            }
            Eigen::Map<matrix> next(other, sizes_[static_cast<std::size_t>(l)], n);
            next.noalias() = weight(l).transpose() * d;
            std::swap(current, other);
        }
    }

    // The fast path needs every hidden width to be a whole number of vectors (at most max_vectors of them).
    [[nodiscard]] bool fast_path() const {
        if constexpr (!detail::simd_rows::available) {
            return false;
        } else {
            for (std::size_t l = 1; l + 1 < sizes_.size(); ++l)
                if (sizes_[l] % detail::simd_rows::lanes != 0 || sizes_[l] / detail::simd_rows::lanes > detail::simd_rows::max_vectors)
                    return false;
            return true;
        }
    }

#if defined(EBM_SIMD_ROWS)
    // W_l^T for hidden layers l = 0..H-1, packed one after another; rebuilt only when the parameters changed
    // since the last call with this workspace (a sampler run keeps them fixed, so it transposes once).
    void refresh_transposed(workspace& ws) const {
        // A fresh workspace holds zeros in both buffers, which is consistent (zeros are their own transpose).
        if (ws.transposed_from.size() != parameters_.size())
            detail::fail("mlp", "the workspace was made by a network of another shape; parameters", ws.transposed_from.size());
        const std::size_t bytes = parameters_.size() * sizeof(float);
        if (std::memcmp(ws.transposed_from.data(), parameters_.data(), bytes) == 0) return;
        std::memcpy(ws.transposed_from.data(), parameters_.data(), bytes);
        float* out = ws.transposed.data();
        for (index l = 0; l + 1 < layers(); ++l) {
            const index rows = sizes_[static_cast<std::size_t>(l) + 1], cols = sizes_[static_cast<std::size_t>(l)];
            const float* w = parameters_.data() + weight_offset(l);
            for (index j = 0; j < rows; ++j)
                for (index k = 0; k < cols; ++k) out[k * rows + j] = w[j * cols + k];
            out += rows * cols;
        }
    }

    void fast_forward(const_batch_view x, workspace& ws) const {
        namespace simd = detail::simd_rows;
        refresh_transposed(ws);
        const index n = x.count;
        const index hidden = layers() - 1;
        const float slope = slope_;
        const float* input = x.data;
        const float* wt = ws.transposed.data();
        for (index l = 0; l < hidden; ++l) {
            const index k_count = sizes_[static_cast<std::size_t>(l)], width = sizes_[static_cast<std::size_t>(l) + 1];
            float* z = ws.pre[static_cast<std::size_t>(l)].data();
            float* a = ws.post[static_cast<std::size_t>(l)].data();
            const int vectors = static_cast<int>(width / simd::lanes);
            simd::rows(vectors, input, k_count, wt, parameters_.data() + bias_offset(l), n, [&](index i, const simd::vec* acc) {
                for (int v = 0; v < vectors; ++v) {
                    const simd::vec zv = acc[v];
                    simd::store(z + i * width + v * simd::lanes, zv);
                    simd::store(a + i * width + v * simd::lanes, zv > 0.0f ? zv : slope * zv);
                }
            });
            input = a;
            wt += k_count * width;
        }
        // Output layer: u_i = b + w . a_i.
        const index width = sizes_[static_cast<std::size_t>(hidden)];
        const int vectors = static_cast<int>(width / simd::lanes);
        const float* w = parameters_.data() + weight_offset(hidden);
        const float b = parameters_[static_cast<std::size_t>(bias_offset(hidden))];
        for (index i = 0; i < n; ++i) {
            const float* ai = input + i * width;
            simd::vec acc = simd::load(ai) * simd::load(w);
            for (int v = 1; v < vectors; ++v)
                acc = simd::multiply_add(simd::load(ai + v * simd::lanes), simd::load(w + v * simd::lanes), acc);
            ws.output[static_cast<std::size_t>(i)] = simd::horizontal_sum(acc) + b;
        }
    }

    // After fast_forward: g_i = dU/dx_i, walking dU/dz down the hidden layers (weights used as stored, row-major).
    void fast_input_gradient(index n, batch_view g, workspace& ws) const {
        namespace simd = detail::simd_rows;
        const index hidden = layers() - 1;
        const float slope = slope_;
        // dU/dz of the top hidden layer: w_out scaled by the LeakyReLU slope.
        index width = sizes_[static_cast<std::size_t>(hidden)];
        {
            const int vectors = static_cast<int>(width / simd::lanes);
            const float* w = parameters_.data() + weight_offset(hidden);
            const float* z = ws.pre[static_cast<std::size_t>(hidden) - 1].data();
            float* d = ws.delta_a.data();
            for (index i = 0; i < n; ++i)
                for (int v = 0; v < vectors; ++v) {
                    const simd::vec wv = simd::load(w + v * simd::lanes);
                    const simd::vec zv = simd::load(z + i * width + v * simd::lanes);
                    simd::store(d + i * width + v * simd::lanes, zv > 0.0f ? wv : slope * wv);
                }
        }
        float* current = ws.delta_a.data();
        float* other = ws.delta_b.data();
        for (index l = hidden - 1; l >= 1; --l) {
            // d_{l-1} = s(z_{l-1}) .* (W_l^T d_l): rows of W_l (width x below) are M's rows.
            const index below = sizes_[static_cast<std::size_t>(l)];
            const int vectors = static_cast<int>(below / simd::lanes);
            const float* z = ws.pre[static_cast<std::size_t>(l) - 1].data();
            float* out = other;
            simd::rows(vectors, current, width, parameters_.data() + weight_offset(l), nullptr, n,
                       [&](index i, const simd::vec* acc) {
                           for (int v = 0; v < vectors; ++v) {
                               const simd::vec zv = simd::load(z + i * below + v * simd::lanes);
                               simd::store(out + i * below + v * simd::lanes, zv > 0.0f ? acc[v] : slope * acc[v]);
                           }
                       });
            std::swap(current, other);
            width = below;
        }
        // dU/dx_i = W_0^T d_0, with W_0^T (dimension x width) from the transposed copy.
        const index dim = dimension();
        const int vectors = static_cast<int>(width / simd::lanes);
        const float* w0t = ws.transposed.data();
        for (index i = 0; i < n; ++i) {
            const float* d = current + i * width;
            for (index a = 0; a < dim; ++a) {
                const float* row = w0t + a * width;
                simd::vec acc = simd::load(d) * simd::load(row);
                for (int v = 1; v < vectors; ++v) acc += simd::load(d + v * simd::lanes) * simd::load(row + v * simd::lanes);
                g.data[i * dim + a] = simd::horizontal_sum(acc);
            }
        }
    }
#else
    void refresh_transposed(workspace&) const {}
    void fast_forward(const_batch_view, workspace&) const {}
    void fast_input_gradient(index, batch_view, workspace&) const {}
#endif

    std::vector<index> sizes_;
    float slope_;
    std::vector<index> weight_offset_, bias_offset_;
    std::vector<parameter_tensor> tensors_;
    detail::aligned_vector<float> parameters_;
};

}  // namespace ebm

#pragma once
// A chain of fully connected layers on the CPU: z_l = W_l a_{l-1} + b_l, a_l = LeakyReLU_l(z_l) (ReLU: slope 0) for
// the hidden layers, U = W_L a_{L-1} + b_L (one value per chain). ebm::network runs a network of that form (the
// Anatomy toy MLP among them) through it (energy/network.hpp); this header is its kernels.
//
// Chains are chain-major (chain i's units follow chain i - 1's). Where every hidden width is a whole number of SIMD
// vectors (at most detail::simd_rows::max_vectors of them), the forward pass and dU/dx run on the register-blocked
// row kernels of detail/simd_rows.hpp, each chain's result a plain sum in a fixed order (so it does not depend on the
// other chains of the call); otherwise, and for the parameter gradient, on Eigen matrix products over the call's
// chains. The weights are read from the caller's flat vector (PyTorch's nn.Linear layout, out x in row-major), at the
// offsets given; all buffers live in the workspace, so no call allocates.
#include "../../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "../../config.hpp"
#include "../../detail/aligned_buffer.hpp"
#include "../../detail/simd_rows.hpp"
#include "../../error.hpp"

namespace ebm::detail {

class dense_stack {
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;

public:
    /// sizes = {input, hidden..., 1}; slopes[l]: the LeakyReLU after layer l (hidden layers only); layer l's weight
    /// and bias start at weight_offsets[l] and bias_offsets[l] of the parameter vector of parameter_count floats.
    dense_stack(std::vector<index> sizes, std::vector<float> slopes, std::vector<index> weight_offsets,
                std::vector<index> bias_offsets, index parameter_count)
        : sizes_(std::move(sizes)),
          slopes_(std::move(slopes)),
          weight_offset_(std::move(weight_offsets)),
          bias_offset_(std::move(bias_offsets)),
          parameter_count_(parameter_count) {}

    struct workspace {
        index capacity = 0;
        std::vector<aligned_vector<float>> pre;   // z_l, per hidden layer: out_l x capacity
        std::vector<aligned_vector<float>> post;  // a_l = LeakyReLU(z_l)
        aligned_vector<float> delta_a, delta_b;   // backward buffers, max width x capacity
        aligned_vector<float> output;             // 1 x capacity
        // Parameter gradient only: the caller's chain weights and the bias gradients' row sums in aligned buffers, so
        // that Eigen's vectorised reductions (whose peeling depends on where a buffer starts) give the same bits
        // wherever the caller's weights and grad start.
        aligned_vector<float> chain_weights;      // 1 x capacity
        aligned_vector<float> row_sums;           // max width
        // Fast path only: W_l^T of the hidden layers (in x out, row-major) for the forward pass, and the parameters
        // they were made from; refreshed whenever the parameters differ from that copy.
        aligned_vector<float> transposed;
        aligned_vector<float> transposed_from;
    };

    [[nodiscard]] index dimension() const { return sizes_.front(); }
    [[nodiscard]] index layers() const { return static_cast<index>(sizes_.size()) - 1; }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
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
            ws.transposed_from.resize(static_cast<std::size_t>(parameter_count_));
        }
        return ws;
    }

    /// u[i] = sign x the output for chain i of the n <= capacity chains at x.
    void energy(const float* p, const float* x, index n, float sign, float* u, workspace& ws) const {
        forward(p, x, n, ws);
        for (index i = 0; i < n; ++i) u[i] = sign * ws.output[static_cast<std::size_t>(i)];
    }

    /// The energies and g = dU/dx (n chains, chain-major).
    void energy_and_gradient(const float* p, const float* x, index n, float sign, float* u, float* g,
                             workspace& ws) const {
        if (fast_path()) {
            fast_forward(p, x, n, ws);
            for (index i = 0; i < n; ++i) u[i] = sign * ws.output[static_cast<std::size_t>(i)];
            fast_input_gradient(p, n, sign, g, ws);
            return;
        }
        forward(p, x, n, ws);
        for (index i = 0; i < n; ++i) u[i] = sign * ws.output[static_cast<std::size_t>(i)];
        const index last = layers() - 1;
        // dU/da_{L-1} = sign w_L^T for every chain, then through the LeakyReLUs.
        Eigen::Map<matrix> delta(ws.delta_a.data(), sizes_[static_cast<std::size_t>(last)], n);
        const auto w_last = weight(p, last);
        for (index i = 0; i < n; ++i) delta.col(i) = sign * w_last.row(0).transpose();
        backward(p, n, ws, /*accumulate_into=*/nullptr);
        // delta now holds dU/dz_1 (first hidden pre-activation); dU/dx = W_1^T delta.
        Eigen::Map<matrix> gx(g, dimension(), n);
        Eigen::Map<const matrix> d1(first_delta(ws), sizes_[1], n);
        gx.noalias() = weight(p, 0).transpose() * d1;
    }

    /// The energies, and grad += sum_i sign weights_i dU(x_i)/dtheta.
    void accumulate_parameter_gradient(const float* p, const float* x, index n, float sign, const float* weights,
                                       float* grad, float* u, workspace& ws) const {
        forward(p, x, n, ws);
        for (index i = 0; i < n; ++i) u[i] = sign * ws.output[static_cast<std::size_t>(i)];
        const index last = layers() - 1;
        for (index i = 0; i < n; ++i) ws.chain_weights[static_cast<std::size_t>(i)] = sign * weights[i];
        Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>, Eigen::Aligned64> w(ws.chain_weights.data(), n);
        // Output layer: dW_L += w a_{L-1}^T, db_L += sum w.
        const auto a_last = activation(last - 1, x, ws, n);
        Eigen::Map<row_major>(grad + weight_offset_[static_cast<std::size_t>(last)], 1,
                              sizes_[static_cast<std::size_t>(last)])
            .noalias() += w * a_last.transpose();
        grad[bias_offset_[static_cast<std::size_t>(last)]] += w.sum();
        Eigen::Map<matrix> delta(ws.delta_a.data(), sizes_[static_cast<std::size_t>(last)], n);
        delta.noalias() = weight(p, last).transpose() * w;
        backward(p, n, ws, grad);
        // First layer: dW_1 += delta_1 x^T, db_1 += delta_1 1.
        Eigen::Map<const matrix> d1(first_delta(ws), sizes_[1], n);
        Eigen::Map<const matrix> xm(x, dimension(), n);
        Eigen::Map<row_major>(grad + weight_offset_[0], sizes_[1], dimension()).noalias() += d1 * xm.transpose();
        add_row_sums(d1, grad + bias_offset_[0], ws);
    }

private:
    [[nodiscard]] Eigen::Map<const row_major> weight(const float* p, index l) const {
        return {p + weight_offset_[static_cast<std::size_t>(l)], sizes_[static_cast<std::size_t>(l) + 1],
                sizes_[static_cast<std::size_t>(l)]};
    }
    [[nodiscard]] Eigen::Map<const vector> bias(const float* p, index l) const {
        return {p + bias_offset_[static_cast<std::size_t>(l)], sizes_[static_cast<std::size_t>(l) + 1]};
    }
    // a_l for hidden layer l (0-based over hidden layers), or x for l = -1.
    [[nodiscard]] Eigen::Map<const matrix> activation(index hidden, const float* x, const workspace& ws, index n) const {
        if (hidden < 0) return {x, dimension(), n};
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

    void forward(const float* p, const float* x, index n, workspace& ws) const {
        if (fast_path()) {
            fast_forward(p, x, n, ws);
            return;
        }
        const index hidden = layers() - 1;
        for (index l = 0; l < hidden; ++l) {
            const auto input = activation(l - 1, x, ws, n);
            Eigen::Map<matrix> z(ws.pre[static_cast<std::size_t>(l)].data(), sizes_[static_cast<std::size_t>(l) + 1], n);
            Eigen::Map<matrix> a(ws.post[static_cast<std::size_t>(l)].data(), sizes_[static_cast<std::size_t>(l) + 1], n);
            z.noalias() = weight(p, l) * input;
            z.colwise() += bias(p, l);
            // z > 0 ? z : slope z (max(z, slope z) would be wrong for PyTorch's slopes above 1)
            a = (z.array() > 0.0f).select(z, slopes_[static_cast<std::size_t>(l)] * z);
        }
        Eigen::Map<Eigen::Matrix<float, 1, Eigen::Dynamic>> out(ws.output.data(), n);
        out.noalias() = weight(p, hidden) * activation(hidden - 1, x, ws, n);
        out.array() += p[bias_offset_[static_cast<std::size_t>(hidden)]];
    }

    // delta (in delta_a) holds dU/da of the last hidden layer. Walks down to dU/dz of the first hidden layer,
    // ping-ponging between delta_a and delta_b; adds parameter gradients of hidden layers 2.. when asked.
    void backward(const float* p, index n, workspace& ws, float* accumulate_into) const {
        float* current = ws.delta_a.data();
        float* other = ws.delta_b.data();
        for (index l = layers() - 2; l >= 0; --l) {  // hidden layer l has weight l, output size sizes_[l+1]
            const index width = sizes_[static_cast<std::size_t>(l) + 1];
            Eigen::Map<matrix> d(current, width, n);
            Eigen::Map<const matrix> z(ws.pre[static_cast<std::size_t>(l)].data(), width, n);
            d = (z.array() > 0.0f).select(d, slopes_[static_cast<std::size_t>(l)] * d);  // dU/dz_l
            if (l == 0) break;
            if (accumulate_into != nullptr) {
                const auto input = activation(l - 1, nullptr, ws, n);
                Eigen::Map<row_major>(accumulate_into + weight_offset_[static_cast<std::size_t>(l)], width,
                                      sizes_[static_cast<std::size_t>(l)])
                    .noalias() += d * input.transpose();
                add_row_sums(d, accumulate_into + bias_offset_[static_cast<std::size_t>(l)], ws);
            }
            Eigen::Map<matrix> next(other, sizes_[static_cast<std::size_t>(l)], n);
            next.noalias() = weight(p, l).transpose() * d;
            std::swap(current, other);
        }
    }

    // The fast path needs every hidden width to be a whole number of vectors (at most max_vectors of them).
    [[nodiscard]] bool fast_path() const {
        if constexpr (!simd_rows::available) {
            return false;
        } else {
            for (std::size_t l = 1; l + 1 < sizes_.size(); ++l)
                if (sizes_[l] % simd_rows::lanes != 0 || sizes_[l] / simd_rows::lanes > simd_rows::max_vectors)
                    return false;
            return true;
        }
    }

#if defined(EBM_SIMD_ROWS)
    // W_l^T for hidden layers l = 0..H-1, packed one after another; rebuilt only when the parameters changed
    // since the last call with this workspace (a sampler run keeps them fixed, so it transposes once).
    void refresh_transposed(const float* p, workspace& ws) const {
        // A fresh workspace holds zeros in both buffers, which is consistent (zeros are their own transpose).
        const std::size_t bytes = static_cast<std::size_t>(parameter_count_) * sizeof(float);
        if (std::memcmp(ws.transposed_from.data(), p, bytes) == 0) return;
        std::memcpy(ws.transposed_from.data(), p, bytes);
        float* out = ws.transposed.data();
        for (index l = 0; l + 1 < layers(); ++l) {
            const index rows = sizes_[static_cast<std::size_t>(l) + 1], cols = sizes_[static_cast<std::size_t>(l)];
            const float* w = p + weight_offset_[static_cast<std::size_t>(l)];
            for (index j = 0; j < rows; ++j)
                for (index k = 0; k < cols; ++k) out[k * rows + j] = w[j * cols + k];
            out += rows * cols;
        }
    }

    void fast_forward(const float* p, const float* x, index n, workspace& ws) const {
        refresh_transposed(p, ws);
        const index hidden = layers() - 1;
        const float* input = x;
        const float* wt = ws.transposed.data();
        for (index l = 0; l < hidden; ++l) {
            const index k_count = sizes_[static_cast<std::size_t>(l)], width = sizes_[static_cast<std::size_t>(l) + 1];
            const float slope = slopes_[static_cast<std::size_t>(l)];
            float* z = ws.pre[static_cast<std::size_t>(l)].data();
            float* a = ws.post[static_cast<std::size_t>(l)].data();
            const int vectors = static_cast<int>(width / simd_rows::lanes);
            simd_rows::rows(vectors, input, k_count, wt, p + bias_offset_[static_cast<std::size_t>(l)], n,
                            [&](index i, const simd_rows::vec* acc) {
                                for (int v = 0; v < vectors; ++v) {
                                    const simd_rows::vec zv = acc[v];
                                    simd_rows::store(z + i * width + v * simd_rows::lanes, zv);
                                    simd_rows::store(a + i * width + v * simd_rows::lanes, zv > 0.0f ? zv : slope * zv);
                                }
                            });
            input = a;
            wt += k_count * width;
        }
        // Output layer: u_i = b + w . a_i.
        const index width = sizes_[static_cast<std::size_t>(hidden)];
        const int vectors = static_cast<int>(width / simd_rows::lanes);
        const float* w = p + weight_offset_[static_cast<std::size_t>(hidden)];
        const float b = p[bias_offset_[static_cast<std::size_t>(hidden)]];
        for (index i = 0; i < n; ++i) {
            const float* ai = input + i * width;
            simd_rows::vec acc = simd_rows::load(ai) * simd_rows::load(w);
            for (int v = 1; v < vectors; ++v)
                acc = simd_rows::multiply_add(simd_rows::load(ai + v * simd_rows::lanes),
                                              simd_rows::load(w + v * simd_rows::lanes), acc);
            ws.output[static_cast<std::size_t>(i)] = simd_rows::horizontal_sum(acc) + b;
        }
    }

    // After fast_forward: g_i = dU/dx_i, walking dU/dz down the hidden layers (weights used as stored, row-major).
    void fast_input_gradient(const float* p, index n, float sign, float* g, workspace& ws) const {
        const index hidden = layers() - 1;
        // dU/dz of the top hidden layer: sign w_out scaled by the LeakyReLU slope.
        index width = sizes_[static_cast<std::size_t>(hidden)];
        {
            const int vectors = static_cast<int>(width / simd_rows::lanes);
            const float slope = slopes_[static_cast<std::size_t>(hidden) - 1];
            const float* w = p + weight_offset_[static_cast<std::size_t>(hidden)];
            const float* z = ws.pre[static_cast<std::size_t>(hidden) - 1].data();
            float* d = ws.delta_a.data();
            for (index i = 0; i < n; ++i)
                for (int v = 0; v < vectors; ++v) {
                    const simd_rows::vec wv = sign * simd_rows::load(w + v * simd_rows::lanes);
                    const simd_rows::vec zv = simd_rows::load(z + i * width + v * simd_rows::lanes);
                    simd_rows::store(d + i * width + v * simd_rows::lanes, zv > 0.0f ? wv : slope * wv);
                }
        }
        float* current = ws.delta_a.data();
        float* other = ws.delta_b.data();
        for (index l = hidden - 1; l >= 1; --l) {
            // d_{l-1} = s(z_{l-1}) .* (W_l^T d_l): rows of W_l (width x below) are M's rows.
            const index below = sizes_[static_cast<std::size_t>(l)];
            const int vectors = static_cast<int>(below / simd_rows::lanes);
            const float slope = slopes_[static_cast<std::size_t>(l) - 1];
            const float* z = ws.pre[static_cast<std::size_t>(l) - 1].data();
            float* out = other;
            simd_rows::rows(vectors, current, width, p + weight_offset_[static_cast<std::size_t>(l)], nullptr, n,
                            [&](index i, const simd_rows::vec* acc) {
                                for (int v = 0; v < vectors; ++v) {
                                    const simd_rows::vec zv = simd_rows::load(z + i * below + v * simd_rows::lanes);
                                    simd_rows::store(out + i * below + v * simd_rows::lanes,
                                                     zv > 0.0f ? acc[v] : slope * acc[v]);
                                }
                            });
            std::swap(current, other);
            width = below;
        }
        // dU/dx_i = W_0^T d_0, with W_0^T (dimension x width) from the transposed copy.
        const index dim = dimension();
        const int vectors = static_cast<int>(width / simd_rows::lanes);
        const float* w0t = ws.transposed.data();
        for (index i = 0; i < n; ++i) {
            const float* d = current + i * width;
            for (index a = 0; a < dim; ++a) {
                const float* row = w0t + a * width;
                simd_rows::vec acc = simd_rows::load(d) * simd_rows::load(row);
                for (int v = 1; v < vectors; ++v)
                    acc += simd_rows::load(d + v * simd_rows::lanes) * simd_rows::load(row + v * simd_rows::lanes);
                g[i * dim + a] = simd_rows::horizontal_sum(acc);
            }
        }
    }
#else
    void refresh_transposed(const float*, workspace&) const {}
    void fast_forward(const float*, const float*, index, workspace&) const {}
    void fast_input_gradient(const float*, index, float, float*, workspace&) const {}
#endif

    std::vector<index> sizes_;
    std::vector<float> slopes_;
    std::vector<index> weight_offset_, bias_offset_;
    index parameter_count_ = 0;
};

}  // namespace ebm::detail

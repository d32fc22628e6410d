#pragma once
// The Anatomy code's non-local ConvNet for convergent learning (NonlocalNet, 32 x 32 inputs):
//   conv3x3(C -> n_f), LeakyReLU, maxpool 2                      32x32 -> 16x16
//   non-local block(n_f), conv3x3(n_f -> 2n_f), LeakyReLU, maxpool 2   16x16 -> 8x8
//   non-local block(2n_f), conv3x3(2n_f -> 4n_f), LeakyReLU, maxpool 2  8x8 -> 4x4
//   fully connected 16*4n_f -> 8n_f, LeakyReLU, 8n_f -> 1        (n_f 32: 2048 -> 256 -> 1)
// Non-local block (embedded Gaussian, Wang et al. 2018) on x (c x N), inner width c/2:
//   theta = W_t x, phi = maxpool(W_p x), g = maxpool(W_g x)   (1x1 convolutions with bias)
//   A = softmax_rows(theta^T phi), y = g A^T, z = W_o y + x     (W_o and its bias start at zero: identity block)
// U(x) = network output (the Anatomy convention). Parameters are one flat vector in PyTorch's state_dict order of
// that NonlocalNet ("convs.0.weight", "convs.3.g.0.weight", "convs.3.W.weight", "convs.3.theta.weight",
// "convs.3.phi.0.weight", ..., "fc.2.bias"); initialisation is PyTorch's default (U(+-1/sqrt(fan_in))) except
// the zeroed output projections.
//
// Implementation: the layers are small (about 22 MFLOP per chain forward at n_f 32), so each chain runs through
// Eigen GEMMs (3x3 convolutions by im2col) on one thread, chains spread over OpenMP threads inside the call
// (split_chains_across_threads = false); every buffer lives in the workspace (per thread). Energies and dU/dx are
// per chain; parameter gradients are summed over fixed blocks of chains_per_block chains, then block by block in
// block order: bit-identical for any thread count.
#include "../detail/eigen.hpp"  // Eigen/Core, host-compiled only

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../batch.hpp"
#include "../config.hpp"
#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "convnet_nonlocal_layout.hpp"
#include "hessian_vector.hpp"
#include "parameter_tensor.hpp"

namespace ebm {

class nonlocal_net {
    using rmatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using map = Eigen::Map<rmatrix>;
    using cmap = Eigen::Map<const rmatrix>;

public:
    static constexpr bool split_chains_across_threads = false;  // threads over chains inside each call

    /// Scratch of one thread: activations of one chain and their gradients.
    struct scratch {
        detail::aligned_vector<float> buffer;
        std::vector<std::int32_t> argmax;
        detail::aligned_vector<float> grad;     // per-thread parameter gradient
        detail::aligned_vector<float> tangent;  // Hessian-vector products: derivatives along v, buffer's layout
    };
    struct workspace {
        index capacity = 0;
        std::vector<scratch> threads;
    };

    explicit nonlocal_net(index channels = 3, index n_f = 32, float negative_slope = 0.05f, seed init_seed = seed{0})
        : channels_(channels), n_f_(n_f), slope_(negative_slope) {
        if (channels != 1 && channels != 3) detail::fail("nonlocal_net", "channels must be 1 or 3", channels);
        detail::require_positive("nonlocal_net", "n_f", n_f);
        if (n_f < 2) detail::fail("nonlocal_net", "n_f must be >= 2 (the non-local blocks halve it)", n_f);
        detail::require_in_closed("nonlocal_net", "negative_slope", negative_slope, 0.0f, 1.0f);
        arch_ = detail::nonlocal_layout(channels, n_f);
        parameters_.assign(static_cast<std::size_t>(arch_.size), 0.0f);
        reset_parameters(init_seed);
        plan_scratch();
    }

    /// PyTorch's default initialisation; the non-local output projections (".W.") start at zero.
    void reset_parameters(seed init_seed) {
        const philox rng(init_seed);
        for (std::size_t t = 0; t < arch_.tensors.size(); ++t) {
            const parameter_tensor& tensor = arch_.tensors[t];
            float* p = parameters_.data() + tensor.offset;
            const float bound = arch_.init_bound(t);
            if (bound == 0.0f) {
                std::fill(p, p + tensor.count(), 0.0f);
                continue;
            }
            fill_uniform(rng, purpose::parameter_init, static_cast<std::uint32_t>(t), 0, p, tensor.count(), -bound, bound);
        }
    }

    [[nodiscard]] index channels() const { return channels_; }
    [[nodiscard]] index height() const { return 32; }
    [[nodiscard]] index width() const { return 32; }
    [[nodiscard]] index n_f() const { return n_f_; }
    [[nodiscard]] float negative_slope() const { return slope_; }
    [[nodiscard]] index dimension() const { return channels_ * 32 * 32; }
    [[nodiscard]] index parameter_count() const { return arch_.size; }
    [[nodiscard]] std::span<float> parameters() { return {parameters_.data(), parameters_.size()}; }
    [[nodiscard]] std::span<const float> parameters() const { return {parameters_.data(), parameters_.size()}; }
    [[nodiscard]] const std::vector<parameter_tensor>& parameter_tensors() const { return arch_.tensors; }

    [[nodiscard]] workspace make_workspace(index max_chains) const {
        detail::require_positive("nonlocal_net::make_workspace", "max_chains", max_chains);
        workspace ws;
        ws.capacity = max_chains;
        ws.threads.resize(static_cast<std::size_t>(max_threads()));
        for (auto& s : ws.threads) {
            s.buffer.assign(static_cast<std::size_t>(scratch_floats_), 0.0f);
            s.argmax.assign(static_cast<std::size_t>(argmax_count_), 0);
            s.grad.assign(static_cast<std::size_t>(arch_.size), 0.0f);  // parameter gradient of this thread's chains
            s.tangent.assign(static_cast<std::size_t>(scratch_floats_), 0.0f);
        }
        return ws;
    }

    void energy(const_batch_view x, std::span<float> u, workspace& ws) const {
        check_call("nonlocal_net::energy", x, u, ws);
        for_chains(ws, x.count, [&](index i, scratch& s) { u[static_cast<std::size_t>(i)] = forward(x.chain(i), s); });
    }

    void energy_and_gradient(const_batch_view x, std::span<float> u, batch_view g, workspace& ws) const {
        check_call("nonlocal_net::energy_and_gradient", x, u, ws);
        if (g.dimension != dimension() || g.count != x.count || g.data == nullptr)
            detail::fail("nonlocal_net::energy_and_gradient", "grad must have the shape of x", g.count);
        for_chains(ws, x.count, [&](index i, scratch& s) {
            u[static_cast<std::size_t>(i)] = forward(x.chain(i), s);
            backward(x.chain(i), 1.0f, s, g.chain(i), nullptr);
        });
    }

    /// hv_i = (d2U/dx2)(x_i) v_i, exact: the derivatives along v carried through the forward and the backward pass
    /// (Pearlmutter's R-operator). Convolutions, LeakyReLUs and max-pooling are piecewise linear; the Hessian comes
    /// from the non-local blocks' attention (theta^T phi, the softmax, g A^T). Costs 1.7 energy_and_gradient calls
    /// (measured at n_f 32, 8 chains, one thread: 19.8 against 11.9 ms).
    void hessian_vector_product(const_batch_view x, const_batch_view v, batch_view hv, workspace& ws) const {
        const char* where = "nonlocal_net::hessian_vector_product";
        detail::check_hessian_vector_call(where, dimension(), x, v, hv);
        if (x.count > ws.capacity)
            detail::fail(where, "x holds more chains than the workspace capacity " + detail::to_text(ws.capacity), x.count);
        if (ws.threads.empty()) detail::fail(where, "the workspace is empty (make it with make_workspace)", 0);
        for_chains(ws, x.count, [&](index i, scratch& s) {
            (void)forward(x.chain(i), s);
            forward_tangent(v.chain(i), s);
            backward_tangent(s, hv.chain(i));
        });
    }

    void accumulate_parameter_gradient(const_batch_view x, std::span<const float> weights, std::span<float> grad,
                                       std::span<float> u, workspace& ws) const {
        const char* where = "nonlocal_net::accumulate_parameter_gradient";
        check_call(where, x, u, ws);
        if (static_cast<index>(weights.size()) != x.count)
            detail::fail(where, "weights must have one entry per chain (" + detail::to_text(x.count) + ")", weights.size());
        if (static_cast<index>(grad.size()) != parameter_count())
            detail::fail(where, "grad must have parameter_count() = " + detail::to_text(parameter_count()) + " entries",
                         grad.size());
        // Fixed blocks of chains_per_block chains, whatever the thread count: block b's gradient is summed over its
        // chains in order by one thread (into a scratch slot), and grad gets the block gradients added in block
        // order. The team only decides how many blocks run at once, so the sums, and the bits, are the same for any
        // thread count.
        const index blocks = (x.count + chains_per_block - 1) / chains_per_block;
        const index slots = static_cast<index>(ws.threads.size());
        for (index first = 0; first < blocks; first += slots) {
            const index round = std::min(slots, blocks - first);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(round))
#endif
            for (index t = 0; t < round; ++t) {
                scratch& s = ws.threads[static_cast<std::size_t>(t)];
                std::fill(s.grad.begin(), s.grad.end(), 0.0f);
                const index begin = (first + t) * chains_per_block;
                const index end = std::min(begin + chains_per_block, x.count);
                for (index i = begin; i < end; ++i) {
                    u[static_cast<std::size_t>(i)] = forward(x.chain(i), s);
                    backward(x.chain(i), weights[static_cast<std::size_t>(i)], s, nullptr, s.grad.data());
                }
            }
            const index size = arch_.size;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(round))
#endif
            for (index k = 0; k < size; ++k) {
                float sum = grad[static_cast<std::size_t>(k)];
                for (index t = 0; t < round; ++t) sum += ws.threads[static_cast<std::size_t>(t)].grad[static_cast<std::size_t>(k)];
                grad[static_cast<std::size_t>(k)] = sum;
            }
        }
    }

    /// Chains per block of the parameter gradient's fixed-order reduction (see accumulate_parameter_gradient).
    static constexpr index chains_per_block = 4;

private:
    using conv_ref = detail::nonlocal_layout::conv_ref;
    using block_ref = detail::nonlocal_layout::block_ref;

    static int max_threads() {
#if defined(_OPENMP)
        return std::max(1, omp_get_max_threads());
#else
        return 1;
#endif
    }

    template <class F>
    void for_chains(workspace& ws, index n, F&& f) const {
        const int threads = static_cast<int>(std::min<index>(static_cast<index>(ws.threads.size()), n));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
        for (index i = 0; i < n; ++i) {
#if defined(_OPENMP)
            scratch& s = ws.threads[static_cast<std::size_t>(omp_get_thread_num())];
#else
            scratch& s = ws.threads[0];
#endif
            f(i, s);
        }
        (void)threads;
    }

    void check_call(const char* where, const_batch_view x, std::span<float> u, const workspace& ws) const {
        if (x.dimension != dimension())
            detail::fail(where, "x dimension must equal channels x 32 x 32 = " + detail::to_text(dimension()), x.dimension);
        if (x.count <= 0 || x.data == nullptr) detail::fail(where, "x must hold at least one chain", x.count);
        if (x.count > ws.capacity)
            detail::fail(where, "x holds more chains than the workspace capacity " + detail::to_text(ws.capacity), x.count);
        if (static_cast<index>(u.size()) < x.count)
            detail::fail(where, "u must have one entry per chain (" + detail::to_text(x.count) + ")", u.size());
        if (ws.threads.empty()) detail::fail(where, "the workspace is empty (make it with make_workspace)", 0);
    }


    // ---- scratch layout (floats), per chain --------------------------------------------------------------------
    // stage s (0..2): conv input spatial side S = 32 >> s, channels cin; conv output a_s (cout x S^2, after LeakyReLU)
    // and its pooled p_s (cout x (S/2)^2). Blocks b (0, 1) run on p_b (c x N, N = (16 >> b)^2) and write z_b.
    struct layout {
        index cols = 0;              // im2col buffer (largest)
        index a[3] = {}, p[3] = {};  // conv outputs and pooled outputs
        index theta[2] = {}, pg[2] = {}, pp[2] = {}, g[2] = {}, phi[2] = {}, att[2] = {}, y[2] = {}, z[2] = {};
        index h = 0, ha = 0;         // fc1 pre-activation and activation
        index d0 = 0, d1 = 0, d2 = 0;  // gradient buffers (largest activation each)
        index dsmall[8] = {};        // block backward buffers
        index total = 0;
        index am_a[3] = {}, am_pg[2] = {}, am_pp[2] = {}, am_total = 0;  // argmax offsets (ints)
    } lay_;
    index scratch_floats_ = 0, argmax_count_ = 0;

    void plan_scratch() {
        index off = 0;
        const auto take = [&](index n) {
            const index at = off;
            off += (n + 15) / 16 * 16;
            return at;
        };
        index largest_cols = 0, largest_act = 0;
        index am = 0;
        for (int s = 0; s < 3; ++s) {
            const index side = 32 >> s;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(s)];
            largest_cols = std::max(largest_cols, c.in * 9 * side * side);
            largest_act = std::max(largest_act, c.out * side * side);
            largest_act = std::max(largest_act, c.in * side * side);
        }
        lay_.cols = take(largest_cols);
        for (int s = 0; s < 3; ++s) {
            const index side = 32 >> s;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(s)];
            lay_.a[s] = take(c.out * side * side);
            lay_.p[s] = take(c.out * side * side / 4);
            lay_.am_a[s] = am;
            am += c.out * side * side / 4;
        }
        for (int b = 0; b < 2; ++b) {
            const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
            const index n = (16 >> b) * (16 >> b), m = n / 4;
            lay_.theta[b] = take(bl.inner * n);
            lay_.pg[b] = take(bl.inner * n);
            lay_.pp[b] = take(bl.inner * n);
            lay_.g[b] = take(bl.inner * m);
            lay_.phi[b] = take(bl.inner * m);
            lay_.att[b] = take(n * m);
            lay_.y[b] = take(bl.inner * n);
            lay_.z[b] = take(bl.c * n);
            lay_.am_pg[b] = am;
            am += bl.inner * m;
            lay_.am_pp[b] = am;
            am += bl.inner * m;
        }
        lay_.h = take(arch_.fcs[0].out);
        lay_.ha = take(arch_.fcs[0].out);
        lay_.d0 = take(std::max(largest_act, arch_.fcs[0].in));
        lay_.d1 = take(std::max(largest_act, arch_.fcs[0].in));
        lay_.d2 = take(largest_act);
        for (auto& d : lay_.dsmall) d = take(std::max<index>(arch_.blocks[0].inner * 256, 256 * 64));
        lay_.total = off;
        lay_.am_total = am;
        scratch_floats_ = off;
        argmax_count_ = am;
    }

    [[nodiscard]] const float* param(index offset) const { return parameters_.data() + offset; }

    // ---- kernels on one chain ---------------------------------------------------------------------------------
    static void im2col3(const float* in, index c, index side, float* cols) {
        const index hw = side * side;
        for (index ci = 0; ci < c; ++ci)
            for (index ky = 0; ky < 3; ++ky)
                for (index kx = 0; kx < 3; ++kx) {
                    float* row = cols + ((ci * 3 + ky) * 3 + kx) * hw;
                    for (index y = 0; y < side; ++y) {
                        const index iy = y + ky - 1;
                        for (index x = 0; x < side; ++x) {
                            const index ix = x + kx - 1;
                            row[y * side + x] =
                                (iy >= 0 && iy < side && ix >= 0 && ix < side) ? in[(ci * side + iy) * side + ix] : 0.0f;
                        }
                    }
                }
    }
    static void col2im3_add(const float* cols, index c, index side, float* out) {
        const index hw = side * side;
        for (index ci = 0; ci < c; ++ci)
            for (index ky = 0; ky < 3; ++ky)
                for (index kx = 0; kx < 3; ++kx) {
                    const float* row = cols + ((ci * 3 + ky) * 3 + kx) * hw;
                    for (index y = 0; y < side; ++y) {
                        const index iy = y + ky - 1;
                        if (iy < 0 || iy >= side) continue;
                        for (index x = 0; x < side; ++x) {
                            const index ix = x + kx - 1;
                            if (ix >= 0 && ix < side) out[(ci * side + iy) * side + ix] += row[y * side + x];
                        }
                    }
                }
    }
    // 2x2 max-pool, stride 2 (PyTorch picks the first maximum in row-major window order).
    static void maxpool2(const float* in, index c, index side, float* out, std::int32_t* arg) {
        const index half = side / 2;
        for (index ci = 0; ci < c; ++ci)
            for (index y = 0; y < half; ++y)
                for (index x = 0; x < half; ++x) {
                    const float* base = in + (ci * side + 2 * y) * side + 2 * x;
                    const float v[4] = {base[0], base[1], base[side], base[side + 1]};
                    int best = 0;
                    for (int k = 1; k < 4; ++k)
                        if (v[k] > v[best] || std::isnan(v[k])) best = k;
                    const index o = (ci * half + y) * half + x;
                    out[o] = v[best];
                    arg[o] = best;
                }
    }
    static void unpool2(const float* dout, const std::int32_t* arg, index c, index side, float* din) {
        const index half = side / 2;
        std::fill(din, din + c * side * side, 0.0f);
        for (index ci = 0; ci < c; ++ci)
            for (index y = 0; y < half; ++y)
                for (index x = 0; x < half; ++x) {
                    const index o = (ci * half + y) * half + x;
                    const int k = arg[o];
                    din[(ci * side + 2 * y + k / 2) * side + 2 * x + k % 2] = dout[o];
                }
    }
    void leaky(float* v, index n) const {
        for (index k = 0; k < n; ++k) v[k] = v[k] > 0.0f ? v[k] : slope_ * v[k];
    }
    // d <- d * LeakyReLU'(from the activation's sign)
    void leaky_back(const float* act, float* d, index n) const {
        for (index k = 0; k < n; ++k) d[k] = act[k] > 0.0f ? d[k] : slope_ * d[k];
    }
    // out (r.out x n) = W x + b, W (r.out x r.in) a 1x1 convolution or linear layer; linear() leaves out the bias
    // (the layer's derivative, for tangents).
    void linear(const conv_ref& r, const float* x, index n, float* out) const {
        map(out, r.out, n).noalias() = cmap(param(r.weight), r.out, r.in) * cmap(x, r.in, n);
    }
    void dense(const conv_ref& r, const float* x, index n, float* out) const {
        map o(out, r.out, n);
        o.noalias() = cmap(param(r.weight), r.out, r.in) * cmap(x, r.in, n);
        o.colwise() += Eigen::Map<const Eigen::VectorXf>(param(r.bias), r.out);
    }
    // out[o] = in at the window position max-pooling picked (the pool's derivative, for tangents).
    static void gather2(const float* in, const std::int32_t* arg, index c, index side, float* out) {
        const index half = side / 2;
        for (index ci = 0; ci < c; ++ci)
            for (index y = 0; y < half; ++y)
                for (index x = 0; x < half; ++x) {
                    const index o = (ci * half + y) * half + x;
                    const int k = arg[o];
                    out[o] = in[(ci * side + 2 * y + k / 2) * side + 2 * x + k % 2];
                }
    }
    // Adds dW += d x^T, db += rowsum(d) into grad, and (if dx) dx (+)= W^T d.
    void dense_back(const conv_ref& r, const float* x, const float* d, index n, float* dx, bool accumulate_dx,
                    float* grad) const {
        const cmap dm(d, r.out, n);
        if (grad != nullptr) {
            map(grad + r.weight, r.out, r.in).noalias() += dm * cmap(x, r.in, n).transpose();
            Eigen::Map<Eigen::VectorXf>(grad + r.bias, r.out) += dm.rowwise().sum();
        }
        if (dx != nullptr) {
            if (accumulate_dx)
                map(dx, r.in, n).noalias() += cmap(param(r.weight), r.out, r.in).transpose() * dm;
            else
                map(dx, r.in, n).noalias() = cmap(param(r.weight), r.out, r.in).transpose() * dm;
        }
    }

    // ---- forward of one chain ---------------------------------------------------------------------------------
    float forward(const float* x, scratch& s) const {
        float* buf = s.buffer.data();
        const float* in = x;
        for (int st = 0; st < 3; ++st) {
            const index side = 32 >> st;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
            if (st > 0) in = block_forward(st - 1, buf + lay_.p[st - 1], s);
            im2col3(in, c.in, side, buf + lay_.cols);
            dense({c.weight, c.bias, c.out, c.in * 9, 3}, buf + lay_.cols, side * side, buf + lay_.a[st]);
            leaky(buf + lay_.a[st], c.out * side * side);
            maxpool2(buf + lay_.a[st], c.out, side, buf + lay_.p[st], s.argmax.data() + lay_.am_a[st]);
        }
        const conv_ref& f1 = arch_.fcs[0];
        const conv_ref& f2 = arch_.fcs[1];
        dense(f1, buf + lay_.p[2], 1, buf + lay_.h);
        std::copy(buf + lay_.h, buf + lay_.h + f1.out, buf + lay_.ha);
        leaky(buf + lay_.ha, f1.out);
        float u = 0;
        dense(f2, buf + lay_.ha, 1, &u);
        return u;
    }

    // Non-local block b on x (c x n); returns z (c x n).
    const float* block_forward(int b, const float* x, scratch& s) const {
        float* buf = s.buffer.data();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        dense(bl.theta, x, n, buf + lay_.theta[b]);
        dense(bl.g, x, n, buf + lay_.pg[b]);
        dense(bl.phi, x, n, buf + lay_.pp[b]);
        maxpool2(buf + lay_.pg[b], ci, side, buf + lay_.g[b], s.argmax.data() + lay_.am_pg[b]);
        maxpool2(buf + lay_.pp[b], ci, side, buf + lay_.phi[b], s.argmax.data() + lay_.am_pp[b]);
        map att(buf + lay_.att[b], n, m);
        att.noalias() = cmap(buf + lay_.theta[b], ci, n).transpose() * cmap(buf + lay_.phi[b], ci, m);
        for (index r = 0; r < n; ++r) {
            auto row = att.row(r);
            const float top = row.maxCoeff();
            row = (row.array() - top).exp();
            row /= row.sum();
        }
        map(buf + lay_.y[b], ci, n).noalias() = cmap(buf + lay_.g[b], ci, m) * att.transpose();
        dense(bl.w, buf + lay_.y[b], n, buf + lay_.z[b]);
        map(buf + lay_.z[b], bl.c, n) += cmap(x, bl.c, n);
        return buf + lay_.z[b];
    }

    // ---- backward of one chain (after forward): dU/dx into gx and/or weight * dU/dtheta into grad ------------
    void backward(const float* x, float weight, scratch& s, float* gx, float* grad) const {
        float* buf = s.buffer.data();
        const conv_ref& f1 = arch_.fcs[0];
        const conv_ref& f2 = arch_.fcs[1];
        float top = weight;
        float* dha = buf + lay_.d0;
        dense_back(f2, buf + lay_.ha, &top, 1, dha, false, grad);
        leaky_back(buf + lay_.ha, dha, f1.out);
        float* dp = buf + lay_.d1;  // dU/d p_2
        dense_back(f1, buf + lay_.p[2], dha, 1, dp, false, grad);
        for (int st = 2; st >= 0; --st) {
            const index side = 32 >> st;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
            float* da = buf + lay_.d2;
            stage_delta(st, dp, s, da);
            // conv input: x for stage 0, z of block st-1 otherwise; rebuild its columns.
            const float* in = st == 0 ? x : buf + lay_.z[st - 1];
            const bool want_input = st > 0 || gx != nullptr;
            im2col3(in, c.in, side, buf + lay_.cols);
            const cmap dm(da, c.out, side * side);
            if (grad != nullptr) {
                map(grad + c.weight, c.out, c.in * 9).noalias() += dm * cmap(buf + lay_.cols, c.in * 9, side * side).transpose();
                Eigen::Map<Eigen::VectorXf>(grad + c.bias, c.out) += dm.rowwise().sum();
            }
            if (!want_input) break;
            float* din = st == 0 ? gx : buf + lay_.d0;
            conv_input_delta(st, da, buf + lay_.cols, din);
            if (st == 0) break;
            // through block st-1 into dU/d p_{st-1}
            float* dx = buf + lay_.d1;
            block_backward(st - 1, buf + lay_.p[st - 1], din, dx, s, grad);
            dp = dx;
        }
    }

    // dU/da of stage st (after its LeakyReLU) from dU/dp of its pooled output: through the pool and the LeakyReLU.
    void stage_delta(int st, const float* dp, scratch& s, float* da) const {
        const index side = 32 >> st;
        const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
        unpool2(dp, s.argmax.data() + lay_.am_a[st], c.out, side, da);
        leaky_back(s.buffer.data() + lay_.a[st], da, c.out * side * side);
    }
    // din = dU/d(conv input) of stage st from da: W^T da into the columns, then col2im.
    void conv_input_delta(int st, const float* da, float* cols, float* din) const {
        const index side = 32 >> st;
        const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
        map(cols, c.in * 9, side * side).noalias() =
            cmap(param(c.weight), c.out, c.in * 9).transpose() * cmap(da, c.out, side * side);
        std::fill(din, din + c.in * side * side, 0.0f);
        col2im3_add(cols, c.in, side, din);
    }

    // ---- derivatives along v (Hessian-vector products), after forward(): the tangent of every activation and of
    // every backward delta lives in s.tangent at the offset its value has in s.buffer ---------------------------
    void forward_tangent(const float* v, scratch& s) const {
        const float* buf = s.buffer.data();
        float* t = s.tangent.data();
        const float* in = v;
        for (int st = 0; st < 3; ++st) {
            const index side = 32 >> st;
            const conv_ref& c = arch_.convs[static_cast<std::size_t>(st)];
            if (st > 0) in = block_forward_tangent(st - 1, s);
            im2col3(in, c.in, side, t + lay_.cols);
            linear({c.weight, c.bias, c.out, c.in * 9, 3}, t + lay_.cols, side * side, t + lay_.a[st]);
            leaky_back(buf + lay_.a[st], t + lay_.a[st], c.out * side * side);  // the LeakyReLU's slope per unit
            gather2(t + lay_.a[st], s.argmax.data() + lay_.am_a[st], c.out, side, t + lay_.p[st]);
        }
        // (The fully connected layers' tangents are not needed: above the last block the backward deltas depend on
        // x only through the piecewise-constant slopes, so their tangents are zero.)
    }

    // Tangent of block b's output z along the tangent of its input (t + p[b]); returns t + z[b].
    const float* block_forward_tangent(int b, scratch& s) const {
        const float* buf = s.buffer.data();
        float* t = s.tangent.data();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        const float* x_t = t + lay_.p[b];
        linear(bl.theta, x_t, n, t + lay_.theta[b]);
        linear(bl.g, x_t, n, t + lay_.pg[b]);
        linear(bl.phi, x_t, n, t + lay_.pp[b]);
        gather2(t + lay_.pg[b], s.argmax.data() + lay_.am_pg[b], ci, side, t + lay_.g[b]);
        gather2(t + lay_.pp[b], s.argmax.data() + lay_.am_pp[b], ci, side, t + lay_.phi[b]);
        // Suffix _t: tangent. S = theta^T phi: S_t = theta_t^T phi + theta^T phi_t; A = softmax_rows(S):
        // A_t = A .* (S_t - rowsum(A .* S_t)).
        const cmap att(buf + lay_.att[b], n, m);
        map att_t(t + lay_.att[b], n, m);
        att_t.noalias() = cmap(t + lay_.theta[b], ci, n).transpose() * cmap(buf + lay_.phi[b], ci, m);
        att_t.noalias() += cmap(buf + lay_.theta[b], ci, n).transpose() * cmap(t + lay_.phi[b], ci, m);
        for (index r = 0; r < n; ++r) {
            const float dot = att.row(r).dot(att_t.row(r));
            att_t.row(r) = att.row(r).cwiseProduct((att_t.row(r).array() - dot).matrix());
        }
        // y = g A^T: y_t = g_t A^T + g A_t^T; z = W y + b + x: z_t = W y_t + x_t.
        map y_t(t + lay_.y[b], ci, n);
        y_t.noalias() = cmap(t + lay_.g[b], ci, m) * att.transpose();
        y_t.noalias() += cmap(buf + lay_.g[b], ci, m) * att_t.transpose();
        linear(bl.w, t + lay_.y[b], n, t + lay_.z[b]);
        map(t + lay_.z[b], bl.c, n) += cmap(x_t, bl.c, n);
        return t + lay_.z[b];
    }

    // The backward pass (dU/dx, weight 1, no parameter gradient) with the tangents of its deltas beside it; the
    // tangent of dU/dx is hv.
    void backward_tangent(scratch& s, float* hv) const {
        float* buf = s.buffer.data();
        float* t = s.tangent.data();
        const conv_ref& f1 = arch_.fcs[0];
        const conv_ref& f2 = arch_.fcs[1];
        float top = 1.0f;
        float* dha = buf + lay_.d0;
        dense_back(f2, buf + lay_.ha, &top, 1, dha, false, nullptr);
        leaky_back(buf + lay_.ha, dha, f1.out);
        float* dp = buf + lay_.d1;
        dense_back(f1, buf + lay_.p[2], dha, 1, dp, false, nullptr);
        const float* dp_tangent = nullptr;  // zero above the last block
        for (int st = 2; st >= 0; --st) {
            float* da = buf + lay_.d2;
            float* da_tangent = t + lay_.d2;
            stage_delta(st, dp, s, da);
            if (dp_tangent != nullptr) stage_delta(st, dp_tangent, s, da_tangent);
            if (st == 0) {
                conv_input_delta(0, da_tangent, t + lay_.cols, hv);
                break;
            }
            conv_input_delta(st, da, buf + lay_.cols, buf + lay_.d0);
            if (dp_tangent != nullptr) conv_input_delta(st, da_tangent, t + lay_.cols, t + lay_.d0);
            block_backward_tangent(st - 1, buf + lay_.d0, dp_tangent != nullptr ? t + lay_.d0 : nullptr, s);
            dp = buf + lay_.d1;
            dp_tangent = t + lay_.d1;
        }
    }

    // Block b's backward from dz (buffer d0) and its tangent dz_t (null: zero) into dx (d1) and its tangent (t + d1).
    void block_backward_tangent(int b, const float* dz, const float* dz_t, scratch& s) const {
        float* buf = s.buffer.data();
        float* t = s.tangent.data();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        // The values: dy (dsmall 0), dg (1), dS (2), dtheta (3), dphi (4), and dx.
        block_backward(b, buf + lay_.p[b], dz, buf + lay_.d1, s, nullptr);
        const cmap att(buf + lay_.att[b], n, m), att_t(t + lay_.att[b], n, m);
        const cmap g(buf + lay_.g[b], ci, m), g_t(t + lay_.g[b], ci, m);
        const cmap dy(buf + lay_.dsmall[0], ci, n);
        float* dx_t = t + lay_.d1;
        float* dy_t = t + lay_.dsmall[0];
        if (dz_t != nullptr) {
            std::copy(dz_t, dz_t + bl.c * n, dx_t);  // residual
            dense_back(bl.w, nullptr, dz_t, n, dy_t, false, nullptr);
        } else {
            std::fill(dx_t, dx_t + bl.c * n, 0.0f);
            std::fill(dy_t, dy_t + ci * n, 0.0f);
        }
        // Suffix _t: tangent (derivative along v). dg = dy A: its tangent dy_t A + dy A_t.
        map(t + lay_.dsmall[1], ci, m).noalias() = cmap(dy_t, ci, n) * att;
        map(t + lay_.dsmall[1], ci, m).noalias() += dy * att_t;
        // dAtt = dy^T g (before the softmax's backward; recomputed into t + dsmall 7) and its tangent
        // dy_t^T g + dy^T g_t; then dS = A .* (dAtt - c), c = rowsum(dAtt .* A), whose tangent is
        // A_t .* (dAtt - c) + A .* (dAtt_t - c_t), c_t = rowsum(dAtt_t .* A + dAtt .* A_t).
        map d_att(t + lay_.dsmall[7], n, m);
        d_att.noalias() = dy.transpose() * g;
        map ds_t(t + lay_.dsmall[2], n, m);
        ds_t.noalias() = cmap(dy_t, ci, n).transpose() * g;
        ds_t.noalias() += dy.transpose() * g_t;
        for (index r = 0; r < n; ++r) {
            const float c = d_att.row(r).dot(att.row(r));
            const float c_t = ds_t.row(r).dot(att.row(r)) + d_att.row(r).dot(att_t.row(r));
            ds_t.row(r) = att_t.row(r).cwiseProduct((d_att.row(r).array() - c).matrix()) +
                          att.row(r).cwiseProduct((ds_t.row(r).array() - c_t).matrix());
        }
        // dtheta = phi dS^T, dphi = theta dS: tangents through both factors.
        const cmap ds(buf + lay_.dsmall[2], n, m);
        map dtheta_t(t + lay_.dsmall[3], ci, n), dphi_t(t + lay_.dsmall[4], ci, m);
        dtheta_t.noalias() = cmap(t + lay_.phi[b], ci, m) * ds.transpose();
        dtheta_t.noalias() += cmap(buf + lay_.phi[b], ci, m) * ds_t.transpose();
        dphi_t.noalias() = cmap(t + lay_.theta[b], ci, n) * ds;
        dphi_t.noalias() += cmap(buf + lay_.theta[b], ci, n) * ds_t;
        float* dpg_t = t + lay_.dsmall[5];
        float* dpp_t = t + lay_.dsmall[6];
        unpool2(t + lay_.dsmall[1], s.argmax.data() + lay_.am_pg[b], ci, side, dpg_t);
        unpool2(t + lay_.dsmall[4], s.argmax.data() + lay_.am_pp[b], ci, side, dpp_t);
        dense_back(bl.g, nullptr, dpg_t, n, dx_t, true, nullptr);
        dense_back(bl.phi, nullptr, dpp_t, n, dx_t, true, nullptr);
        dense_back(bl.theta, nullptr, t + lay_.dsmall[3], n, dx_t, true, nullptr);
    }

    void block_backward(int b, const float* x, const float* dz, float* dx, scratch& s, float* grad) const {
        float* buf = s.buffer.data();
        const block_ref& bl = arch_.blocks[static_cast<std::size_t>(b)];
        const index side = 16 >> b, n = side * side, m = n / 4, ci = bl.inner;
        std::copy(dz, dz + bl.c * n, dx);  // residual
        float* dy = buf + lay_.dsmall[0];
        dense_back(bl.w, buf + lay_.y[b], dz, n, dy, false, grad);
        const cmap att(buf + lay_.att[b], n, m);
        float* dg = buf + lay_.dsmall[1];
        map(dg, ci, m).noalias() = cmap(dy, ci, n) * att;
        map datt(buf + lay_.dsmall[2], n, m);
        datt.noalias() = cmap(dy, ci, n).transpose() * cmap(buf + lay_.g[b], ci, m);
        // softmax backward, row-wise: df = A .* (dA - sum(dA .* A))
        for (index r = 0; r < n; ++r) {
            const float dot = datt.row(r).dot(att.row(r));
            datt.row(r) = att.row(r).cwiseProduct((datt.row(r).array() - dot).matrix());
        }
        float* dtheta = buf + lay_.dsmall[3];
        float* dphi = buf + lay_.dsmall[4];
        map(dtheta, ci, n).noalias() = cmap(buf + lay_.phi[b], ci, m) * datt.transpose();
        map(dphi, ci, m).noalias() = cmap(buf + lay_.theta[b], ci, n) * datt;
        float* dpg = buf + lay_.dsmall[5];
        float* dpp = buf + lay_.dsmall[6];
        unpool2(dg, s.argmax.data() + lay_.am_pg[b], ci, side, dpg);
        unpool2(dphi, s.argmax.data() + lay_.am_pp[b], ci, side, dpp);
        dense_back(bl.g, x, dpg, n, dx, true, grad);
        dense_back(bl.phi, x, dpp, n, dx, true, grad);
        dense_back(bl.theta, x, dtheta, n, dx, true, grad);
    }

    index channels_, n_f_;
    float slope_;
    detail::nonlocal_layout arch_;
    detail::aligned_vector<float> parameters_;
};

}  // namespace ebm

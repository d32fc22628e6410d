#pragma once
// The short-run chain as a generator (short-run paper §3.4, Eq. 7): x = M_θ(z, u), K unadjusted Langevin moves
// x_{k+1} = clamp(x_k - h dU/dx(x_k) + s u_k) from x_0 = z, and its vector–Jacobian product with respect to z.
//
// The noise u is either off (s = 0: the paper's interpolation and reconstruction) or fixed: the counter-based
// streams give chain i at step k the normals of (seed, i, first_step + k), so for a fixed seed M_θ is a deterministic
// function of z, and map() equals the sampler's run of the same policy from z bit for bit.
//
// pullback(w) gives (dM/dz)^T w at the z of the last map(): through the K moves backwards, each move's transposed
// Jacobian (I - h H(x_k)) diag(m_k), with H the energy's Hessian-vector product and m_k the clamp's mask
// (kernels::clamp_pullback). The states x_0 .. x_{K-1} it needs are kept every `checkpoint_every` steps; the others
// are recomputed from the nearest kept one (the same noise, the same bits): checkpoint_every = 1 keeps all K
// (memory K + 1 batches, no recomputation), c > 1 keeps ceil(K / c) + 1 plus min(c, K) - 1 for a segment (about
// 2 sqrt(K) for c = sqrt(K)) and costs K - ceil(K / c) more gradient evaluations per pullback.
//
// For energies whose Hessian vanishes (networks of ReLU/LeakyReLU units, detail::hessian_vanishes) the products are
// skipped: each move's Jacobian is then its clamp mask, and without a clamp the pullback is w itself.
//
// Written once for both backends, against the execution interface (backend/execution.hpp); chains are cut into the
// policy's groups of chains_per_task as in the sampler. The energy is held by reference: keep it alive, and do not
// change its parameters between a map() and its pullback().
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../concepts/hessian_vector_energy.hpp"
#include "../energy/scaled.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "../kernels/langevin.hpp"
#include "../random/philox.hpp"
#include "../sampler/langevin.hpp"

namespace ebm {

namespace detail {
/// True when the energy's Hessian is zero wherever it exists: a network of ReLU/LeakyReLU units, pools and affine
/// layers says so (piecewise_linear()), and a scaled one stays so. Then each move's Jacobian is its clamp mask, and
/// pullback() computes no products (their exact value, zero, changes nothing).
template <class E>
bool hessian_vanishes(const E& energy) {
    if constexpr (requires { { energy.piecewise_linear() } -> std::convertible_to<bool>; }) return energy.piecewise_linear();
    else return false;
}
template <class E>
bool hessian_vanishes(const scaled_energy<E>& energy) {
    return hessian_vanishes(energy.inner());
}
}  // namespace detail

struct short_run_map_options {
    bool noise = false;               // u fixed by (seed, chain, first_step + k) when set; u = 0 otherwise
    std::uint64_t seed = 0;           // the noise's Philox seed
    std::uint64_t first_step = 0;     // the noise's first step
    index checkpoint_every = 1;       // keep every c-th state for pullback(); the others are recomputed
};

template <energy_function E>
class short_run_map {
    using X = execution_for<E>;
    using space = memory_space_of_t<E>;
    template <class T>
    using buffer = typename X::template buffer<T>;

public:
    /// The map of a Langevin policy (ebm::langevin or ebm::langevin_decoupled): its step h, noise s, clamp box, K =
    /// policy.steps and chains_per_task; for up to max_chains chains.
    template <class Policy>
    short_run_map(const E& energy, const Policy& policy, index max_chains, short_run_map_options options = {})
        : energy_(&energy),
          move_{policy.step_size(), options.noise ? policy.noise_scale() : 0.0f, policy.clamp},
          steps_(policy.steps),
          options_(options),
          rng_(seed{options.seed}) {
        policy.validate();
        detail::require_positive("short_run_map", "max_chains", max_chains);
        detail::require_positive("short_run_map", "policy.steps", policy.steps);
        detail::require_positive("short_run_map", "options.checkpoint_every", options.checkpoint_every);
        if (options.first_step + static_cast<std::uint64_t>(policy.steps) > max_philox_step)
            detail::fail("short_run_map", "options.first_step + policy.steps must stay below 2^40", options.first_step);
        chains_ = detail::langevin_buffers<E>(energy, max_chains, policy.chains_per_task);
        const index d = energy.dimension(), c = options.checkpoint_every;
        kept_ = (steps_ + c - 1) / c + 1;  // x_0, x_c, x_2c, ... and x_K
        batch_floats_ = d * max_chains;
        kept_states_ = X::template make_buffer<float>(kept_ * batch_floats_);
        if (segment_states() > 0) segment_ = X::template make_buffer<float>(segment_states() * batch_floats_);
        direction_ = X::template make_buffer<float>(batch_floats_);
        product_ = X::template make_buffer<float>(batch_floats_);
    }

    [[nodiscard]] index steps() const { return steps_; }
    [[nodiscard]] index dimension() const { return energy_->dimension(); }
    [[nodiscard]] index max_chains() const { return chains_.max_chains; }
    /// The execution lane of the map's first group of chains (element passes on its batches go there).
    [[nodiscard]] typename X::lane lane() const { return chains_.lane(); }
    /// Batches of max_chains states held for pullback() (kept states and the recomputed segment).
    [[nodiscard]] index stored_batches() const { return kept_ + segment_states(); }
    /// Gradient evaluations of map() and pullback() per chain; Hessian-vector products of pullback() per chain.
    [[nodiscard]] index map_gradients() const { return steps_; }
    [[nodiscard]] index pullback_gradients() const {
        return detail::hessian_vanishes(*energy_) && !move_.clamp.enabled() ? 0 : steps_ - (kept_ - 1);
    }
    [[nodiscard]] index pullback_products() const { return detail::hessian_vanishes(*energy_) ? 0 : steps_; }

    /// x = M_θ(z, u) for the chains of z (x may alias z); keeps what pullback() needs.
    void map(const_batch_view_for<E> z, batch_view_for<E> x) {
        check("short_run_map::map", "z", z.dimension, z.count, z.data);
        check("short_run_map::map", "x", x.dimension, x.count, x.data);
        if (x.count != z.count) detail::fail("short_run_map::map", "x must hold as many chains as z (" + detail::to_text(z.count) + ")", x.count);
        if constexpr (std::is_same_v<space, host_space>) detail::require_batch("short_run_map::map", "z", z, dimension());
        const index d = dimension(), c = options_.checkpoint_every;
        for_each_group(z.count, [&](index g, detail::task_range r, typename X::lane lane) {
            const basic_batch_view<space> xs = x.chains(r.first, r.count);
            X::copy(lane, xs.data, z.chain(r.first), r.count * d);
            for (index l = 0; l < steps_; ++l) {
                if (l % c == 0) X::copy(lane, kept(l / c, r.first), xs.data, r.count * d);
                move(g, r, basic_const_batch_view<space>(xs), xs.data, l);
            }
            X::copy(lane, kept(kept_ - 1, r.first), xs.data, r.count * d);
        });
        mapped_ = z.count;
    }

    /// dz = (dM_θ/dz)^T w at the z of the last map() (w and dz: that many chains; dz may alias w).
    void pullback(const_batch_view_for<E> w, batch_view_for<E> dz)
        requires hessian_vector_energy<E>
    {
        check("short_run_map::pullback", "w", w.dimension, w.count, w.data);
        check("short_run_map::pullback", "dz", dz.dimension, dz.count, dz.data);
        if (mapped_ == 0) detail::fail("short_run_map::pullback", "map() must run first", "no map");
        if (w.count != mapped_ || dz.count != mapped_)
            detail::fail("short_run_map::pullback", "w and dz must hold the last map()'s " + detail::to_text(mapped_) + " chains",
                         w.count != mapped_ ? w.count : dz.count);
        const index d = dimension(), c = options_.checkpoint_every;
        const bool products = !detail::hessian_vanishes(*energy_);
        for_each_group(w.count, [&](index g, detail::task_range r, typename X::lane lane) {
            auto& ws = chains_.workspaces[static_cast<std::size_t>(g)];
            const index n = r.count * d;
            float* dir = direction_.data() + r.first * d;
            float* hw = product_.data() + r.first * d;
            X::copy(lane, dir, w.chain(r.first), n);
            if (!products && !move_.clamp.enabled()) {  // every move's Jacobian is the identity
                X::copy(lane, dz.chain(r.first), dir, n);
                return;
            }
            for (index s = kept_ - 2; s >= 0; --s) {  // segment s: the moves from x_{sc} to x_{min(sc + c, K)}
                const index first = s * c, last = std::min(first + c, steps_);
                // x_j of the segment: kept at its ends, recomputed between them.
                auto state = [&](index j) -> float* {
                    if (j == first) return kept(s, r.first);
                    if (j == last) return kept(s + 1, r.first);
                    return segment_.data() + (j - first - 1) * batch_floats_ + r.first * d;
                };
                for (index j = first; j + 1 < last; ++j)
                    move(g, r, {state(j), d, r.count}, state(j + 1), j);
                for (index j = last - 1; j >= first; --j) {
                    X::for_each(lane, n, kernels::clamp_pullback{dir, state(j + 1), move_.clamp});
                    if (!products) continue;
                    energy_->hessian_vector_product(basic_const_batch_view<space>{state(j), d, r.count},
                                                    basic_const_batch_view<space>{dir, d, r.count},
                                                    basic_batch_view<space>{hw, d, r.count}, ws);
                    X::for_each(lane, n, kernels::move_pullback{dir, hw, move_.step});
                }
            }
            X::copy(lane, dz.chain(r.first), dir, n);
        });
    }

private:
    void check(const char* where, const char* name, index dim, index count, const float* data) const {
        if (dim != dimension()) detail::fail(where, std::string(name) + " dimension must equal the energy's dimension " + detail::to_text(dimension()), dim);
        if (count <= 0 || count > chains_.max_chains)
            detail::fail(where, std::string(name) + " must hold between 1 and max_chains = " + detail::to_text(chains_.max_chains) + " chains", count);
        if (data == nullptr) detail::fail(where, std::string(name) + " must not be null", "nullptr");
    }
    /// States between two kept ones: a segment has min(c, K) moves.
    [[nodiscard]] index segment_states() const { return std::min(options_.checkpoint_every, steps_) - 1; }
    /// f(g, range, lane) for each group of the first `count` chains, the first step written for the kernels; then waits.
    template <class F>
    void for_each_group(index count, F&& f) {
        const auto groups = chains_.grouping(count);
        chains_.start(groups.groups(), options_.first_step);
        X::for_groups(groups, [&](index g) {
            f(g, groups.range(g), X::lane_of(chains_.workspaces[static_cast<std::size_t>(g)]));
        });
        X::wait_all();
    }
    /// Kept state k's chains from `first`.
    [[nodiscard]] float* kept(index k, index first) { return kept_states_.data() + k * batch_floats_ + first * dimension(); }
    /// Move l of group g: dU/dx at from, then to = clamp(from - h dU/dx + s u_l) (the sampler's kernel; to may be from).
    void move(index g, detail::task_range r, basic_const_batch_view<space> from, float* to, index l) {
        const index d = dimension();
        auto& ws = chains_.workspaces[static_cast<std::size_t>(g)];
        float* grad = chains_.gradient.data() + r.first * d;
        energy_->energy_and_gradient(from, span_in<float, space>(chains_.energies.data() + r.first, static_cast<std::size_t>(r.count)),
                                     basic_batch_view<space>{grad, d, r.count}, ws);
        const kernels::langevin_step step{to, from.data, grad, d, rng_, static_cast<std::uint32_t>(r.first),
                                          {chains_.first_step.data(), static_cast<std::uint64_t>(l)}, move_, move_.noise != 0.0f};
        X::langevin_move(X::lane_of(ws), step, r.count, chains_.noise.data() + r.first * d);
    }

    const E* energy_;
    kernels::langevin_move move_;
    index steps_;
    short_run_map_options options_;
    philox rng_;
    detail::langevin_buffers<E> chains_;
    index kept_ = 0, batch_floats_ = 0, mapped_ = 0;
    buffer<float> kept_states_, segment_, direction_, product_;
};

}  // namespace ebm

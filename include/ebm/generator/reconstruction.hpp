#pragma once
// Reconstruction with the short-run generator (short-run paper §3.4, Fig. 4, Table 1b): for observed images x, find
// z with M_θ(z) ≈ x by gradient descent on L(z) = ||x − M_θ(z)||² from z₀ ~ p₀: z_{t+1} = z_t − η ∇L(z_t), with
// ∇L(z) = 2 (dM_θ/dz)^T (M_θ(z) − x) from the map's pullback. Each chain is one image; their losses are independent.
// The paper's update is plain gradient descent (ebm::sgd, the default); any optimizer policy of the library may take
// its place (the latents are its flat parameters). The paper gives no η; reconstruction{} leaves it to the caller.
#include <cstddef>
#include <span>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/hessian_vector_energy.hpp"
#include "../concepts/optimizer.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "../optim/sgd.hpp"
#include "short_run_map.hpp"

namespace ebm {

/// The descent: `iterations` updates of the latents by `optimizer` (plain gradient descent by default).
template <class Optimizer = sgd>
struct reconstruction {
    index iterations = 200;  // the paper's Fig. 4 runs t = 0 .. 200
    Optimizer optimizer{};

    void validate() const {
        detail::require_positive("reconstruction", "iterations", iterations);
        optimizer.validate();
    }
};

/// Mean squared error per pixel of each iterate: mse[t] = mean over chains and pixels of (M_θ(z_t) − x)², t = 0 ..
/// iterations (the last after the final update).
struct reconstruction_result {
    std::vector<double> mse;
};

/// Runs the descent from the latents z (updated in place: z_T on return); `each(t, x_t)` sees every iterate
/// x_t = M_θ(z_t), t = 0 .. iterations (x_t lives in the generator's memory space).
template <hessian_vector_energy E, class Optimizer, class Each>
reconstruction_result reconstruct(short_run_map<E>& generator, const reconstruction<Optimizer>& policy,
                                  const_batch_view_for<E> observed, batch_view_for<E> z, Each&& each) {
    using backend = backend_of_t<E>;
    using X = execution<backend>;
    using space = memory_space_of_t<E>;
    static_assert(optimizer<Optimizer, backend>, "ebm::reconstruct: the optimizer policy must run on the energy's backend");
    constexpr const char* where = "reconstruct";
    policy.validate();
    if (observed.dimension != generator.dimension())
        detail::fail(where, "observed images must have the generator's dimension " + detail::to_text(generator.dimension()),
                     observed.dimension);
    if (observed.count <= 0 || observed.count > generator.max_chains())
        detail::fail(where, "observed must hold between 1 and the generator's max_chains = " + detail::to_text(generator.max_chains()) + " images",
                     observed.count);
    if (observed.data == nullptr || z.data == nullptr) detail::fail(where, "observed and z must not be null", "nullptr");
    if (z.dimension != observed.dimension || z.count != observed.count)
        detail::fail(where, "z must hold one latent of dimension " + detail::to_text(observed.dimension) + " per observed image (" +
                                detail::to_text(observed.count) + ")", z.count);
    const index n = observed.size();
    batch_in<backend> x(observed.dimension, observed.count), direction(observed.dimension, observed.count);
    const auto lane = generator.lane();
    auto state = policy.optimizer.make_state(n, backend{});
    if constexpr (requires { state.lane = lane; }) state.lane = lane;  // the updates in order with the map's work
    std::vector<float> host(static_cast<std::size_t>(n));
    reconstruction_result result;
    result.mse.reserve(static_cast<std::size_t>(policy.iterations + 1));
    for (index t = 0;; ++t) {
        generator.map(z, x.view());
        each(t, basic_const_batch_view<space>(x.view()));
        // M(z) − x, downloaded for the loss, then doubled into ∇L's direction.
        X::for_each(lane, n, kernels::scaled_difference{direction.view().data, x.view().data, observed.data, 1.0f});
        X::download(lane, host.data(), direction.view().data, n);
        X::synchronize(lane);
        double sum = 0;
        for (const float r : host) sum += static_cast<double>(r) * r;
        result.mse.push_back(sum / static_cast<double>(n));
        if (t == policy.iterations) break;
        X::for_each(lane, n, kernels::scale_values{direction.view().data, direction.view().data, 2.0f});
        generator.pullback(direction.view(), direction.view());
        policy.optimizer.step(state, z.values(), span_in<const float, space>(direction.view().data, static_cast<std::size_t>(n)));
    }
    return result;
}

/// reconstruct without an observer.
template <hessian_vector_energy E, class Optimizer>
reconstruction_result reconstruct(short_run_map<E>& generator, const reconstruction<Optimizer>& policy,
                                  const_batch_view_for<E> observed, batch_view_for<E> z) {
    return reconstruct(generator, policy, observed, z, [](index, const_batch_view_for<E>) {});
}

}  // namespace ebm

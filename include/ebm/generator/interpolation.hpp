#pragma once
// Interpolation with the short-run generator (short-run paper §3.4, Fig. 3): z_ρ = ρ z₁ + √(1 − ρ²) z₂, which keeps
// the marginal variance of z ~ N(0, I), and x_ρ = M_θ(z_ρ). At ρ = 1 and ρ = 0 the latent is z₁ and z₂ exactly, so
// the ends are M_θ(z₁) and M_θ(z₂) bit for bit. Every ρ runs the same chains (pair i is chain i), so with the noise
// fixed every x_ρ of a pair sees the same u.
#include <cmath>
#include <span>
#include <string>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "../kernels/elements.hpp"
#include "short_run_map.hpp"

namespace ebm {

/// out holds rho.size() blocks of z1.count chains: block j, chain i is M_θ(ρ_j z1_i + √(1 − ρ_j²) z2_i).
template <energy_function E>
void interpolate(short_run_map<E>& generator, const_batch_view_for<E> z1, const_batch_view_for<E> z2,
                 std::span<const float> rho, batch_view_for<E> out) {
    using X = execution_for<E>;
    constexpr const char* where = "interpolate";
    if (z1.dimension != generator.dimension() || z2.dimension != generator.dimension())
        detail::fail(where, "z1 and z2 must have the generator's dimension " + detail::to_text(generator.dimension()),
                     z1.dimension != generator.dimension() ? z1.dimension : z2.dimension);
    if (z1.count <= 0 || z1.count > generator.max_chains())
        detail::fail(where, "z1 must hold between 1 and the generator's max_chains = " + detail::to_text(generator.max_chains()) + " chains", z1.count);
    if (z2.count != z1.count) detail::fail(where, "z2 must hold as many chains as z1 (" + detail::to_text(z1.count) + ")", z2.count);
    if (z1.data == nullptr || z2.data == nullptr) detail::fail(where, "z1 and z2 must not be null", "nullptr");
    if (rho.empty()) detail::fail(where, "rho must hold at least one value", rho.size());
    for (std::size_t j = 0; j < rho.size(); ++j)
        if (!(rho[j] >= 0.0f && rho[j] <= 1.0f))
            detail::fail(where, "rho[" + std::to_string(j) + "] must lie in [0, 1]", rho[j]);
    const auto blocks = static_cast<index>(rho.size());
    if (out.dimension != z1.dimension || out.count != blocks * z1.count || out.data == nullptr)
        detail::fail(where, "out must hold rho.size() x z1.count = " + detail::to_text(blocks * z1.count) + " chains of dimension " +
                                detail::to_text(z1.dimension), out.count);
    for (index j = 0; j < blocks; ++j) {
        const float r = rho[static_cast<std::size_t>(j)];
        const basic_batch_view<memory_space_of_t<E>> block = out.chains(j * z1.count, z1.count);
        X::for_each(generator.lane(), block.size(),
                    kernels::linear_combination{block.data, z1.data, z2.data, r, std::sqrt(1.0f - r * r)});
        generator.map(block, block);
    }
}

}  // namespace ebm

#pragma once
// Attraction-diffusion energy-landscape mapping (ADELM; Anatomy Sec. 4.4 after Hill et al. 2019):
//   1. descend from every start to a local minimum (minima.hpp);
//   2. (adapt_steps > 0) adapt MALA's step of `merge` and `barrier` to their temperatures, from the lowest minima;
//   3. take the minima in increasing energy; a minimum joins the first basin (lowest representative first) that it
//      either coincides with (closer than same_state_distance) or reaches by attraction-diffusion under `merge`
//      (tried from the minimum toward the representative, then back); otherwise it founds a new basin, whose
//      representative it is (the lowest minimum of a basin, since minima come in increasing energy);
//   4. estimate the barrier between every pair of basin representatives by attraction-diffusion under `barrier`
//      (both directions; the lower path maximum), usually with a stronger magnet so that the chains cross;
//   5. build the disconnectivity graph from the representatives' energies and those barriers.
// The magnet's force in `merge` sets the resolution: basins separated by barriers it cannot pay for stay apart.
// Runs on the energy's own backend (the descent and the chains are the library's samplers); the bookkeeping is on
// the host.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"
#include "attraction_diffusion.hpp"
#include "disconnectivity.hpp"
#include "minima.hpp"

namespace ebm::landscape {

struct adelm_settings {
    landscape::descent descent;
    attraction_diffusion merge;         // decides whether a minimum joins a basin
    attraction_diffusion barrier;       // estimates the barriers between basins
    float same_state_distance = 1e-2f;  // minima closer than this are one minimum (no attraction-diffusion)
    index adapt_steps = 0;  // > 0: merge.epsilon and barrier.epsilon are first set to the step MALA accepts at
                            // 0.574 on U/T (adapt_attraction_step), whichever sampler they run

    void validate(const char* where) const {
        descent.validate(where);
        merge.validate(where);
        barrier.validate(where);
        ebm::detail::require_positive(where, "same_state_distance", same_state_distance);
        ebm::detail::require_finite(where, "same_state_distance", same_state_distance);
        ebm::detail::require_non_negative(where, "adapt_steps", adapt_steps);
    }
};

struct basin {
    std::vector<float> representative;  // its lowest minimum
    float energy = 0;                   // U at the representative
    std::vector<index> minima;          // indexes into energy_landscape::minima
};

struct energy_landscape {
    std::vector<local_minimum> minima;  // the converged minima, in increasing energy
    std::vector<basin> basins;          // in increasing energy
    std::vector<double> barriers;       // basins x basins, row-major; the diagonal holds the basins' energies;
                                        // +inf where no attraction-diffusion crossed
    disconnectivity_graph graph;
    index unconverged = 0;             // starts whose descent did not converge within max_steps (dropped)
    index attraction_attempts = 0;     // attraction-diffusion runs made (each of `chains` trials)
    double attraction_acceptance = 0;  // MALA's mean acceptance over those runs (low: a step too large for T; 1 for
                                       // unadjusted runs)
    float merge_epsilon = 0, barrier_epsilon = 0;  // the steps used (adapted when adapt_steps > 0)

    [[nodiscard]] double barrier(index a, index b) const {
        return barriers[static_cast<std::size_t>(a * static_cast<index>(basins.size()) + b)];
    }
};

/// Maps the landscape of `energy` from `starts` (host memory). The noise streams come from rng: attempt k of
/// attraction-diffusion uses steps [k max_steps, (k + 1) max_steps) of them.
template <energy_function E>
energy_landscape map_landscape(const E& energy, const_batch_view starts, const adelm_settings& settings,
                               const philox& rng) {
    const char* where = "landscape::map_landscape";
    settings.validate(where);
    energy_landscape out;
    for (auto& m : descend(energy, starts, settings.descent)) {
        if (m.converged && std::isfinite(m.energy))
            out.minima.push_back(std::move(m));
        else
            ++out.unconverged;
    }
    std::stable_sort(out.minima.begin(), out.minima.end(),
                     [](const local_minimum& a, const local_minimum& b) { return a.energy < b.energy; });

    auto merge_ad = settings.merge;
    auto barrier_ad = settings.barrier;
    if (settings.adapt_steps > 0 && !out.minima.empty()) {
        // From up to `chains` of the lowest minima, with a stream of its own (the attempts use rng's).
        const auto count =
            std::min<index>(static_cast<index>(out.minima.size()), std::max(merge_ad.chains, barrier_ad.chains));
        const index dim = energy.dimension();
        std::vector<float> from(static_cast<std::size_t>(count * dim));
        for (index i = 0; i < count; ++i)
            std::copy(out.minima[static_cast<std::size_t>(i)].state.begin(),
                      out.minima[static_cast<std::size_t>(i)].state.end(), from.begin() + i * dim);
        const philox warmup(rng.seed_value() ^ 0x5DEECE66DULL);
        const const_batch_view starts_view{from.data(), dim, count};
        merge_ad.epsilon = adapt_attraction_step(energy, starts_view, merge_ad.temperature, merge_ad.epsilon,
                                                 settings.adapt_steps, warmup);
        barrier_ad.epsilon = barrier_ad.temperature == merge_ad.temperature
                                 ? merge_ad.epsilon
                                 : adapt_attraction_step(energy, starts_view, barrier_ad.temperature,
                                                         barrier_ad.epsilon, settings.adapt_steps, warmup);
    }
    out.merge_epsilon = merge_ad.epsilon;
    out.barrier_epsilon = barrier_ad.epsilon;

    std::uint64_t attempt = 0;
    double acceptance = 0;
    auto attempt_ad = [&](const std::vector<float>& from, const std::vector<float>& to,
                          const attraction_diffusion& ad) {
        ++out.attraction_attempts;
        const auto r = attract(energy, from, to, ad, rng, attempt++);
        acceptance += r.acceptance;
        return r;
    };
    auto try_pair = [&](const std::vector<float>& a, const std::vector<float>& b, const attraction_diffusion& ad) {
        const auto there = attempt_ad(a, b, ad);
        const auto back = attempt_ad(b, a, ad);
        return std::min(there.reached ? there.barrier : std::numeric_limits<float>::infinity(),
                        back.reached ? back.barrier : std::numeric_limits<float>::infinity());
    };

    const double same2 = static_cast<double>(settings.same_state_distance) * settings.same_state_distance;
    const index dim = energy.dimension();
    for (index m = 0; m < static_cast<index>(out.minima.size()); ++m) {
        const auto& x = out.minima[static_cast<std::size_t>(m)].state;
        bool joined = false;
        for (auto& b : out.basins) {
            bool same = detail::squared_distance(x.data(), b.representative.data(), dim) < same2;
            if (!same) {
                // From the new (higher) minimum toward the representative first; back only if that fails.
                same = attempt_ad(x, b.representative, merge_ad).reached;
                if (!same) same = attempt_ad(b.representative, x, merge_ad).reached;
            }
            if (same) {
                b.minima.push_back(m);
                joined = true;
                break;
            }
        }
        if (!joined) out.basins.push_back({x, out.minima[static_cast<std::size_t>(m)].energy, {m}});
    }

    const auto n = static_cast<index>(out.basins.size());
    out.barriers.assign(static_cast<std::size_t>(n * n), std::numeric_limits<double>::infinity());
    std::vector<double> energies(static_cast<std::size_t>(n));
    for (index a = 0; a < n; ++a) {
        energies[static_cast<std::size_t>(a)] = out.basins[static_cast<std::size_t>(a)].energy;
        out.barriers[static_cast<std::size_t>(a * n + a)] = energies[static_cast<std::size_t>(a)];
        for (index b = 0; b < a; ++b) {
            const double level = try_pair(out.basins[static_cast<std::size_t>(a)].representative,
                                          out.basins[static_cast<std::size_t>(b)].representative, barrier_ad);
            out.barriers[static_cast<std::size_t>(a * n + b)] = out.barriers[static_cast<std::size_t>(b * n + a)] =
                level;
        }
    }
    if (out.attraction_attempts > 0)
        out.attraction_acceptance = acceptance / static_cast<double>(out.attraction_attempts);
    if (n > 0) out.graph = build_disconnectivity(energies, out.barriers);
    return out;
}

}  // namespace ebm::landscape

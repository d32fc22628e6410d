#pragma once
// Attraction-diffusion (Anatomy Sec. 4.4, after Hill et al. 2019): can a chain started at one minimum reach another
// when sampling the magnetised, tempered energy U(x)/T + alpha ||x - x*|| with x* the other minimum? At low T a chain
// crosses a barrier only if the magnet's pull, alpha times the distance it gains, pays for it; so success says the
// two minima belong to one basin at the resolution that alpha sets, and the highest U on the successful path bounds
// the barrier between them from above (the path's saddle is at least the lowest saddle).
//
// `chains` independent trials run together as one batch of MALA chains (ebm::mala through ebm::markov_chain, on the
// energy's own backend), or of unadjusted Langevin chains (adjusted = false: ebm::langevin, whose clamp projects
// onto the box, where MALA's rejects: the choice for states on the edge of the data box, such as the saturated
// minima of a non-convergent image model). After every step U of each chain is evaluated (untempered, unmagnetised) and
// read back with the states: a trial succeeds at the first step its state is within `reach` of x*, and its barrier is
// the highest U on its path up to that step (the start included). The noise of attempt a is the Philox stream of steps
// [a * max_steps, (a + 1) * max_steps), so every attempt is reproducible and distinct from the others.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../energy/magnetized.hpp"
#include "../energy/scaled.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"
#include "../sampler/mala.hpp"
#include "../sampler/markov_chain.hpp"
#include "states.hpp"

namespace ebm::landscape {

/// One attraction-diffusion test: MALA (or unadjusted Langevin) on U/T + alpha ||x - x*||.
struct attraction_diffusion {
    float temperature = 0.1f;  // T
    float alpha = 1.0f;        // the magnet's force (energy per unit distance, on U/T)
    float epsilon = 0.02f;     // the sampler's step on U/T + alpha ||x - x*||
    index max_steps = 5'000;
    float reach = 0.05f;   // success: ||x - x*|| < reach
    index chains = 8;      // independent trials of one attempt
    bool adjusted = true;  // MALA (true) or unadjusted Langevin
    box clamp{};           // enabled: MALA rejects proposals outside the box, Langevin projects onto it

    void validate(const char* where) const {
        ebm::detail::require_positive(where, "attraction.temperature", temperature);
        ebm::detail::require_finite(where, "attraction.temperature", temperature);
        ebm::detail::require_non_negative(where, "attraction.alpha", alpha);
        ebm::detail::require_finite(where, "attraction.alpha", alpha);
        ebm::detail::require_positive(where, "attraction.epsilon", epsilon);
        ebm::detail::require_finite(where, "attraction.epsilon", epsilon);
        ebm::detail::require_positive(where, "attraction.max_steps", max_steps);
        ebm::detail::require_positive(where, "attraction.reach", reach);
        ebm::detail::require_finite(where, "attraction.reach", reach);
        ebm::detail::require_positive(where, "attraction.chains", chains);
    }
};

/// What one attempt found.
struct attraction_result {
    bool reached = false;                                    // at least one trial reached x*
    float barrier = std::numeric_limits<float>::infinity();  // lowest, over successful trials, of the path's highest U
    index steps = 0;              // steps of the fastest successful trial (max_steps if none)
    double success_fraction = 0;  // successful trials / chains
    double acceptance = 0;        // MALA's mean acceptance over the trials and the steps run (1 unadjusted)
};

/// Chains from `from` toward `to` (host vectors of the energy's dimension) under U/T + alpha ||x - to||; `attempt`
/// picks the noise streams (see the header comment).
template <energy_function E>
attraction_result attract(const E& energy, std::span<const float> from, std::span<const float> to,
                          const attraction_diffusion& ad, const philox& rng, std::uint64_t attempt) {
    const char* where = "landscape::attract";
    ad.validate(where);
    const index dim = energy.dimension();
    if (static_cast<index>(from.size()) != dim)
        ebm::detail::fail(where, "from must have the energy's dimension " + ebm::detail::to_text(dim), from.size());
    if (static_cast<index>(to.size()) != dim)
        ebm::detail::fail(where, "to must have the energy's dimension " + ebm::detail::to_text(dim), to.size());
    for (float v : from) ebm::detail::require_finite(where, "from", v);
    for (float v : to) ebm::detail::require_finite(where, "to", v);
    const auto steps = static_cast<std::uint64_t>(ad.max_steps);
    if (attempt >= (max_philox_step - steps) / steps)
        ebm::detail::fail(where, "attempt x max_steps must stay below 2^40", attempt);

    const auto magnet = magnetized(tempered(energy, ad.temperature), to, ad.alpha);
    detail::chain_states<E> s(energy, ad.chains);
    for (index i = 0; i < ad.chains; ++i) std::copy(from.begin(), from.end(), s.host_chain(i));
    s.upload();
    const double reach2 = static_cast<double>(ad.reach) * ad.reach;
    std::vector<float> path_max(static_cast<std::size_t>(ad.chains), -std::numeric_limits<float>::infinity());
    std::vector<char> arrived(path_max.size(), 0);
    attraction_result r;
    r.steps = ad.max_steps;
    index arrivals = 0, run = 0;
    double accepted = 0;
    auto record = [&](index step) {
        s.read_energies(energy);
        for (index i = 0; i < ad.chains; ++i) {
            const auto k = static_cast<std::size_t>(i);
            if (arrived[k]) continue;
            const float u = s.host_u[k];
            // A NaN energy never raises the maximum through std::max; count it as an infinite barrier instead.
            path_max[k] = std::isnan(u) ? std::numeric_limits<float>::infinity() : std::max(path_max[k], u);
            if (detail::squared_distance(s.host_chain(i), to.data(), dim) < reach2) {
                arrived[k] = 1, ++arrivals;
                r.reached = true;
                r.barrier = std::min(r.barrier, path_max[k]);
                r.steps = std::min(r.steps, step);
            }
        }
    };
    auto diffuse = [&](auto policy) {
        markov_chain chain(policy, magnet, s.view(), rng, attempt * steps);
        record(0);
        while (arrivals < ad.chains && run < ad.max_steps) {
            const sampler_stats st = chain.run();
            ++run;
            accepted += ad.adjusted ? st.acceptance : 1.0;
            record(run);
        }
    };
    if (ad.adjusted)
        diffuse(mala{.epsilon = ad.epsilon, .steps = 1, .clamp = ad.clamp});
    else
        diffuse(langevin{.epsilon = ad.epsilon, .steps = 1, .noise = true, .clamp = ad.clamp});
    r.success_fraction = static_cast<double>(arrivals) / static_cast<double>(ad.chains);
    r.acceptance = run > 0 ? accepted / static_cast<double>(run) : 0.0;
    return r;
}

/// MALA's step for attraction-diffusion at temperature T, adapted: a dual-averaging warm-up (ebm::mala::adapt,
/// target acceptance 0.574) of `warmup_steps` on U/T (no magnet) from the states `from` (host memory), starting
/// at `epsilon`. Returns the averaged step. A model whose training chain was not a valid sampler at its own step (a
/// short-run model) accepts almost no MALA proposal at that step; this finds the step that does.
template <energy_function E>
float adapt_attraction_step(const E& energy, const_batch_view from, float temperature, float epsilon,
                            index warmup_steps, const philox& rng) {
    const char* where = "landscape::adapt_attraction_step";
    ebm::detail::require_positive(where, "temperature", temperature);
    ebm::detail::require_finite(where, "temperature", temperature);
    ebm::detail::require_positive(where, "epsilon", epsilon);
    ebm::detail::require_finite(where, "epsilon", epsilon);
    ebm::detail::require_positive(where, "warmup_steps", warmup_steps);
    if (from.data == nullptr) ebm::detail::fail(where, "from must not be null", "nullptr");
    ebm::detail::require_positive(where, "from.count", from.count);
    if (from.dimension != energy.dimension())
        ebm::detail::fail(
            where, "from dimension must equal the energy's dimension " + ebm::detail::to_text(energy.dimension()),
            from.dimension);
    const auto target = tempered(energy, temperature);
    detail::chain_states<E> s(energy, from.count);
    std::copy(from.data, from.data + from.count * from.dimension, s.host_x.begin());
    s.upload();
    markov_chain chain(mala{.epsilon = epsilon, .steps = 1}, target, s.view(), rng);
    return chain.adapt(warmup_steps);
}

}  // namespace ebm::landscape

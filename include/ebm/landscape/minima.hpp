#pragma once
// Local minima of an energy by gradient descent from many starts, the first stage of energy-landscape mapping
// (Anatomy Sec. 4.4 after Hill et al. 2019: metastable states are the ends of descent paths). The descent is ULA with
// its noise off, x <- x - h dU/dx (ebm::langevin{.noise = false}), run through ebm::markov_chain on the energy's own
// backend. Every `check_every` steps the energies and gradient norms are read back: a chain has converged when its
// gradient norm is below `gradient_tolerance`, or when its energy fell by less than energy_tolerance x max(1, |U|)
// since the last check (a piecewise-linear energy, as a (leaky-)ReLU network's, has its minima at kinks where the
// gradient never vanishes: fixed-step descent ends bouncing around them). `step_decay` < 1 multiplies the step after
// every check, so that the bouncing shrinks and the state closes in on the kink. Descent stops when every chain has
// converged or after `max_steps`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../error.hpp"
#include "../random/philox.hpp"
#include "../sampler/langevin.hpp"
#include "../sampler/markov_chain.hpp"
#include "states.hpp"

namespace ebm::landscape {

/// Gradient descent x <- x - step * dU/dx.
struct descent {
    float step = 0.01f;  // h; stable below 2 / (largest curvature of U)
    index max_steps = 20'000;
    index check_every = 250;
    float gradient_tolerance = 1e-3f;  // a minimum is a state with ||dU/dx|| below this,
    float energy_tolerance = 0.0f;     // or whose U fell by less than this x max(1, |U|) over the last check_every
                                       // steps (0: off)
    float step_decay = 1.0f;           // the step is multiplied by this after every check, in (0, 1]
    box clamp{};                       // enabled: the descent stays in the box (a minimum may then lie on its edge)

    void validate(const char* where) const {
        ebm::detail::require_positive(where, "descent.step", step);
        ebm::detail::require_finite(where, "descent.step", step);
        ebm::detail::require_positive(where, "descent.max_steps", max_steps);
        ebm::detail::require_positive(where, "descent.check_every", check_every);
        ebm::detail::require_positive(where, "descent.gradient_tolerance", gradient_tolerance);
        ebm::detail::require_non_negative(where, "descent.energy_tolerance", energy_tolerance);
        ebm::detail::require_finite(where, "descent.energy_tolerance", energy_tolerance);
        if (!(step_decay > 0.0f && step_decay <= 1.0f))
            ebm::detail::fail(where, "descent.step_decay must lie in (0, 1]", step_decay);
    }
};

/// Where one start's descent ended.
struct local_minimum {
    std::vector<float> state;
    float energy = 0;
    float gradient_norm = 0;
    bool converged = false;  // by the gradient or the energy criterion (see descent)
    index start = 0;         // index of the start it descended from
    index steps = 0;         // descent steps run
};

/// Descends from each of the `starts` (host memory, count x dimension) and returns one local_minimum per start, in
/// the order of the starts.
template <energy_function E>
std::vector<local_minimum> descend(const E& energy, const_batch_view starts, const descent& d) {
    const char* where = "landscape::descend";
    d.validate(where);
    if (starts.data == nullptr) ebm::detail::fail(where, "starts must not be null", "nullptr");
    ebm::detail::require_positive(where, "starts.count", starts.count);
    if (starts.dimension != energy.dimension())
        ebm::detail::fail(
            where, "starts dimension must equal the energy's dimension " + ebm::detail::to_text(energy.dimension()),
            starts.dimension);
    for (index k = 0; k < starts.count * starts.dimension; ++k)
        if (!std::isfinite(starts.data[k])) ebm::detail::fail(where, "starts must be finite; value index", k);

    detail::chain_states<E> s(energy, starts.count);
    std::copy(starts.data, starts.data + starts.count * starts.dimension, s.host_x.begin());
    s.upload();
    std::vector<local_minimum> out(static_cast<std::size_t>(starts.count));
    std::vector<char> done(out.size(), 0);
    index steps = 0, remaining = starts.count;
    auto check = [&] {
        s.read_gradients(energy);
        for (index i = 0; i < starts.count; ++i) {
            auto& m = out[static_cast<std::size_t>(i)];
            if (done[static_cast<std::size_t>(i)]) continue;
            const float* g = s.host_g.data() + i * s.dimension;
            double n2 = 0;
            for (index k = 0; k < s.dimension; ++k) n2 += static_cast<double>(g[k]) * g[k];
            const float previous = m.energy;
            m.gradient_norm = static_cast<float>(std::sqrt(n2));
            m.energy = s.host_u[static_cast<std::size_t>(i)];
            m.start = i;
            m.steps = steps;
            m.state.assign(s.host_chain(i), s.host_chain(i) + s.dimension);
            m.converged = m.gradient_norm < d.gradient_tolerance ||
                          (steps > 0 && d.energy_tolerance > 0 &&
                           previous - m.energy < d.energy_tolerance * std::max(1.0f, std::abs(m.energy)));
            // A converged chain keeps descending with the others (one batch); its minimum is the one recorded here.
            if (m.converged) done[static_cast<std::size_t>(i)] = 1, --remaining;
        }
    };
    check();
    float step = d.step;
    while (remaining > 0 && steps < d.max_steps) {
        const index n = std::min(d.check_every, d.max_steps - steps);
        // A chain per window (its step changes with step_decay): allocated between windows, not inside one.
        const langevin flow{.epsilon = std::sqrt(2.0f * step), .steps = n, .noise = false, .clamp = d.clamp};
        markov_chain chain(flow, energy, s.view(), philox(0));  // no noise is drawn: the seed is unused
        chain.run();
        steps += n;
        step = std::max(step * d.step_decay, 1e-30f);  // stays a valid (positive) step
        check();
    }
    return out;
}

}  // namespace ebm::landscape

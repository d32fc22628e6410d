#pragma once
// Step-size adaptation toward a target acceptance by dual averaging (Nesterov 2009; Hoffman & Gelman 2014,
// Algorithm 5). Used during warm-up of long MALA runs; the final step is exp(log_epsilon_bar).
//
// The running state is a plain struct (trivially copyable, EBM_HOST_DEVICE): the MALA sampler keeps it in the
// execution's memory and updates it with dual_averaging_step after every step, on the host for the CPU backend and
// by one device thread for the CUDA backend (no host round trip, so a CUDA warm-up is one graph). Products that
// feed a sum are explicit fused multiply-adds, so no compiler can contract them differently on either side; sqrt is
// IEEE on both; exp and pow are the platform's (glibc or CUDA's libdevice, within an ulp or two of each other).
#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "../error.hpp"
#include "../kernels/portable_math.hpp"

namespace ebm {

struct dual_averaging {
    double target_acceptance = 0.574;  // optimal for MALA in high dimension (Roberts & Rosenthal 1998)
    double gamma = 0.05;
    double t0 = 10.0;
    double kappa = 0.75;

    void validate() const {
        detail::require_in_open("dual_averaging", "target_acceptance", target_acceptance, 0.0, 1.0);
        detail::require_positive("dual_averaging", "gamma", gamma);
        detail::require_non_negative("dual_averaging", "t0", t0);
        detail::require_in_open("dual_averaging", "kappa", kappa, 0.5, 1.0 + 1e-12);
    }
};


/// The running state of one adaptation (see the file comment).
struct dual_averaging_state {
    double target_acceptance = 0.574;
    double gamma = 0.05;
    double t0 = 10.0;
    double kappa = 0.75;
    double mu = 0.0;  // log(10 eps_0)
    double log_epsilon = 0.0;
    double log_epsilon_bar = 0.0;
    double h_bar = 0.0;
    std::int64_t count = 0;

    dual_averaging_state() = default;
    /// Validates on the host: the state starts at initial_epsilon with mu = log(10 initial_epsilon).
    dual_averaging_state(const dual_averaging& settings, double initial_epsilon)
        : target_acceptance(settings.target_acceptance), gamma(settings.gamma), t0(settings.t0), kappa(settings.kappa),
          mu(std::log(10.0 * initial_epsilon)), log_epsilon(std::log(initial_epsilon)) {
        settings.validate();
        detail::require_positive("dual_averaging_state", "initial_epsilon", initial_epsilon);
        detail::require_finite("dual_averaging_state", "initial_epsilon", initial_epsilon);
    }

    /// Feeds the mean acceptance probability of one step; returns the step to use next.
    EBM_HOST_DEVICE double update(double acceptance_probability) {
        ++count;
        const double m = static_cast<double>(count);
        const double w = 1.0 / (m + t0);
        h_bar = portable::fused_multiply_add(1.0 - w, h_bar, w * (target_acceptance - acceptance_probability));
        log_epsilon = portable::fused_multiply_add(-(std::sqrt(m) / gamma), h_bar, mu);
        const double eta = std::pow(m, -kappa);
        log_epsilon_bar = portable::fused_multiply_add(eta, log_epsilon, (1.0 - eta) * log_epsilon_bar);
        return current();
    }
    [[nodiscard]] EBM_HOST_DEVICE double current() const { return std::exp(log_epsilon); }
    /// The averaged step: what to sample with once warm-up ends.
    [[nodiscard]] EBM_HOST_DEVICE double final_epsilon() const {
        return count == 0 ? current() : std::exp(log_epsilon_bar);
    }
};

/// What one adaptation step did (the MALA state keeps one record per warm-up step).
struct dual_averaging_record {
    double acceptance;   // mean min(1, ratio) over the chains, as fed to update()
    double epsilon;      // current() after the update: the step of the next MALA step (used as a float)
    double epsilon_bar;  // final_epsilon() after the update
};

namespace kernels {

/// The per-step work of an adapting MALA chain, for one thread (call with k = 0): the mean of the per-chain
/// acceptance probabilities in chain order -> update -> the float step the next proposal and accept test read ->
/// trace record.
struct dual_averaging_step {
    dual_averaging_state* state;
    const double* probability;  // per chain, min(1, ratio) of this step (0 for proposals rejected outright)
    index count;
    float* epsilon;
    dual_averaging_record* trace;  // may be null
    index trace_capacity;
    EBM_HOST_DEVICE void operator()(index) const {
        double total = 0.0;
        for (index i = 0; i < count; ++i) total += probability[i];
        const double p = total / static_cast<double>(count);
        const double next = state->update(p);
        *epsilon = static_cast<float>(next);
        if (trace != nullptr && state->count <= trace_capacity)
            trace[state->count - 1] = dual_averaging_record{p, next, state->final_epsilon()};
    }
};

}  // namespace kernels
}  // namespace ebm

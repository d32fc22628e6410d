#pragma once
// Step-size adaptation toward a target acceptance by dual averaging (Nesterov 2009; Hoffman & Gelman 2014,
// Algorithm 5). Used during warm-up of long MALA runs; the final step is exp(log_epsilon_bar).
#include <cmath>

#include "../error.hpp"

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

/// The running state of one adaptation.
class dual_averaging_state {
public:
    dual_averaging_state(const dual_averaging& settings, double initial_epsilon)
        : settings_(settings), mu_(std::log(10.0 * initial_epsilon)), log_epsilon_(std::log(initial_epsilon)) {
        settings.validate();
        detail::require_positive("dual_averaging_state", "initial_epsilon", initial_epsilon);
    }

    /// Feeds the mean acceptance probability of one step; returns the step to use next.
    double update(double acceptance_probability) {
        ++count_;
        const double m = static_cast<double>(count_);
        const double w = 1.0 / (m + settings_.t0);
        h_bar_ = (1.0 - w) * h_bar_ + w * (settings_.target_acceptance - acceptance_probability);
        log_epsilon_ = mu_ - std::sqrt(m) / settings_.gamma * h_bar_;
        const double eta = std::pow(m, -settings_.kappa);
        log_epsilon_bar_ = eta * log_epsilon_ + (1.0 - eta) * log_epsilon_bar_;
        return std::exp(log_epsilon_);
    }
    [[nodiscard]] double current() const { return std::exp(log_epsilon_); }
    /// The averaged step: what to sample with once warm-up ends.
    [[nodiscard]] double final_epsilon() const { return count_ == 0 ? current() : std::exp(log_epsilon_bar_); }

private:
    dual_averaging settings_;
    double mu_;
    double log_epsilon_;
    double log_epsilon_bar_ = 0.0;
    double h_bar_ = 0.0;
    long count_ = 0;
};

}  // namespace ebm

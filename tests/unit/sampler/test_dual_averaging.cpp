// dual_averaging_state: the Hoffman & Gelman recursion, computed by hand for a few updates.
#include <doctest/doctest.h>

#include <ebm/sampler/adaptation.hpp>

#include <cmath>

TEST_CASE("dual_averaging_state follows Hoffman & Gelman's Algorithm 5") {
    const ebm::dual_averaging settings{};  // target 0.574, gamma 0.05, t0 10, kappa 0.75
    ebm::dual_averaging_state st(settings, 0.1);
    CHECK(st.current() == doctest::Approx(0.1));
    CHECK(st.final_epsilon() == doctest::Approx(0.1));  // no update yet
    const double mu = std::log(1.0);
    double h_bar = 0, log_bar = 0;
    const double alphas[] = {0.9, 0.2, 0.6, 1.0};
    for (int m = 1; m <= 4; ++m) {
        const double w = 1.0 / (m + 10.0);
        h_bar = (1 - w) * h_bar + w * (0.574 - alphas[m - 1]);
        const double log_eps = mu - std::sqrt(double(m)) / 0.05 * h_bar;
        const double eta = std::pow(double(m), -0.75);
        log_bar = eta * log_eps + (1 - eta) * log_bar;
        CHECK(st.update(alphas[m - 1]) == doctest::Approx(std::exp(log_eps)).epsilon(1e-12));
        CHECK(st.current() == doctest::Approx(std::exp(log_eps)).epsilon(1e-12));
        CHECK(st.final_epsilon() == doctest::Approx(std::exp(log_bar)).epsilon(1e-12));
    }
}

TEST_CASE("dual_averaging: acceptance above target grows the step, below shrinks it") {
    ebm::dual_averaging_state high({}, 0.1), low({}, 0.1);
    high.update(1.0);
    low.update(0.0);
    CHECK(high.current() > low.current());
}

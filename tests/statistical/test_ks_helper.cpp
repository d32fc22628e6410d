// The KS helper itself: known quantiles of the Kolmogorov distribution and the statistic on small samples.
#include <doctest/doctest.h>

#include <vector>

#include "ks.hpp"

TEST_CASE("ks helper: Kolmogorov survival function at known quantiles") {
    // P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01, P(K > 0.8276) = 0.5, P(K > 1.9495) = 0.001.
    CHECK(ebm_test::kolmogorov_q(1.3581) == doctest::Approx(0.05).epsilon(1e-3));
    CHECK(ebm_test::kolmogorov_q(1.6276) == doctest::Approx(0.01).epsilon(1e-3));
    CHECK(ebm_test::kolmogorov_q(0.8276) == doctest::Approx(0.5).epsilon(1e-3));
    CHECK(ebm_test::kolmogorov_q(1.9495) == doctest::Approx(0.001).epsilon(2e-3));
    // Both branches agree where they meet.
    CHECK(ebm_test::kolmogorov_q(1.18 - 1e-9) == doctest::Approx(ebm_test::kolmogorov_q(1.18 + 1e-9)).epsilon(1e-6));
    CHECK(ebm_test::kolmogorov_q(0.0) == 1.0);
    CHECK(ebm_test::kolmogorov_q(10.0) < 1e-80);
}

TEST_CASE("ks helper: the two-sample statistic") {
    CHECK(ebm_test::ks_two_sample({1, 2, 3}, {1, 2, 3}).statistic == 0.0);
    CHECK(ebm_test::ks_two_sample({1, 2, 3}, {4, 5, 6}).statistic == 1.0);
    CHECK(ebm_test::ks_two_sample({1, 2, 3, 4}, {3, 4, 5, 6}).statistic == doctest::Approx(0.5));
    // Ties across samples are stepped together.
    CHECK(ebm_test::ks_two_sample({1, 1, 2, 2}, {1, 2}).statistic == 0.0);
}

// MCMC diagnostics (ebm/eval/mcmc_diagnostics.hpp): every case of tests/eval/data/arviz_reference.json (written by
// tests/eval/arviz_reference.py) equals ArviZ to 1e-6 relative; the rest checks properties without the file. Random
// draws come from Philox with the seed named in each test, so nothing depends on the platform or the thread count.
#include <doctest/doctest.h>

#include <ebm/batch.hpp>
#include <ebm/eval/mcmc_diagnostics.hpp>
#include <ebm/random/distributions.hpp>
#include <ebm/random/philox.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../unit/common/expect_error.hpp"

#ifndef EBM_ARVIZ_REFERENCE
#error "EBM_ARVIZ_REFERENCE must name tests/eval/data/arviz_reference.json"
#endif

namespace {

/// |a - b| / |b|, 0 when both are NaN or equal (infinities included), +inf when only one is NaN.
double relative_difference(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0.0 : std::numeric_limits<double>::infinity();
    if (a == b) return 0.0;
    return std::abs(a - b) / std::abs(b);
}

/// A JSON number, or NaN for null (the reference writes ArviZ's NaN as null).
double number_or_nan(const nlohmann::json& j) {
    return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}

nlohmann::json load_reference() {
    std::ifstream in(EBM_ARVIZ_REFERENCE);
    REQUIRE_MESSAGE(in.good(), "cannot open " << EBM_ARVIZ_REFERENCE);
    return nlohmann::json::parse(in);
}

/// `chains` chains of `draws` of AR(1) x_t = phi x_{t-1} + e_t started from the stationary law (phi = 0: iid
/// N(0, 1)); the normals of chain c are (purpose::user, chain c, step 0) of the seed.
std::vector<double> ar1_draws(std::uint64_t seed, ebm::index chains, ebm::index draws, double phi) {
    const ebm::philox rng(ebm::seed{seed});
    std::vector<float> e(static_cast<std::size_t>(draws + 1));
    std::vector<double> x(static_cast<std::size_t>(chains * draws));
    for (ebm::index c = 0; c < chains; ++c) {
        ebm::fill_normal(rng, ebm::purpose::user, static_cast<std::uint32_t>(c), 0, e.data(), draws + 1);
        double v = e[0] / std::sqrt(1.0 - phi * phi);
        for (ebm::index t = 0; t < draws; ++t) {
            x[static_cast<std::size_t>(c * draws + t)] = v;
            v = phi * v + e[static_cast<std::size_t>(t + 1)];
        }
    }
    return x;
}

}  // namespace

TEST_CASE("mcmc diagnostics equal ArviZ's on the reference cases to 1e-6 relative") {
    const nlohmann::json reference = load_reference();
    INFO("reference: ArviZ " << reference["versions"]["arviz"].get<std::string>() << ", numpy "
                             << reference["versions"]["numpy"].get<std::string>());
    const auto lags = reference["autocorrelation_lags"].get<std::size_t>();
    REQUIRE(reference["cases"].size() >= 10);
    double worst = 0, worst_rho = 0;  // diagnostics; autocorrelations
    std::string worst_where, worst_rho_where;
    for (const auto& c : reference["cases"]) {
        const std::string name = c["name"].get<std::string>();
        const auto chains = c["chains"].get<ebm::index>();
        const auto draws = c["draws"].get<ebm::index>();
        std::vector<double> values;
        for (const auto& chain : c["values"])
            for (const auto& v : chain) values.push_back(v.get<double>());
        REQUIRE(static_cast<ebm::index>(values.size()) == chains * draws);

        const ebm::scalar_diagnostics all = ebm::diagnose(values, chains, draws);
        const struct {
            const char* quantity;
            double ours, together;
        } results[] = {
            {"ess_bulk", ebm::ess_bulk(values, chains, draws), all.ess_bulk},
            {"ess_tail", ebm::ess_tail(values, chains, draws), all.ess_tail},
            {"ess_mean", ebm::ess_mean(values, chains, draws), all.ess_mean},
            {"rhat", ebm::split_rhat(values, chains, draws), all.rhat},
        };
        for (const auto& r : results) {
            const double expected = number_or_nan(c[r.quantity]);
            const double difference = relative_difference(r.ours, expected);
            INFO("case " << name << ", " << std::string(r.quantity) << ": ours " << r.ours << ", ArviZ " << expected);
            CHECK(difference <= 1e-6);
            CHECK(relative_difference(r.together, r.ours) == 0.0);  // diagnose() computes the same numbers
            if (difference > worst) {
                worst = difference;
                worst_where = name + " " + r.quantity;
            }
        }

        const std::vector<double> chain0(values.begin(), values.begin() + draws);
        const std::vector<double> rho = ebm::chain_autocorrelation(chain0);
        REQUIRE(rho.size() == chain0.size());
        const auto& expected_rho = c["autocorrelation_chain0"];
        REQUIRE(expected_rho.size() == std::min(lags, rho.size()));
        for (std::size_t t = 0; t < expected_rho.size(); ++t) {
            const double expected = number_or_nan(expected_rho[t]);
            // Near-zero lags would make a relative test meaningless: compare those to the lag-0 scale (1).
            const double difference = std::isnan(expected) ? relative_difference(rho[t], expected)
                                                           : std::abs(rho[t] - expected) / std::max(std::abs(expected), 1e-3);
            INFO("case " << name << ", autocorrelation at lag " << t << ": ours " << rho[t] << ", ArviZ " << expected);
            CHECK(difference <= 1e-6);
            if (difference > worst_rho) {
                worst_rho = difference;
                worst_rho_where = name + " lag " + std::to_string(t);
            }
        }
    }
    MESSAGE("largest relative difference to ArviZ: " << worst << " (" << worst_where << "); autocorrelation: "
                                                          << worst_rho << " (" << worst_rho_where << ")");
}

TEST_CASE("inverse_normal_cdf at known points") {
    // Values from mpmath at 60 digits, at the double nearest each p.
    const struct {
        double p, z;
    } known[] = {
        {0.5, 0.0},
        {0.975, 1.9599639845400538556},
        {0.025, -1.9599639845400542118},
        {0.1, -1.2815515655446004353},
        {0.01, -2.3263478740408410931},
        {0.075, -1.4395314709384559349},  // both sides of AS241's split at |p - 1/2| = 0.425
        {0.0749, -1.4402382675279636631},
        {0.925, 1.4395314709384562291},
        {0.3, -0.52440051270804081597},
        {0.6, 0.25334710313579974132},
        {0.9999999, 5.1993375822906610937},
        {1e-10, -6.3613409024040561991},
        {1e-20, -9.2623400897984075796},  // r > 5: the far-tail branch
        {1e-100, -21.273453560965324294},
        {1e-300, -37.047096299361199237},
    };
    for (const auto& k : known) {
        INFO("p = " << k.p);
        const double z = ebm::inverse_normal_cdf(k.p);
        if (k.z == 0.0)
            CHECK(z == 0.0);
        else
            CHECK(std::abs(z - k.z) <= 4e-16 * std::abs(k.z));
    }
    CHECK(ebm::inverse_normal_cdf(0.0) == -std::numeric_limits<double>::infinity());
    CHECK(ebm::inverse_normal_cdf(1.0) == std::numeric_limits<double>::infinity());
    // Round trip through Φ(z) = erfc(-z / sqrt 2) / 2 on the left half, where Φ(z) is computed to full precision.
    for (double z = -30.0; z <= 0.0; z += 0.37) {
        INFO("z = " << z);
        CHECK(std::abs(ebm::inverse_normal_cdf(0.5 * std::erfc(-z / std::sqrt(2.0))) - z) <= 1e-13 * std::max(1.0, std::abs(z)));
    }
    EBM_CHECK_ERROR(ebm::inverse_normal_cdf(1.5), "inverse_normal_cdf", "p", "1.5");
    EBM_CHECK_ERROR(ebm::inverse_normal_cdf(std::numeric_limits<double>::quiet_NaN()), "inverse_normal_cdf", "nan");
}

TEST_CASE("ESS of independent draws is close to their number") {
    // seed 11: 4 chains x 1000 iid N(0, 1). The autocorrelation estimates at each lag have sd ~ 1/sqrt(4000) = 0.016
    // and Geyer's sum stops within a few lags, so tau = 1 +- ~0.05: 20% is about 4 standard deviations.
    const ebm::index chains = 4, draws = 1000;
    const auto x = ar1_draws(11, chains, draws, 0.0);
    const double n = static_cast<double>(chains * draws);
    for (const double ess : {ebm::ess_bulk(x, chains, draws), ebm::ess_mean(x, chains, draws), ebm::ess_tail(x, chains, draws)}) {
        INFO("ESS " << ess << " of " << n << " iid draws");
        CHECK(ess > 0.8 * n);
        CHECK(ess < 1.25 * n);
    }
    CHECK(ebm::split_rhat(x, chains, draws) < 1.01);
}

TEST_CASE("ESS of a long AR(1) is close to n (1 - phi) / (1 + phi)") {
    // seed 12: 4 chains x 20000 of AR(1) with phi = 0.9, whose integrated autocorrelation time is
    // (1 + phi) / (1 - phi) = 19. The relative sd of Geyer's estimate of tau is about sqrt(2 (2M + 1) / n) with
    // M ~ 3 tau = 57 the lags summed (n = 80000): 0.06. 25% is about 4 standard deviations.
    const ebm::index chains = 4, draws = 20000;
    const double phi = 0.9;
    const auto x = ar1_draws(12, chains, draws, phi);
    const double expected = static_cast<double>(chains * draws) * (1.0 - phi) / (1.0 + phi);
    for (const double ess : {ebm::ess_mean(x, chains, draws), ebm::ess_bulk(x, chains, draws)}) {
        INFO("ESS " << ess << ", expected about " << expected);
        CHECK(std::abs(ess / expected - 1.0) < 0.25);
    }
    // The autocorrelation of one chain at lag t is about phi^t (sd ~ sqrt(tau / 20000) = 0.03).
    const std::vector<double> chain0(x.begin(), x.begin() + draws);
    const auto rho = ebm::chain_autocorrelation(chain0);
    CHECK(rho[0] == doctest::Approx(1.0).epsilon(1e-12));
    for (ebm::index t = 1; t <= 5; ++t) CHECK(std::abs(rho[static_cast<std::size_t>(t)] - std::pow(phi, static_cast<double>(t))) < 0.15);
}

TEST_CASE("R-hat is near 1 for chains of one law and above 1.1 for shifted chains") {
    // seed 13: 4 chains x 1000 of AR(1), phi = 0.5 (ESS ~ 1300): split R-hat - 1 is of order 1 / ESS.
    const ebm::index chains = 4, draws = 1000;
    auto x = ar1_draws(13, chains, draws, 0.5);
    const double same = ebm::split_rhat(x, chains, draws);
    CHECK(same > 0.99);
    CHECK(same < 1.01);
    // Chain 3 moved by 2 stationary sds (sd = 1/sqrt(1 - 0.25)): the chain means differ by far more than their noise.
    for (ebm::index t = 0; t < draws; ++t) x[static_cast<std::size_t>(3 * draws + t)] += 2.0 / std::sqrt(0.75);
    CHECK(ebm::split_rhat(x, chains, draws) > 1.1);
    // A drift within chains (second halves moved) is what splitting catches even when the chains agree.
    auto drift = ar1_draws(14, chains, draws, 0.5);
    for (ebm::index c = 0; c < chains; ++c)
        for (ebm::index t = draws / 2; t < draws; ++t) drift[static_cast<std::size_t>(c * draws + t)] += 2.0;
    CHECK(ebm::split_rhat(drift, chains, draws) > 1.1);
}

TEST_CASE("edge cases follow ArviZ: one chain, constant draws, constant chains") {
    const auto one = ar1_draws(15, 1, 100, 0.3);
    CHECK(std::isnan(ebm::split_rhat(one, 1, 100)));
    CHECK(ebm::ess_bulk(one, 1, 100) > 10.0);
    // Constant: ESS = the number of split draws (3 chains x 2 x 50; the middle draw of 101 is dropped), R-hat NaN.
    const std::vector<double> constant(3 * 101, 0.25);
    CHECK(ebm::ess_bulk(constant, 3, 101) == 300.0);
    CHECK(ebm::ess_tail(constant, 3, 101) == 300.0);
    CHECK(ebm::ess_mean(constant, 3, 101) == 300.0);
    CHECK(std::isnan(ebm::split_rhat(constant, 3, 101)));
    std::vector<double> by_chain(2 * 10);
    for (ebm::index i = 0; i < 20; ++i) by_chain[static_cast<std::size_t>(i)] = i < 10 ? 1.0 : 2.0;
    CHECK(ebm::split_rhat(by_chain, 2, 10) == std::numeric_limits<double>::infinity());
    // The fewest draws: ESS is capped at n log10(n) (here 16 log10 16).
    const auto tiny = ar1_draws(16, 4, 4, 0.0);
    CHECK(ebm::ess_bulk(tiny, 4, 4) <= 16.0 * std::log10(16.0) * (1 + 1e-15));
}

TEST_CASE("ties are found by value: -0 and +0 share a rank, and the ranks do not depend on the sort used") {
    // seed 20: 4 chains x 300 of round(2 z) (many ties, many zeros): big enough for the radix sort (>= 512 draws).
    const ebm::index chains = 4, draws = 300;
    auto x = ar1_draws(20, chains, draws, 0.5);
    for (double& v : x) v = std::round(2.0 * v);
    auto negated = x;
    int zeros = 0;
    for (double& v : negated)
        if (v == 0.0 && ++zeros % 2 == 0) v = -0.0;
    REQUIRE(zeros > 50);
    const auto a = ebm::diagnose(x, chains, draws), b = ebm::diagnose(negated, chains, draws);
    CHECK(a.ess_bulk == b.ess_bulk);
    CHECK(a.ess_tail == b.ess_tail);
    CHECK(a.rhat == b.rhat);
    // The radix sort behind the ranks orders (value, position) exactly as std::sort does: by value, -0 == +0, then
    // by position. Values: the rounded draws above, negatives and the signed zeros included, and some extremes.
    negated.insert(negated.end(), {-std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                                   -std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::denorm_min(),
                                   1e-300, -1e300, 0.0, -0.0});
    std::vector<std::pair<double, ebm::index>> expected;
    for (std::size_t i = 0; i < negated.size(); ++i) expected.emplace_back(negated[i], static_cast<ebm::index>(i));
    std::sort(expected.begin(), expected.end());
    ebm::detail::mcmc::workspace w;
    std::vector<std::pair<double, ebm::index>> order;
    ebm::detail::mcmc::sort_with_positions(negated, w, order);
    REQUIRE(order.size() == expected.size());
    bool same = true;
    for (std::size_t i = 0; i < order.size(); ++i)
        same = same && order[i].second == expected[i].second && order[i].first == expected[i].first;
    CHECK(same);
}

TEST_CASE("mcmc_trace records one draw per chain and returns a coordinate chain-major") {
    const ebm::index dimension = 3, chains = 2, capacity = 6;
    ebm::mcmc_trace trace(dimension, chains, capacity);
    CHECK(trace.draws() == 0);
    ebm::batch x(dimension, chains);
    const auto value = [](ebm::index draw, ebm::index chain, ebm::index k) { return static_cast<float>(100 * draw + 10 * chain + k); };
    const ebm::index draws = 5;
    for (ebm::index t = 0; t < draws; ++t) {
        for (ebm::index c = 0; c < chains; ++c)
            for (ebm::index k = 0; k < dimension; ++k) x.chain(c)[k] = value(t, c, k);
        trace.record(x);
    }
    CHECK(trace.draws() == draws);
    for (ebm::index k = 0; k < dimension; ++k) {
        const auto s = trace.series(k);
        REQUIRE(static_cast<ebm::index>(s.size()) == chains * draws);
        for (ebm::index c = 0; c < chains; ++c) {
            const auto one = trace.chain_series(k, c);
            REQUIRE(static_cast<ebm::index>(one.size()) == draws);
            for (ebm::index t = 0; t < draws; ++t) {
                CHECK(s[static_cast<std::size_t>(c * draws + t)] == value(t, c, k));
                CHECK(one[static_cast<std::size_t>(t)] == value(t, c, k));
            }
        }
    }
    trace.record(x);  // the sixth draw fills it
    EBM_CHECK_ERROR(trace.record(x), "mcmc_trace::record", "full", "6");
    ebm::batch wrong_dimension(dimension + 1, chains), wrong_count(dimension, chains + 1);
    trace.clear();
    CHECK(trace.draws() == 0);
    EBM_CHECK_ERROR(trace.record(wrong_dimension), "mcmc_trace::record", "dimension", "4");
    EBM_CHECK_ERROR(trace.record(wrong_count), "mcmc_trace::record", "chains", "3");
    x.chain(1)[2] = std::numeric_limits<float>::quiet_NaN();
    EBM_CHECK_ERROR(trace.record(x), "mcmc_trace::record", "finite");
    EBM_CHECK_ERROR(trace.series(3), "mcmc_trace::series", "k", "3");
    EBM_CHECK_ERROR(ebm::mcmc_trace(0, 2, 10), "mcmc_trace", "dimension", "0");
    EBM_CHECK_ERROR(ebm::summarize(trace), "summarize", "4 draws", "0");
}

TEST_CASE("summarize gives each coordinate's diagnostics and the worst of them") {
    // seed 17: 3 coordinates of 4 chains x 400; coordinate 0 iid, 1 AR(1) phi 0.9, 2 iid with chain 3 shifted by 3.
    const ebm::index dimension = 3, chains = 4, draws = 400;
    const std::vector<double> coordinates[] = {ar1_draws(17, chains, draws, 0.0), ar1_draws(18, chains, draws, 0.9),
                                               ar1_draws(19, chains, draws, 0.0)};
    ebm::mcmc_trace trace(dimension, chains, draws);
    ebm::batch x(dimension, chains);
    for (ebm::index t = 0; t < draws; ++t) {
        for (ebm::index c = 0; c < chains; ++c)
            for (ebm::index k = 0; k < dimension; ++k)
                x.chain(c)[k] = static_cast<float>(coordinates[k][static_cast<std::size_t>(c * draws + t)] + (k == 2 && c == 3 ? 3.0 : 0.0));
        trace.record(x);
    }
    const ebm::trace_summary s = ebm::summarize(trace);
    REQUIRE(s.ess_bulk.size() == 3);
    for (ebm::index k = 0; k < dimension; ++k) {
        const auto series = trace.series(k);
        const auto one = ebm::diagnose(series, chains, draws);  // the same float draws, one coordinate at a time
        const auto i = static_cast<std::size_t>(k);
        CHECK(s.ess_bulk[i] == one.ess_bulk);
        CHECK(s.ess_tail[i] == one.ess_tail);
        CHECK(s.rhat[i] == one.rhat);
        CHECK(s.mean[i] == one.mean);
        CHECK(s.variance[i] == one.variance);
    }
    CHECK(s.ess_bulk_min == *std::min_element(s.ess_bulk.begin(), s.ess_bulk.end()));
    CHECK(s.ess_tail_min == *std::min_element(s.ess_tail.begin(), s.ess_tail.end()));
    CHECK(s.rhat_max == s.rhat[2]);
    CHECK(s.rhat_max > 1.1);
    CHECK(s.ess_bulk[1] < s.ess_bulk[0]);
    CHECK(std::abs(s.mean[0]) < 0.1);
    CHECK(std::abs(s.variance[0] - 1.0) < 0.1);
    // A constant coordinate (R-hat NaN) does not hide the others' worst value.
    ebm::mcmc_trace with_constant(2, chains, draws);
    ebm::batch y(2, chains);
    for (ebm::index t = 0; t < draws; ++t) {
        for (ebm::index c = 0; c < chains; ++c) {
            y.chain(c)[0] = 1.0f;
            y.chain(c)[1] = static_cast<float>(coordinates[2][static_cast<std::size_t>(c * draws + t)] + (c == 3 ? 3.0 : 0.0));
        }
        with_constant.record(y);
    }
    const auto t = ebm::summarize(with_constant);
    CHECK(std::isnan(t.rhat[0]));
    CHECK(t.rhat_max == t.rhat[1]);
    CHECK(t.ess_bulk_min == std::min(t.ess_bulk[0], t.ess_bulk[1]));
}

TEST_CASE("mcmc diagnostics reject malformed input with the function, the argument and the value") {
    const std::vector<double> x(12, 0.5);
    EBM_CHECK_ERROR(ebm::ess_bulk(x, 4, 4), "ess_bulk", "values", "4 * 4 = 16", "12");
    EBM_CHECK_ERROR(ebm::ess_tail(x, 0, 12), "ess_tail", "chains", "0");
    EBM_CHECK_ERROR(ebm::ess_mean(x, 4, 3), "ess_mean", "draws", ">= 4", "3");
    EBM_CHECK_ERROR(ebm::split_rhat(x, -1, 4), "split_rhat", "chains", "-1");
    EBM_CHECK_ERROR(ebm::diagnose(x, 2, 7), "diagnose", "values", "14", "12");
    std::vector<double> bad(16, 0.0);
    bad[5] = std::numeric_limits<double>::infinity();
    EBM_CHECK_ERROR(ebm::ess_bulk(bad, 4, 4), "ess_bulk", "finite", "value 5", "inf");
    EBM_CHECK_ERROR(ebm::chain_autocorrelation(std::vector<double>{}), "chain_autocorrelation", "empty");
    // ebm::error is a std::invalid_argument.
    CHECK_THROWS_AS((void)ebm::split_rhat(x, 4, 4), std::invalid_argument);
    CHECK_THROWS_AS((void)ebm::ess_bulk(x, 0, 12), std::invalid_argument);
}

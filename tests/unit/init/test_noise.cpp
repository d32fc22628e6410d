// Noise initializers: ranges and moments of uniform_noise and gaussian_noise, per-chain streams, determinism.
#include <doctest/doctest.h>

#include <ebm/init/noise.hpp>

#include <cmath>
#include <vector>

namespace {

struct moments {
    double mean = 0, variance = 0, min = 1e300, max = -1e300;
};

moments of(const ebm::batch& x) {
    moments m;
    const auto v = x.view().values();
    for (float a : v) {
        m.mean += a;
        m.min = std::min(m.min, double(a));
        m.max = std::max(m.max, double(a));
    }
    m.mean /= static_cast<double>(v.size());
    for (float a : v) m.variance += (a - m.mean) * (a - m.mean);
    m.variance /= static_cast<double>(v.size() - 1);
    return m;
}

}  // namespace

TEST_CASE("uniform_noise: values lie inside [low, high] with mean (low+high)/2 and variance (high-low)^2/12") {
    const ebm::uniform_noise init{-0.5f, 1.5f};
    const ebm::index d = 5, m = 20000;  // 100000 values: mean SE 0.0018, variance SE 0.0011
    ebm::batch x(d, m);
    auto st = init.make_state(d, m, ebm::philox(1));
    init.draw(st, x, {}, ebm::philox(1), 3);
    const auto mo = of(x);
    CHECK(mo.min > -0.5);
    CHECK(mo.max < 1.5);
    CHECK(mo.min < -0.49);
    CHECK(mo.max > 1.49);
    CHECK(std::abs(mo.mean - 0.5) < 5 * 0.0018);
    CHECK(std::abs(mo.variance - 4.0 / 12.0) < 5 * 0.0011);
}

TEST_CASE("gaussian_noise: mean 0, variance scale^2, kurtosis 3") {
    const ebm::gaussian_noise init{.scale = 2.0f};
    const ebm::index d = 4, m = 25000;  // 100000 values
    ebm::batch x(d, m);
    auto st = init.make_state(d, m, ebm::philox(2));
    init.draw(st, x, {}, ebm::philox(2), 0);
    const auto mo = of(x);
    CHECK(std::abs(mo.mean) < 5 * 2.0 / std::sqrt(1e5));
    CHECK(std::abs(mo.variance - 4.0) < 5 * 4.0 * std::sqrt(2.0 / 1e5));
    double fourth = 0;
    for (float a : x.view().values()) fourth += std::pow(a / 2.0, 4);
    CHECK(std::abs(fourth / 1e5 - 3.0) < 5 * std::sqrt(96.0 / 1e5));
}

TEST_CASE("noise initializers: chain i of a draw is the stream (init_noise, i, iteration) and draws are reproducible") {
    const ebm::uniform_noise uni{};
    const ebm::gaussian_noise gau{};
    const ebm::philox rng(77);
    ebm::batch a(3, 4), b(3, 4), c(3, 4);
    auto su = uni.make_state(3, 4, rng);
    uni.draw(su, a, {}, rng, 5);
    uni.draw(su, b, {}, rng, 5);
    uni.draw(su, c, {}, rng, 6);
    CHECK(std::equal(a.view().values().begin(), a.view().values().end(), b.view().values().begin()));
    CHECK(!std::equal(a.view().values().begin(), a.view().values().end(), c.view().values().begin()));
    std::vector<float> expected(3);
    ebm::fill_uniform(rng, ebm::purpose::init_noise, 2, 5, expected.data(), 3, -1.0f, 1.0f);
    CHECK(std::equal(expected.begin(), expected.end(), a.chain(2)));

    auto sg = gau.make_state(3, 4, rng);
    gau.draw(sg, a, {}, rng, 9);
    ebm::fill_normal(rng, ebm::purpose::init_noise, 3, 9, expected.data(), 3);
    CHECK(std::equal(expected.begin(), expected.end(), a.chain(3)));
    // fill() with first_chain offsets the chain index of the stream.
    ebm::batch one(3, 1);
    gau.fill(one, rng, ebm::purpose::init_noise, 9, 3);
    CHECK(std::equal(expected.begin(), expected.end(), one.chain(0)));
}

// What every chain initializer must satisfy: the concept; draw() writes every element of every chain with finite
// values; the same seed and iteration reproduce the draw; a batch smaller than max_chains is fine; write_back takes
// the drawn batch back; bad sizes throw.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "cases.hpp"

TEST_CASE_TEMPLATE_DEFINE("initializer conformance", I, initializer_conformance) {
    static_assert(ebm::check_chain_initializer<I>());
    const I init = ebm_conformance::make_initializer<I>();
    const ebm::index d = 3, m = 40;
    const ebm::philox rng(21);
    ebm::batch data(d, m);
    ebm::gaussian_noise{}.fill(data, rng, ebm::purpose::data_sample, 0);

    auto draw = [&](std::uint64_t iteration, ebm::index count) {
        auto st = init.make_state(d, m, rng);
        ebm::batch x(d, count);
        for (float& v : x.view().values()) v = std::numeric_limits<float>::quiet_NaN();
        init.draw(st, x, data, rng, iteration);
        init.write_back(st, x);
        return x;
    };

    SUBCASE("every element is written, finite") {
        const auto x = draw(0, m);
        for (float v : x.view().values()) CHECK(std::isfinite(v));
    }
    SUBCASE("the same seed and iteration reproduce the draw") {
        const auto a = draw(4, m), b = draw(4, m);
        CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(d * m)) == 0);
    }
    SUBCASE("a batch smaller than max_chains") {
        const auto x = draw(1, 7);
        for (float v : x.view().values()) CHECK(std::isfinite(v));
    }
    SUBCASE("many iterations of draw and write_back on one state") {
        auto st = init.make_state(d, m, rng);
        ebm::batch x(d, m);
        for (std::uint64_t it = 0; it < 10; ++it) {
            init.draw(st, x, data, rng, it);
            for (float& v : x.view().values()) v *= 0.5f;  // "sampling"
            init.write_back(st, x);
            for (float v : x.view().values()) CHECK(std::isfinite(v));
        }
    }
    SUBCASE("bad sizes throw ebm::error") {
        CHECK_THROWS_AS((void)init.make_state(0, m, rng), ebm::error);
        CHECK_THROWS_AS((void)init.make_state(d, 0, rng), ebm::error);
    }
}

TEST_CASE_TEMPLATE_INVOKE(initializer_conformance, ebm::uniform_noise, ebm::gaussian_noise, ebm::data_init,
                          ebm::persistent_bank<ebm::uniform_noise>, ebm::persistent_bank<ebm::gaussian_noise>);

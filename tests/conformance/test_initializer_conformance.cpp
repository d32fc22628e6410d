// What every chain initializer must satisfy: the concept; draw() writes every element of every chain with finite
// values; the same seed and iteration reproduce the draw; a batch smaller than max_chains is fine; over many
// iterations the draws stay deterministic and write_back takes the drawn batch back (a bank's contents and slot
// order checked against a model); bad sizes throw.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

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
        // Two states driven in lockstep give the same bits at every iteration (determinism across iterations).
        // A bank (an initializer whose state exposes bank() and drawn_slots()) is checked against a model kept here:
        // the drawn slots are distinct, each chain holds its slot's content (except the rejuvenated ones), and
        // after write_back exactly the drawn slots hold the written chains. Every other initializer keeps nothing
        // between iterations: the long-lived state draws what a fresh state draws for the same iteration.
        auto st = init.make_state(d, m, rng);
        auto twin = init.make_state(d, m, rng);
        using state_type = decltype(st);
        constexpr bool is_bank = requires(state_type& s) {
            s.bank();
            s.drawn_slots();
            s.last_rejuvenated();
        };
        std::vector<float> model;
        if constexpr (is_bank) {
            const auto bank = st.bank();
            model.assign(bank.data, bank.data + bank.size());
        }
        ebm::batch x(d, m), y(d, m);
        const auto bytes = sizeof(float) * static_cast<std::size_t>(d * m);
        for (std::uint64_t it = 0; it < 10; ++it) {
            INFO("iteration " << it << ", philox seed 21");
            init.draw(st, x, data, rng, it);
            init.draw(twin, y, data, rng, it);
            CHECK(std::memcmp(x.data(), y.data(), bytes) == 0);
            if constexpr (is_bank) {
                const auto slots = st.drawn_slots();
                REQUIRE(slots.size() == static_cast<std::size_t>(m));
                const std::set<std::uint32_t> distinct(slots.begin(), slots.end());
                CHECK(distinct.size() == slots.size());
                ebm::index differ = 0;
                for (ebm::index i = 0; i < m; ++i) {
                    REQUIRE(slots[static_cast<std::size_t>(i)] < model.size() / static_cast<std::size_t>(d));
                    const float* slot = model.data() + static_cast<std::size_t>(slots[static_cast<std::size_t>(i)]) * d;
                    differ += std::memcmp(x.chain(i), slot, sizeof(float) * static_cast<std::size_t>(d)) != 0 ? 1 : 0;
                }
                CHECK(differ == st.last_rejuvenated());  // restarted chains hold fresh noise, the others their slot
            } else {
                const auto fresh = draw(it, m);
                CHECK(std::memcmp(x.data(), fresh.data(), bytes) == 0);
            }
            for (float& v : x.view().values()) v *= 0.5f;  // "sampling"
            std::memcpy(y.data(), x.data(), bytes);
            init.write_back(st, x);
            init.write_back(twin, y);
            if constexpr (is_bank) {
                const auto slots = st.drawn_slots();
                for (ebm::index i = 0; i < m; ++i)
                    std::memcpy(model.data() + static_cast<std::size_t>(slots[static_cast<std::size_t>(i)]) * d,
                                x.chain(i), sizeof(float) * static_cast<std::size_t>(d));
                const auto bank = st.bank();
                CHECK(std::memcmp(bank.data, model.data(), sizeof(float) * model.size()) == 0);
                const auto twin_bank = twin.bank();
                CHECK(std::memcmp(twin_bank.data, model.data(), sizeof(float) * model.size()) == 0);
            }
        }
    }
    SUBCASE("bad sizes throw ebm::error") {
        CHECK_THROWS_AS((void)init.make_state(0, m, rng), ebm::error);
        CHECK_THROWS_AS((void)init.make_state(d, 0, rng), ebm::error);
    }
}

TEST_CASE_TEMPLATE_INVOKE(initializer_conformance, ebm::uniform_noise, ebm::gaussian_noise, ebm::data_init,
                          ebm::persistent_bank<ebm::uniform_noise>, ebm::persistent_bank<ebm::gaussian_noise>);

// persistent_bank: distinct slots without replacement, write-back to exactly the drawn slots, rejuvenation
// frequency, determinism and uniform use of the slots.
#include <doctest/doctest.h>

#include <ebm/init/noise.hpp>
#include <ebm/init/persistent_bank.hpp>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

namespace {

bool same_floats(const float* a, const float* b, ebm::index n) { return std::memcmp(a, b, sizeof(float) * static_cast<std::size_t>(n)) == 0; }

}  // namespace

TEST_CASE("persistent_bank: the bank starts from its initializer on the bank_init stream") {
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 50, .init = {-2.0f, 2.0f}};
    const ebm::philox rng(4);
    auto st = bank.make_state(3, 10, rng);
    CHECK(st.bank().count == 50);
    CHECK(st.bank().dimension == 3);
    ebm::batch expected(3, 50);
    ebm::uniform_noise{-2.0f, 2.0f}.fill(expected, rng, ebm::purpose::bank_init, 0);
    CHECK(same_floats(st.bank().data, expected.data(), 150));
}

TEST_CASE("persistent_bank: a draw takes distinct slots and copies their states") {
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 40};
    const ebm::philox rng(5);
    auto st = bank.make_state(2, 40, rng);
    ebm::batch x(2, 40);
    for (std::uint64_t it = 0; it < 20; ++it) {
        bank.draw(st, x, {}, rng, it);
        const auto slots = st.drawn_slots();
        REQUIRE(slots.size() == 40);
        const std::set<std::uint32_t> distinct(slots.begin(), slots.end());
        CHECK(distinct.size() == 40);  // a batch as large as the bank takes every slot once
        for (ebm::index i = 0; i < 40; ++i) {
            CHECK(slots[static_cast<std::size_t>(i)] < 40u);
            CHECK(same_floats(x.chain(i), st.bank().chain(slots[static_cast<std::size_t>(i)]), 2));
        }
        CHECK(st.last_rejuvenated() == 0);
    }
}

TEST_CASE("persistent_bank: write_back writes exactly the drawn slots") {
    const ebm::persistent_bank<ebm::gaussian_noise> bank{.size = 100};
    const ebm::philox rng(6);
    auto st = bank.make_state(3, 10, rng);
    ebm::batch x(3, 10);
    for (std::uint64_t it = 0; it < 5; ++it) {
        const ebm::batch before = [&] {
            ebm::batch copy(3, 100);
            std::memcpy(copy.data(), st.bank().data, sizeof(float) * 300);
            return copy;
        }();
        bank.draw(st, x, {}, rng, it);
        for (ebm::index k = 0; k < x.view().size(); ++k) x.data()[k] = 100.0f + static_cast<float>(it * 1000 + k);
        bank.write_back(st, x);
        std::vector<bool> drawn(100, false);
        for (ebm::index i = 0; i < 10; ++i) {
            const auto slot = st.drawn_slots()[static_cast<std::size_t>(i)];
            drawn[slot] = true;
            CHECK(same_floats(st.bank().chain(slot), x.chain(i), 3));
        }
        for (ebm::index s = 0; s < 100; ++s)
            if (!drawn[static_cast<std::size_t>(s)]) CHECK(same_floats(st.bank().chain(s), before.chain(s), 3));
    }
}

TEST_CASE("persistent_bank: a smaller batch than max_chains is drawn and written back") {
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 30};
    const ebm::philox rng(7);
    auto st = bank.make_state(2, 10, rng);
    ebm::batch x(2, 4);
    bank.draw(st, x, {}, rng, 0);
    CHECK(st.drawn_slots().size() == 4);
    bank.write_back(st, x);
}

TEST_CASE("persistent_bank: rejuvenation frequency matches the probability (binomial)") {
    const float rho = 0.3f;
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 1000, .init = {5.0f, 6.0f}, .rejuvenation = rho};
    const ebm::philox rng(8);
    auto st = bank.make_state(2, 100, rng);
    ebm::batch x(2, 100);
    // Mark every bank state, so a rejuvenated chain (drawn from U[5, 6]) is recognisable.
    for (ebm::index k = 0; k < st.bank().size(); ++k) st.bank().data[k] = -1.0f;
    std::int64_t total = 0;
    const int iterations = 200;
    for (int it = 0; it < iterations; ++it) {
        bank.draw(st, x, {}, rng, static_cast<std::uint64_t>(it));
        ebm::index fresh = 0;
        for (ebm::index i = 0; i < 100; ++i) {
            const bool from_noise = x.chain(i)[0] >= 5.0f && x.chain(i)[0] <= 6.0f;
            const bool from_bank = x.chain(i)[0] == -1.0f && x.chain(i)[1] == -1.0f;
            CHECK((from_noise || from_bank));
            fresh += from_noise ? 1 : 0;
        }
        CHECK(fresh == st.last_rejuvenated());
        total += st.last_rejuvenated();
        // Write back the unmodified chains (marks for bank draws, fresh noise for the rejuvenated) and remark.
        for (ebm::index k = 0; k < x.view().size(); ++k) x.data()[k] = -1.0f;
        bank.write_back(st, x);
    }
    const double n = 100.0 * iterations;
    const double sd = std::sqrt(n * rho * (1 - rho));
    MESSAGE("rejuvenated " << total << " of " << n << " (expected " << n * rho << " +- " << sd << ")");
    CHECK(std::abs(static_cast<double>(total) - n * rho) < 4 * sd);
}

TEST_CASE("persistent_bank: every slot is used about equally often") {
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 200};
    const ebm::philox rng(9);
    auto st = bank.make_state(1, 20, rng);
    ebm::batch x(1, 20);
    std::vector<int> uses(200, 0);
    const int iterations = 2000;  // 40000 draws, 200 per slot on average
    for (int it = 0; it < iterations; ++it) {
        bank.draw(st, x, {}, rng, static_cast<std::uint64_t>(it));
        for (auto s : st.drawn_slots()) ++uses[s];
    }
    double chi2 = 0;
    for (int u : uses) chi2 += (u - 200.0) * (u - 200.0) / 200.0;
    // 199 degrees of freedom: mean 199, sd 19.9; without replacement within a draw the spread is slightly smaller.
    MESSAGE("chi^2 = " << chi2 << " on 199 degrees of freedom");
    CHECK(chi2 < 199 + 5 * 19.9);
}

TEST_CASE("persistent_bank: the same seed draws the same slots and states") {
    const ebm::persistent_bank<ebm::uniform_noise> bank{.size = 500, .rejuvenation = 0.1f};
    auto a = bank.make_state(2, 50, ebm::philox(10));
    auto b = bank.make_state(2, 50, ebm::philox(10));
    auto c = bank.make_state(2, 50, ebm::philox(11));
    ebm::batch xa(2, 50), xb(2, 50), xc(2, 50);
    bool any_difference = false;
    for (std::uint64_t it = 0; it < 10; ++it) {
        bank.draw(a, xa, {}, ebm::philox(10), it);
        bank.draw(b, xb, {}, ebm::philox(10), it);
        bank.draw(c, xc, {}, ebm::philox(11), it);
        CHECK(std::equal(a.drawn_slots().begin(), a.drawn_slots().end(), b.drawn_slots().begin()));
        CHECK(same_floats(xa.data(), xb.data(), 100));
        any_difference = any_difference || !std::equal(a.drawn_slots().begin(), a.drawn_slots().end(), c.drawn_slots().begin());
        for (ebm::index k = 0; k < 100; ++k) xa.data()[k] = xb.data()[k] = xc.data()[k] = static_cast<float>(it);
        bank.write_back(a, xa);
        bank.write_back(b, xb);
        bank.write_back(c, xc);
    }
    CHECK(any_difference);
    CHECK(same_floats(a.bank().data, b.bank().data, 1000));
}

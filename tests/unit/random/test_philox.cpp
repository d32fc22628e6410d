#include <doctest/doctest.h>

#include <ebm/random/distributions.hpp>
#include <ebm/random/philox.hpp>

#include <array>
#include <cmath>
#include <vector>

// Known-answer vectors of Philox4x32-10 (Random123's kat_vectors).
TEST_CASE("philox4x32-10 known-answer vectors") {
    using block = ebm::philox::block_type;
    CHECK(ebm::philox::raw({0, 0, 0, 0}, {0, 0}) == block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    CHECK(ebm::philox::raw({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
          block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    CHECK(ebm::philox::raw({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
          block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("uniforms lie strictly inside (0, 1)") {
    CHECK(ebm::uniform_open01(0u) > 0.0f);
    CHECK(ebm::uniform_open01(0xffffffffu) < 1.0f);
    CHECK(std::isfinite(std::log(ebm::uniform_open01(0u))));
}

TEST_CASE("a chain's noise depends only on (seed, purpose, chain, step)") {
    const ebm::philox rng(ebm::seed{42});
    std::vector<float> a(10), b(10), c(10);
    ebm::fill_normal(rng, ebm::purpose::langevin_noise, 3, 7, a.data(), 10);
    ebm::fill_normal(rng, ebm::purpose::langevin_noise, 3, 7, b.data(), 10);
    ebm::fill_normal(rng, ebm::purpose::langevin_noise, 3, 8, c.data(), 10);
    CHECK(a == b);
    CHECK(a != c);
    // The first 8 elements of a 10-element draw equal an 8-element draw: element e always uses block e/4.
    std::vector<float> d(8);
    ebm::fill_normal(rng, ebm::purpose::langevin_noise, 3, 7, d.data(), 8);
    CHECK(std::equal(d.begin(), d.end(), a.begin()));
}

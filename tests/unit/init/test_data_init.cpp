// data_init: chains start at a data batch (contrastive divergence), copied exactly or plus sigma z from the
// init_noise stream; write_back keeps nothing.
#include <doctest/doctest.h>

#include <ebm/init/data.hpp>
#include <ebm/random/distributions.hpp>

#include <cmath>

TEST_CASE("data_init copies the first x.count positives exactly") {
    const ebm::data_init init;
    ebm::batch data(2, 5), x(2, 3);
    for (ebm::index k = 0; k < data.view().size(); ++k) data.data()[k] = 0.1f * static_cast<float>(k) - 0.3f;
    auto st = init.make_state(2, 3, ebm::philox(1));
    init.draw(st, x, data, ebm::philox(1), 0);
    for (ebm::index k = 0; k < x.view().size(); ++k) CHECK(x.data()[k] == data.data()[k]);
    // The chains are copies: moving them leaves the data alone, and write_back does not touch the data.
    x.data()[0] = 42.0f;
    init.write_back(st, x);
    CHECK(data.data()[0] == -0.3f);
}

TEST_CASE("data_init with noise: x = data + sigma z, z of (init_noise, chain i, iteration t) as ebm::fill_normal draws it") {
    const ebm::data_init init{.noise = 0.03f};
    const ebm::index d = 7, n = 3;  // 7: a partial last Philox block
    ebm::batch data(d, n), x(d, n);
    for (ebm::index k = 0; k < data.view().size(); ++k) data.data()[k] = 0.05f * static_cast<float>(k) - 0.5f;
    auto st = init.make_state(d, n, ebm::philox(9));
    INFO("seed 9, iteration 12, sigma 0.03");
    init.draw(st, x, data, ebm::philox(9), 12);
    double moved = 0;
    for (ebm::index i = 0; i < n; ++i) {
        float z[d];
        ebm::fill_normal(ebm::philox(9), ebm::purpose::init_noise, static_cast<std::uint32_t>(i), 12, z, d, 0.03f);
        for (ebm::index e = 0; e < d; ++e) {
            CHECK(x.chain(i)[e] == data.chain(i)[e] + z[e]);
            moved += std::fabs(x.chain(i)[e] - data.chain(i)[e]);
        }
    }
    CHECK(moved / static_cast<double>(d * n) > 0.005);  // the noise is there (mean |z| sigma = 0.024)
    ebm::batch again(d, n);
    init.draw(st, again, data, ebm::philox(9), 13);  // another iteration: other noise
    CHECK(again.chain(0)[0] != x.chain(0)[0]);
}

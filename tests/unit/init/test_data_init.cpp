// data_init: chains start at the positives (contrastive divergence), copied exactly; write_back keeps nothing.
#include <doctest/doctest.h>

#include <ebm/init/data.hpp>

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

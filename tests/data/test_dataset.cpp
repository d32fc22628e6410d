#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/data/dataset.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace {

ebm::data::byte_images bytes_of(ebm::index count, ebm::index channels, ebm::index h, ebm::index w) {
    ebm::data::byte_images b;
    b.count = count;
    b.channels = channels;
    b.height = h;
    b.width = w;
    for (ebm::index k = 0; k < count * channels * h * w; ++k) b.pixels.push_back(static_cast<std::uint8_t>((k * 37) % 256));
    for (ebm::index i = 0; i < count; ++i) b.labels.push_back(static_cast<std::uint8_t>(i % 10));
    return b;
}

using ebm_test::message_of;

}  // namespace

TEST_CASE("bytes are scaled to [-1, 1]") {
    ebm::data::byte_images b;
    b.count = 1;
    b.height = 1;
    b.width = 3;
    b.pixels = {0, 255, 51};
    const ebm::data::dataset d(b);
    CHECK(d.size() == 1);
    CHECK(d.image(0)[0] == -1.0f);
    CHECK(d.image(0)[1] == 1.0f);
    CHECK(d.image(0)[2] == doctest::Approx(-0.6f));
}

TEST_CASE("padding centres the image in -1 (black), resizing is bilinear, channels convert") {
    const ebm::data::dataset d(bytes_of(2, 1, 28, 28));
    const auto padded = d.fit({1, 32, 32}, ebm::data::fit_mode::pad);
    CHECK(padded.shape() == ebm::data::image_shape{1, 32, 32});
    CHECK(padded.size() == 2);
    CHECK(padded.labels() == d.labels());
    CHECK(padded.image(1)[0] == -1.0f);
    CHECK(padded.image(1)[2 * 32 + 2] == d.image(1)[0]);
    CHECK(padded.image(1)[29 * 32 + 29] == d.image(1)[27 * 28 + 27]);
    CHECK(padded.image(1)[30 * 32 + 30] == -1.0f);

    const auto rgb = d.fit({3, 32, 32}, ebm::data::fit_mode::pad);
    CHECK(rgb.image(0)[2 * 32 * 32 + 2 * 32 + 2] == d.image(0)[0]);

    // A 2x2 image doubled: corners keep their values, centres interpolate (half-pixel centres).
    const std::vector<float> tiny{-1.0f, 1.0f, 1.0f, -1.0f};
    const ebm::data::dataset t({1, 2, 2}, tiny);
    const auto big = t.fit({1, 4, 4}, ebm::data::fit_mode::resize);
    CHECK(big.image(0)[0] == -1.0f);
    CHECK(big.image(0)[3] == 1.0f);
    CHECK(big.image(0)[1] == doctest::Approx(-0.5f));  // x = 0.25 between -1 and 1
    CHECK(big.image(0)[5] == doctest::Approx(-0.25f));

    const ebm::data::dataset colour(bytes_of(1, 3, 4, 4));
    const auto grey = colour.fit({1, 4, 4}, ebm::data::fit_mode::pad);
    const float* c = colour.image(0);
    CHECK(grey.image(0)[0] == doctest::Approx(0.299f * c[0] + 0.587f * c[16] + 0.114f * c[32]));
}

TEST_CASE("dataset: bad sizes are clear errors") {
    const ebm::data::dataset d(bytes_of(2, 1, 28, 28));
    const auto msg = message_of([&] { (void)d.fit({1, 16, 16}, ebm::data::fit_mode::pad); });
    CHECK(msg.find("ebm::dataset::fit: cannot pad 1x28x28 images") == 0);
    auto b = bytes_of(2, 1, 4, 4);
    b.pixels.pop_back();
    CHECK(message_of([&] { (void)ebm::data::dataset(b); }).find("pixels must hold") != std::string::npos);
    CHECK(message_of([&] { ebm::data::shuffled_batches(d, 3, ebm::seed{1}); }).find("must not exceed the dataset size") !=
          std::string::npos);
}

TEST_CASE("shuffled batches: each epoch a Philox permutation, batch t a pure function of (seed, t)") {
    const ebm::data::dataset d(bytes_of(10, 1, 1, 1));  // image i holds a distinct value
    ebm::data::shuffled_batches a(d, 3, ebm::seed{5}), b(d, 3, ebm::seed{5}), other(d, 3, ebm::seed{6});
    CHECK(a.batches_per_epoch() == 3);
    const auto e0 = std::vector<std::uint32_t>(a.epoch_order(0).begin(), a.epoch_order(0).end());
    const auto e1 = std::vector<std::uint32_t>(a.epoch_order(1).begin(), a.epoch_order(1).end());
    CHECK(std::set<std::uint32_t>(e0.begin(), e0.end()).size() == 10);
    CHECK(e0 != e1);
    std::vector<std::uint32_t> identity(10);
    for (std::uint32_t k = 0; k < 10; ++k) identity[k] = k;
    CHECK(e0 != identity);
    const auto o0 = std::vector<std::uint32_t>(other.epoch_order(0).begin(), other.epoch_order(0).end());
    CHECK(o0 != e0);

    ebm::batch x(1, 3), y(1, 3);
    // b jumps straight to iteration 7 (epoch 2, batch 1), as a resumed run would.
    for (std::uint64_t t = 0; t <= 7; ++t) a.batch(t, x.view());
    b.batch(7, y.view());
    CHECK(std::equal(x.data(), x.data() + 3, y.data()));
    const auto e2 = a.epoch_order(2);
    for (int i = 0; i < 3; ++i) CHECK(x.data()[i] == d.image(e2[static_cast<std::size_t>(3 + i)])[0]);
}

TEST_CASE("shuffled batches: stream 1 of a seed (CD chain starts) is another permutation than stream 0 (positives)") {
    const ebm::data::dataset d(bytes_of(40, 1, 1, 1));
    ebm::data::shuffled_batches positives(d, 4, ebm::seed{5}), starts(d, 4, ebm::seed{5}, 1);
    INFO("40 images, batch 4, seed 5, streams 0 and 1");
    int same_batches = 0;
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
        const auto p = std::vector<std::uint32_t>(positives.epoch_order(epoch).begin(), positives.epoch_order(epoch).end());
        const auto s = std::vector<std::uint32_t>(starts.epoch_order(epoch).begin(), starts.epoch_order(epoch).end());
        CHECK(std::set<std::uint32_t>(s.begin(), s.end()).size() == 40);
        CHECK(p != s);
        for (std::size_t b = 0; b < 10; ++b)
            same_batches += std::equal(p.begin() + 4 * b, p.begin() + 4 * b + 4, s.begin() + 4 * b) ? 1 : 0;
    }
    CHECK(same_batches == 0);  // a batch shared by chance: about 1 in 4 million
}

#include "common/error_message.hpp"
#include <doctest/doctest.h>
#include <zlib.h>

#include <ebm/data/idx.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_folder.hpp"

namespace {

std::vector<std::uint8_t> idx_bytes(std::uint8_t type, std::vector<std::uint32_t> shape, const std::vector<std::uint8_t>& data) {
    std::vector<std::uint8_t> out{0, 0, type, static_cast<std::uint8_t>(shape.size())};
    for (auto s : shape)
        for (int k = 3; k >= 0; --k) out.push_back(static_cast<std::uint8_t>(s >> (8 * k)));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

void write_plain(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
    gzFile f = gzopen(p.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
    gzclose(f);
}

std::vector<std::uint8_t> ramp(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t k = 0; k < n; ++k) v[k] = static_cast<std::uint8_t>((k * 7) % 256);
    return v;
}

using ebm_test::message_of;

}  // namespace

TEST_CASE("IDX images and labels, plain and gzip-compressed") {
    ebm_test::temp_folder dir("idx");
    const auto pixels = ramp(5 * 4 * 3);
    const std::vector<std::uint8_t> labels{3, 1, 4, 1, 5};
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        const auto images_path = dir / (gz ? "images.gz" : "images");
        const auto labels_path = dir / (gz ? "labels.gz" : "labels");
        (gz ? write_gz : write_plain)(images_path, idx_bytes(0x08, {5, 4, 3}, pixels));
        (gz ? write_gz : write_plain)(labels_path, idx_bytes(0x08, {5}, labels));
        const auto set = ebm::data::read_idx_dataset(images_path, labels_path);
        CHECK(set.count == 5);
        CHECK(set.channels == 1);
        CHECK(set.height == 4);
        CHECK(set.width == 3);
        CHECK(set.pixels == pixels);
        CHECK(set.labels == labels);
    }
}

TEST_CASE("IDX: missing, truncated, wrong magic, trailing bytes and mismatched counts are clear errors") {
    ebm_test::temp_folder dir("idx-bad");
    const auto good = idx_bytes(0x08, {2, 3, 3}, ramp(18));

    CHECK(message_of([&] { (void)ebm::data::read_idx_images(dir / "nope"); }).find("ebm::read_idx: cannot open file") == 0);

    auto truncated = good;
    truncated.resize(truncated.size() - 5);
    write_plain(dir / "short", truncated);
    const auto short_msg = message_of([&] { (void)ebm::data::read_idx_images(dir / "short"); });
    CHECK(short_msg.find("is truncated") != std::string::npos);
    CHECK(short_msg.find("(got 29)") != std::string::npos);

    // A gzip file cut in the middle of its stream.
    write_gz(dir / "full.gz", good);
    std::ifstream in(dir / "full.gz", std::ios::binary);
    std::vector<char> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gz.resize(gz.size() / 2);
    std::ofstream(dir / "cut.gz", std::ios::binary).write(gz.data(), static_cast<std::streamsize>(gz.size()));
    CHECK(message_of([&] { (void)ebm::data::read_idx_images(dir / "cut.gz"); }).find("gzip stream is truncated") !=
          std::string::npos);

    write_plain(dir / "labels", idx_bytes(0x08, {18}, ramp(18)));
    const auto magic_msg = message_of([&] { (void)ebm::data::read_idx_images(dir / "labels"); });
    CHECK(magic_msg.find("ebm::read_idx_images: wrong magic number") == 0);
    CHECK(magic_msg.find("(got '0x00000801')") != std::string::npos);

    write_plain(dir / "text", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
    CHECK(message_of([&] { (void)ebm::data::read_idx(dir / "text"); }).find("wrong magic number") != std::string::npos);

    auto trailing = good;
    trailing.push_back(0);
    write_plain(dir / "trailing", trailing);
    CHECK(message_of([&] { (void)ebm::data::read_idx_images(dir / "trailing"); }).find("trailing bytes") !=
          std::string::npos);

    write_plain(dir / "images", good);
    write_plain(dir / "labels3", idx_bytes(0x08, {3}, {1, 2, 3}));
    CHECK(message_of([&] { (void)ebm::data::read_idx_dataset(dir / "images", dir / "labels3"); })
              .find("must hold one label per image (2) (got 3)") != std::string::npos);
}

namespace {
const auto fashion_images = ebm::data::debian_fashion_mnist_folder / "t10k-images-idx3-ubyte.gz";
const auto fashion_labels = ebm::data::debian_fashion_mnist_folder / "t10k-labels-idx1-ubyte.gz";
const bool fashion_present = std::filesystem::exists(fashion_images) && std::filesystem::exists(fashion_labels);
}  // namespace

// Skipped (reported as skipped by doctest) where Debian's dataset-fashion-mnist is not installed.
TEST_CASE("the real Fashion-MNIST t10k files from Debian's dataset-fashion-mnist" *
          doctest::skip(!fashion_present) * doctest::description("needs dataset-fashion-mnist")) {
    const auto set = ebm::data::read_idx_dataset(fashion_images, fashion_labels);
    CHECK(set.count == 10000);
    CHECK(set.height == 28);
    CHECK(set.width == 28);
    CHECK(set.pixels.size() == 10000u * 28u * 28u);
    int per_class[10] = {};
    for (auto l : set.labels) {
        REQUIRE(l < 10);
        ++per_class[l];
    }
    for (int c : per_class) CHECK(c == 1000);  // the test split is balanced
    std::uint64_t sum = 0;
    for (auto p : set.pixels) sum += p;
    CHECK(sum > 0);
}

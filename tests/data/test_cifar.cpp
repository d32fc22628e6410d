#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/data/cifar.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "temp_folder.hpp"

namespace {

std::vector<std::uint8_t> record(std::uint8_t label, std::uint8_t base) {
    std::vector<std::uint8_t> r{label};
    for (int k = 0; k < 3072; ++k) r.push_back(static_cast<std::uint8_t>(base + k % 200));
    return r;
}

void write(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

using ebm_test::message_of;

}  // namespace

TEST_CASE("CIFAR-10 binary batches: records, labels, planes in NCHW order, concatenation") {
    ebm_test::temp_folder dir("cifar");
    auto a = record(7, 0);
    const auto b = record(2, 50);
    a.insert(a.end(), b.begin(), b.end());
    write(dir / "data_batch_1.bin", a);
    write(dir / "test_batch.bin", record(9, 10));
    for (int k = 2; k <= 5; ++k) write(dir / ("data_batch_" + std::to_string(k) + ".bin"), record(static_cast<std::uint8_t>(k), 1));

    const auto one = ebm::data::read_cifar10({dir / "data_batch_1.bin"});
    CHECK(one.count == 2);
    CHECK(one.channels == 3);
    CHECK(one.height == 32);
    CHECK(one.width == 32);
    CHECK(one.labels == std::vector<std::uint8_t>{7, 2});
    CHECK(one.pixels[0] == 0);
    CHECK(one.pixels[1024] == static_cast<std::uint8_t>(1024 % 200));  // first green pixel
    CHECK(one.pixels[3072] == 50);                                     // second image

    const auto train = ebm::data::read_cifar10_folder(dir.path(), true);
    CHECK(train.count == 6);
    CHECK(train.labels.back() == 5);
    const auto test = ebm::data::read_cifar10_folder(dir.path(), false);
    CHECK(test.count == 1);
    CHECK(test.labels[0] == 9);
}

TEST_CASE("CIFAR-10: truncated files, bad labels and missing batches are clear errors") {
    ebm_test::temp_folder dir("cifar-bad");
    auto r = record(1, 0);
    r.pop_back();
    write(dir / "short.bin", r);
    const auto msg = message_of([&] { (void)ebm::data::read_cifar10({dir / "short.bin"}); });
    CHECK(msg.find("ebm::read_cifar10: ") == 0);
    CHECK(msg.find("truncated") != std::string::npos);
    CHECK(msg.find("(got 3072)") != std::string::npos);

    write(dir / "label.bin", record(12, 0));
    CHECK(message_of([&] { (void)ebm::data::read_cifar10({dir / "label.bin"}); }).find("label outside 0..9 (got 12)") !=
          std::string::npos);
    CHECK(message_of([&] { (void)ebm::data::read_cifar10_folder(dir.path(), true); }).find("missing batch file") !=
          std::string::npos);
    CHECK(message_of([&] { (void)ebm::data::read_cifar10({dir / "absent.bin"}); }).find("not found") != std::string::npos);
}

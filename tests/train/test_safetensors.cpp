// io/safetensors.hpp (the one safetensors reader and writer) and io/atomic_file.hpp (the one file replacer).
#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/io/atomic_file.hpp>
#include <ebm/io/safetensors.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "../data/temp_folder.hpp"

namespace {

std::string message_of(auto&& f) { return ebm_test::message_of<std::exception>(f); }

std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

/// A file with the given JSON header and `data` as its data region.
std::string file_with(const std::string& json, const std::string& data) {
    std::string out(8, '\0');
    const std::uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    return out + json + data;
}

std::size_t entries_in(const std::filesystem::path& folder) {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(folder), std::filesystem::directory_iterator()));
}

}  // namespace

TEST_CASE("safetensors: every dtype round trips bit for bit, in order, with checksums written and verified") {
    ebm_test::temp_folder dir("st-dtypes");
    const std::vector<float> f32 = {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(), 3e38f};
    const std::vector<double> f64 = {1.0 / 3.0, -2.5e-300};
    const std::vector<std::int64_t> i64 = {-1, std::numeric_limits<std::int64_t>::min(), 7};
    const std::vector<std::uint32_t> u32 = {0xffffffffu, 0, 42, 5, 6, 7};
    const std::vector<std::uint64_t> u64 = {0xfedcba9876543210ull};
    const std::vector<ebm::io::named_tensor> tensors = {
        ebm::io::named_tensor::of("b.f32", {2, 2}, f32), ebm::io::named_tensor::of("a.f64", {2}, f64),
        ebm::io::named_tensor::of("i64", {3}, i64),      ebm::io::named_tensor::of("u32", {2, 3}, u32),
        ebm::io::named_tensor::of("u64", {1}, u64),      ebm::io::named_tensor::of("empty", {0, 3}, std::vector<float>{})};
    ebm::io::write_safetensors(dir / "t.safetensors", tensors, {{"note", "kept"}});
    const auto f = ebm::io::read_safetensors(dir / "t.safetensors", true);
    REQUIRE(f.tensors.size() == tensors.size());
    for (std::size_t k = 0; k < tensors.size(); ++k) {  // file order is the written order
        CHECK(f.tensors[k].name == tensors[k].name);
        CHECK(f.tensors[k].type == tensors[k].type);
        CHECK(f.tensors[k].shape == tensors[k].shape);
        CHECK(f.tensors[k].bytes == tensors[k].bytes);
    }
    CHECK(f.find("b.f32")->values<float>()[2] == std::numeric_limits<float>::denorm_min());
    CHECK(f.find("a.f64")->values<double>() == f64);
    CHECK(f.find("i64")->values<std::int64_t>() == i64);
    CHECK(f.find("u32")->values<std::uint32_t>() == u32);
    CHECK(f.find("u64")->values<std::uint64_t>() == u64);
    CHECK(f.metadata.at("note") == "kept");
    // The checksum is zlib's CRC-32 of the tensor's bytes (the standard check value of "123456789" is cbf43926).
    CHECK(ebm::io::internal::crc32_text("123456789") == "cbf43926");
    CHECK(f.metadata.at("crc32.u64") == ebm::io::internal::crc32_text(tensors[4].bytes));
    CHECK(f.metadata.size() == 1 + tensors.size());
    CHECK(message_of([&] { (void)f.find("u32")->values<float>(); }) ==
          "ebm::named_tensor::values: tensor 'u32' is stored as U32, not as (got 'F32')");
    // The header's JSON, as the format describes it.
    const std::string bytes = read_bytes(dir / "t.safetensors");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    CHECK(bytes.find(R"("u32":{"dtype":"U32","shape":[2,3],"data_offsets":[)") != std::string::npos);
    // Without checksums: no crc32 entries, and a reader that requires them refuses the file.
    ebm::io::write_safetensors(dir / "plain.safetensors", tensors, {}, false);
    CHECK(ebm::io::read_safetensors(dir / "plain.safetensors").metadata.empty());
    CHECK(message_of([&] { (void)ebm::io::read_safetensors(dir / "plain.safetensors", true); })
              .find("is not a valid safetensors file: no checksum for tensor 'b.f32'") != std::string::npos);
}

TEST_CASE("safetensors: a flipped byte, a gap, an overlap, trailing bytes, a forged shape are rejected whole") {
    ebm_test::temp_folder dir("st-bad");
    const auto path = dir / "t.safetensors";
    const std::vector<ebm::io::named_tensor> tensors = {ebm::io::named_tensor::of("w", {4}, std::vector<float>{1, 2, 3, 4})};
    ebm::io::write_safetensors(path, tensors);
    std::string bytes = read_bytes(path);
    bytes[bytes.size() - 2] ^= 0x01;
    write_bytes(path, bytes);
    CHECK(message_of([&] { (void)ebm::io::read_safetensors(path); })
              .starts_with("ebm::read_safetensors: checksum mismatch in '" + path.string() + "': tensor 'w' is corrupted"));

    const auto rejects = [&](const std::string& json, const std::string& data, const std::string& expected) {
        write_bytes(path, file_with(json, data));
        const std::string msg = message_of([&] { (void)ebm::io::read_safetensors(path); });
        CHECK_MESSAGE(msg.find(expected) != std::string::npos, msg);
        CHECK(msg.starts_with("ebm::read_safetensors: '" + path.string() + "' is not a valid safetensors file: "));
    };
    const std::string eight(8, '\0');
    rejects(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, "the data has a gap before tensor 'a'");
    rejects(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            eight, "tensor 'b' overlaps another");
    rejects(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight, "bytes after the last tensor's data (4)");
    rejects(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight,
            "byte size does not match its dtype and shape [4611686018427387904, 4]");
    rejects(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", eight, "tensor 'a' has a bad shape");
    rejects(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", eight,
            "tensor 'a' has a dtype other than F32, F64, I64, U32 and U64");
    rejects(R"({"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"k":1}})", eight,
            "metadata 'k' must be a string");
    rejects(R"({"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"crc32.b":"00000000"}})", eight,
            "a checksum names no tensor");
    rejects(R"({"a":{"dtype":"U64","shape":[1]}})", eight, "tensor 'a' needs dtype, shape and data_offsets");
    rejects(R"([1,2])", "", "the JSON header must be an object");
    rejects(R"({"a":)", "", "the JSON header cannot be parsed");
    std::string header_too_long = file_with("{}", "");
    header_too_long[0] = 100;
    write_bytes(path, header_too_long);
    CHECK(message_of([&] { (void)ebm::io::read_safetensors(path); }).find("the header length exceeds the file") !=
          std::string::npos);

    // Writing: a reserved metadata key, a duplicate name, values that do not fill the shape — nothing written.
    const auto target = dir / "out.safetensors";
    CHECK(message_of([&] { ebm::io::write_safetensors(target, tensors, {{"crc32.w", "0"}}); }) ==
          "ebm::write_safetensors: metadata keys starting with 'crc32.' are the checksums' (got 'crc32.w')");
    const std::vector<ebm::io::named_tensor> twice = {tensors[0], tensors[0]};
    CHECK(message_of([&] { ebm::io::write_safetensors(target, twice); }) ==
          "ebm::write_safetensors: duplicate tensor name (got 'w')");
    CHECK(entries_in(dir.path()) == 1);
}

TEST_CASE("atomic_file: the target is replaced only by a complete file, failures leave it and no temporary") {
    ebm_test::temp_folder dir("atomic");
    const auto target = dir / "a.txt";
    ebm::io::write_file_atomically(target, "first", "test");
    CHECK(read_bytes(target) == "first");
    const std::string_view parts[] = {"sec", "", "ond"};
    ebm::io::write_file_atomically(target, parts, "test");
    CHECK(read_bytes(target) == "second");
    ebm::io::write_file_atomically(dir / "empty.txt", std::span<const std::string_view>(), "test");
    CHECK(std::filesystem::file_size(dir / "empty.txt") == 0);

    {  // destroyed before commit (an exception in the writer): the target keeps its old content
        ebm::io::atomic_file f(target, "test");
        f.write("half");
        CHECK(std::filesystem::exists(f.temporary()));
        CHECK(f.temporary().parent_path() == target.parent_path());
    }
    CHECK(read_bytes(target) == "second");
    CHECK(entries_in(dir.path()) == 2);

    {  // a writer that needs a file name writes the temporary, then commits
        ebm::io::atomic_file f(target, "test");
        write_bytes(f.temporary(), "by name");
        f.commit();
    }
    CHECK(read_bytes(target) == "by name");
    {
        ebm::io::atomic_file f(target, "test");
        CHECK(message_of([&] { f.commit(); }).starts_with("ebm::test: the temporary file was not written: No such file"));
    }
    // Two writers at once use two temporaries.
    ebm::io::atomic_file one(dir / "b.txt", "test"), two(dir / "b.txt", "test");
    CHECK(one.temporary() != two.temporary());

    // A missing folder: an ebm::runtime_error naming the caller and the temporary's path.
    const std::string msg = message_of([&] { ebm::io::write_file_atomically(dir / "no" / "x", "x", "writer"); });
    CHECK(msg.starts_with("ebm::writer: cannot create the temporary file: No such file or directory (got '" +
                          (dir / "no" / "x").string() + ".tmp-"));
    // Renaming onto a folder fails after the bytes were written: the temporary is removed.
    std::filesystem::create_directories(dir / "folder" / "inside");
    CHECK(message_of([&] { ebm::io::write_file_atomically(dir / "folder", "x", "writer"); })
              .starts_with("ebm::writer: cannot rename the temporary file onto: "));
    CHECK(entries_in(dir.path()) == 3);
}

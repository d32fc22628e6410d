#pragma once
// IDX files (MNIST, Fashion-MNIST): a big-endian header (two zero bytes, a type code, the number of dimensions,
// one uint32 per dimension) followed by the data. Plain files and gzip-compressed ones (Debian's
// dataset-fashion-mnist installs `*.gz`) are read alike: gzip is recognised by its magic bytes 1f 8b, not by the
// name. Needs zlib (link ZLIB::ZLIB).
//   read_idx          any IDX file: type code, shape and raw big-endian payload
//   read_idx_images   unsigned-byte images (N x H x W), checked against the image magic 0x00000803
//   read_idx_labels   unsigned-byte labels (N), checked against the label magic 0x00000801
// Every malformed input (missing file, wrong magic, truncated payload, trailing bytes) is an ebm::error with the
// file named, before anything is returned.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ebm::data {

/// Images as bytes, NCHW (channel planes of each image contiguous), with optional labels.
struct byte_images {
    index count = 0;
    index channels = 1;
    index height = 0;
    index width = 0;
    std::vector<std::uint8_t> pixels;  // count * channels * height * width
    std::vector<std::uint8_t> labels;  // empty or count entries

    [[nodiscard]] index image_size() const { return channels * height * width; }
};

/// The content of one IDX file.
struct idx_array {
    std::uint8_t type = 0;               // 0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    std::vector<std::uint32_t> shape;    // one entry per dimension
    std::vector<std::uint8_t> payload;   // raw data, big-endian for multi-byte types

    [[nodiscard]] std::uint32_t magic() const {
        return (static_cast<std::uint32_t>(type) << 8) | static_cast<std::uint32_t>(shape.size());
    }
};

namespace detail {

inline std::string hex32(std::uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", value);
    return text;
}

/// The whole file, decompressed when it starts with the gzip magic 1f 8b.
inline std::vector<std::uint8_t> read_maybe_gzip(const std::filesystem::path& path, const char* where) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) ebm::detail::fail(where, "cannot open file: not found", path.string());
    std::vector<std::uint8_t> raw;
    {
        std::ifstream in(path, std::ios::binary);
        if (!in) ebm::detail::fail(where, "cannot open file for reading", path.string());
        raw.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (in.bad()) ebm::detail::fail(where, "reading the file failed", path.string());
    }
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;

    z_stream stream{};
    // 16 + MAX_WBITS: gzip wrapper only.
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw ebm::runtime_error(std::string("ebm::") + where + ": zlib inflateInit2 failed");
    std::vector<std::uint8_t> out;
    out.resize(raw.size() * 4 + 1024);
    stream.next_in = raw.data();
    stream.avail_in = static_cast<uInt>(raw.size());
    int status = Z_OK;
    std::size_t produced = 0;
    while (true) {
        if (produced == out.size()) out.resize(out.size() * 2);
        stream.next_out = out.data() + produced;
        stream.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, 1u << 30));
        const uInt before = stream.avail_out;
        status = inflate(&stream, Z_NO_FLUSH);
        produced += before - stream.avail_out;
        if (status == Z_STREAM_END) {
            // Concatenated gzip members are legal; continue if input remains.
            if (stream.avail_in == 0) break;
            if (inflateReset(&stream) != Z_OK) break;
            continue;
        }
        if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended inside the stream
        if (status != Z_OK && status != Z_BUF_ERROR) break;
    }
    inflateEnd(&stream);
    if (status != Z_STREAM_END)
        ebm::detail::fail(where, "gzip stream is truncated or corrupt in '" + path.string() + "'; zlib status",
                          status);
    out.resize(produced);
    return out;
}

/// 'path' in quotes (appending, which also sidesteps a GCC 12 -Wrestrict false positive on "'" + string).
inline std::string quoted(const std::filesystem::path& path) {
    std::string text(1, '\'');
    text += path.string();
    text += '\'';
    return text;
}

inline std::uint32_t read_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline std::size_t idx_element_size(std::uint8_t type) {
    switch (type) {
        case 0x08: case 0x09: return 1;
        case 0x0B: return 2;
        case 0x0C: case 0x0D: return 4;
        case 0x0E: return 8;
        default: return 0;
    }
}

}  // namespace detail

/// Reads an IDX file (plain or gzip-compressed).
inline idx_array read_idx(const std::filesystem::path& path) {
    const char* where = "read_idx";
    const std::vector<std::uint8_t> bytes = detail::read_maybe_gzip(path, where);
    if (bytes.size() < 4)
        ebm::detail::fail(where, "file '" + path.string() + "' is truncated: shorter than the 4-byte magic number; bytes",
                          bytes.size());
    const std::uint32_t magic = detail::read_be32(bytes.data());
    idx_array result;
    result.type = bytes[2];
    const std::size_t dims = bytes[3];
    if (bytes[0] != 0 || bytes[1] != 0 || detail::idx_element_size(result.type) == 0 || dims == 0)
        ebm::detail::fail(where, "wrong magic number in '" + path.string() +
                                     "': not an IDX file (expected 0x000008NN for unsigned bytes)", detail::hex32(magic));
    const std::size_t header = 4 + 4 * dims;
    if (bytes.size() < header)
        ebm::detail::fail(where, "file '" + path.string() + "' is truncated inside its header of " +
                                     ebm::detail::to_text(header) + " bytes; bytes", bytes.size());
    std::string shape_text;
    bool empty = false;
    for (std::size_t k = 0; k < dims; ++k) {
        result.shape.push_back(detail::read_be32(bytes.data() + 4 + 4 * k));
        if (k > 0) shape_text += 'x';  // not "x" + std::string: GCC 12 warns falsely there (-Wrestrict, its bug 105329)
        shape_text += std::to_string(result.shape.back());
        empty = empty || result.shape.back() == 0;
    }
    // The shape's product, checked against what the file holds before it is multiplied out: a forged shape
    // (whose product would overflow and wrap around to the file's size) is rejected, never believed.
    const std::size_t element_size = detail::idx_element_size(result.type);
    const std::size_t capacity = (bytes.size() - header) / element_size;  // elements the payload could hold
    std::size_t elements = empty ? 0 : 1;
    if (!empty)
        for (const std::uint32_t extent : result.shape) {
            if (elements > capacity / extent)
                ebm::detail::fail(where, "file '" + path.string() + "' is truncated: its header's shape " + shape_text +
                                             " promises more data than the file holds; bytes", bytes.size());
            elements *= extent;
        }
    const std::size_t expected = header + elements * element_size;
    if (bytes.size() < expected)
        ebm::detail::fail(where, "file '" + path.string() + "' is truncated: its header promises " +
                                     ebm::detail::to_text(expected) + " bytes; bytes", bytes.size());
    if (bytes.size() > expected)
        ebm::detail::fail(where, "file '" + path.string() + "' has trailing bytes after the " +
                                     ebm::detail::to_text(expected) + " its header promises; bytes", bytes.size());
    result.payload.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return result;
}

/// Reads unsigned-byte images (magic 0x00000803: N x H x W) as single-channel byte images.
inline byte_images read_idx_images(const std::filesystem::path& path) {
    idx_array a = read_idx(path);
    if (a.magic() != 0x0803)
        ebm::detail::fail("read_idx_images", "wrong magic number in '" + path.string() +
                                                 "': expected 0x00000803 (unsigned-byte images, 3 dimensions)",
                          detail::hex32(a.magic()));
    byte_images images;
    images.count = static_cast<index>(a.shape[0]);
    images.height = static_cast<index>(a.shape[1]);
    images.width = static_cast<index>(a.shape[2]);
    if (images.count == 0 || images.height == 0 || images.width == 0)
        ebm::detail::fail("read_idx_images", "'" + path.string() + "' holds no pixels; shape",
                          std::to_string(a.shape[0]) + "x" + std::to_string(a.shape[1]) + "x" + std::to_string(a.shape[2]));
    images.pixels = std::move(a.payload);
    return images;
}

/// Reads unsigned-byte labels (magic 0x00000801: N).
inline std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path) {
    idx_array a = read_idx(path);
    if (a.magic() != 0x0801)
        ebm::detail::fail("read_idx_labels", "wrong magic number in '" + path.string() +
                                                 "': expected 0x00000801 (unsigned-byte labels, 1 dimension)",
                          detail::hex32(a.magic()));
    return std::move(a.payload);
}

/// Images and labels from a pair of files; the counts must agree.
inline byte_images read_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path) {
    byte_images images = read_idx_images(images_path);
    std::vector<std::uint8_t> labels = read_idx_labels(labels_path);
    if (static_cast<index>(labels.size()) != images.count)
        ebm::detail::fail("read_idx_dataset", "'" + labels_path.string() + "' must hold one label per image (" +
                                                  ebm::detail::to_text(images.count) + ")", labels.size());
    images.labels = std::move(labels);
    return images;
}

/// Where Debian's dataset-fashion-mnist installs its files.
inline const std::filesystem::path debian_fashion_mnist_folder{"/usr/share/datasets/fashion-mnist"};

}  // namespace ebm::data

#pragma once
// safetensors files (the format of Hugging Face's `safetensors`, as safetensors.torch.save_file writes it):
//   8 bytes little-endian header length N, N bytes of JSON {"<name>": {"dtype": "F32", "shape": [...],
//   "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}}, then the tensor bytes.
// The one reader and writer of the project: network weights, trainer checkpoints (train/checkpoint.hpp).
//   dtypes      F32, F64, I64, U32, U64 (little-endian); any other dtype is an error naming it
//   checksums   optional CRC-32 (zlib) of each tensor's bytes in the metadata as "crc32.<name>": "%08x";
//               written by default, verified whenever present, required when the reader asks for them
//   checks      header length within the file, JSON object, string metadata, known dtype, non-negative shape,
//               byte size = elements × dtype size, offsets inside the data, no overlap and no gap (the data
//               region is exactly the tensors' bytes, so a truncated or padded file is rejected)
// Networks exchange weights with PyTorch under their state_dict names and layouts:
//   ebm::io::save_parameters(net, "w.safetensors");     // every tensor of net.parameter_tensors()
//   ebm::io::load_parameters(net, "w.safetensors");     // all-or-nothing: missing, extra, mis-shaped -> ebm::error
// A network type works with these if it has parameter_tensors() (name, shape, offset) and parameters().
// Writes are atomic (io/atomic_file.hpp). Needs nlohmann/json (Debian: nlohmann-json3-dev) and zlib (link
// ZLIB::ZLIB); without nlohmann/json the header declares nothing.
#if __has_include(<nlohmann/json.hpp>)
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../backend/execution.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "atomic_file.hpp"
#include "npy.hpp"

namespace ebm::io {

enum class dtype { f32, f64, i64, u32, u64 };

[[nodiscard]] constexpr std::string_view dtype_name(dtype t) {
    switch (t) {
        case dtype::f32: return "F32";
        case dtype::f64: return "F64";
        case dtype::i64: return "I64";
        case dtype::u32: return "U32";
        case dtype::u64: return "U64";
    }
    return "?";
}
[[nodiscard]] constexpr std::size_t dtype_size(dtype t) { return t == dtype::f32 || t == dtype::u32 ? 4 : 8; }

/// The dtype that stores T (float, double, std::int64_t, std::uint32_t, std::uint64_t).
template <class T>
constexpr dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return dtype::f32;
    else if constexpr (std::is_same_v<T, double>) return dtype::f64;
    else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::i64;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return dtype::u32;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return dtype::u64;
    else static_assert(sizeof(T) == 0, "ebm::io::dtype_of: safetensors stores float, double, int64, uint32, uint64");
}

struct named_tensor {
    std::string name;
    io::dtype type = dtype::f32;
    std::vector<index> shape;
    std::string bytes;  // the elements, little-endian, C order

    /// A tensor holding a copy of `values` (a contiguous range of one of the stored element types).
    template <class Range>
    static named_tensor of(std::string name, std::vector<index> shape, const Range& values) {
        using T = std::remove_cvref_t<decltype(*std::data(values))>;
        named_tensor t{std::move(name), dtype_of<T>(), std::move(shape), {}};
        t.bytes.assign(reinterpret_cast<const char*>(std::data(values)), std::size(values) * sizeof(T));
        return t;
    }

    [[nodiscard]] index elements() const {
        index n = 1;
        for (index s : shape) n *= s;
        return n;
    }

    /// The elements as T; T must be this tensor's dtype (an ebm::error naming both otherwise).
    template <class T>
    [[nodiscard]] std::vector<T> values() const {
        if (type != dtype_of<T>())
            ebm::detail::fail("named_tensor::values", "tensor '" + name + "' is stored as " +
                                                          std::string(dtype_name(type)) + ", not as",
                              std::string(dtype_name(dtype_of<T>())));
        std::vector<T> out(bytes.size() / sizeof(T));
        if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
        return out;
    }
};

struct safetensors_file {
    std::vector<named_tensor> tensors;            // in file order (by data offset)
    std::map<std::string, std::string> metadata;  // "__metadata__" (checksum entries included)

    [[nodiscard]] const named_tensor* find(std::string_view name) const {
        for (const auto& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
    [[nodiscard]] named_tensor* find(std::string_view name) {
        return const_cast<named_tensor*>(std::as_const(*this).find(name));
    }
};

namespace internal {

inline std::string shape_text(std::span<const index> shape) {
    std::string s = "[";
    for (std::size_t k = 0; k < shape.size(); ++k) s += (k > 0 ? ", " : "") + std::to_string(shape[k]);
    return s + "]";
}

inline constexpr std::string_view checksum_prefix = "crc32.";

inline std::string crc32_text(std::string_view bytes) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    while (!bytes.empty()) {
        const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes.size(), 1u << 30));
        crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), chunk);
        bytes.remove_prefix(chunk);
    }
    char text[12];
    std::snprintf(text, sizeof text, "%08lx", static_cast<unsigned long>(crc & 0xffffffffUL));
    return text;
}

inline bool parse_dtype(std::string_view text, dtype& out) {
    for (dtype t : {dtype::f32, dtype::f64, dtype::i64, dtype::u32, dtype::u64})
        if (dtype_name(t) == text) {
            out = t;
            return true;
        }
    return false;
}

}  // namespace internal

/// Parses and verifies safetensors bytes (see the file comment for every check). `source` names the file in
/// messages, `where` the caller; with `require_checksums` a tensor without a crc32 entry is an error too.
inline safetensors_file parse_safetensors(std::string_view bytes, std::string_view source, std::string_view where,
                                          bool require_checksums = false) {
    auto bad = [&](const std::string& what, const auto& got) {
        ebm::detail::fail(where, "'" + std::string(source) + "' is not a valid safetensors file: " + what, got);
    };
    if (bytes.size() < 8) bad("shorter than the 8-byte header length; bytes", bytes.size());
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    if (header_len > bytes.size() - 8) bad("the header length exceeds the file (truncated?)", header_len);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.substr(8, header_len));
    } catch (const nlohmann::json::exception& e) {
        bad("the JSON header cannot be parsed", std::string(e.what()));
    }
    if (!header.is_object()) bad("the JSON header must be an object", header.dump());
    const std::string_view data = bytes.substr(8 + header_len);
    safetensors_file out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) bad("__metadata__ must be an object", entry.dump());
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string()) bad("metadata '" + key + "' must be a string", value.dump());
                out.metadata[key] = value.get<std::string>();
            }
            continue;
        }
        const std::string tensor = "tensor '" + name + "'";
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
            bad(tensor + " needs dtype, shape and data_offsets", entry.dump());
        named_tensor t;
        t.name = name;
        if (!entry["dtype"].is_string() || !internal::parse_dtype(entry["dtype"].get<std::string>(), t.type))
            bad(tensor + " has a dtype other than F32, F64, I64, U32 and U64", entry["dtype"].dump());
        if (!entry["shape"].is_array()) bad(tensor + " has a shape that is not an array", entry["shape"].dump());
        // Element counts are bounded by the data size as they grow, so a forged shape cannot overflow them.
        const std::uint64_t most = data.size() / dtype_size(t.type);
        std::uint64_t count = 1;
        for (const auto& d : entry["shape"]) {
            if (!d.is_number_unsigned() || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
                bad(tensor + " has a bad shape", entry["shape"].dump());
            const std::uint64_t extent = d.get<std::uint64_t>();
            t.shape.push_back(static_cast<index>(extent));
            count = extent == 0 || count == 0 ? 0 : extent > most / count ? most + 1 : count * extent;
        }
        const auto& offsets = entry["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
            !offsets[1].is_number_unsigned())
            bad(tensor + " has bad data_offsets", offsets.dump());
        const auto begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
        if (begin > end || end > data.size())
            bad(tensor + " data_offsets lie outside the data (" + std::to_string(data.size()) + " bytes)", offsets.dump());
        if (count > most || end - begin != count * dtype_size(t.type))
            bad(tensor + " byte size does not match its dtype and shape " + internal::shape_text(t.shape), end - begin);
        t.bytes.assign(data.substr(begin, end - begin));
        ranges.emplace_back(begin, end);
        out.tensors.push_back(std::move(t));
    }
    // File order, and the data region exactly covered: no overlap, no gap, nothing after the last tensor.
    std::vector<std::size_t> order(out.tensors.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
    std::uint64_t covered = 0;
    for (std::size_t k : order) {
        if (ranges[k].first < covered) bad("tensor '" + out.tensors[k].name + "' overlaps another", ranges[k].first);
        if (ranges[k].first > covered)
            bad("the data has a gap before tensor '" + out.tensors[k].name + "' at byte", covered);
        covered = ranges[k].second;
    }
    if (covered != data.size()) bad("bytes after the last tensor's data (" + std::to_string(covered) + ")", data.size());
    std::vector<named_tensor> sorted;
    sorted.reserve(order.size());
    for (std::size_t k : order) sorted.push_back(std::move(out.tensors[k]));
    out.tensors = std::move(sorted);
    // Checksums: every crc32 entry names a tensor and matches its bytes.
    for (const auto& [key, value] : out.metadata) {
        if (!key.starts_with(internal::checksum_prefix)) continue;
        const std::string name = key.substr(internal::checksum_prefix.size());
        const named_tensor* t = out.find(name);
        if (t == nullptr) bad("a checksum names no tensor", key);
        const std::string actual = internal::crc32_text(t->bytes);
        if (value != actual)
            ebm::detail::fail(where, "checksum mismatch in '" + std::string(source) + "': tensor '" + name +
                                         "' is corrupted (stored crc32 " + value + ")",
                              actual);
    }
    if (require_checksums)
        for (const auto& t : out.tensors)
            if (!out.metadata.contains(std::string(internal::checksum_prefix) + t.name))
                bad("no checksum for tensor '" + t.name + "'", t.name);
    return out;
}

/// Reads and verifies a safetensors file (parse_safetensors); an unreadable file is an ebm::runtime_error.
inline safetensors_file read_safetensors(const std::filesystem::path& path, bool require_checksums = false,
                                         std::string_view where = "read_safetensors") {
    const std::string bytes = internal::read_file(path, where);
    return parse_safetensors(bytes, path.string(), where, require_checksums);
}

/// The bytes of a safetensors file holding `tensors` (in this order) and string `metadata`, with a crc32 entry
/// per tensor unless `checksums` is false. Tensor data starts 8-byte aligned, as the format recommends.
inline std::string safetensors_bytes(std::span<const named_tensor> tensors,
                                     const std::map<std::string, std::string>& metadata = {}, bool checksums = true,
                                     std::string_view where = "write_safetensors") {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) {
        if (key.starts_with(internal::checksum_prefix))
            ebm::detail::fail(where, "metadata keys starting with 'crc32.' are the checksums'", key);
        meta[key] = value;
    }
    if (checksums)
        for (const auto& t : tensors) meta[std::string(internal::checksum_prefix) + t.name] = internal::crc32_text(t.bytes);
    if (!meta.empty()) header["__metadata__"] = std::move(meta);
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        for (index s : t.shape)
            if (s < 0) ebm::detail::fail(where, "tensor '" + t.name + "' has a negative extent in its shape", s);
        if (static_cast<std::uint64_t>(t.elements()) * dtype_size(t.type) != t.bytes.size())
            ebm::detail::fail(where, "tensor '" + t.name + "' has " + std::to_string(t.bytes.size() / dtype_size(t.type)) +
                                         " values but shape " + internal::shape_text(t.shape),
                              t.elements());
        if (t.name.empty() || t.name == "__metadata__") ebm::detail::fail(where, "bad tensor name", t.name);
        if (header.contains(t.name)) ebm::detail::fail(where, "duplicate tensor name", t.name);
        const std::uint64_t size = t.bytes.size();
        header[t.name] = {{"dtype", dtype_name(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + size}}};
        offset += size;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // pad so tensor data starts 8-byte aligned
    const std::uint64_t len = json.size();
    std::string out(8, '\0');
    std::memcpy(out.data(), &len, 8);
    out.reserve(8 + json.size() + offset);
    out += json;
    for (const auto& t : tensors) out += t.bytes;
    return out;
}

/// Writes tensors (in the given order) and metadata atomically; see safetensors_bytes.
inline void write_safetensors(const std::filesystem::path& path, std::span<const named_tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, bool checksums = true) {
    write_file_atomically(path, safetensors_bytes(tensors, metadata, checksums, "write_safetensors"),
                          "write_safetensors");
}

/// Every parameter tensor of `net` under its state_dict name (either backend), as F32.
template <class Net>
std::vector<named_tensor> parameter_tensors_of(const Net& net) {
    std::vector<named_tensor> out;
    const std::vector<float> p = to_host_vector(net.parameters());
    for (const auto& t : net.parameter_tensors())
        out.push_back(named_tensor::of(t.name, t.shape, std::span<const float>(p.data() + t.offset,
                                                                               static_cast<std::size_t>(t.count()))));
    return out;
}

template <class Net>
void save_parameters(const Net& net, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {}) {
    const auto tensors = parameter_tensors_of(net);
    write_safetensors(path, tensors, metadata);
}

/// Sets `net`'s parameters from a file with exactly its tensors (names, shapes, F32, finite); on any mismatch
/// throws ebm::error naming the tensor and leaves the parameters unchanged. With a `prefix` the network's tensors
/// are "<prefix><name>" and tensors outside the prefix are ignored: a trainer checkpoint (train/checkpoint.hpp)
/// holds the energy's parameters under "energy.".
template <class Net>
void load_parameters(Net& net, const safetensors_file& file, std::string_view source = "the file",
                     std::string_view prefix = {}) {
    const char* where = "load_parameters";
    const auto& expected = net.parameter_tensors();
    const auto stored = [&](const auto& t) { return file.find(std::string(prefix) + t.name); };
    for (const auto& t : expected) {
        const std::string name = std::string(prefix) + t.name;
        const named_tensor* found = stored(t);
        if (found == nullptr)
            ebm::detail::fail(where, "tensor '" + name + "' " + internal::shape_text(t.shape) + " is missing from " +
                                         std::string(source),
                              std::to_string(file.tensors.size()) + " tensors");
        if (found->shape != t.shape)
            ebm::detail::fail(where, "tensor '" + name + "' in " + std::string(source) + " must have shape " +
                                         internal::shape_text(t.shape),
                              internal::shape_text(found->shape));
        if (found->type != dtype::f32)
            ebm::detail::fail(where, "tensor '" + name + "' in " + std::string(source) + " must have dtype F32",
                              std::string(dtype_name(found->type)));
        const std::vector<float> values = found->values<float>();
        for (std::size_t k = 0; k < values.size(); ++k)
            if (!std::isfinite(values[k]))
                ebm::detail::fail(where, "tensor '" + name + "' in " + std::string(source) + " must be finite; element " +
                                             std::to_string(k) + " is not",
                                  values[k]);
    }
    for (const auto& f : file.tensors) {
        if (!f.name.starts_with(prefix)) continue;
        const bool known = std::any_of(expected.begin(), expected.end(),
                                       [&](const auto& t) { return std::string(prefix) + t.name == f.name; });
        if (!known)
            ebm::detail::fail(where, "unexpected tensor in " + std::string(source) + " (the network has no such parameter)",
                              f.name);
    }
    std::vector<float> p = to_host_vector(net.parameters());
    for (const auto& t : expected) {
        const named_tensor* found = stored(t);
        if (!found->bytes.empty()) std::memcpy(p.data() + t.offset, found->bytes.data(), found->bytes.size());
    }
    copy_values_from_host(std::span<const float>(p), net.parameters());
}

template <class Net>
void load_parameters(Net& net, const std::filesystem::path& path, std::string_view prefix = {}) {
    std::string source(1, '\'');  // (built step by step: GCC 12 warns falsely on "'" + std::string)
    source += path.string();
    source += '\'';
    load_parameters(net, read_safetensors(path, false, "load_parameters"), source, prefix);
}

}  // namespace ebm::io
#endif  // __has_include(<nlohmann/json.hpp>)

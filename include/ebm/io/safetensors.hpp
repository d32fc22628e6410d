#pragma once
// safetensors files (the format of Hugging Face's `safetensors`, also written by safetensors.torch.save_file):
//   8 bytes little-endian header length N, N bytes of JSON {"<name>": {"dtype": "F32", "shape": [...],
//   "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}, then the tensor bytes.
// Only little-endian F32 tensors are read or written. Networks exchange weights with PyTorch under their
// state_dict names and layouts:
//   ebm::io::save_parameters(net, "w.safetensors");     // every tensor of net.parameter_tensors()
//   ebm::io::load_parameters(net, "w.safetensors");     // all-or-nothing: missing, extra, mis-shaped -> ebm::error
// A network type works with these if it has parameter_tensors() (name, shape, offset) and parameters().
// Writes are atomic (temporary file + rename). Needs nlohmann/json (Debian: nlohmann-json3-dev); without it the
// header declares nothing.
#if __has_include(<nlohmann/json.hpp>)
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend/execution.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "npy.hpp"

namespace ebm::io {

struct named_tensor {
    std::string name;
    std::vector<index> shape;
    std::vector<float> values;
};

struct safetensors_file {
    std::vector<named_tensor> tensors;             // in file order (by data offset)
    std::map<std::string, std::string> metadata;   // "__metadata__"

    [[nodiscard]] const named_tensor* find(std::string_view name) const {
        for (const auto& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
};

namespace internal {
inline std::string shape_text(std::span<const index> shape) {
    std::string s = "[";
    for (std::size_t k = 0; k < shape.size(); ++k) s += (k > 0 ? ", " : "") + std::to_string(shape[k]);
    return s + "]";
}
}  // namespace internal

/// Reads every tensor of a safetensors file; tensors of a dtype other than F32 are an error naming them.
inline safetensors_file read_safetensors(const std::filesystem::path& path) {
    const char* where = "read_safetensors";
    const std::string bytes = internal::read_file(path, where);
    const std::string file = "'" + path.string() + "'";
    if (bytes.size() < 8) ebm::detail::fail(where, "file too short for a safetensors header in " + file, bytes.size());
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    if (header_len > bytes.size() - 8)
        ebm::detail::fail(where, "header length exceeds the file size in " + file, header_len);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
    } catch (const nlohmann::json::exception& e) {
        ebm::detail::fail(where, "the JSON header cannot be parsed in " + file, std::string(e.what()));
    }
    if (!header.is_object()) ebm::detail::fail(where, "the JSON header must be an object in " + file, header.dump());
    const std::size_t data_start = 8 + header_len;
    const std::size_t data_size = bytes.size() - data_start;
    safetensors_file out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (entry.is_object())
                for (const auto& [k, v] : entry.items()) out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
            continue;
        }
        const std::string tname = "tensor '" + name + "'";
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
            ebm::detail::fail(where, tname + " needs dtype, shape and data_offsets in " + file, entry.dump());
        if (entry["dtype"] != "F32")
            ebm::detail::fail(where, tname + " must have dtype F32 in " + file, entry["dtype"].dump());
        named_tensor t;
        t.name = name;
        index count = 1;
        for (const auto& d : entry["shape"]) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
                ebm::detail::fail(where, tname + " has a bad shape in " + file, entry["shape"].dump());
            t.shape.push_back(static_cast<index>(d.get<std::int64_t>()));
            count *= t.shape.back();
        }
        const auto& offsets = entry["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
            !offsets[1].is_number_unsigned())
            ebm::detail::fail(where, tname + " has bad data_offsets in " + file, offsets.dump());
        const auto begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
        if (begin > end || end > data_size)
            ebm::detail::fail(where, tname + " data_offsets lie outside the data (" + std::to_string(data_size) +
                                         " bytes) in " + file,
                              offsets.dump());
        if (end - begin != static_cast<std::uint64_t>(count) * sizeof(float))
            ebm::detail::fail(where, tname + " byte size does not match its shape " + internal::shape_text(t.shape) +
                                         " in " + file,
                              end - begin);
        t.values.resize(static_cast<std::size_t>(count));
        if (count > 0) std::memcpy(t.values.data(), bytes.data() + data_start + begin, end - begin);
        ranges.emplace_back(begin, end);
        out.tensors.push_back(std::move(t));
    }
    // Order tensors by data offset (the order they were written in) and reject overlaps.
    std::vector<std::size_t> order(out.tensors.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
    for (std::size_t k = 1; k < order.size(); ++k)
        if (ranges[order[k]].first < ranges[order[k - 1]].second)
            ebm::detail::fail(where, "tensors '" + out.tensors[order[k - 1]].name + "' and '" +
                                         out.tensors[order[k]].name + "' overlap in " + file,
                              ranges[order[k]].first);
    std::vector<named_tensor> sorted;
    sorted.reserve(order.size());
    for (std::size_t k : order) sorted.push_back(std::move(out.tensors[k]));
    out.tensors = std::move(sorted);
    return out;
}

/// Writes F32 tensors (in the given order) and optional string metadata, atomically.
inline void write_safetensors(const std::filesystem::path& path, std::span<const named_tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    const char* where = "write_safetensors";
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        index count = 1;
        for (index s : t.shape) count *= s;
        if (count != static_cast<index>(t.values.size()))
            ebm::detail::fail(where, "tensor '" + t.name + "' has " + std::to_string(t.values.size()) +
                                         " values but shape " + internal::shape_text(t.shape),
                              count);
        if (t.name.empty() || t.name == "__metadata__") ebm::detail::fail(where, "bad tensor name", t.name);
        if (header.contains(t.name)) ebm::detail::fail(where, "duplicate tensor name", t.name);
        const std::uint64_t size = static_cast<std::uint64_t>(count) * sizeof(float);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + size}}};
        offset += size;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // pad so tensor data starts 8-byte aligned
    const std::uint64_t len = json.size();
    std::string prefix(8, '\0');
    std::memcpy(prefix.data(), &len, 8);
    std::vector<std::string_view> chunks = {prefix, json};
    for (const auto& t : tensors)
        chunks.emplace_back(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
    internal::write_file_atomically(path, chunks, where);
}

/// Every parameter tensor of `net` under its state_dict name (either backend).
template <class Net>
std::vector<named_tensor> parameter_tensors_of(const Net& net) {
    std::vector<named_tensor> out;
    const std::vector<float> p = to_host_vector(net.parameters());
    for (const auto& t : net.parameter_tensors())
        out.push_back({t.name, t.shape, std::vector<float>(p.begin() + t.offset, p.begin() + t.offset + t.count())});
    return out;
}

template <class Net>
void save_parameters(const Net& net, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {}) {
    const auto tensors = parameter_tensors_of(net);
    write_safetensors(path, tensors, metadata);
}

/// Sets `net`'s parameters from a file with exactly its tensors (names, shapes); on any mismatch throws
/// ebm::error naming the tensor and leaves the parameters unchanged.
template <class Net>
void load_parameters(Net& net, const safetensors_file& file, std::string_view source = "the file") {
    const char* where = "load_parameters";
    const auto& expected = net.parameter_tensors();
    for (const auto& t : expected) {
        const named_tensor* found = file.find(t.name);
        if (found == nullptr)
            ebm::detail::fail(where, "tensor '" + t.name + "' " + internal::shape_text(t.shape) + " is missing from " +
                                         std::string(source),
                              std::to_string(file.tensors.size()) + " tensors");
        if (found->shape != t.shape)
            ebm::detail::fail(where, "tensor '" + t.name + "' in " + std::string(source) + " must have shape " +
                                         internal::shape_text(t.shape),
                              internal::shape_text(found->shape));
        for (std::size_t k = 0; k < found->values.size(); ++k)
            if (!std::isfinite(found->values[k]))
                ebm::detail::fail(where, "tensor '" + t.name + "' in " + std::string(source) + " must be finite; element " +
                                             std::to_string(k) + " is not",
                                  found->values[k]);
    }
    for (const auto& f : file.tensors) {
        const bool known = std::any_of(expected.begin(), expected.end(), [&](const auto& t) { return t.name == f.name; });
        if (!known)
            ebm::detail::fail(where, "unexpected tensor in " + std::string(source) + " (the network has no such parameter)",
                              f.name);
    }
    std::vector<float> p = to_host_vector(net.parameters());
    for (const auto& t : expected) {
        const named_tensor* found = file.find(t.name);
        std::copy(found->values.begin(), found->values.end(), p.begin() + t.offset);
    }
    copy_values_from_host(std::span<const float>(p), net.parameters());
}

template <class Net>
void load_parameters(Net& net, const std::filesystem::path& path) {
    std::string source(1, '\'');  // (built step by step: GCC 12 warns falsely on "'" + std::string)
    source += path.string();
    source += '\'';
    load_parameters(net, read_safetensors(path), source);
}

}  // namespace ebm::io
#endif  // __has_include(<nlohmann/json.hpp>)

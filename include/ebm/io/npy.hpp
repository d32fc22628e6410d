#pragma once
// NumPy .npy files of little-endian float32 ('<f4'), C order, as numpy.save writes them (format 1.0, 2.0, 3.0).
// Internals live in ebm::io::internal (not ebm::io::detail, which would hide ebm::detail from other io headers).
// Writes are atomic (io/atomic_file.hpp): a reader never sees a half-written file and a failed write leaves any
// old file as it was.
//   auto a = ebm::io::read_npy("x.npy");                 // a.shape = {64, 3, 32, 32}, a.values
//   ebm::io::write_npy("u.npy", energies, {64});
// Bad content (wrong magic, dtype other than float32, Fortran order, size mismatch, shape product that does not
// match the data) throws ebm::error naming it; an unreadable or unwritable file throws ebm::runtime_error.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "atomic_file.hpp"

namespace ebm::io {

static_assert(std::endian::native == std::endian::little, "ebm::io reads and writes little-endian files natively");

struct npy_array {
    std::vector<index> shape;
    std::vector<float> values;

    [[nodiscard]] index size() const { return static_cast<index>(values.size()); }
};

namespace internal {

inline std::string read_file(const std::filesystem::path& path, std::string_view where) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw runtime_error("ebm::" + std::string(where) + ": cannot open file for reading (got '" + path.string() + "')");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw runtime_error("ebm::" + std::string(where) + ": read failed (got '" + path.string() + "')");
    return bytes;
}

inline std::string npy_header(std::span<const index> shape) {
    std::string dims;  // "(2, 3)"; a 1-d shape keeps its comma: "(5,)"
    for (std::size_t k = 0; k < shape.size(); ++k) dims += (k > 0 ? ", " : "") + std::to_string(shape[k]);
    if (shape.size() == 1) dims += ",";
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    // magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64.
    const std::size_t unpadded = 10 + dict.size() + 1;
    dict.append((64 - unpadded % 64) % 64, ' ');
    dict += '\n';
    std::string header("\x93NUMPY\x01\x00", 8);
    header += static_cast<char>(dict.size() & 0xff);
    header += static_cast<char>((dict.size() >> 8) & 0xff);
    return header + dict;
}

// Value of key 'name' in the header dict, as raw text up to the next top-level comma or closing brace.
inline std::string npy_field(std::string_view dict, std::string_view name, std::string_view where) {
    std::string key(1, '\'');  // (built step by step: GCC 12 warns falsely on "'" + std::string)
    key += name;
    key += '\'';
    const auto at = dict.find(key);
    if (at == std::string_view::npos) ebm::detail::fail(where, "the .npy header has no " + key + " entry", std::string(dict));
    std::size_t p = dict.find(':', at + key.size());
    if (p == std::string_view::npos) ebm::detail::fail(where, "the .npy header is malformed", std::string(dict));
    ++p;
    while (p < dict.size() && dict[p] == ' ') ++p;
    std::size_t end = p;
    int depth = 0;
    while (end < dict.size()) {
        const char ch = dict[end];
        if (ch == '(' || ch == '[') ++depth;
        if (ch == ')' || ch == ']') --depth;
        if (depth == 0 && (ch == ',' || ch == '}')) break;
        if (depth < 0) break;
        ++end;
    }
    return std::string(dict.substr(p, end - p));
}

}  // namespace internal

/// Reads a float32 .npy file; any other dtype or layout is an error naming what was found.
inline npy_array read_npy(const std::filesystem::path& path) {
    const std::string where = "read_npy";
    const std::string bytes = internal::read_file(path, where);
    const std::string file = "'" + path.string() + "'";
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
        ebm::detail::fail(where, "not a .npy file (bad magic) in " + file, bytes.size());
    const int major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len = 0, offset = 0;
    if (major == 1) {
        header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
        offset = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) ebm::detail::fail(where, "truncated .npy header in " + file, bytes.size());
        for (int k = 0; k < 4; ++k) header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
        offset = 12;
    } else {
        ebm::detail::fail(where, "unsupported .npy format version in " + file, major);
    }
    if (offset + header_len > bytes.size()) ebm::detail::fail(where, "truncated .npy header in " + file, bytes.size());
    const std::string_view dict(bytes.data() + offset, header_len);
    std::string descr = internal::npy_field(dict, "descr", where);
    if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
    if (descr != "<f4")
        ebm::detail::fail(where, "dtype must be float32 '<f4' in " + file, descr);
    if (internal::npy_field(dict, "fortran_order", where) != "False")
        ebm::detail::fail(where, "arrays must be in C order (fortran_order False) in " + file,
                          internal::npy_field(dict, "fortran_order", where));
    const std::string shape_text = internal::npy_field(dict, "shape", where);
    npy_array out;
    const std::size_t data_bytes = bytes.size() - offset - header_len;
    std::size_t count = 1;  // kept <= data_bytes / 4 while parsing, so a forged shape cannot overflow it
    {
        std::string number;
        for (char ch : shape_text) {
            if (ch >= '0' && ch <= '9') {
                number += ch;
                if (number.size() > 18) ebm::detail::fail(where, "a shape entry is too large in " + file, shape_text);
            } else if (ch == ',' || ch == ')') {
                if (!number.empty()) {
                    const auto extent = static_cast<std::size_t>(std::stoll(number));
                    out.shape.push_back(static_cast<index>(extent));
                    count = (extent == 0 || count == 0) ? 0
                            : extent > data_bytes / sizeof(float) / count ? data_bytes / sizeof(float) + 1
                                                                          : count * extent;
                    number.clear();
                }
            } else if (ch != '(' && ch != ' ' && ch != 'L') {
                ebm::detail::fail(where, "malformed shape in " + file, shape_text);
            }
        }
    }
    if (data_bytes != count * sizeof(float))
        ebm::detail::fail(where, "data size does not match shape " + shape_text + " in " + file + "; bytes",
                          data_bytes);
    out.values.resize(static_cast<std::size_t>(count));
    if (data_bytes > 0) std::memcpy(out.values.data(), bytes.data() + offset + header_len, data_bytes);
    return out;
}

/// Writes values (C order) with the given shape as a float32 .npy file, atomically.
inline void write_npy(const std::filesystem::path& path, std::span<const float> values, std::vector<index> shape) {
    index count = 1;
    for (index s : shape) {
        if (s < 0) ebm::detail::fail("write_npy", "shape entries must be >= 0", s);
        count *= s;
    }
    if (count != static_cast<index>(values.size()))
        ebm::detail::fail("write_npy", "the product of the shape must equal the number of values (" +
                                           std::to_string(values.size()) + ")",
                          count);
    const std::string header = internal::npy_header(shape);
    const std::string_view chunks[] = {
        header, std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float))};
    write_file_atomically(path, chunks, "write_npy");
}

}  // namespace ebm::io

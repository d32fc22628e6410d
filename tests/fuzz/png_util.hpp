#pragma once
// PNG helpers for the harnesses (tests/fuzz only): libpng rejects a critical chunk whose CRC is wrong, so a
// mutated header would never get past the check; fix_png_crcs recomputes every chunk's CRC so that mutations of
// IHDR (width, height, depth, colour type), PLTE, tRNS, IDAT reach the decoder.
#include <zlib.h>

#include <cstdint>
#include <string>

namespace ebm_fuzz {

/// Rewrites the CRC of every complete chunk after the 8-byte signature (the chunk structure is left as it is).
inline void fix_png_crcs(std::string& png) {
    std::size_t at = 8;
    while (at + 12 <= png.size()) {
        const auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(png[k])); };
        const std::uint64_t length = (byte(at) << 24) | (byte(at + 1) << 16) | (byte(at + 2) << 8) | byte(at + 3);
        if (length > png.size() - at - 12) break;
        const auto* start = reinterpret_cast<const Bytef*>(png.data() + at + 4);
        const auto crc = static_cast<std::uint32_t>(::crc32(::crc32(0L, Z_NULL, 0), start, static_cast<uInt>(length + 4)));
        const std::size_t end = at + 8 + static_cast<std::size_t>(length);
        for (int k = 0; k < 4; ++k) png[end + static_cast<std::size_t>(k)] = static_cast<char>(crc >> (24 - 8 * k));
        at = end + 4;
    }
}

}  // namespace ebm_fuzz

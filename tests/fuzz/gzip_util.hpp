#pragma once
// gzip compression for the harnesses that feed the readers compressed input too (tests/fuzz only).
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace ebm_fuzz {

/// `bytes` as one gzip member (level 1: the harness only needs a valid stream, not a small one).
inline std::string gzip(std::string_view bytes) {
    z_stream s{};
    if (deflateInit2(&s, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    std::string out(deflateBound(&s, static_cast<uLong>(bytes.size())) + 32, '\0');
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    s.avail_in = static_cast<uInt>(bytes.size());
    s.next_out = reinterpret_cast<Bytef*>(out.data());
    s.avail_out = static_cast<uInt>(out.size());
    if (deflate(&s, Z_FINISH) != Z_STREAM_END) {
        std::fprintf(stderr, "ebm fuzz harness: gzip of %zu bytes failed\n", bytes.size());
        std::abort();
    }
    out.resize(s.total_out);
    deflateEnd(&s);
    return out;
}

}  // namespace ebm_fuzz

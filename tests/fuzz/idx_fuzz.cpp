// Fuzz harness: IDX files (ebm::data::read_idx, read_idx_images, read_idx_labels), plain and gzip.
// Input: one mode byte, then the file. Mode bit 0 set: the harness gzips the file first, so IDX headers are
// explored behind the gzip path too; otherwise the bytes are written as they are (corrupt gzip streams
// included, recognised by 1f 8b).
#include <ebm/data/idx.hpp>

#include "fuzz_common.hpp"
#include "gzip_util.hpp"

namespace {

/// n * m, or false when it overflows.
bool multiply(std::size_t& n, std::size_t m) { return !__builtin_mul_overflow(n, m, &n); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto path = (data[0] & 1) ? ebm_fuzz::write_file("input.idx.gz", ebm_fuzz::gzip(file))
                                    : ebm_fuzz::write_file("input.idx", file);
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::data::idx_array a = ebm::data::read_idx(path);
        ebm_fuzz::check(!a.shape.empty(), "read_idx: an array has at least one dimension");
        std::size_t elements = ebm::data::detail::idx_element_size(a.type);
        ebm_fuzz::check(elements > 0, "read_idx: known element type");
        bool empty = false;
        for (auto s : a.shape) empty = empty || s == 0;
        if (empty) elements = 0;  // a zero dimension: no data, whatever the other dimensions say
        for (auto s : a.shape)
            ebm_fuzz::check(empty || multiply(elements, s), "read_idx: shape product * element size overflows");
        ebm_fuzz::check(a.payload.size() == elements, "read_idx: payload size == shape product * element size");
    });
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::data::byte_images images = ebm::data::read_idx_images(path);
        std::size_t n = static_cast<std::size_t>(images.count);
        ebm_fuzz::check(images.count > 0 && images.height > 0 && images.width > 0 && images.channels == 1,
                        "read_idx_images: positive shape, one channel");
        ebm_fuzz::check(multiply(n, static_cast<std::size_t>(images.height)) &&
                            multiply(n, static_cast<std::size_t>(images.width)) && images.pixels.size() == n,
                        "read_idx_images: pixels == count * height * width");
    });
    ebm_fuzz::expect_ebm_errors([&] { (void)ebm::data::read_idx_labels(path); });
    return 0;
}

// Fuzz harness: one PNG file (ebm::io::read_png, and ebm::data::detail::read_png_interleaved as
// read_image_folder uses it, converted to 1 and to 3 channels).
// Input: one mode byte, then the file. Mode bit 0 set: every chunk's CRC is recomputed first (png_util.hpp), so
// that mutated headers reach the decoder instead of failing the CRC check.
#include <ebm/data/image_folder.hpp>
#include <ebm/io/png.hpp>

#include "fuzz_common.hpp"
#include "png_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) ebm_fuzz::fix_png_crcs(file);
    const auto path = ebm_fuzz::write_file("input.png", file);
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::io::image img = ebm::io::read_png(path);
        ebm_fuzz::check(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3),
                        "read_png: positive size, 1 or 3 channels");
        ebm_fuzz::check(img.pixels.size() == static_cast<std::size_t>(img.width * img.height * img.channels),
                        "read_png: pixels == width * height * channels");
    });
    for (ebm::index channels : {ebm::index{1}, ebm::index{3}}) {
        ebm_fuzz::expect_ebm_errors([&] {
            ebm::index w = 0, h = 0, source = 0;
            const auto hwc = ebm::data::detail::read_png_interleaved(path, channels, w, h, source);
            ebm_fuzz::check(w > 0 && h > 0 && (source == 1 || source == 3), "read_png_interleaved: positive size");
            ebm_fuzz::check(hwc.size() == static_cast<std::size_t>(w * h * channels),
                            "read_png_interleaved: bytes == width * height * channels");
        });
    }
    return 0;
}

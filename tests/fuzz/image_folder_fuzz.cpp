// Fuzz harness: a folder of PNG files (ebm::data::read_image_folder).
// Input: one byte choosing `channels` (0, 1, 3, or the invalid 2), one byte of file-name flags, then up to four
// files separated by ebm_fuzz::part_separator, written as 0.png, 1.png, ... (flag bit k: file k is named
// k.txt instead, which the reader must skip; bit 4: an extra sub-folder named dir.png, also skipped; bit 5: every
// file's PNG chunk CRCs are recomputed first, see png_util.hpp).
#include <ebm/data/image_folder.hpp>

#include "fuzz_common.hpp"
#include "png_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    static constexpr ebm::index choices[] = {0, 1, 3, 2};
    const ebm::index channels = choices[data[0] & 3];
    const std::uint8_t flags = data[1];
    const auto parts = ebm_fuzz::split_parts(data + 2, size - 2, 4);
    const auto folder = ebm_fuzz::fresh_folder("images");
    for (std::size_t k = 0; k < parts.size(); ++k) {
        std::string file(parts[k]);
        if (flags & 32) ebm_fuzz::fix_png_crcs(file);
        ebm_fuzz::write_file("images/" + std::to_string(k) + (((flags >> k) & 1) ? ".txt" : ".PNG"), file);
    }
    if (flags & 16) std::filesystem::create_directories(folder / "dir.png");
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::data::byte_images images = ebm::data::read_image_folder(folder, channels);
        ebm_fuzz::check(images.count > 0 && images.width > 0 && images.height > 0, "read_image_folder: images returned");
        ebm_fuzz::check(images.channels == 1 || images.channels == 3, "read_image_folder: 1 or 3 channels");
        ebm_fuzz::check(channels == 0 || images.channels == channels, "read_image_folder: the channels asked for");
        ebm_fuzz::check(images.labels.empty(), "read_image_folder: no labels");
        ebm_fuzz::check(images.pixels.size() == static_cast<std::size_t>(images.count * images.image_size()),
                        "read_image_folder: pixels == count * channels * height * width");
    });
    return 0;
}

// Fuzz harness: CIFAR-10 binary batches (ebm::data::read_cifar10, read_cifar10_folder).
// Input: one mode byte, then up to three batch files separated by ebm_fuzz::part_separator.
//   bit 0: gzip every file first;  bit 1: one file as test_batch.bin of a folder, read by read_cifar10_folder.
#include <ebm/data/cifar.hpp>

#include "fuzz_common.hpp"
#include "gzip_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    const auto parts = ebm_fuzz::split_parts(data + 1, size - 1, (mode & 2) ? 1 : 3);
    const auto folder = ebm_fuzz::fresh_folder("cifar");
    std::vector<std::filesystem::path> files;
    for (std::size_t k = 0; k < parts.size(); ++k) {
        const std::string name = (mode & 2) ? "test_batch.bin" : "batch_" + std::to_string(k) + ".bin";
        files.push_back(ebm_fuzz::write_file("cifar/" + name, (mode & 1) ? ebm_fuzz::gzip(parts[k]) : std::string(parts[k])));
    }
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::data::byte_images images =
            (mode & 2) ? ebm::data::read_cifar10_folder(folder, false) : ebm::data::read_cifar10(files);
        ebm_fuzz::check(images.count > 0 && images.channels == 3 && images.height == 32 && images.width == 32,
                        "read_cifar10: at least one 3x32x32 image");
        ebm_fuzz::check(images.labels.size() == static_cast<std::size_t>(images.count), "read_cifar10: one label per image");
        ebm_fuzz::check(images.pixels.size() == static_cast<std::size_t>(images.count) * 3072,
                        "read_cifar10: 3072 bytes per image");
        for (auto label : images.labels) ebm_fuzz::check(label <= 9, "read_cifar10: labels in 0..9");
    });
    return 0;
}

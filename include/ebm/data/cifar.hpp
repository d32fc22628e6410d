#pragma once
// CIFAR-10 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version"): each record is one
// label byte (0..9) followed by 3072 pixel bytes, the red, green and blue 32x32 planes in row-major order — which
// is already NCHW. A batch file holds 10,000 records; any whole number of records is accepted.
//   read_cifar10          one or more batch files, concatenated in the given order
//   read_cifar10_folder   data_batch_1..5.bin (train) or test_batch.bin (test) from the extracted folder
// Gzip-compressed batches are read too (zlib, as for IDX files).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "idx.hpp"

namespace ebm::data {

inline constexpr index cifar10_side = 32;
inline constexpr index cifar10_record_bytes = 1 + 3 * cifar10_side * cifar10_side;

/// Reads CIFAR-10 binary batch files into 3 x 32 x 32 byte images with labels.
inline byte_images read_cifar10(const std::vector<std::filesystem::path>& files) {
    if (files.empty()) ebm::detail::fail("read_cifar10", "needs at least one batch file", files.size());
    byte_images images;
    images.channels = 3;
    images.height = cifar10_side;
    images.width = cifar10_side;
    const auto record = static_cast<std::size_t>(cifar10_record_bytes);
    for (const auto& path : files) {
        const std::vector<std::uint8_t> bytes = detail::read_maybe_gzip(path, "read_cifar10");
        if (bytes.empty())
            ebm::detail::fail("read_cifar10", detail::quoted(path) + " is empty; bytes", bytes.size());
        if (bytes.size() % record != 0)
            ebm::detail::fail("read_cifar10", detail::quoted(path) + " is truncated or not a CIFAR-10 batch: its size must be a "
                                              "multiple of the 3073-byte record; bytes", bytes.size());
        const std::size_t n = bytes.size() / record;
        for (std::size_t r = 0; r < n; ++r) {
            const std::uint8_t* rec = bytes.data() + r * record;
            if (rec[0] > 9)
                ebm::detail::fail("read_cifar10", detail::quoted(path) + " is not a CIFAR-10 batch: record " +
                                                      std::to_string(r) + " has a label outside 0..9", int(rec[0]));
            images.labels.push_back(rec[0]);
            images.pixels.insert(images.pixels.end(), rec + 1, rec + record);
        }
        images.count += static_cast<index>(n);
    }
    return images;
}

/// The five training batches (data_batch_1.bin .. data_batch_5.bin) or the test batch (test_batch.bin) of the
/// extracted `cifar-10-batches-bin` folder.
inline byte_images read_cifar10_folder(const std::filesystem::path& folder, bool train = true) {
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec))
        ebm::detail::fail("read_cifar10_folder", "folder not found", folder.string());
    std::vector<std::filesystem::path> files;
    if (train)
        for (int k = 1; k <= 5; ++k) files.push_back(folder / ("data_batch_" + std::to_string(k) + ".bin"));
    else
        files.push_back(folder / "test_batch.bin");
    for (const auto& f : files)
        if (!std::filesystem::is_regular_file(f, ec))
            ebm::detail::fail("read_cifar10_folder", "missing batch file", f.string());
    return read_cifar10(files);
}

}  // namespace ebm::data

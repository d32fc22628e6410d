#pragma once
// A folder of PNG images (any bit depth, palette, alpha or not), read with libpng's simplified API (link
// PNG::PNG). Files are taken in name order; only names ending in ".png" (any case) count. Every image is
// converted to `channels` channels (1: grey, 3: RGB; 0: the channel count of the first image, grey or RGB) with
// alpha composited over black; all images must have the size of the first one (resizing comes later, in
// dataset::fit).
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/png.hpp"
#include "idx.hpp"

namespace ebm::data {

namespace detail {

/// One PNG as interleaved bytes (HWC) with `channels` = 1 or 3; returns width/height through the image.
inline std::vector<std::uint8_t> read_png_interleaved(const std::filesystem::path& path, index channels, index& width,
                                                      index& height, index& source_channels) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path.string().c_str())) {
        const std::string message = image.message;
        png_image_free(&image);
        ebm::detail::fail("read_image_folder", "cannot read PNG '" + path.string() + "'", message);
    }
    try {  // a header claiming more pixels than the file can hold is refused before the buffer is allocated
        ebm::io::detail_png::require_plausible_size("read_image_folder", path, image.width, image.height);
    } catch (...) {
        png_image_free(&image);
        throw;
    }
    source_channels = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    if (channels == 0) channels = source_channels;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    width = static_cast<index>(image.width);
    height = static_cast<index>(image.height);
    std::vector<std::uint8_t> buffer(PNG_IMAGE_SIZE(image));
    png_color black{0, 0, 0};
    if (!png_image_finish_read(&image, &black, buffer.data(), 0, nullptr)) {
        const std::string message = image.message;
        png_image_free(&image);
        ebm::detail::fail("read_image_folder", "cannot decode PNG '" + path.string() + "' (truncated or corrupt?)", message);
    }
    return buffer;
}

inline bool has_png_extension(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png";
}

}  // namespace detail

/// All PNG images of a folder (name order) as byte images NCHW; labels stay empty.
inline byte_images read_image_folder(const std::filesystem::path& folder, index channels = 0) {
    const char* where = "read_image_folder";
    if (channels != 0 && channels != 1 && channels != 3)
        ebm::detail::fail(where, "channels must be 0 (as the first image), 1 or 3", channels);
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) ebm::detail::fail(where, "folder not found", folder.string());
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        if (entry.is_regular_file() && detail::has_png_extension(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) ebm::detail::fail(where, "folder holds no .png files", folder.string());

    byte_images images;
    for (const auto& file : files) {
        index w = 0, h = 0, source = 0;
        const std::vector<std::uint8_t> hwc = detail::read_png_interleaved(file, channels, w, h, source);
        if (images.count == 0) {
            if (channels == 0) channels = source;
            images.channels = channels;
            images.width = w;
            images.height = h;
        } else if (w != images.width || h != images.height) {
            ebm::detail::fail(where, "image sizes differ: '" + file.string() + "' must be " + std::to_string(images.width) +
                                         "x" + std::to_string(images.height) + " like the first image",
                              std::to_string(w) + "x" + std::to_string(h));
        }
        const std::size_t plane = static_cast<std::size_t>(w * h);
        const std::size_t base = images.pixels.size();
        images.pixels.resize(base + plane * static_cast<std::size_t>(channels));
        for (index c = 0; c < channels; ++c)
            for (std::size_t p = 0; p < plane; ++p)
                images.pixels[base + static_cast<std::size_t>(c) * plane + p] =
                    hwc[p * static_cast<std::size_t>(channels) + static_cast<std::size_t>(c)];
        ++images.count;
    }
    return images;
}

}  // namespace ebm::data

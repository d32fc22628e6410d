#pragma once
// PNG output through libpng (link PNG::PNG): 8-bit RGB and gray images, the viridis colormap, scalar fields
// mapped to colours, and composition of equally sized panels into one picture. Files are written to
// a temporary file and renamed over <path> only when complete (io/atomic_file.hpp).
#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "atomic_file.hpp"

namespace ebm::io {

using rgb = std::array<std::uint8_t, 3>;

/// An 8-bit image with 1 (gray) or 3 (RGB) channels, rows top to bottom, channels interleaved.
struct image {
    index width = 0;
    index height = 0;
    index channels = 3;
    std::vector<std::uint8_t> pixels;

    image() = default;
    image(index w, index h, index c = 3, std::uint8_t fill = 0) : width(w), height(h), channels(c) {
        validate_shape("io::image", w, h, c);
        pixels.assign(static_cast<std::size_t>(w * h * c), fill);
    }
    static void validate_shape(const char* where, index w, index h, index c) {
        detail::require_positive(where, "width", w);
        detail::require_positive(where, "height", h);
        if (c != 1 && c != 3) detail::fail(where, "channels must be 1 (gray) or 3 (RGB)", c);
        if (w > 1'000'000 || h > 1'000'000) detail::fail(where, "width and height must be at most 1e6", std::max(w, h));
    }
    [[nodiscard]] std::uint8_t* at(index x, index y) { return pixels.data() + (y * width + x) * channels; }
    [[nodiscard]] const std::uint8_t* at(index x, index y) const { return pixels.data() + (y * width + x) * channels; }
    void set(index x, index y, rgb colour) {
        std::uint8_t* p = at(x, y);
        if (channels == 1) {
            p[0] = static_cast<std::uint8_t>((299 * colour[0] + 587 * colour[1] + 114 * colour[2] + 500) / 1000);
        } else {
            p[0] = colour[0], p[1] = colour[1], p[2] = colour[2];
        }
    }
    void validate(const char* where) const {
        validate_shape(where, width, height, channels);
        if (pixels.size() != static_cast<std::size_t>(width * height * channels))
            detail::fail(where, "pixels must hold width*height*channels = " + detail::to_text(width * height * channels) +
                                    " bytes", pixels.size());
    }
};

/// The viridis colormap at t in [0, 1] (clamped; NaN maps to 0). A degree-6 polynomial fit of matplotlib's table
/// (within 5/255 per channel of the table, visually identical).
inline rgb viridis(double t) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    static constexpr double c[7][3] = {
        {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
        {0.1050930431085774, 1.404613529898575, 1.384590162594685},
        {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
        {-4.634230498983486, -5.799100973351585, -19.33244095627987},
        {6.228269936347081, 14.17993336680509, 56.69055260068105},
        {4.776384997670288, -13.74514537774601, -65.35303263337234},
        {-5.435455855934631, 4.645852612178535, 26.3124352495832}};
    rgb out{};
    for (int ch = 0; ch < 3; ++ch) {
        double v = c[6][ch];
        for (int k = 5; k >= 0; --k) v = c[k][ch] + t * v;
        out[static_cast<std::size_t>(ch)] = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
    }
    return out;
}

/// A scalar field of `width` x `height` values (row-major, row 0 = smallest y) as a viridis image with row 0 at
/// the bottom, as imshow(origin='lower'). The colour range is [low, high]; by default the field's finite min/max.
inline image colour_field(std::span<const double> values, index width, index height,
                          double low = std::numeric_limits<double>::quiet_NaN(),
                          double high = std::numeric_limits<double>::quiet_NaN()) {
    image::validate_shape("io::colour_field", width, height, 3);
    if (values.size() != static_cast<std::size_t>(width * height))
        detail::fail("io::colour_field", "values must hold width*height = " + detail::to_text(width * height) + " entries",
                     values.size());
    if (std::isnan(low) || std::isnan(high)) {
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (double v : values)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        if (std::isnan(low)) low = lo;
        if (std::isnan(high)) high = hi;
    }
    const double span = high > low ? high - low : 1.0;
    image out(width, height, 3);
    for (index y = 0; y < height; ++y)
        for (index x = 0; x < width; ++x)
            out.set(x, height - 1 - y, viridis((values[static_cast<std::size_t>(y * width + x)] - low) / span));
    return out;
}

/// Equally sized panels laid out in `columns` columns (row by row), `gap` pixels apart and around, on `background`.
inline image compose(std::span<const image> panels, index columns, index gap = 4, rgb background = {255, 255, 255}) {
    if (panels.empty()) detail::fail("io::compose", "panels must not be empty", 0);
    detail::require_positive("io::compose", "columns", columns);
    detail::require_non_negative("io::compose", "gap", gap);
    const index w = panels[0].width, h = panels[0].height, c = panels[0].channels;
    for (std::size_t k = 0; k < panels.size(); ++k) {
        panels[k].validate("io::compose");
        if (panels[k].width != w || panels[k].height != h || panels[k].channels != c)
            detail::fail("io::compose", "every panel must have the first panel's size and channels; panel", k);
    }
    const index count = static_cast<index>(panels.size());
    const index cols = std::min(columns, count);
    const index rows = (count + cols - 1) / cols;
    image out(cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap, c);
    for (index y = 0; y < out.height; ++y)
        for (index x = 0; x < out.width; ++x) out.set(x, y, background);
    for (index k = 0; k < count; ++k) {
        const index ox = gap + (k % cols) * (w + gap), oy = gap + (k / cols) * (h + gap);
        const image& p = panels[static_cast<std::size_t>(k)];
        for (index y = 0; y < h; ++y) std::copy(p.at(0, y), p.at(0, y) + w * c, out.at(ox, oy + y));
    }
    return out;
}

namespace detail_png {
struct file_closer {
    std::FILE* f;
    ~file_closer() {
        if (f != nullptr) std::fclose(f);
    }
};
// libpng reports errors through longjmp; keep the jump region free of objects with destructors.
inline bool write_rows(std::FILE* f, const image& img, std::string& message) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png == nullptr) {
        message = "png_create_write_struct failed";
        return false;
    }
    png_infop info = png_create_info_struct(png);
    if (info == nullptr) {
        png_destroy_write_struct(&png, nullptr);
        message = "png_create_info_struct failed";
        return false;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        message = "libpng error while writing";
        return false;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
                 img.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (index y = 0; y < img.height; ++y)
        png_write_row(png, const_cast<png_bytep>(img.pixels.data() + y * img.width * img.channels));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return true;
}
}  // namespace detail_png

/// Writes an 8-bit gray or RGB PNG atomically (io/atomic_file.hpp).
inline void write_png(const std::filesystem::path& path, const image& img) {
    img.validate("io::write_png");
    if (path.empty()) detail::fail("io::write_png", "path must not be empty", path.string());
    atomic_file target(path, "io::write_png");
    std::string message;
    bool ok = false;
    {
        detail_png::file_closer file{std::fopen(target.temporary().c_str(), "wb")};
        if (file.f == nullptr)
            throw runtime_error("ebm::io::write_png: cannot open '" + target.temporary().string() + "' for writing");
        ok = detail_png::write_rows(file.f, img, message);
        if (ok && std::fflush(file.f) != 0) ok = false, message = "flush failed";
        if (std::fclose(file.f) != 0 && ok) ok = false, message = "close failed";
        file.f = nullptr;
    }
    if (!ok) throw runtime_error("ebm::io::write_png: writing '" + target.temporary().string() + "' failed: " + message);
    target.commit();
}

namespace detail_png {
/// Rejects (ebm::error) a PNG whose header claims more pixels than the file can hold, before anything the size
/// of the image is allocated: the pixel data of a width x height PNG is at least height * (1 + ceil(width / 8))
/// bytes (1 bit per pixel and a filter byte per row) once inflated, and deflate expands at most 1032-fold, so a
/// file of n bytes holds at most about 1032 * n of them. A forged header (libpng itself allows 1e6 x 1e6) would
/// otherwise make the reader allocate gigabytes only to find the data missing.
inline void require_plausible_size(const char* where, const std::filesystem::path& path, std::uint32_t width,
                                   std::uint32_t height) {
    std::error_code ec;
    const std::uintmax_t file_bytes = std::filesystem::file_size(path, ec);
    if (ec) return;  // not a plain file: libpng reports the real problem
    const std::uint64_t least_data = std::uint64_t{height} * (1 + (std::uint64_t{width} + 7) / 8);
    if (least_data / 1032 > static_cast<std::uint64_t>(file_bytes))
        detail::fail(where, "'" + path.string() + "' is truncated or corrupt: its header's size " + std::to_string(width) +
                                "x" + std::to_string(height) + " needs more data than the file's " +
                                std::to_string(file_bytes) + " bytes can hold; size",
                     std::to_string(width) + "x" + std::to_string(height));
}
}  // namespace detail_png

/// Reads back an 8-bit gray or RGB PNG (for tests and tools); other formats are converted to RGB. A corrupt file
/// is an ebm::runtime_error from libpng, a header claiming more pixels than the file can hold an ebm::error.
inline image read_png(const std::filesystem::path& path) {
    png_image pi{};
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path.c_str()))
        throw runtime_error("ebm::io::read_png: cannot read '" + path.string() + "': " + pi.message);
    try {
        detail_png::require_plausible_size("io::read_png", path, pi.width, pi.height);
    } catch (...) {
        png_image_free(&pi);
        throw;
    }
    const bool gray = (pi.format & PNG_FORMAT_FLAG_COLOR) == 0 && (pi.format & PNG_FORMAT_FLAG_ALPHA) == 0;
    pi.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    image out(static_cast<index>(pi.width), static_cast<index>(pi.height), gray ? 1 : 3);
    if (!png_image_finish_read(&pi, nullptr, out.pixels.data(), 0, nullptr)) {
        png_image_free(&pi);
        throw runtime_error("ebm::io::read_png: decoding '" + path.string() + "' failed: " + pi.message);
    }
    return out;
}

}  // namespace ebm::io

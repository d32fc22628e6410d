#include "common/error_message.hpp"
#include <doctest/doctest.h>
#include <png.h>

#include <ebm/data/image_folder.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "temp_folder.hpp"

namespace {

void write_png(const std::filesystem::path& p, int width, int height, bool rgb, std::uint8_t base) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(width);
    image.height = static_cast<png_uint_32>(height);
    image.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    const int channels = rgb ? 3 : 1;
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height * channels));
    for (std::size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<std::uint8_t>(base + k);
    REQUIRE(png_image_write_to_file(&image, p.c_str(), 0, pixels.data(), 0, nullptr) != 0);
}

using ebm_test::message_of;

}  // namespace

TEST_CASE("a folder of PNG images: name order, grey and RGB, planes in NCHW order") {
    ebm_test::temp_folder dir("png");
    write_png(dir / "b.png", 3, 2, false, 100);
    write_png(dir / "a.png", 3, 2, false, 0);
    std::ofstream(dir / "notes.txt") << "not an image";
    const auto grey = ebm::data::read_image_folder(dir.path());
    CHECK(grey.count == 2);
    CHECK(grey.channels == 1);
    CHECK(grey.width == 3);
    CHECK(grey.height == 2);
    CHECK(grey.pixels[0] == 0);    // a.png first
    CHECK(grey.pixels[6] == 100);  // then b.png
    CHECK(grey.pixels[5] == 5);

    const auto as_rgb = ebm::data::read_image_folder(dir.path(), 3);
    CHECK(as_rgb.channels == 3);
    CHECK(as_rgb.pixels.size() == 2u * 3u * 6u);
    CHECK(as_rgb.pixels[6] == 0);  // the green plane of a grey image equals its grey values

    ebm_test::temp_folder colour("png-rgb");
    write_png(colour / "x.png", 2, 2, true, 0);
    const auto rgb = ebm::data::read_image_folder(colour.path());
    CHECK(rgb.channels == 3);
    // Interleaved RGB 0,1,2, 3,4,5, ... -> planes R = 0,3,6,9; G = 1,4,7,10.
    CHECK(rgb.pixels[0] == 0);
    CHECK(rgb.pixels[1] == 3);
    CHECK(rgb.pixels[4] == 1);
}

TEST_CASE("PNG folder: mismatched sizes, corrupt files, empty or missing folders are clear errors") {
    ebm_test::temp_folder dir("png-bad");
    write_png(dir / "a.png", 4, 4, false, 0);
    write_png(dir / "b.png", 5, 4, false, 0);
    const auto msg = message_of([&] { (void)ebm::data::read_image_folder(dir.path()); });
    CHECK(msg.find("ebm::read_image_folder: image sizes differ") == 0);
    CHECK(msg.find("(got '5x4')") != std::string::npos);

    ebm_test::temp_folder corrupt("png-corrupt");
    write_png(corrupt / "a.png", 8, 8, false, 0);
    std::filesystem::resize_file(corrupt / "a.png", 40);
    CHECK(message_of([&] { (void)ebm::data::read_image_folder(corrupt.path()); }).find("ebm::read_image_folder: cannot") == 0);

    ebm_test::temp_folder empty("png-empty");
    CHECK(message_of([&] { (void)ebm::data::read_image_folder(empty.path()); }).find("no .png files") != std::string::npos);
    CHECK(message_of([&] { (void)ebm::data::read_image_folder(empty / "missing"); }).find("folder not found") !=
          std::string::npos);
    CHECK(message_of([&] { (void)ebm::data::read_image_folder(empty.path(), 2); }).find("channels must be") !=
          std::string::npos);
}

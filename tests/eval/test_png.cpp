// PNG writing (libpng): round trip, viridis, colour fields, panel composition, argument checks, atomic writes.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include <ebm/io/png.hpp>

namespace fs = std::filesystem;

namespace {
fs::path scratch(const char* name) {
    const fs::path dir = fs::temp_directory_path() / "ebm_test_png";
    fs::create_directories(dir);
    return dir / name;
}
}  // namespace

TEST_CASE("viridis: endpoints and midpoint of matplotlib's map, clamped outside [0, 1]") {
    const auto lo = ebm::io::viridis(0.0), mid = ebm::io::viridis(0.5), hi = ebm::io::viridis(1.0);
    // matplotlib: #440154, #21918c, #fde725 (the polynomial fit is within 5/255).
    auto near = [](ebm::io::rgb a, int r, int g, int b) {
        return std::abs(a[0] - r) <= 5 && std::abs(a[1] - g) <= 5 && std::abs(a[2] - b) <= 5;
    };
    CHECK(near(lo, 0x44, 0x01, 0x54));
    CHECK(near(mid, 0x21, 0x91, 0x8c));
    CHECK(near(hi, 0xfd, 0xe7, 0x25));
    CHECK(ebm::io::viridis(-3.0) == lo);
    CHECK(ebm::io::viridis(7.0) == hi);
    CHECK(ebm::io::viridis(NAN) == lo);
}

TEST_CASE("write_png / read_png: RGB and gray round trip, no temporary left behind") {
    ebm::io::image rgb(5, 3, 3);
    for (ebm::index y = 0; y < 3; ++y)
        for (ebm::index x = 0; x < 5; ++x)
            rgb.set(x, y, {static_cast<std::uint8_t>(40 * x), static_cast<std::uint8_t>(80 * y), 7});
    const auto path = scratch("rgb.png");
    ebm::io::write_png(path, rgb);
    CHECK(fs::exists(path));
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
    const auto back = ebm::io::read_png(path);
    CHECK(back.width == 5);
    CHECK(back.height == 3);
    CHECK(back.channels == 3);
    CHECK(back.pixels == rgb.pixels);

    ebm::io::image gray(4, 4, 1, 0);
    gray.at(2, 1)[0] = 200;
    const auto gpath = scratch("gray.png");
    ebm::io::write_png(gpath, gray);
    const auto gback = ebm::io::read_png(gpath);
    CHECK(gback.channels == 1);
    CHECK(gback.pixels == gray.pixels);
}

TEST_CASE("write_png validates its arguments") {
    CHECK_THROWS_AS(ebm::io::image(0, 3), ebm::error);
    CHECK_THROWS_AS(ebm::io::image(3, 3, 2), ebm::error);
    ebm::io::image bad(2, 2, 3);
    bad.pixels.pop_back();
    CHECK_THROWS_AS(ebm::io::write_png(scratch("bad.png"), bad), ebm::error);
    CHECK_THROWS_AS(ebm::io::write_png("", ebm::io::image(2, 2)), ebm::error);
    CHECK_THROWS_AS(ebm::io::write_png(scratch("no_such_dir") / "x.png", ebm::io::image(2, 2)), ebm::runtime_error);
}

TEST_CASE("colour_field maps the range onto viridis with row 0 at the bottom, and compose lays out panels") {
    const std::vector<double> field = {0.0, 1.0, 2.0, 3.0};  // 2 x 2, row 0 = y low
    const auto img = ebm::io::colour_field(field, 2, 2);
    CHECK(img.at(0, 1)[0] == ebm::io::viridis(0.0)[0]);  // bottom-left is the first value
    CHECK(img.at(1, 0)[1] == ebm::io::viridis(1.0)[1]);  // top-right is the last
    CHECK_THROWS_AS(ebm::io::colour_field(field, 3, 2), ebm::error);

    const std::vector<ebm::io::image> panels(5, ebm::io::image(4, 3, 3, 9));
    const auto sheet = ebm::io::compose(panels, 3, 2, {255, 255, 255});
    CHECK(sheet.width == 3 * 4 + 4 * 2);
    CHECK(sheet.height == 2 * 3 + 3 * 2);
    CHECK(sheet.at(0, 0)[0] == 255);
    CHECK(sheet.at(2, 2)[0] == 9);
    std::vector<ebm::io::image> mixed = {ebm::io::image(4, 3), ebm::io::image(3, 3)};
    CHECK_THROWS_AS(ebm::io::compose(mixed, 2), ebm::error);
    CHECK_THROWS_AS(ebm::io::compose(panels, 0), ebm::error);
}

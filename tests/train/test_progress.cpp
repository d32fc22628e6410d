#include <doctest/doctest.h>

#include <ebm/train/progress.hpp>

#include <cstdio>
#include <string>

TEST_CASE("progress line text: iteration, it/s, ETA, d_t, r_t") {
    CHECK(ebm::progress_line::format(1200, 100000, 4.0, -0.0123, 0.0981) ==
          "iteration 1200/100000  4 it/s  ETA 6h51m  d_t -0.0123  r_t 0.0981");
    CHECK(ebm::progress_line::format(5, 5, 2.0, 0, 0).find("ETA 0s") != std::string::npos);
    CHECK(ebm::progress_line::format(1, 5, 0.0, 0, 0).find("ETA --") != std::string::npos);
    CHECK(ebm::progress_line::duration_text(45) == "45s");
    CHECK(ebm::progress_line::duration_text(725) == "12m05s");
    CHECK(ebm::progress_line::duration_text(2 * 86400 + 4 * 3600 + 5) == "2d04h");
    CHECK(ebm::progress_line::duration_text(-1) == "--");
}

TEST_CASE("no progress line unless the stream is a terminal") {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    ebm::progress_line line(10, 0, file, 1e9);
    CHECK_FALSE(line.enabled());
    ebm::iteration_record rec;
    for (std::uint64_t t = 0; t < 10; ++t) {
        rec.iteration = t;
        line.update(rec);
    }
    line.finish();
    CHECK(std::ftell(file) == 0);

    line.set_enabled(true);  // forced on: carriage return, the text, erase to end of line
    rec.iteration = 9;
    line.update(rec);
    line.finish();
    std::rewind(file);
    char buffer[256] = {};
    const auto n = std::fread(buffer, 1, sizeof buffer - 1, file);
    const std::string written(buffer, n);
    CHECK(written.rfind("\riteration 10/10", 0) == 0);
    CHECK(written.find("\x1b[K\n") != std::string::npos);
    std::fclose(file);
}

#include <doctest/doctest.h>

#include <algorithm>

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

TEST_CASE("plain progress lines unless the stream is a terminal, in-place redraws on a terminal") {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    const auto written = [&] {
        std::fflush(file);
        std::rewind(file);
        char buffer[1024] = {};
        const auto n = std::fread(buffer, 1, sizeof buffer - 1, file);
        return std::string(buffer, n);
    };
    {  // A log file: one plain line per interval (here: none within the run) and one for the last iteration.
        ebm::progress_line line(10, 0, file, 1e9, 3600.0);
        CHECK(line.enabled());
        CHECK_FALSE(line.in_place());
        ebm::iteration_record rec;
        for (std::uint64_t t = 0; t < 10; ++t) {
            rec.iteration = t;
            line.update(rec);
        }
        line.finish();
        const std::string text = written();
        CHECK(text.rfind("iteration 10/10  ", 0) == 0);
        CHECK(text.find('\r') == std::string::npos);
        CHECK(text.find('\x1b') == std::string::npos);
        CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    }
    {  // An interval of zero: a plain line for every iteration.
        std::FILE* every = std::tmpfile();
        ebm::progress_line line(3, 0, every, 1e9, 0.0);
        ebm::iteration_record rec;
        for (std::uint64_t t = 0; t < 3; ++t) {
            rec.iteration = t;
            line.update(rec);
        }
        CHECK(std::ftell(every) > 0);
        std::rewind(every);
        char buffer[512] = {};
        const std::string text(buffer, std::fread(buffer, 1, sizeof buffer - 1, every));
        CHECK(std::count(text.begin(), text.end(), '\n') == 3);
        CHECK(text.find("iteration 2/3") != std::string::npos);
        std::fclose(every);
    }
    {  // Turned off: nothing.
        std::FILE* off = std::tmpfile();
        ebm::progress_line line(10, 0, off, 1e9, 0.0);
        line.set_enabled(false);
        ebm::iteration_record rec;
        rec.iteration = 9;
        line.update(rec);
        line.finish();
        CHECK(std::ftell(off) == 0);
        std::fclose(off);
    }
    std::fclose(file);
    file = std::tmpfile();
    ebm::progress_line line(10, 0, file, 1e9);
    line.set_enabled(true, true);  // drawn in place as on a terminal: carriage return, the text, erase to end of line
    CHECK(line.in_place());
    ebm::iteration_record rec;
    rec.iteration = 9;
    line.update(rec);
    line.finish();
    const std::string text = written();
    CHECK(text.rfind("\riteration 10/10", 0) == 0);
    CHECK(text.find("\x1b[K\n") != std::string::npos);
    std::fclose(file);
}

#pragma once
// Progress of a training run:
//   iteration 1200/100000  3.41 it/s  ETA 8h02m  d_t -0.0123  r_t 0.0981
// On a terminal (isatty) the line is redrawn in place (carriage return, erase to end of line) at most
// `redraws_per_second` times. Anywhere else (a log file, a pipe, a batch job) the same text is printed as plain
// lines, one every `plain_every_seconds` and one for the last iteration, so logs show progress without control
// characters. it/s is measured over this session (since construction or the last resume), ETA from it.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "diagnostics.hpp"

namespace ebm {

class progress_line {
public:
    /// total: the last iteration number + 1; first: the iteration this session starts at (resume).
    explicit progress_line(std::uint64_t total, std::uint64_t first = 0, std::FILE* stream = stdout,
                           double redraws_per_second = 4.0, double plain_every_seconds = 60.0)
        : total_(total), first_(first), stream_(stream),
          terminal_(stream != nullptr && ::isatty(::fileno(stream)) == 1),
          interval_(terminal_ ? 1.0 / redraws_per_second : plain_every_seconds), enabled_(stream != nullptr),
          start_(clock::now()), last_draw_(start_) {}

    /// Whether anything is printed at all.
    [[nodiscard]] bool enabled() const { return enabled_; }
    /// Whether the line is redrawn in place (a terminal) rather than printed as plain lines.
    [[nodiscard]] bool in_place() const { return terminal_; }
    /// Turns printing off (--no-progress), or on; on a stream that is not a terminal, forced_in_place draws in place
    /// anyway (tests).
    void set_enabled(bool on, bool forced_in_place = false) {
        enabled_ = on && stream_ != nullptr;
        if (forced_in_place) terminal_ = true;
    }

    /// Records one finished iteration; redraws when enough time has passed (or on the last iteration).
    void update(const iteration_record& rec) {
        const auto now = clock::now();
        done_ = rec.iteration + 1;
        if (!enabled_) return;
        const bool last = done_ >= total_;
        if (!last && std::chrono::duration<double>(now - last_draw_).count() < interval_) return;
        last_draw_ = now;
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double rate = elapsed > 0 && done_ > first_ ? static_cast<double>(done_ - first_) / elapsed : 0.0;
        const std::string line = format(done_, total_, rate, rec.d, rec.r);
        if (terminal_) {
            std::fprintf(stream_, "\r%s\x1b[K", line.c_str());
            drawn_ = true;
        } else {
            std::fprintf(stream_, "%s\n", line.c_str());
        }
        std::fflush(stream_);
    }

    /// Ends the line (a newline) if anything was drawn; call before other output and at the end.
    void finish() {
        if (enabled_ && drawn_) {
            std::fputc('\n', stream_);
            std::fflush(stream_);
        }
        drawn_ = false;
    }

    /// The text of the line: completed iterations, rate, ETA, d_t and r_t.
    [[nodiscard]] static std::string format(std::uint64_t done, std::uint64_t total, double iterations_per_second,
                                            double d, double r) {
        char text[256];
        std::snprintf(text, sizeof text, "iteration %llu/%llu  %.3g it/s  ETA %s  d_t %.4g  r_t %.4g",
                      static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                      iterations_per_second,
                      duration_text(iterations_per_second > 0 && total > done
                                        ? static_cast<double>(total - done) / iterations_per_second
                                        : (total > done ? -1.0 : 0.0)).c_str(),
                      d, r);
        return text;
    }

    /// 45s, 12m05s, 3h07m, 2d04h; "--" when unknown (negative).
    [[nodiscard]] static std::string duration_text(double seconds) {
        if (!(seconds >= 0) || !std::isfinite(seconds)) return "--";
        const auto s = static_cast<std::uint64_t>(std::llround(seconds));
        char text[32];
        if (s < 60) std::snprintf(text, sizeof text, "%llus", static_cast<unsigned long long>(s));
        else if (s < 3600) std::snprintf(text, sizeof text, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                                         static_cast<unsigned long long>(s % 60));
        else if (s < 86400) std::snprintf(text, sizeof text, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                                          static_cast<unsigned long long>((s % 3600) / 60));
        else std::snprintf(text, sizeof text, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                           static_cast<unsigned long long>((s % 86400) / 3600));
        return text;
    }

private:
    using clock = std::chrono::steady_clock;
    std::uint64_t total_;
    std::uint64_t first_;
    std::FILE* stream_;
    bool terminal_;
    double interval_;  // seconds between redraws (terminal) or between plain lines
    bool enabled_;
    bool drawn_ = false;
    std::uint64_t done_ = 0;
    clock::time_point start_;
    clock::time_point last_draw_;
};

}  // namespace ebm

#pragma once
// Command-line checks shared by ebm's programs (CLI11 validators) and the signal setup every program does first.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cmath>
#include <string>

namespace program {

/// An unsigned integer option (a seed, a count): CLI11 would read "-1" as 2^64 - 1; this refuses any sign.
inline const CLI::Validator unsigned_integer(
    [](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
            return "must be a non-negative integer (got '" + text + "')";
        return {};
    },
    "UINT");

/// A finite number > 0 (CLI::PositiveNumber prints its bound, DBL_MAX, with all 309 digits when it refuses).
inline const CLI::Validator positive_number(
    [](std::string& text) -> std::string {
        double value = 0;
        std::size_t used = 0;
        try {
            value = std::stod(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != text.size() || !std::isfinite(value) || !(value > 0))
            return "must be a finite number > 0 (got '" + text + "')";
        return {};
    },
    "NUMBER > 0");

/// Writes to a closed pipe (`toy2d | head -1`) fail instead of killing the program with SIGPIPE, so it still
/// finishes its outputs and removes its temporaries.
inline void ignore_broken_pipes() { std::signal(SIGPIPE, SIG_IGN); }

}  // namespace program

#pragma once
// Shared pieces of the reader fuzz harnesses (tests/fuzz/*_fuzz.cpp).
//   * Readers take paths, so each input is written to a per-process scratch folder under $TMPDIR (or /tmp),
//     removed at exit.
//   * Expected rejections are ebm::error and ebm::runtime_error; everything else escapes the harness (an uncaught
//     exception aborts, and libFuzzer / the replay reports it), as do crashes and sanitizer reports.
//   * check(cond, what) aborts with a message when a reader returned something inconsistent.
//   * split_parts cuts an input into several files at a separator (for readers of several files / folders).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <ebm/error.hpp>

namespace ebm_fuzz {

/// The separator between the files of a multi-file input (also in the dictionaries).
inline constexpr std::string_view part_separator = "--EBM-NEXT-FILE--";

/// This process's scratch folder, created on first use and removed at exit (never destroyed before that).
inline const std::filesystem::path& scratch() {
    static const std::filesystem::path* folder = [] {
        const char* env = std::getenv("TMPDIR");
        const std::filesystem::path base = env != nullptr && *env != '\0' ? std::filesystem::path(env) : "/tmp";
        auto* p = new std::filesystem::path(base / ("ebm-fuzz-" + std::to_string(::getpid())));
        std::filesystem::remove_all(*p);
        std::filesystem::create_directories(*p);
        return p;
    }();
    static const bool cleanup_registered = [] {
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(*folder, ec);
        });
        return true;
    }();
    (void)cleanup_registered;
    return *folder;
}

/// Writes bytes to scratch()/name (replacing it) and returns the path.
inline std::filesystem::path write_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
    const auto path = scratch() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
        std::fprintf(stderr, "ebm fuzz harness: cannot write %s\n", path.c_str());
        std::abort();
    }
    return path;
}

inline std::filesystem::path write_file(const std::string& name, std::string_view bytes) {
    return write_file(name, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

/// An empty folder scratch()/name.
inline std::filesystem::path fresh_folder(const std::string& name) {
    const auto path = scratch() / name;
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    return path;
}

/// The input cut at every part_separator (at most max_parts parts; the last keeps the rest).
inline std::vector<std::string_view> split_parts(const std::uint8_t* data, std::size_t size, std::size_t max_parts) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < max_parts) {
        const auto at = rest.find(part_separator);
        if (at == std::string_view::npos) break;
        parts.push_back(rest.substr(0, at));
        rest.remove_prefix(at + part_separator.size());
    }
    parts.push_back(rest);
    return parts;
}

/// A reader returned something inconsistent: report and abort (a finding, like a crash).
inline void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "ebm fuzz harness: invariant violated: %s\n", what);
        std::abort();
    }
}

/// Runs fn; ebm::error and ebm::runtime_error are the expected rejections of bad input, anything else escapes.
template <class Fn>
void expect_ebm_errors(Fn&& fn) {
    try {
        fn();
    } catch (const ebm::error&) {
    } catch (const ebm::runtime_error&) {
    }
}

}  // namespace ebm_fuzz

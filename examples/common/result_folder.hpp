#pragma once
// A program's output folder that is replaced only by a whole result: the program writes into a temporary sibling
// ("<output>.tmp.<pid>"), and only when it succeeded does that folder take the output's place (the previous result,
// if any, is put back should the rename fail). Only an empty folder or an earlier result of the same program (a
// folder holding its `marker` file) is ever replaced.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <system_error>

namespace program {

/// Checks `output` (exit status 2 and a message on stderr when it cannot be used), then calls write(temporary folder)
/// and moves the result into place. Returns the exit status: 0 written, 1 write threw (its message printed), 2 bad
/// --output.
inline int write_result_folder(const char* program, const std::string& output, const std::string& marker, bool quiet,
                               const std::function<void(const std::filesystem::path&)>& write) {
    namespace fs = std::filesystem;
    if (output.empty()) {
        std::cerr << program << ": --output must not be empty\n";
        return 2;
    }
    fs::path target = fs::absolute(fs::path(output)).lexically_normal();
    if (!target.has_filename()) target = target.parent_path();
    if (!fs::is_directory(target.parent_path())) {
        std::cerr << program << ": --output '" << output << "': the parent folder '" << target.parent_path().string()
                  << "' does not exist (create it first)\n";
        return 2;
    }
    if (fs::exists(target) && !fs::is_directory(target)) {
        std::cerr << program << ": --output '" << output << "' exists and is not a directory\n";
        return 2;
    }
    if (fs::is_directory(target) && !fs::is_empty(target) && !fs::exists(target / marker)) {
        std::cerr << program << ": --output '" << output << "' is a non-empty folder without " << marker << " (not a "
                  << program << " result); refusing to replace it\n";
        return 2;
    }
    const std::string suffix = "." + std::to_string(::getpid());
    const fs::path temporary = target.parent_path() / (target.filename().string() + ".tmp" + suffix);
    const fs::path previous = target.parent_path() / (target.filename().string() + ".old" + suffix);
    try {
        fs::remove_all(temporary);
        fs::create_directory(temporary);
        const auto start = std::chrono::steady_clock::now();
        write(temporary);
        if (fs::exists(target)) fs::rename(target, previous);
        try {
            fs::rename(temporary, target);
        } catch (...) {
            if (fs::exists(previous)) fs::rename(previous, target);  // put the old result back
            throw;
        }
        fs::remove_all(previous);
        if (!quiet)
            std::fprintf(stderr, "%s: wrote %s in %.1f s\n", program, target.c_str(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << '\n';
        std::error_code ignored;
        fs::remove_all(temporary, ignored);
        return 1;
    }
    return 0;
}

}  // namespace program

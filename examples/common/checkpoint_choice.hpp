#pragma once
// The checkpoint a program reads: --checkpoint FILE, or the newest one of --run FOLDER (exactly one of the two).
#include <ebm/error.hpp>
#include <ebm/train/checkpoint.hpp>

#include <filesystem>
#include <string>

namespace program {

inline std::filesystem::path chosen_checkpoint(const char* program_name, const std::string& run,
                                               const std::string& checkpoint) {
    if (run.empty() == checkpoint.empty())
        ebm::detail::fail(program_name, "give exactly one of --run and --checkpoint",
                          run.empty() ? std::string("neither") : "--run '" + run + "' and --checkpoint '" + checkpoint + "'");
    if (!checkpoint.empty()) return checkpoint;
    const auto latest = ebm::checkpoint_folder(run).latest();
    if (!latest) ebm::detail::fail(program_name, "no checkpoint in the run folder", run);
    return *latest;
}

}  // namespace program

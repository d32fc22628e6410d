#pragma once
// Helpers shared by the tests that compare with PyTorch (tests/convnet, tests/network): scratch folders, the Python
// that runs the references (skips with exit code 77 when it cannot import torch), random batches and error norms.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <ebm/batch.hpp>
#include <ebm/random/distributions.hpp>

#include "data/temp_folder.hpp"

namespace ebm_test {

/// A fresh folder under the system temp dir, removed when the object dies (data/temp_folder.hpp), with the path and
/// file names as the reference scripts take them.
struct scratch_dir {
    temp_folder folder;
    std::filesystem::path path;
    explicit scratch_dir(const std::string& name = "torch") : folder(name), path(folder.path()) {}
    [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

/// The Python of the references: $EBM_TORCH_PYTHON, or Debian's /usr/bin/python3 (where python3-torch installs).
inline std::string torch_python() {
    const char* env = std::getenv("EBM_TORCH_PYTHON");
    return env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
}

/// Exits the test process with 77 (ctest: skipped) when torch is unavailable, so the PyTorch parity checks are
/// reported as SKIPPED rather than passed.
inline void require_torch() {
    static const int status = std::system((torch_python() + " -c 'import torch, numpy' >/dev/null 2>&1").c_str());
    if (status != 0) {
        std::printf("SKIPPED: %s cannot import torch and numpy; the PyTorch parity test is not run\n",
                    torch_python().c_str());
        std::fflush(stdout);
        std::exit(77);
    }
}

/// Runs `script args` with torch_python(); its exit status (77: the script skipped itself), -1 if it did not exit.
inline int run_python(const std::string& script, const std::string& args) {
    require_torch();
    const int status = std::system((torch_python() + " " + script + " " + args).c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// ||a - b||_inf / ||b||_inf (the reference is b).
inline double relative_error(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
        diff = std::max(diff, std::abs(static_cast<double>(a[k]) - b[k]));
        scale = std::max(scale, std::abs(static_cast<double>(b[k])));
    }
    return scale > 0 ? diff / scale : diff;
}

/// A batch of n chains of the given dimension, U(low, high) from Philox stream (user, chain) of the seed.
inline ebm::batch uniform_batch(ebm::index dimension, ebm::index n, std::uint64_t seed_value, float low = -1.0f,
                                float high = 1.0f) {
    ebm::batch x(dimension, n);
    const ebm::philox rng(seed_value);
    for (ebm::index i = 0; i < n; ++i)
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(i), 0, x.chain(i), dimension, low, high);
    return x;
}

}  // namespace ebm_test

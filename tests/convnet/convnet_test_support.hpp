#pragma once
// Helpers shared by the ConvNet tests: scratch folders, the PyTorch reference runner (skips with exit code 77 when
// /usr/bin/python3 cannot import torch), random batches and error norms.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include <ebm/batch.hpp>
#include <ebm/random/distributions.hpp>

namespace convnet_test {

/// A fresh folder under the system temp dir, removed when the object dies.
struct scratch_dir {
    std::filesystem::path path;
    scratch_dir() {
        static std::atomic<int> serial{0};
        path = std::filesystem::temp_directory_path() /
               ("ebm_convnet_" + std::to_string(::getpid()) + "_" + std::to_string(serial.fetch_add(1)));
        std::filesystem::create_directories(path);
    }
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

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

/// Runs tests/convnet/torch_reference.py with the given arguments; fails the test on a non-zero exit.
inline void run_reference(const std::string& args) {
    require_torch();
    const std::string command = torch_python() + " " + EBM_TORCH_REFERENCE + " " + args;
    const int status = std::system(command.c_str());
    if (status != 0) FAIL("reference failed: " << command << " (status " << status << ")");
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

/// A batch of n chains of the given dimension, U(-1, 1) from the given seed.
inline ebm::batch uniform_batch(ebm::index dimension, ebm::index n, std::uint64_t seed_value) {
    ebm::batch x(dimension, n);
    const ebm::philox rng(seed_value);
    for (ebm::index i = 0; i < n; ++i)
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(i), 0, x.chain(i), dimension, -1.0f, 1.0f);
    return x;
}

/// The non-local net's output projections (tensors named "...W..."; zero at initialisation, which makes the blocks
/// identities) set to U(-0.3, 0.3) from Philox stream (user, tensor index) of seed 17, so that the blocks matter.
template <class Net>
void switch_on_nonlocal_blocks(Net& net) {
    const ebm::philox rng(17);
    const auto p = net.parameters();
    for (std::size_t t = 0; t < net.parameter_tensors().size(); ++t) {
        const auto& tensor = net.parameter_tensors()[t];
        if (tensor.name.find(".W.") != std::string::npos)
            ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(t), 0, p.data() + tensor.offset,
                              tensor.count(), -0.3f, 0.3f);
    }
}

}  // namespace convnet_test

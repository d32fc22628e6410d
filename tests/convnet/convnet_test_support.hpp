#pragma once
// Helpers shared by the ConvNet tests: those of common/torch_support.hpp (scratch folders, the PyTorch runner that
// skips with exit code 77 when /usr/bin/python3 cannot import torch, random batches, error norms) and the ConvNet
// reference tests/convnet/torch_reference.py.
#include <doctest/doctest.h>

#include <string>

#include <ebm/random/distributions.hpp>

#include "common/torch_support.hpp"

namespace convnet_test {

using ebm_test::relative_error;
using ebm_test::require_torch;
using ebm_test::torch_python;
using ebm_test::uniform_batch;

/// A fresh folder under the system temp dir, removed when the object dies.
struct scratch_dir : ebm_test::scratch_dir {
    scratch_dir() : ebm_test::scratch_dir("convnet") {}
};

/// Runs tests/convnet/torch_reference.py with the given arguments; fails the test on a non-zero exit.
inline void run_reference(const std::string& args) {
    const int status = ebm_test::run_python(EBM_TORCH_REFERENCE, args);
    if (status != 0) FAIL("reference failed: " << torch_python() << " " << EBM_TORCH_REFERENCE << " " << args
                                               << " (status " << status << ")");
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

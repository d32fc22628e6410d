#pragma once
// A learnable energy whose data lives in device memory, in plain C++ (nothing is ever evaluated: these programs only
// have to compile, or fail to compile, against the concepts and the memory-space checks).
#include <ebm/ebm.hpp>

namespace compile_fail {

struct device_energy {
    using memory_space = ebm::device_space;
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_device_batch_view, ebm::device_span<float>, workspace&) const {}
    void energy_and_gradient(ebm::const_device_batch_view, ebm::device_span<float>, ebm::device_batch_view,
                             workspace&) const {}
    [[nodiscard]] ebm::index parameter_count() const { return 1; }
    [[nodiscard]] ebm::device_span<float> parameters() { return {}; }
    [[nodiscard]] ebm::device_span<const float> parameters() const { return {}; }
    void accumulate_parameter_gradient(ebm::const_device_batch_view, ebm::device_span<const float>,
                                       ebm::device_span<float>, ebm::device_span<float>, workspace&) const {}
};

/// An optimizer written the simple way, for the CPU only (a plain nested state).
struct cpu_only_sgd {
    float learning_rate = 0.1f;
    struct state {};
    [[nodiscard]] state make_state(ebm::index) const { return {}; }
    float step(state&, std::span<float> p, std::span<const float> g) const {
        for (std::size_t k = 0; k < p.size(); ++k) p[k] -= learning_rate * g[k];
        return learning_rate;
    }
};

/// Not an optimizer at all.
struct not_an_optimizer {
    float learning_rate = 0.1f;
};

}  // namespace compile_fail

#pragma once
// A test-local quadratic energy U(x) = 1/2 sum_k c_k x_k^2 with dyadic c_k, so gradient steps with dyadic step
// sizes are exact in float and can be compared bit for bit with a hand computation.
#include <ebm/batch.hpp>

#include <span>
#include <vector>

namespace ebm_test {

struct quadratic {
    struct workspace {};
    std::vector<float> c = {0.5f, 1.0f, 1.5f};

    [[nodiscard]] ebm::index dimension() const { return static_cast<ebm::index>(c.size()); }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            float s = 0;
            for (ebm::index k = 0; k < x.dimension; ++k) s += 0.5f * c[static_cast<std::size_t>(k)] * x.chain(i)[k] * x.chain(i)[k];
            u[static_cast<std::size_t>(i)] = s;
        }
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        energy(x, u, ws);
        for (ebm::index i = 0; i < x.count; ++i)
            for (ebm::index k = 0; k < x.dimension; ++k) g.chain(i)[k] = c[static_cast<std::size_t>(k)] * x.chain(i)[k];
    }
};

}  // namespace ebm_test

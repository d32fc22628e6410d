#pragma once
// A plan of the device network's engine (backend/network_gemm.hpp) with its memory on the host, for the tests and the
// fuzz harness that run the engine with the reference ops of host_blas.hpp. Buffers the engine must write before it
// reads start at -9 (a read of unwritten memory shows in the results); the ones are 1.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <ebm/backend/network_gemm.hpp>

namespace ebm_test {

struct network_gemm_host {
    ebm::network_gemm::plan p;
    std::vector<float> values, grads, columns, channel_major, spare, ones, tangent_values, tangent_grads;
    std::vector<std::int32_t> argmax;
    ebm::network_gemm::buffers b;
    network_gemm_host(const ebm::network_layout& layout, ebm::index chains, ebm::index column_budget)
        : p(ebm::network_gemm::make_plan(layout, chains, column_budget)) {
        const auto size = [](ebm::index n) { return static_cast<std::size_t>(n); };
        values.assign(size(p.value_elements), -9.0f);
        grads.assign(size(p.value_elements), -9.0f);
        columns.assign(size(p.column_elements), -9.0f);
        channel_major.assign(size(p.channel_major_elements), -9.0f);
        spare.assign(size(p.spare_elements), -9.0f);
        ones.assign(size(p.ones_elements), 1.0f);
        argmax.assign(size(p.argmax_elements), -1);
        tangent_values.assign(size(p.value_elements), -9.0f);
        tangent_grads.assign(size(p.value_elements), -9.0f);
        b = {values.data(), grads.data(), columns.data(), channel_major.data(), spare.data(), argmax.data(),
             ones.data(), tangent_values.data(), tangent_grads.data()};
    }
    network_gemm_host(const network_gemm_host&) = delete;  // b points into this object's vectors
    network_gemm_host& operator=(const network_gemm_host&) = delete;
};

}  // namespace ebm_test

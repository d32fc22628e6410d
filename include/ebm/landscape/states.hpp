#pragma once
// States of an energy's chains in the energy's own memory, with the host copies the landscape algorithms read: a
// batch on either backend (a host batch on the CPU, device memory on CUDA), filled from and read back to the host.
#include <span>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../concepts/energy_function.hpp"
#include "../error.hpp"

namespace ebm::landscape::detail {

template <energy_function E>
struct chain_states {
    using X = execution_for<E>;
    using space = memory_space_of_t<E>;

    index dimension = 0;
    index count = 0;
    typename X::template buffer<float> x, u, g;
    std::vector<float> host_x, host_u, host_g;
    typename E::workspace ws;

    chain_states(const E& energy, index chains)
        : dimension(energy.dimension()),
          count(chains),
          x(X::template make_buffer<float>(dimension * chains)),
          u(X::template make_buffer<float>(chains)),
          g(X::template make_buffer<float>(dimension * chains)),
          host_x(static_cast<std::size_t>(dimension * chains)),
          host_u(static_cast<std::size_t>(chains)),
          host_g(static_cast<std::size_t>(dimension * chains)),
          ws(energy.make_workspace(chains)) {}

    [[nodiscard]] basic_batch_view<space> view() { return {x.data(), dimension, count}; }
    [[nodiscard]] float* host_chain(index i) { return host_x.data() + i * dimension; }

    /// host_x -> x.
    void upload() { X::upload(X::lane_of(ws), x.data(), host_x.data(), dimension * count); }
    /// U(x) into host_u, and x into host_x.
    void read_energies(const E& energy) {
        energy.energy(view(), span_in<float, space>(u.data(), static_cast<std::size_t>(count)), ws);
        X::download(X::lane_of(ws), host_u.data(), u.data(), count);
        X::download(X::lane_of(ws), host_x.data(), x.data(), dimension * count);
        X::synchronize(X::lane_of(ws));
    }
    /// U(x) and dU/dx into host_u and host_g, and x into host_x.
    void read_gradients(const E& energy) {
        energy.energy_and_gradient(view(), span_in<float, space>(u.data(), static_cast<std::size_t>(count)),
                                   basic_batch_view<space>{g.data(), dimension, count}, ws);
        X::download(X::lane_of(ws), host_u.data(), u.data(), count);
        X::download(X::lane_of(ws), host_g.data(), g.data(), dimension * count);
        X::download(X::lane_of(ws), host_x.data(), x.data(), dimension * count);
        X::synchronize(X::lane_of(ws));
    }
};

inline double squared_distance(const float* a, const float* b, index dimension) {
    double s = 0;
    for (index k = 0; k < dimension; ++k) {
        const double d = static_cast<double>(a[k]) - b[k];
        s += d * d;
    }
    return s;
}

}  // namespace ebm::landscape::detail

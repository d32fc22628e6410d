#pragma once
// An energy evaluated chain by chain by a density functor, on either backend: the same EBM_HOST_DEVICE arithmetic
// runs in a loop on the CPU and one thread per chain on CUDA (execution::for_each). The functor's parameter arrays
// (a precision matrix, means) live in the backend's memory, copied there once when the energy is made.
//
// A Density is trivially copyable and gives
//   index dimension() const
//   float operator()(const float* x, float* g) const      U(x) of one chain; when g is not null, also dU/dx into g
//   const float* parameters                               a member the energy points at its copy of the parameters
// and may give the host a batch path (see run below), and Hessian-vector products (hessian_vector_energy):
//   void hessian_vector(const float* x, const float* v, float* hv) const   hv = (d2U/dx2)(x) v for one chain
// For CUDA energies include <ebm/backend/cuda/cuda.cuh> (a .cu file compiled by nvcc) first.
#include <memory>
#include <span>
#include <type_traits>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "hessian_vector.hpp"

namespace ebm {

namespace kernels {
/// u[i] = U(x_i) and, when g is not null, g_i = dU/dx(x_i), for chain i (a functor CUDA kernels can take: public).
template <class Density>
struct evaluate_chains {
    Density density;
    const float* x;
    float* u;
    float* g;
    EBM_HOST_DEVICE void operator()(index i) const {
        const index d = density.dimension();
        u[i] = density(x + i * d, g != nullptr ? g + i * d : nullptr);
    }
};
/// hv_i = (d2U/dx2)(x_i) v_i for chain i.
template <class Density>
struct hessian_vector_chains {
    Density density;
    const float* x;
    const float* v;
    float* hv;
    EBM_HOST_DEVICE void operator()(index i) const {
        const index d = density.dimension();
        density.hessian_vector(x + i * d, v + i * d, hv + i * d);
    }
};
}  // namespace kernels

template <class Density, class Backend = cpu>
class chain_energy {
    static_assert(std::is_trivially_copyable_v<Density>, "ebm::chain_energy: the density must be trivially copyable");
    using X = execution<Backend>;

public:
    using backend = Backend;
    using memory_space = typename Backend::memory_space;
    static constexpr bool split_chains_across_threads = std::is_same_v<memory_space, host_space>;

    struct workspace {
        typename X::owned_lane owned;
        [[nodiscard]] typename X::lane lane() const { return owned.get(); }
    };

    /// The density and its parameter arrays (host values, copied into the backend's memory).
    chain_energy(Density density, std::span<const float> parameters)
        : density_(density),
          storage_(std::make_shared<typename X::template buffer<float>>(
              X::template make_buffer<float>(static_cast<index>(parameters.size())))) {
        if (!parameters.empty()) {
            X::upload(typename X::lane{}, storage_->data(), parameters.data(), static_cast<index>(parameters.size()));
            X::wait_all();
        }
        density_.parameters = storage_->data();
        detail::require_positive("chain_energy", "the density's dimension", density_.dimension());
    }

    [[nodiscard]] index dimension() const { return density_.dimension(); }
    [[nodiscard]] workspace make_workspace(index) const { return {}; }
    [[nodiscard]] const Density& density() const { return density_; }

    void energy(basic_const_batch_view<memory_space> x, span_in<float, memory_space> u, workspace& ws) const {
        check("chain_energy::energy", x, u, x.dimension, x.count);
        run(ws, x.count, evaluate{density_, x.data, u.data(), nullptr});
    }
    void energy_and_gradient(basic_const_batch_view<memory_space> x, span_in<float, memory_space> u,
                             basic_batch_view<memory_space> g, workspace& ws) const {
        check("chain_energy::energy_and_gradient", x, u, g.dimension, g.count);
        run(ws, x.count, evaluate{density_, x.data, u.data(), g.data});
    }
    /// hv_i = (d2U/dx2)(x_i) v_i, where the density gives it.
    void hessian_vector_product(basic_const_batch_view<memory_space> x, basic_const_batch_view<memory_space> v,
                                basic_batch_view<memory_space> hv, workspace& ws) const
        requires requires(const Density& f, const float* p, float* q) { f.hessian_vector(p, p, q); }
    {
        detail::check_hessian_vector_call("chain_energy::hessian_vector_product", density_.dimension(), x, v, hv);
        const kernels::hessian_vector_chains<Density> f{density_, x.data, v.data, hv.data};
        if constexpr (std::is_same_v<memory_space, host_space>) {
            for (index i = 0; i < x.count; ++i) f(i);
        } else {
            X::for_each(ws.lane(), x.count, f);
        }
    }

private:
    using evaluate = kernels::evaluate_chains<Density>;

    // Shapes only (host-side, no data read): x and the gradient hold `dimension` per chain, u one value per chain.
    void check(const char* where, basic_const_batch_view<memory_space> x, span_in<float, memory_space> u,
               index g_dimension, index g_count) const {
        const index d = density_.dimension();
        if (x.dimension != d) detail::fail(where, "x dimension must equal the density's " + detail::to_text(d), x.dimension);
        if (g_dimension != d || g_count != x.count)
            detail::fail(where, "the gradient batch must have x's shape", detail::to_text(g_dimension) + " x " + detail::to_text(g_count));
        if (static_cast<index>(u.size()) < x.count)
            detail::fail(where, "u must hold one value per chain (" + detail::to_text(x.count) + ")", u.size());
    }

    // One thread per chain on CUDA. On the CPU a plain loop over the chains, not execution<cpu>::for_each's SIMD loop:
    // the density's own loops over the coordinates are what vectorises (SIMD across chains would gather them).
    // A density may give the host a batch path, `void batch(const float* x, index count, float* u, float* g) const`
    // (the Gaussian's blocks chains for the cache); it must compute what operator() computes.
    static void run(const workspace& ws, index chains, const evaluate& f) {
        if constexpr (std::is_same_v<memory_space, host_space> &&
                      requires { f.density.batch(f.x, chains, f.u, f.g); }) {
            f.density.batch(f.x, chains, f.u, f.g);
        } else if constexpr (std::is_same_v<memory_space, host_space>) {
            for (index i = 0; i < chains; ++i) f(i);
        } else {
            X::for_each(ws.lane(), chains, f);
        }
    }

    Density density_;
    std::shared_ptr<typename X::template buffer<float>> storage_;  // shared by copies; freed with the last
};

}  // namespace ebm

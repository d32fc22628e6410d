#pragma once
// The execution interface: what a backend gives the algorithms written once (samplers, initializers, optimizers,
// energy wrappers, the trainer). `execution<cpu>` (backend/cpu/execution.hpp) and `execution<cuda>`
// (backend/cuda/execution.cuh) implement it; an algorithm names `execution_for<E>` (the execution of energy E's
// backend) and nothing backend-specific. The members, all static:
//
//   memory_space                       host_space or device_space
//   buffer<T>                          owning storage in that space (.data(), .size()); make_buffer<T>(n): zeroed
//   lane                               where work is ordered: nothing on the CPU (work runs as it is called), a
//                                      stream on CUDA; lane_of(workspace) is the lane of an energy's workspace;
//                                      owned_lane owns one (.get() gives it): what an energy's workspace holds
//   for_each(lane, n, f)               f(k) for k in [0, n): a kernels/ functor on every element (the calls must be
//                                      independent: any order, any concurrency)
//   upload / download / copy / set / get
//                                      host <-> space transfers, copies within the space, one value in memory
//   synchronize(lane), wait_all()      waits for the lane's work, for all work (nothing on the CPU)
//   chain_norms(lane, g, dimension, count, norms)   norms[i] = ||g_i||
//   add_chain_norms(lane, g, dimension, count, norms, total)   *total += sum_i ||g_i|| (norms: per-chain scratch)
//   add_sum(lane, values, n, total)    *total += sum_k values[k] in double, fixed order
//   count_non_finite(lane, values, n, count) *count += number of NaN/Inf among values
//   langevin_move(lane, step, count, scratch)  kernels::langevin_step over `count` chains (scratch: dimension x
//                                      count floats the CPU may use for the noise)
//   metropolis_accept(lane, arguments, count, scratch)   kernels::metropolis_accept_arguments (MALA, HMC) over
//                                      `count` chains (scratch: count floats the CPU may use for the log-uniforms)
//   grouping(chains, per_group, splittable)    how chains are cut into groups that run concurrently: fixed-size
//                                      tasks on CPU threads (each runs all its steps without a barrier), one group
//                                      on CUDA; for_groups(grouping, f) calls f(group) for each
//   replay<Key>                        runs a K-step body: directly on the CPU; on CUDA captured once per Key as a
//                                      graph and replayed (the body reads values that change between runs, such as
//                                      the first step, from memory)
//
// A backend without an execution cannot run these algorithms: using one is the static_assert below. Below it:
// copy_to_host / copy_from_host between host batches and batches of any space, to_host_vector and
// copy_values_from_host between host memory and spans of any space, and
// batch_in<Backend>, a batch that owns memory of a backend.
#include <span>
#include <type_traits>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "backend_of.hpp"

namespace ebm {

namespace detail {
template <class>
inline constexpr bool always_false_backend = false;
}

template <class Backend>
struct execution {
    static_assert(detail::always_false_backend<Backend>,
                  "ebm::execution: this backend has no execution here; for ebm::cuda, include "
                  "<ebm/backend/cuda/cuda.cuh> (in a .cu file compiled by nvcc) before using a CUDA energy");
};

/// The execution of the backend energy E runs on.
template <class E>
using execution_for = execution<backend_of_t<E>>;
/// The execution of the backend whose memory is Space.
template <class Space>
using execution_of_space = execution<typename backend_of_space<Space>::type>;

/// Copies a batch (view) of any memory space into host memory, after all work of that backend is done.
template <class View>
void copy_to_host(View from, batch_view to) {
    using X = execution_of_space<typename View::memory_space>;
    if (from.size() != to.size())
        detail::fail("copy_to_host", "the host batch must have the size " + detail::to_text(from.size()), to.size());
    X::wait_all();
    X::download(typename X::lane{}, to.data, from.data, from.size());
}
/// A host copy of a span of any memory space (std::span or device_span), after all work of that backend is done.
template <class Span>
std::vector<std::remove_const_t<typename Span::element_type>> to_host_vector(Span values) {
    using X = execution_of_space<memory_space_of_t<Span>>;
    std::vector<std::remove_const_t<typename Span::element_type>> host(values.size());
    X::wait_all();
    X::download(typename X::lane{}, host.data(), values.data(), static_cast<index>(values.size()));
    return host;
}

/// Copies a host batch into a batch (view) of any memory space (ordered before later work of that backend).
template <class View>
void copy_from_host(const_batch_view from, View to) {
    using X = execution_of_space<typename View::memory_space>;
    if (from.size() != to.size())
        detail::fail("copy_from_host", "the batch must have the host batch's size " + detail::to_text(from.size()),
                     to.size());
    X::upload(typename X::lane{}, to.data, from.data, from.size());
    X::wait_all();
}

/// Copies host values into a span of any memory space (std::span or device_span) of the same size, and waits.
template <class Span>
void copy_values_from_host(std::span<const std::remove_const_t<typename Span::element_type>> host, Span to) {
    using X = execution_of_space<memory_space_of_t<Span>>;
    if (host.size() != to.size())
        detail::fail("copy_values_from_host", "the host values must have the span's size " + detail::to_text(to.size()),
                     host.size());
    X::upload(typename X::lane{}, to.data(), host.data(), static_cast<index>(to.size()));
    X::wait_all();
}

/// A batch that owns its storage in the memory of Backend (ebm::batch is the host one with more conveniences).
template <class Backend>
class batch_in {
    using X = execution<Backend>;
    using space = typename Backend::memory_space;

public:
    batch_in() = default;
    batch_in(index dimension, index count)
        : storage_(X::template make_buffer<float>(checked_size(dimension, count))), dimension_(dimension), count_(count) {}
    [[nodiscard]] index dimension() const { return dimension_; }
    [[nodiscard]] index count() const { return count_; }
    [[nodiscard]] basic_batch_view<space> view() { return {storage_.data(), dimension_, count_}; }
    [[nodiscard]] basic_const_batch_view<space> view() const { return {storage_.data(), dimension_, count_}; }

private:
    static index checked_size(index dimension, index count) {  // before anything is allocated
        detail::require_positive("batch_in", "dimension", dimension);
        detail::require_non_negative("batch_in", "count", count);
        return dimension * count;
    }

    typename X::template buffer<float> storage_;
    index dimension_ = 0;
    index count_ = 0;
};

}  // namespace ebm

// The CPU execution is always there (the CUDA one comes with backend/cuda/cuda.cuh).
#include "cpu/execution.hpp"  // IWYU pragma: export

#pragma once
// optimizer: one step on the flat parameter vector given the flat gradient; keeps its own state (step count, Adam
// moments), made once for the parameter count. A policy written for both backends has `template <class Backend>
// struct state` and `make_state(parameter_count, Backend)` and takes spans of the backend's memory space (std::span,
// device_span), as ebm::adam does; a policy for the CPU only may keep the plain form (`struct state`,
// `make_state(parameter_count)`, std::span) and is rejected, with a sentence, on CUDA.
#include <concepts>
#include <span>

#include "../backend/backend_of.hpp"
#include "../config.hpp"
#include "../memory_space.hpp"

namespace ebm {

namespace detail {
template <class O, class B>
concept has_backend_optimizer_state = requires { typename O::template state<B>; };
template <class O>
concept has_plain_optimizer_state = requires { typename O::state; };

template <class O, class B>
struct optimizer_state_of {};
template <class O, class B>
    requires has_backend_optimizer_state<O, B>
struct optimizer_state_of<O, B> {
    using type = typename O::template state<B>;
};
template <class O>
    requires(!has_backend_optimizer_state<O, cpu> && has_plain_optimizer_state<O>)
struct optimizer_state_of<O, cpu> {
    using type = typename O::state;
};
}  // namespace detail

/// The state type of optimizer O on backend B.
template <class O, class B>
using optimizer_state_t = typename detail::optimizer_state_of<O, B>::type;

namespace detail {
template <class O, class B>
concept has_optimizer_state = requires { typename optimizer_state_t<O, B>; };
template <class O, class B>
concept has_make_optimizer_state = has_optimizer_state<O, B> && requires(const O& o, index n) {
    requires(has_backend_optimizer_state<O, B> &&
             requires { { o.make_state(n, B{}) } -> std::same_as<optimizer_state_t<O, B>>; }) ||
                (!has_backend_optimizer_state<O, B> &&
                 requires { { o.make_state(n) } -> std::same_as<optimizer_state_t<O, B>>; });
};
template <class O, class B>
concept has_step = has_optimizer_state<O, B> &&
                   requires(const O& o, optimizer_state_t<O, B>& st, span_in<float, typename B::memory_space> p,
                            span_in<const float, typename B::memory_space> g) {
                       { o.step(st, p, g) } -> std::convertible_to<float>;
                   };
}  // namespace detail

template <class O, class Backend = cpu>
concept optimizer = std::copy_constructible<O> && detail::has_make_optimizer_state<O, Backend> && detail::has_step<O, Backend>;

/// Makes the state of optimizer O for backend B (either form).
template <class O, class B>
optimizer_state_t<O, B> make_optimizer_state(const O& opt, index parameter_count, B backend) {
    if constexpr (detail::has_backend_optimizer_state<O, B>)
        return opt.make_state(parameter_count, backend);
    else
        return opt.make_state(parameter_count);
}

template <class O, class Backend = cpu>
constexpr bool check_optimizer() {
    static_assert(detail::has_optimizer_state<O, Backend> || std::same_as<Backend, cpu> ||
                      !detail::has_plain_optimizer_state<O>,
                  "ebm::optimizer: this optimizer is written for the CPU backend only (a plain nested `state`); to run "
                  "on the CUDA backend it needs `template <class Backend> struct state` and the execution interface "
                  "(see ebm::adam)");
    static_assert(detail::has_optimizer_state<O, Backend> ||
                      (!std::same_as<Backend, cpu> && detail::has_plain_optimizer_state<O>),
                  "ebm::optimizer: the type needs a nested `state` type, or `template <class Backend> struct state` to "
                  "run on every backend");
    static_assert(detail::has_make_optimizer_state<O, Backend> || !detail::has_optimizer_state<O, Backend>,
                  "ebm::optimizer: the type needs `state make_state(index parameter_count) const` (with a trailing "
                  "`Backend` argument for a per-backend state)");
    static_assert(detail::has_step<O, Backend> || !detail::has_optimizer_state<O, Backend>,
                  "ebm::optimizer: the type needs `float step(state&, std::span<float> params, "
                  "std::span<const float> grad) const` returning the learning rate it used (device_span on CUDA)");
    return true;
}

}  // namespace ebm

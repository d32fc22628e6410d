#pragma once
// optimizer: one step on the flat parameter vector given the flat gradient; keeps its own state
// (step count, Adam moments) in `state`, made once for the parameter count.
#include <concepts>
#include <span>

#include "../config.hpp"

namespace ebm {

namespace detail {
template <class O>
concept has_optimizer_state = requires { typename O::state; };
template <class O>
concept has_make_optimizer_state = has_optimizer_state<O> && requires(const O& o, index n) {
    { o.make_state(n) } -> std::same_as<typename O::state>;
};
template <class O>
concept has_step = has_optimizer_state<O> &&
                   requires(const O& o, typename O::state& st, std::span<float> p, std::span<const float> g) {
                       { o.step(st, p, g) } -> std::convertible_to<float>;
                   };
}  // namespace detail

template <class O>
concept optimizer = std::copy_constructible<O> && detail::has_make_optimizer_state<O> && detail::has_step<O>;

template <class O>
constexpr bool check_optimizer() {
    static_assert(detail::has_optimizer_state<O>, "ebm::optimizer: the type needs a nested `state` type");
    static_assert(detail::has_make_optimizer_state<O>,
                  "ebm::optimizer: the type needs `state make_state(index parameter_count) const`");
    static_assert(detail::has_step<O>,
                  "ebm::optimizer: the type needs `float step(state&, std::span<float> params, "
                  "std::span<const float> grad) const` returning the learning rate it used");
    return true;
}

}  // namespace ebm

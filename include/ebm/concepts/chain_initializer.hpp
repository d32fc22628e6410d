#pragma once
// chain_initializer: fills the starting states of a batch of chains (noise, data, persistent bank) and,
// after sampling, takes the final states back (the bank writes them to the slots it drew).
#include <concepts>
#include <cstdint>

#include "../batch.hpp"
#include "../random/philox.hpp"

namespace ebm {

namespace detail {
template <class I>
concept has_initializer_state = requires { typename I::state; };
template <class I>
concept has_make_initializer_state = has_initializer_state<I> && requires(const I& i, index d, index m, const philox& r) {
    { i.make_state(d, m, r) } -> std::same_as<typename I::state>;
};
template <class I>
concept has_draw = has_initializer_state<I> && requires(const I& i, typename I::state& st, batch_view x,
                                                        const_batch_view data, const philox& r, std::uint64_t t) {
    i.draw(st, x, data, r, t);
};
template <class I>
concept has_write_back = has_initializer_state<I> &&
                         requires(const I& i, typename I::state& st, const_batch_view x) { i.write_back(st, x); };
}  // namespace detail

template <class I>
concept chain_initializer = std::copy_constructible<I> && detail::has_make_initializer_state<I> && detail::has_draw<I> &&
                            detail::has_write_back<I>;

template <class I>
constexpr bool check_chain_initializer() {
    static_assert(detail::has_initializer_state<I>,
                  "ebm::chain_initializer: the type needs a nested `state` type (an empty struct if it keeps none)");
    static_assert(detail::has_make_initializer_state<I>,
                  "ebm::chain_initializer: the type needs `state make_state(index dimension, index max_chains, "
                  "const philox&) const`");
    static_assert(detail::has_draw<I>,
                  "ebm::chain_initializer: the type needs `void draw(state&, batch_view x0, const_batch_view data, "
                  "const philox&, std::uint64_t iteration) const`");
    static_assert(detail::has_write_back<I>,
                  "ebm::chain_initializer: the type needs `void write_back(state&, const_batch_view x) const`");
    return true;
}

}  // namespace ebm

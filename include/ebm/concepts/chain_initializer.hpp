#pragma once
// chain_initializer: fills the starting states of a batch of chains (noise, data, persistent bank) and,
// after sampling, takes the final states back (the bank writes them to the slots it drew).
// Two levels: the policy holds hyper-parameters; its state holds what the run keeps, made once by make_state for a
// dimension and a chain count. A policy written for both backends has `template <class Backend> struct state` and
// `make_state(dimension, max_chains, rng, Backend)`, and takes batches of the backend's memory space (batch_view on
// the CPU, device_batch_view on CUDA), as ebm::uniform_noise does; a policy for the CPU only may keep the plain form
// (`struct state`, `make_state(dimension, max_chains, rng)`, batch_view) and is rejected, with a sentence, on CUDA.
#include <concepts>
#include <cstdint>

#include "../backend/backend_of.hpp"
#include "../batch.hpp"
#include "../random/philox.hpp"

namespace ebm {

namespace detail {
template <class I, class B>
concept has_backend_initializer_state = requires { typename I::template state<B>; };
template <class I>
concept has_plain_initializer_state = requires { typename I::state; };

template <class I, class B>
struct initializer_state_of {};
template <class I, class B>
    requires has_backend_initializer_state<I, B>
struct initializer_state_of<I, B> {
    using type = typename I::template state<B>;
};
template <class I>
    requires(!has_backend_initializer_state<I, cpu> && has_plain_initializer_state<I>)
struct initializer_state_of<I, cpu> {
    using type = typename I::state;
};
}  // namespace detail

/// The state type of initializer I on backend B.
template <class I, class B>
using initializer_state_t = typename detail::initializer_state_of<I, B>::type;

namespace detail {
template <class I, class B>
concept has_initializer_state = requires { typename initializer_state_t<I, B>; };
template <class I, class B>
concept has_make_initializer_state =
    has_initializer_state<I, B> && requires(const I& i, index d, index m, const philox& r) {
        requires(has_backend_initializer_state<I, B> &&
                 requires { { i.make_state(d, m, r, B{}) } -> std::same_as<initializer_state_t<I, B>>; }) ||
                    (!has_backend_initializer_state<I, B> &&
                     requires { { i.make_state(d, m, r) } -> std::same_as<initializer_state_t<I, B>>; });
    };
template <class I, class B>
concept has_draw = has_initializer_state<I, B> &&
                   requires(const I& i, initializer_state_t<I, B>& st, basic_batch_view<typename B::memory_space> x,
                            basic_const_batch_view<typename B::memory_space> data, const philox& r, std::uint64_t t) {
                       i.draw(st, x, data, r, t);
                   };
template <class I, class B>
concept has_write_back =
    has_initializer_state<I, B> && requires(const I& i, initializer_state_t<I, B>& st,
                                            basic_const_batch_view<typename B::memory_space> x) { i.write_back(st, x); };
}  // namespace detail

template <class I, class Backend = cpu>
concept chain_initializer = std::copy_constructible<I> && detail::has_make_initializer_state<I, Backend> &&
                            detail::has_draw<I, Backend> && detail::has_write_back<I, Backend>;

/// Makes the state of initializer I for backend B (either form).
template <class I, class B>
initializer_state_t<I, B> make_initializer_state(const I& init, index dimension, index max_chains, const philox& rng,
                                                 B backend) {
    if constexpr (detail::has_backend_initializer_state<I, B>)
        return init.make_state(dimension, max_chains, rng, backend);
    else
        return init.make_state(dimension, max_chains, rng);
}

template <class I, class Backend = cpu>
constexpr bool check_chain_initializer() {
    static_assert(detail::has_initializer_state<I, Backend> || std::same_as<Backend, cpu> ||
                      !detail::has_plain_initializer_state<I>,
                  "ebm::chain_initializer: this initializer is written for the CPU backend only (a plain nested "
                  "`state`); to run on the CUDA backend it needs `template <class Backend> struct state` and the "
                  "execution interface (see ebm::uniform_noise)");
    static_assert(detail::has_initializer_state<I, Backend> ||
                      (!std::same_as<Backend, cpu> && detail::has_plain_initializer_state<I>),
                  "ebm::chain_initializer: the type needs a nested `state` type (an empty struct if it keeps none), or "
                  "`template <class Backend> struct state` to run on every backend");
    static_assert(detail::has_make_initializer_state<I, Backend> || !detail::has_initializer_state<I, Backend>,
                  "ebm::chain_initializer: the type needs `state make_state(index dimension, index max_chains, "
                  "const philox&) const` (with a trailing `Backend` argument for a per-backend state)");
    static_assert(detail::has_draw<I, Backend> || !detail::has_initializer_state<I, Backend> ||
                      !std::same_as<Backend, cpu>,
                  "ebm::chain_initializer: the type needs `void draw(state&, batch_view x0, const_batch_view data, "
                  "const philox&, std::uint64_t iteration) const`");
    static_assert(detail::has_draw<I, Backend> || !detail::has_initializer_state<I, Backend> ||
                      std::same_as<Backend, cpu>,
                  "ebm::chain_initializer: the type has no `draw(state<Backend>&, device_batch_view x0, "
                  "const_device_batch_view data, const philox&, std::uint64_t iteration) const`: it cannot run on "
                  "the CUDA backend (write it against the execution interface, as ebm::uniform_noise is)");
    static_assert(detail::has_write_back<I, Backend> || !detail::has_initializer_state<I, Backend>,
                  "ebm::chain_initializer: the type needs `void write_back(state&, const_batch_view x) const` "
                  "(const_device_batch_view on the CUDA backend)");
    return true;
}

}  // namespace ebm

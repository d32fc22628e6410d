#pragma once
// Persistent initialization (PCD / persistent chains from noise): a bank of `size` states, filled once by
// `init`; each iteration draws chains from distinct slots (without replacement) and writes the sampled states
// back to the same slots. With rejuvenation probability rho, each drawn chain restarts from `init` instead.
// Written once for both backends: the bank lives in the backend's memory for the whole run; the slot choice (a
// partial Fisher-Yates shuffle driven by (bank_draw, i, iteration)) runs on the host, and only the slot indices of
// a draw cross to the device, where the gather, the rejuvenation noise and the write-back run as kernels/ functors.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "../backend/execution.hpp"
#include "../batch.hpp"
#include "../error.hpp"
#include "../kernels/bank.hpp"
#include "../random/distributions.hpp"
#include "noise.hpp"

namespace ebm {

template <class Init = uniform_noise>
struct persistent_bank {
    index size = 10'000;
    Init init{};
    float rejuvenation = 0.0f;  // probability that a drawn chain restarts from init (Du & Mordatch use 0.05)

    template <class Backend>
    class state {
        using X = execution<Backend>;
        using space = typename Backend::memory_space;

    public:
        typename X::lane lane{};

        state() = default;
        state(index dimension, index size, index max_chains)
            : storage_(X::template make_buffer<float>(dimension * size)), dimension_(dimension), size_(size),
              permutation_(static_cast<std::size_t>(size)), slots_host_(static_cast<std::size_t>(max_chains)),
              restart_host_(static_cast<std::size_t>(max_chains)),
              slots_(X::template make_buffer<std::uint32_t>(max_chains)),
              restart_(X::template make_buffer<std::uint32_t>(max_chains)) {
            std::iota(permutation_.begin(), permutation_.end(), std::uint32_t{0});
        }
        /// The bank's states (the backend's memory), slot-major.
        [[nodiscard]] basic_batch_view<space> bank() { return {storage_.data(), dimension_, size_}; }
        [[nodiscard]] basic_const_batch_view<space> bank() const { return {storage_.data(), dimension_, size_}; }
        /// Slots drawn by the last draw(), chain i came from slot drawn_slots()[i].
        [[nodiscard]] std::span<const std::uint32_t> drawn_slots() const { return {slots_host_.data(), drawn_}; }
        /// Chains restarted from noise by the last draw().
        [[nodiscard]] index last_rejuvenated() const { return rejuvenated_; }
        /// The slot order the partial shuffles have reached; with bank() it is all a checkpoint needs.
        [[nodiscard]] std::span<const std::uint32_t> permutation() const { return permutation_; }
        /// Restores a saved slot order (checkpoints); it must be a permutation of 0..size-1.
        void restore_permutation(std::span<const std::uint32_t> order) {
            if (order.size() != permutation_.size())
                detail::fail("persistent_bank::state::restore_permutation",
                             "order must have the bank's size " + detail::to_text(permutation_.size()), order.size());
            if (!is_permutation(order))
                detail::fail("persistent_bank::state::restore_permutation", "order must be a permutation of 0..size-1",
                             order.size());
            std::copy(order.begin(), order.end(), permutation_.begin());
        }
        /// What a checkpoint keeps (train/checkpoint.hpp's visitor): the states and the slot order. A stored order
        /// that is not a permutation rejects the file before anything is applied.
        template <class Visitor>
        void checkpoint_fields(Visitor& v) {
            v.floats("initializer.bank", bank().values(),
                     {static_cast<std::uint64_t>(size_), static_cast<std::uint64_t>(dimension_)});
            std::vector<std::uint32_t> order(permutation_.begin(), permutation_.end());
            v.words("initializer.permutation", order);
            if constexpr (Visitor::loading) {
                if (!is_permutation(order)) v.reject("initializer.permutation is not a permutation", order.size());
                if (v.apply) restore_permutation(order);
            }
        }
        [[nodiscard]] static bool is_permutation(std::span<const std::uint32_t> order) {
            std::vector<bool> seen(order.size(), false);
            for (std::uint32_t slot : order) {
                if (slot >= order.size() || seen[slot]) return false;
                seen[slot] = true;
            }
            return true;
        }

    private:
        friend struct persistent_bank;
        typename X::template buffer<float> storage_;
        index dimension_ = 0;
        index size_ = 0;
        std::vector<std::uint32_t> permutation_;  // stays a permutation; a partial shuffle draws slots
        std::vector<std::uint32_t> slots_host_;
        std::vector<std::uint32_t> restart_host_;
        typename X::template buffer<std::uint32_t> slots_;    // drawn slots, in the backend's memory
        typename X::template buffer<std::uint32_t> restart_;  // rejuvenated chains, in the backend's memory
        std::size_t drawn_ = 0;
        index rejuvenated_ = 0;
    };

    void validate() const {
        detail::require_positive("persistent_bank", "size", size);
        detail::require_in_closed("persistent_bank", "rejuvenation", rejuvenation, 0.0f, 1.0f);
        init.validate();
    }

    template <class Backend = cpu>
    [[nodiscard]] state<Backend> make_state(index dimension, index max_chains, const philox& rng, Backend = {}) const {
        validate();
        detail::require_positive("persistent_bank::make_state", "dimension", dimension);
        detail::require_positive("persistent_bank::make_state", "max_chains", max_chains);
        if (size < max_chains)
            detail::fail("persistent_bank::make_state",
                         "size must be >= the number of chains drawn per iteration (" + detail::to_text(max_chains) + ")",
                         size);
        state<Backend> st(dimension, size, max_chains);
        init.fill(st.bank(), rng, purpose::bank_init, 0, 0, st.lane);
        execution<Backend>::synchronize(st.lane);
        return st;
    }

    template <class Backend>
    void draw(state<Backend>& st, batch_view_for<Backend> x, const_batch_view_for<Backend>, const philox& rng,
              std::uint64_t iteration) const {
        using X = execution<Backend>;
        if (x.dimension != st.dimension_)
            detail::fail("persistent_bank::draw", "x dimension must equal the bank's " + detail::to_text(st.dimension_),
                         x.dimension);
        if (x.count > static_cast<index>(st.slots_host_.size()))
            detail::fail("persistent_bank::draw", "x must hold at most max_chains = " +
                                                      detail::to_text(st.slots_host_.size()) + " chains", x.count);
        const auto n = static_cast<std::uint32_t>(st.permutation_.size());
        index restarts = 0;
        for (index i = 0; i < x.count; ++i) {
            const auto k = static_cast<std::uint32_t>(i);
            const float u = uniform_scalar(rng, purpose::bank_draw, k, iteration);
            const std::uint32_t j = k + std::min(n - k - 1, static_cast<std::uint32_t>(u * static_cast<float>(n - k)));
            std::swap(st.permutation_[k], st.permutation_[j]);
            st.slots_host_[k] = st.permutation_[k];
            if (rejuvenation > 0.0f && uniform_scalar(rng, purpose::bank_rejuvenate, k, iteration) < rejuvenation)
                st.restart_host_[static_cast<std::size_t>(restarts++)] = k;
        }
        st.drawn_ = static_cast<std::size_t>(x.count);
        st.rejuvenated_ = restarts;
        X::upload(st.lane, st.slots_.data(), st.slots_host_.data(), x.count);
        X::for_each(st.lane, x.size(), kernels::bank_gather{x.data, st.storage_.data(), st.slots_.data(), x.dimension});
        if (restarts > 0) {  // restarted chains i get the stream (init_noise, i, iteration)
            X::upload(st.lane, st.restart_.data(), st.restart_host_.data(), restarts);
            init.fill(x, rng, purpose::init_noise, iteration, 0, st.lane, restarts, st.restart_.data());
        }
    }

    template <class Backend>
    void write_back(state<Backend>& st, const_batch_view_for<Backend> x) const {
        if (x.count != static_cast<index>(st.drawn_) || x.dimension != st.dimension_)
            detail::fail("persistent_bank::write_back", "x must be the batch of the last draw (" +
                                                            detail::to_text(st.drawn_) + " chains)", x.count);
        execution<Backend>::for_each(st.lane, x.size(),
                                     kernels::bank_scatter{st.storage_.data(), x.data, st.slots_.data(), x.dimension});
    }
};

}  // namespace ebm

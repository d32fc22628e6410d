#pragma once
// Persistent initialization (PCD / persistent chains from noise): a bank of `size` states, filled once by
// `init`; each iteration draws chains from distinct slots (without replacement) and writes the sampled states
// back to the same slots. With rejuvenation probability rho, each drawn chain restarts from `init` instead.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "../random/distributions.hpp"
#include "noise.hpp"

namespace ebm {

template <class Init = uniform_noise>
struct persistent_bank {
    index size = 10'000;
    Init init{};
    float rejuvenation = 0.0f;  // probability that a drawn chain restarts from init (Du & Mordatch use 0.05)

    class state {
    public:
        state() = default;
        state(index dimension, index size, index max_chains)
            : storage_(dimension, size), permutation_(static_cast<std::size_t>(size)),
              slots_(static_cast<std::size_t>(max_chains)) {
            std::iota(permutation_.begin(), permutation_.end(), std::uint32_t{0});
        }
        [[nodiscard]] batch_view bank() { return storage_.view(); }
        [[nodiscard]] const_batch_view bank() const { return storage_.view(); }
        /// Slots drawn by the last draw(), chain i came from slot drawn_slots()[i].
        [[nodiscard]] std::span<const std::uint32_t> drawn_slots() const { return {slots_.data(), drawn_}; }
        /// Chains restarted from noise by the last draw().
        [[nodiscard]] index last_rejuvenated() const { return rejuvenated_; }
        /// The slot order the partial shuffles have reached; with bank() it is all a checkpoint needs.
        [[nodiscard]] std::span<const std::uint32_t> permutation() const { return permutation_; }
        /// Restores a saved slot order (checkpoints); it must be a permutation of 0..size-1.
        void restore_permutation(std::span<const std::uint32_t> order) {
            if (order.size() != permutation_.size())
                detail::fail("persistent_bank::state::restore_permutation",
                             "order must have the bank's size " + detail::to_text(permutation_.size()), order.size());
            std::vector<bool> seen(order.size(), false);
            for (std::uint32_t slot : order) {
                if (slot >= order.size() || seen[slot])
                    detail::fail("persistent_bank::state::restore_permutation",
                                 "order must be a permutation of 0..size-1", slot);
                seen[slot] = true;
            }
            std::copy(order.begin(), order.end(), permutation_.begin());
        }

    private:
        friend struct persistent_bank;
        batch storage_;
        std::vector<std::uint32_t> permutation_;  // stays a permutation; a partial shuffle draws slots
        std::vector<std::uint32_t> slots_;
        std::size_t drawn_ = 0;
        index rejuvenated_ = 0;
    };

    void validate() const {
        detail::require_positive("persistent_bank", "size", size);
        detail::require_in_closed("persistent_bank", "rejuvenation", rejuvenation, 0.0f, 1.0f);
        init.validate();
    }

    [[nodiscard]] state make_state(index dimension, index max_chains, const philox& rng) const {
        validate();
        detail::require_positive("persistent_bank::make_state", "dimension", dimension);
        detail::require_positive("persistent_bank::make_state", "max_chains", max_chains);
        if (size < max_chains)
            detail::fail("persistent_bank::make_state",
                         "size must be >= the number of chains drawn per iteration (" + detail::to_text(max_chains) + ")",
                         size);
        state st(dimension, size, max_chains);
        init.fill(st.storage_.view(), rng, purpose::bank_init, 0);
        return st;
    }

    void draw(state& st, batch_view x, const_batch_view, const philox& rng, std::uint64_t iteration) const {
        if (x.dimension != st.storage_.dimension())
            detail::fail("persistent_bank::draw", "x dimension must equal the bank's " +
                                                      detail::to_text(st.storage_.dimension()), x.dimension);
        if (x.count > static_cast<index>(st.slots_.size()))
            detail::fail("persistent_bank::draw", "x must hold at most max_chains = " +
                                                      detail::to_text(st.slots_.size()) + " chains", x.count);
        const auto n = static_cast<std::uint32_t>(st.permutation_.size());
        st.rejuvenated_ = 0;
        for (index i = 0; i < x.count; ++i) {
            const auto k = static_cast<std::uint32_t>(i);
            const float u = uniform_scalar(rng, purpose::bank_draw, k, iteration);
            const std::uint32_t j = k + std::min(n - k - 1, static_cast<std::uint32_t>(u * static_cast<float>(n - k)));
            std::swap(st.permutation_[k], st.permutation_[j]);
            const std::uint32_t slot = st.permutation_[k];
            st.slots_[k] = slot;
            if (rejuvenation > 0.0f && uniform_scalar(rng, purpose::bank_rejuvenate, k, iteration) < rejuvenation) {
                init.fill(x.chains(i, 1), rng, purpose::init_noise, iteration, i);
                ++st.rejuvenated_;
            } else {
                std::copy(st.storage_.chain(slot), st.storage_.chain(slot) + x.dimension, x.chain(i));
            }
        }
        st.drawn_ = static_cast<std::size_t>(x.count);
    }

    void write_back(state& st, const_batch_view x) const {
        if (x.count != static_cast<index>(st.drawn_) || x.dimension != st.storage_.dimension())
            detail::fail("persistent_bank::write_back", "x must be the batch of the last draw (" +
                                                            detail::to_text(st.drawn_) + " chains)", x.count);
        for (index i = 0; i < x.count; ++i)
            std::copy(x.chain(i), x.chain(i) + x.dimension, st.storage_.chain(st.slots_[static_cast<std::size_t>(i)]));
    }
};

}  // namespace ebm

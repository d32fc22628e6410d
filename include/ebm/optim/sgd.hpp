#pragma once
// Stochastic gradient descent, as PyTorch's torch.optim.SGD (no dampening, no weight decay).
#include <cstdint>
#include <span>

#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../kernels/optimizer_updates.hpp"
#include "schedules.hpp"

namespace ebm {

struct sgd {
    float learning_rate = 0.01f;
    float momentum = 0.0f;  // the Anatomy convergent recipe uses none
    exponential_decay schedule{};

    struct state {
        detail::aligned_vector<float> momentum_buffer;
        std::uint64_t steps = 0;
    };

    void validate() const {
        detail::require_positive("sgd", "learning_rate", learning_rate);
        detail::require_finite("sgd", "learning_rate", learning_rate);
        detail::require_in_closed("sgd", "momentum", momentum, 0.0f, 1.0f);
        schedule.validate("sgd");
    }
    [[nodiscard]] state make_state(index parameter_count) const {
        validate();
        detail::require_positive("sgd::make_state", "parameter_count", parameter_count);
        state st;
        if (momentum != 0.0f) st.momentum_buffer.assign(static_cast<std::size_t>(parameter_count), 0.0f);
        return st;
    }
    /// One step; returns the learning rate it used.
    float step(state& st, std::span<float> params, std::span<const float> grad) const {
        if (params.size() != grad.size())
            detail::fail("sgd::step", "grad size must equal params size " + detail::to_text(params.size()), grad.size());
        if (momentum != 0.0f && params.size() != st.momentum_buffer.size())
            detail::fail("sgd::step", "params must have the state's size " + detail::to_text(st.momentum_buffer.size()),
                         params.size());
        const float lr = schedule.rate(learning_rate, st.steps);
        const kernels::sgd_update update{lr, momentum, st.steps == 0};
        float unused = 0;
        for (std::size_t k = 0; k < params.size(); ++k)
            update(params[k], grad[k], momentum != 0.0f ? st.momentum_buffer[k] : unused);
        ++st.steps;
        return lr;
    }
};

}  // namespace ebm

#pragma once
// Stochastic gradient descent, as PyTorch's torch.optim.SGD (no dampening, no weight decay). Written once for both
// backends: the element update is kernels::sgd_elements, run by the backend's execution.
#include <cstdint>

#include "../backend/execution.hpp"
#include "../error.hpp"
#include "../kernels/optimizer_updates.hpp"
#include "../memory_space.hpp"
#include "schedules.hpp"

namespace ebm {

struct sgd {
    float learning_rate = 0.01f;
    float momentum = 0.0f;  // the Anatomy convergent recipe uses none
    exponential_decay schedule{};

    template <class Backend>
    struct state {
        typename execution<Backend>::template buffer<float> momentum_buffer;  // empty without momentum
        std::uint64_t steps = 0;
        typename execution<Backend>::lane lane{};

        /// What a checkpoint keeps (train/checkpoint.hpp's visitor).
        template <class Visitor>
        void checkpoint_fields(Visitor& v) {
            v.floats("optimizer.momentum_buffer", momentum_buffer);
            v.counter("optimizer.steps", steps);
        }
    };

    void validate() const {
        detail::require_positive("sgd", "learning_rate", learning_rate);
        detail::require_finite("sgd", "learning_rate", learning_rate);
        detail::require_in_closed("sgd", "momentum", momentum, 0.0f, 1.0f);
        schedule.validate("sgd");
    }
    template <class Backend = cpu>
    [[nodiscard]] state<Backend> make_state(index parameter_count, Backend = {}) const {
        validate();
        detail::require_positive("sgd::make_state", "parameter_count", parameter_count);
        state<Backend> st;
        if (momentum != 0.0f) st.momentum_buffer = execution<Backend>::template make_buffer<float>(parameter_count);
        return st;
    }
    /// One step; returns the learning rate it used.
    template <class Backend>
    float step(state<Backend>& st, span_in<float, typename Backend::memory_space> params,
               span_in<const float, typename Backend::memory_space> grad) const {
        if (params.size() != grad.size())
            detail::fail("sgd::step", "grad size must equal params size " + detail::to_text(params.size()), grad.size());
        if (momentum != 0.0f && params.size() != static_cast<std::size_t>(st.momentum_buffer.size()))
            detail::fail("sgd::step", "params must have the state's size " + detail::to_text(st.momentum_buffer.size()),
                         params.size());
        const float lr = schedule.rate(learning_rate, st.steps);
        const kernels::sgd_update update{lr, momentum, st.steps == 0};
        execution<Backend>::for_each(st.lane, static_cast<index>(params.size()),
                                     kernels::sgd_elements{update, params.data(), grad.data(),
                                                           momentum != 0.0f ? st.momentum_buffer.data() : nullptr});
        ++st.steps;
        return lr;
    }
};

}  // namespace ebm

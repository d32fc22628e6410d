#pragma once
// Adam (Kingma & Ba), with exactly PyTorch's torch.optim.Adam arithmetic; defaults beta (0.9, 0.999), eps 1e-8.
// Written once for both backends: the bias corrections are computed on the host, the element update is
// kernels::adam_elements, run by the backend's execution.
#include <cmath>
#include <cstdint>

#include "../backend/execution.hpp"
#include "../error.hpp"
#include "../kernels/optimizer_updates.hpp"
#include "../memory_space.hpp"
#include "schedules.hpp"

namespace ebm {

struct adam {
    float learning_rate = 1e-4f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float epsilon = 1e-8f;
    exponential_decay schedule{};

    template <class Backend>
    struct state {
        typename execution<Backend>::template buffer<float> first_moment;
        typename execution<Backend>::template buffer<float> second_moment;
        std::uint64_t steps = 0;
        typename execution<Backend>::lane lane{};

        /// What a checkpoint keeps (train/checkpoint.hpp's visitor).
        template <class Visitor>
        void checkpoint_fields(Visitor& v) {
            v.floats("optimizer.first_moment", first_moment);
            v.floats("optimizer.second_moment", second_moment);
            v.counter("optimizer.steps", steps);
        }
    };

    void validate() const {
        detail::require_positive("adam", "learning_rate", learning_rate);
        detail::require_finite("adam", "learning_rate", learning_rate);
        detail::require_in_closed("adam", "beta1", beta1, 0.0f, 0.999999f);
        detail::require_in_closed("adam", "beta2", beta2, 0.0f, 0.999999f);
        detail::require_positive("adam", "epsilon", epsilon);
        schedule.validate("adam");
    }
    template <class Backend = cpu>
    [[nodiscard]] state<Backend> make_state(index parameter_count, Backend = {}) const {
        validate();
        detail::require_positive("adam::make_state", "parameter_count", parameter_count);
        state<Backend> st;
        st.first_moment = execution<Backend>::template make_buffer<float>(parameter_count);
        st.second_moment = execution<Backend>::template make_buffer<float>(parameter_count);
        return st;
    }
    /// One step; returns the learning rate it used.
    template <class Backend>
    float step(state<Backend>& st, span_in<float, typename Backend::memory_space> params,
               span_in<const float, typename Backend::memory_space> grad) const {
        if (params.size() != grad.size() || params.size() != static_cast<std::size_t>(st.first_moment.size()))
            detail::fail("adam::step", "params and grad must both have the state's size " +
                                           detail::to_text(st.first_moment.size()), grad.size());
        const float lr = schedule.rate(learning_rate, st.steps);
        ++st.steps;
        const double t = static_cast<double>(st.steps);
        const kernels::adam_update update{lr, beta1, beta2, epsilon,
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), t)),
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), t))};
        execution<Backend>::for_each(st.lane, static_cast<index>(params.size()),
                                     kernels::adam_elements{update, params.data(), grad.data(), st.first_moment.data(),
                                                            st.second_moment.data()});
        return lr;
    }
};

}  // namespace ebm

#pragma once
// Adam (Kingma & Ba), with exactly PyTorch's torch.optim.Adam arithmetic; defaults beta (0.9, 0.999), eps 1e-8.
#include <cmath>
#include <cstdint>
#include <span>

#include "../detail/aligned_buffer.hpp"
#include "../error.hpp"
#include "../kernels/optimizer_updates.hpp"
#include "schedules.hpp"

namespace ebm {

struct adam {
    float learning_rate = 1e-4f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float epsilon = 1e-8f;
    exponential_decay schedule{};

    struct state {
        detail::aligned_vector<float> first_moment;
        detail::aligned_vector<float> second_moment;
        std::uint64_t steps = 0;
    };

    void validate() const {
        detail::require_positive("adam", "learning_rate", learning_rate);
        detail::require_finite("adam", "learning_rate", learning_rate);
        detail::require_in_closed("adam", "beta1", beta1, 0.0f, 0.999999f);
        detail::require_in_closed("adam", "beta2", beta2, 0.0f, 0.999999f);
        detail::require_positive("adam", "epsilon", epsilon);
        schedule.validate("adam");
    }
    [[nodiscard]] state make_state(index parameter_count) const {
        validate();
        detail::require_positive("adam::make_state", "parameter_count", parameter_count);
        state st;
        st.first_moment.assign(static_cast<std::size_t>(parameter_count), 0.0f);
        st.second_moment.assign(static_cast<std::size_t>(parameter_count), 0.0f);
        return st;
    }
    float step(state& st, std::span<float> params, std::span<const float> grad) const {
        if (params.size() != grad.size() || params.size() != st.first_moment.size())
            detail::fail("adam::step", "params and grad must both have the state's size " +
                                           detail::to_text(st.first_moment.size()), grad.size());
        const float lr = schedule.rate(learning_rate, st.steps);
        ++st.steps;
        const double t = static_cast<double>(st.steps);
        const kernels::adam_update update{lr, beta1, beta2, epsilon,
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), t)),
                                          static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), t))};
        for (std::size_t k = 0; k < params.size(); ++k)
            update(params[k], grad[k], st.first_moment[k], st.second_moment[k]);
        return lr;
    }
};

}  // namespace ebm

#pragma once
// Per-element optimizer updates (formulas as in PyTorch's SGD and Adam) and their element functors, shared by the
// CPU and CUDA executions.
#include <cmath>

#include "../config.hpp"

namespace ebm::kernels {

/// PyTorch SGD: with momentum mu, buf <- mu*buf + g (buf = g on the first step), p <- p - lr*buf.
struct sgd_update {
    float learning_rate;
    float momentum;
    bool first_step;
    EBM_HOST_DEVICE void operator()(float& p, float g, float& buffer) const {
        if (momentum != 0.0f) {
            buffer = first_step ? g : momentum * buffer + g;
            g = buffer;
        }
        p -= learning_rate * g;
    }
};

/// PyTorch Adam: m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
/// p <- p - (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps), with c_k = 1 - b_k^t.
struct adam_update {
    float learning_rate;
    float beta1;
    float beta2;
    float epsilon;
    float bias_correction1;  // 1 - beta1^t
    float bias_correction2;  // 1 - beta2^t
    EBM_HOST_DEVICE void operator()(float& p, float g, float& m, float& v) const {
        m = beta1 * m + (1.0f - beta1) * g;
        v = beta2 * v + (1.0f - beta2) * g * g;
        const float denominator = std::sqrt(v) / std::sqrt(bias_correction2) + epsilon;
        p -= (learning_rate / bias_correction1) * m / denominator;
    }
};

/// SGD on element k of the parameters; `buffer` may be null when momentum is 0.
struct sgd_elements {
    sgd_update update;
    float* parameters;
    const float* gradient;
    float* buffer = nullptr;
    EBM_HOST_DEVICE void operator()(index k) const {
        float unused = 0.0f;
        update(parameters[k], gradient[k], buffer != nullptr ? buffer[k] : unused);
    }
};

/// Adam on element k of the parameters.
struct adam_elements {
    adam_update update;
    float* parameters;
    const float* gradient;
    float* first_moment;
    float* second_moment;
    EBM_HOST_DEVICE void operator()(index k) const {
        update(parameters[k], gradient[k], first_moment[k], second_moment[k]);
    }
};

}  // namespace ebm::kernels

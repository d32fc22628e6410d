#pragma once
// Element-wise activations of the composed networks (energy/network.hpp) with their first and second derivatives,
// written once for the host and the device. The second derivative is what the Hessian-vector product needs: through
// a unit a = f(z), the tangent of the backward pass is f'(z) dot(g) + f''(z) dot(z) g.
//
// Values and derivatives follow PyTorch's definitions and its choices at the kinks:
//   ReLU        max(z, 0)                      f'(0) = 0 (PyTorch's backward tests z > 0)
//   LeakyReLU   z > 0 ? z : alpha z            f'(0) = alpha (PyTorch: z > 0 ? 1 : alpha); alpha = negative_slope
//   ELU         z > 0 ? z : alpha (e^z - 1)    f'(0) = alpha
//   SiLU        z sigma(z)
//   GELU        z Phi(z) (the exact form, PyTorch's approximate='none')
//   Tanh        tanh z
//   Sigmoid     sigma(z)
//   Softplus    log(1 + e^(beta z)) / beta, and z itself where beta z > threshold (PyTorch's beta, threshold)
#include <cmath>

#include "../config.hpp"

namespace ebm::kernels {

enum class activation_kind { relu, leaky_relu, elu, silu, gelu, tanh, sigmoid, softplus };

/// One activation and its parameters: alpha is LeakyReLU's negative_slope or ELU's alpha; beta and threshold are
/// Softplus's.
struct activation_function {
    activation_kind kind = activation_kind::leaky_relu;
    float alpha = 0.01f;
    float beta = 1.0f;
    float threshold = 20.0f;

    /// f(z), f'(z) and f''(z) in one call (the forward pass keeps z; the backward passes recompute from it).
    struct derivatives {
        float value, first, second;
    };

    /// The unit of kind K at z (a loop that knows K inlines it: for_each_unit below).
    template <activation_kind K>
    [[nodiscard]] EBM_HOST_DEVICE EBM_ALWAYS_INLINE derivatives evaluate(float z) const {
        if constexpr (K == activation_kind::relu) {
            return {z > 0.0f ? z : 0.0f, z > 0.0f ? 1.0f : 0.0f, 0.0f};
        } else if constexpr (K == activation_kind::leaky_relu) {
            return {z > 0.0f ? z : alpha * z, z > 0.0f ? 1.0f : alpha, 0.0f};
        } else if constexpr (K == activation_kind::elu) {
            if (z > 0.0f) return {z, 1.0f, 0.0f};
            const float e = ::expf(z);
            return {alpha * (e - 1.0f), alpha * e, alpha * e};
        } else if constexpr (K == activation_kind::silu) {
            const float s = logistic(z);
            return {z * s, s * (1.0f + z * (1.0f - s)), s * (1.0f - s) * (2.0f + z * (1.0f - 2.0f * s))};
        } else if constexpr (K == activation_kind::gelu) {
            constexpr float inv_sqrt2 = 0.70710678118654752f, inv_sqrt_2pi = 0.39894228040143268f;
            const float cdf = 0.5f * (1.0f + ::erff(z * inv_sqrt2));
            const float pdf = inv_sqrt_2pi * ::expf(-0.5f * z * z);
            return {z * cdf, cdf + z * pdf, pdf * (2.0f - z * z)};
        } else if constexpr (K == activation_kind::tanh) {
            const float t = ::tanhf(z);
            const float d = 1.0f - t * t;
            return {t, d, -2.0f * t * d};
        } else if constexpr (K == activation_kind::sigmoid) {
            const float s = logistic(z);
            const float d = s * (1.0f - s);
            return {s, d, d * (1.0f - 2.0f * s)};
        } else {
            const float bz = beta * z;
            if (bz > threshold) return {z, 1.0f, 0.0f};
            const float s = logistic(bz);
            return {::log1pf(::expf(bz)) / beta, s, beta * s * (1.0f - s)};
        }
    }

    /// The unit at z, whatever its kind (one branch per call; loops use for_each_unit).
    [[nodiscard]] EBM_HOST_DEVICE derivatives at(float z) const {
        switch (kind) {
            case activation_kind::relu: return evaluate<activation_kind::relu>(z);
            case activation_kind::leaky_relu: return evaluate<activation_kind::leaky_relu>(z);
            case activation_kind::elu: return evaluate<activation_kind::elu>(z);
            case activation_kind::silu: return evaluate<activation_kind::silu>(z);
            case activation_kind::gelu: return evaluate<activation_kind::gelu>(z);
            case activation_kind::tanh: return evaluate<activation_kind::tanh>(z);
            case activation_kind::sigmoid: return evaluate<activation_kind::sigmoid>(z);
            case activation_kind::softplus: return evaluate<activation_kind::softplus>(z);
        }
        return {z, 1.0f, 0.0f};
    }

    /// True when f'' = 0 wherever f is twice differentiable (a network of such units has a zero Hessian there).
    [[nodiscard]] EBM_HOST_DEVICE bool piecewise_linear() const {
        return kind == activation_kind::relu || kind == activation_kind::leaky_relu;
    }

private:
    // 1 / (1 + e^-z) without overflow for large |z|.
    static EBM_HOST_DEVICE EBM_ALWAYS_INLINE float logistic(float z) {
        if (z >= 0.0f) return 1.0f / (1.0f + ::expf(-z));
        const float e = ::expf(z);
        return e / (1.0f + e);
    }
};

// The per-element passes through a layer of units. Each functor's operator() serves any kind (a device launch
// calls it); apply<K> is the same with the kind known at compile time, which for_each_unit uses on the host.

/// a[k] = f(z[k]).
struct activation_forward {
    float* a;
    const float* z;
    activation_function f;
    template <activation_kind K>
    EBM_HOST_DEVICE EBM_ALWAYS_INLINE void apply(index k) const { a[k] = f.evaluate<K>(z[k]).value; }
    EBM_HOST_DEVICE void operator()(index k) const { a[k] = f.at(z[k]).value; }
};

/// Backward through the unit from its input z: dz[k] = f'(z[k]) da[k] (dz may alias da).
struct activation_backward {
    float* dz;
    const float* da;
    const float* z;
    activation_function f;
    template <activation_kind K>
    EBM_HOST_DEVICE EBM_ALWAYS_INLINE void apply(index k) const { dz[k] = f.evaluate<K>(z[k]).first * da[k]; }
    EBM_HOST_DEVICE void operator()(index k) const { dz[k] = f.at(z[k]).first * da[k]; }
};

/// Tangent of the forward pass: a_t[k] = f'(z[k]) z_t[k].
struct activation_tangent {
    float* a_t;
    const float* z_t;
    const float* z;
    activation_function f;
    template <activation_kind K>
    EBM_HOST_DEVICE EBM_ALWAYS_INLINE void apply(index k) const { a_t[k] = f.evaluate<K>(z[k]).first * z_t[k]; }
    EBM_HOST_DEVICE void operator()(index k) const { a_t[k] = f.at(z[k]).first * z_t[k]; }
};

/// Tangent of the backward pass: dz_t[k] = f'(z) da_t[k] + f''(z) z_t[k] da[k].
struct activation_backward_tangent {
    float* dz_t;
    const float* da_t;
    const float* da;
    const float* z_t;
    const float* z;
    activation_function f;
    template <activation_kind K>
    EBM_HOST_DEVICE EBM_ALWAYS_INLINE void apply(index k) const {
        const auto d = f.evaluate<K>(z[k]);
        dz_t[k] = d.first * da_t[k] + d.second * z_t[k] * da[k];
    }
    EBM_HOST_DEVICE void operator()(index k) const {
        const auto d = f.at(z[k]);
        dz_t[k] = d.first * da_t[k] + d.second * z_t[k] * da[k];
    }
};

/// functor.apply<K>(k) for k in [0, n) on the host, K = functor.f.kind fixed before the loop (one branch per pass,
/// and the unit inlined into the loop).
template <class Functor>
void for_each_unit(const Functor& functor, index n) {
    // A local copy: the stores through the functor's pointers cannot then alias its parameters (alpha, ...), so the
    // loop keeps them in registers and vectorises.
    const auto loop = [local = functor, n]<activation_kind K>() {
        for (index k = 0; k < n; ++k) local.template apply<K>(k);
    };
    switch (functor.f.kind) {
        case activation_kind::relu: loop.template operator()<activation_kind::relu>(); break;
        case activation_kind::leaky_relu: loop.template operator()<activation_kind::leaky_relu>(); break;
        case activation_kind::elu: loop.template operator()<activation_kind::elu>(); break;
        case activation_kind::silu: loop.template operator()<activation_kind::silu>(); break;
        case activation_kind::gelu: loop.template operator()<activation_kind::gelu>(); break;
        case activation_kind::tanh: loop.template operator()<activation_kind::tanh>(); break;
        case activation_kind::sigmoid: loop.template operator()<activation_kind::sigmoid>(); break;
        case activation_kind::softplus: loop.template operator()<activation_kind::softplus>(); break;
    }
}

}  // namespace ebm::kernels

#pragma once
// Per-element leapfrog arithmetic of HMC (sampler/hmc.hpp), shared by the CPU and CUDA executions. The step eps is
// read from memory, so an adapting chain (and a captured CUDA graph) follows it. Products that feed a sum are
// explicit fused multiply-adds, so no compiler contracts them differently on either side.
#include "../config.hpp"
#include "portable_math.hpp"

namespace ebm::kernels {

/// A momentum kick followed by a drift, for element k:
///   p_out = p_in - kick * eps * g,   q_out = q_in + eps * p_out.
/// The first leapfrog step of a trajectory starts from (x, p_0) with kick = 1/2; the later ones work in place with
/// kick = 1 (the closing half kick of one step merged with the opening half kick of the next).
struct leapfrog_drift {
    float* q_out;
    const float* q_in;
    float* p_out;
    const float* p_in;
    const float* g;
    const float* epsilon;
    float kick;
    EBM_HOST_DEVICE void operator()(index k) const {
        const float eps = *epsilon;
        const float p = portable::fused_multiply_add(-(kick * eps), g[k], p_in[k]);
        p_out[k] = p;
        q_out[k] = portable::fused_multiply_add(eps, p, q_in[k]);
    }
};

/// The closing half kick of a trajectory, for element k: p = p - (eps / 2) g.
struct leapfrog_kick {
    float* p;
    const float* g;
    const float* epsilon;
    EBM_HOST_DEVICE void operator()(index k) const {
        p[k] = portable::fused_multiply_add(-(0.5f * *epsilon), g[k], p[k]);
    }
};

}  // namespace ebm::kernels

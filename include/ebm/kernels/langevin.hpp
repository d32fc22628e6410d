#pragma once
// Per-element Langevin and MALA arithmetic, shared by the CPU and CUDA executions: the move, the fused move with its
// own noise (one Philox block per call), MALA's residuals, its accept decision and the arguments of its per-chain
// accept step.
#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "../random/philox.hpp"
#include "elements.hpp"
#include "noise.hpp"

namespace ebm::kernels {

/// Optional box [low, high] that states are clamped to after each move (disabled when low > high).
struct box {
    float low = 1.0f;
    float high = -1.0f;
    [[nodiscard]] EBM_HOST_DEVICE constexpr bool enabled() const { return low <= high; }
    [[nodiscard]] EBM_HOST_DEVICE float apply(float v) const {
        return enabled() ? (v < low ? low : (v > high ? high : v)) : v;
    }
};

/// x <- clamp(x - step * g + noise * z): one unadjusted Langevin move of one element.
struct langevin_move {
    float step;   // h: eps^2/2 (Anatomy form) or lambda (decoupled form)
    float noise;  // s: tau*eps (Anatomy form) or sigma (decoupled form)
    box clamp;
    [[nodiscard]] EBM_HOST_DEVICE float operator()(float x, float g, float z) const {
        return clamp.apply(x - step * g + noise * z);
    }
};

/// The transposed Jacobian of one move x' = clamp(x - h dU/dx(x) + s z) applied to w, in two passes around a
/// Hessian-vector product: the move's Jacobian is (I - h H(x)) followed by the clamp's, diag(m) with m = 0 where the
/// clamp bound (x' on the box's face) and 1 elsewhere, so J^T w = (I - h H)(m w) with H symmetric.
/// First pass: w[k] <- m[k] w[k], from the state after the move.
struct clamp_pullback {
    float* w;
    const float* next;  // x'
    box clamp;
    EBM_HOST_DEVICE void operator()(index k) const {
        if (clamp.enabled() && !(next[k] > clamp.low && next[k] < clamp.high)) w[k] = 0.0f;
    }
};
/// Second pass: w[k] <- w[k] - h (H w)[k].
struct move_pullback {
    float* w;
    const float* hw;  // H(x) w
    float step;       // h
    EBM_HOST_DEVICE void operator()(index k) const { w[k] = w[k] - step * hw[k]; }
};

/// Terms of the MALA log proposal ratio for one element. With y = x - h g(x) + s z the forward residual is
/// y - x + h g(x) and the backward residual is x - y + h g(y); the log ratio is
/// -(|backward|^2 - |forward|^2) / (2 s^2).
struct mala_residuals {
    float step;
    EBM_HOST_DEVICE void operator()(float x, float gx, float y, float gy, float& forward_sq, float& backward_sq) const {
        const float f = y - x + step * gx;
        const float b = x - y + step * gy;
        forward_sq += f * f;
        backward_sq += b * b;
    }
};

/// Metropolis-Hastings decision in log space; a non-finite proposal (NaN/Inf energy or ratio) is rejected.
EBM_HOST_DEVICE inline bool mh_accept(float log_u, float energy_current, float energy_proposed, float forward_sq,
                                      float backward_sq, float two_noise_sq) {
    const float log_ratio = energy_current - energy_proposed - (backward_sq - forward_sq) / two_noise_sq;
    if (!(energy_proposed == energy_proposed) || energy_proposed == INFINITY || energy_proposed == -INFINITY)
        return false;
    if (!(log_ratio == log_ratio)) return false;
    return log_u < log_ratio;
}

/// MALA's proposal move for the step eps (no clamp: the box is an accept test): h = 0.5f * eps * eps (two float
/// multiplies: nothing a compiler can contract).
EBM_HOST_DEVICE inline langevin_move mala_move(float eps) { return {0.5f * eps * eps, eps, box{}}; }

/// One Langevin move with its own noise, fused: y = clamp(x - h g + s z), z from (langevin_noise, chain, step).
/// y may equal x (in place: unadjusted Langevin) or be another buffer (MALA's proposal). With noise off, z = 0 and no
/// Philox block is computed. With `mala_epsilon` set, the move is mala_move(*mala_epsilon), read at run time: the
/// step size of MALA lives in memory, so an adapting chain (and a captured CUDA graph) follows it.
/// Call for k in [0, count * blocks_per_chain(dimension)).
struct langevin_step {
    float* y;
    const float* x;
    const float* g;
    index dimension;
    philox rng;
    std::uint32_t first_chain;
    step_counter step;
    langevin_move move;
    bool noise = true;
    const float* mala_epsilon = nullptr;

    [[nodiscard]] EBM_HOST_DEVICE langevin_move effective_move() const {
        return mala_epsilon != nullptr ? mala_move(*mala_epsilon) : move;
    }
    /// The four normals of call k's block (zeros with noise off).
    EBM_HOST_DEVICE void normals(index k, float (&z)[4]) const {
        z[0] = z[1] = z[2] = z[3] = 0.0f;
        if (!noise) return;
        const block_site site = locate_block(k, dimension);
        const auto w = rng.block(purpose::langevin_noise, first_chain + static_cast<std::uint32_t>(site.chain),
                                 step.value(), static_cast<std::uint32_t>(site.block));
        const portable::normal_pair p0 = noise_pair(w[0], w[1], 1.0f);
        const portable::normal_pair p1 = noise_pair(w[2], w[3], 1.0f);
        z[0] = p0.first;
        z[1] = p0.second;
        z[2] = p1.first;
        z[3] = p1.second;
    }
    /// The move of call k's block with the normals z.
    EBM_HOST_DEVICE void apply(index k, const float (&z)[4]) const {
        const block_site site = locate_block(k, dimension);
        const langevin_move m = effective_move();
        for (index j = 0; j < site.count; ++j) y[site.offset + j] = m(x[site.offset + j], g[site.offset + j], z[j]);
    }
    EBM_HOST_DEVICE void operator()(index k) const {
        float z[4];
        normals(k, z);
        apply(k, z);
    }
};

/// A whole unadjusted chain of `steps` moves for an energy that runs it itself (cuda::mlp, one kernel: see
/// ebm::detail::run_langevin): per chain, steps + 1 evaluations (the first skipped when `cached`: g and u then hold
/// the start's), each followed by ||dU/dx||, and a langevin_step between two evaluations -- the same moves, the same
/// noise and the same per-chain arithmetic as the step-by-step chain.
struct langevin_chain {
    float* x;                          // dimension x count, moved in place
    float* g;                          // dU/dx of the final states (of the start, read, when cached)
    float* u;                          // U of the final states (of the start, read, when cached)
    float* norms;                      // ||dU/dx|| of the final states, per chain
    double* norm_total;                // += the sum over chains and states of ||dU/dx||
    index dimension;
    index count;
    index steps;
    philox rng;
    std::uint32_t first_chain;         // the first chain's number in the Philox streams
    const std::uint64_t* first_step;   // read at run time (a captured graph replays with a new first step)
    langevin_move move;
    bool noise;
    bool cached;
    /// The factors of scaled_energy wrappers around the energy, outermost first: after each evaluation U and dU/dx are
    /// multiplied by factors[factor_count - 1], ..., factors[0], as the wrappers would (kernels::scale_values).
    static constexpr int max_factors = 4;
    float factors[max_factors] = {};
    int factor_count = 0;
};

/// MALA's per-chain decision from the summed residuals: a proposal outside the clamp box or with a non-finite
/// energy/residual is rejected; `probability` is min(1, ratio) for step-size adaptation (0 for proposals rejected
/// outright), computed only when asked for (an exp per chain and step that a plain run does not need).
struct mala_outcome {
    bool accept;
    bool finite;
    double probability;
};

EBM_HOST_DEVICE inline mala_outcome mala_decide(float log_u, float energy_current, float energy_proposed,
                                                float forward_sq, float backward_sq, float two_noise_sq, bool inside,
                                                bool want_probability = true) {
    mala_outcome out{false, false, 0.0};
    out.finite = is_finite(energy_proposed) && is_finite(forward_sq) && is_finite(backward_sq);
    out.accept = inside && out.finite && mh_accept(log_u, energy_current, energy_proposed, forward_sq, backward_sq, two_noise_sq);
    if (want_probability && inside && out.finite) {
        const double log_ratio = static_cast<double>(energy_current) - energy_proposed -
                                 (backward_sq - forward_sq) / two_noise_sq;
        out.probability = log_ratio >= 0 ? 1.0 : std::exp(log_ratio);
    }
    return out;
}

/// Per-chain counters of a Metropolis-adjusted run (MALA, HMC).
struct mala_counters {
    std::int64_t* accepted;    // per chain, over the run
    std::int64_t* non_finite;  // per chain, over the run
    double* probability;       // per chain, min(1, ratio) of the last step (read by the adaptation)
    float* norms;              // per chain, ||dU/dx|| at the state after the last step
};

/// The accept step of MALA and HMC for a range of chains: the two sums of the log proposal ratio, box test, decision
/// (mala_decide), then accepted chains take y, dU/dx(y) and U(y). The step eps is read from memory. Pointers address
/// the range's first chain; first_chain numbers it in the Philox streams (log u: purpose::mala_accept).
/// MALA: the sums are the residuals (mala_residuals) and the scale 2 eps^2. HMC (momentum_start set): the sums are
/// |p_0|^2 and |p_L|^2, the momenta before and after the trajectory, and the scale 2 -- the same decision, since
/// log ratio = U(x) - U(y) - (|p_L|^2 - |p_0|^2) / 2 (and HMC with one leapfrog step is MALA: eps p_L = -backward).
struct metropolis_accept_arguments {
    float* x;
    float* g;
    float* u;
    const float* y;
    const float* gy;
    const float* uy;
    index dimension;
    philox rng;
    std::uint32_t first_chain;
    step_counter step;
    const float* epsilon;
    box clamp;
    mala_counters counters;
    const float* momentum_start = nullptr;  // HMC: p_0, dimension x count
    const float* momentum_end = nullptr;    // HMC: p_L

    [[nodiscard]] EBM_HOST_DEVICE bool hamiltonian() const { return momentum_start != nullptr; }
    /// The denominator of the log ratio's second term for the step eps.
    [[nodiscard]] EBM_HOST_DEVICE float ratio_scale(float eps) const { return hamiltonian() ? 2.0f : 2.0f * eps * eps; }
    /// Adds element k's terms (k counts from the range's first element) to the forward and backward sums.
    EBM_HOST_DEVICE void add_terms(index k, float eps, float& forward_sq, float& backward_sq) const {
        if (hamiltonian()) {
            forward_sq += momentum_start[k] * momentum_start[k];
            backward_sq += momentum_end[k] * momentum_end[k];
        } else {
            mala_residuals{mala_move(eps).step}(x[k], g[k], y[k], gy[k], forward_sq, backward_sq);
        }
    }
};

}  // namespace ebm::kernels

#pragma once
// Per-element functors of the CUDA backend, written once for host and device (EBM_HOST_DEVICE). This header has no
// CUDA include and no kernel syntax: it also compiles as plain C++, which is how tests/cuda/test_cuda_functors.cpp
// runs the very code the GPU runs, on any machine, and checks it bit for bit against the CPU backend.
//
// Each functor is called as f(k) for k in [0, n) by a launcher: ebm::cuda_backend::launch_elements on the GPU
// (launch.cuh), ebm::cuda_backend::host_launch_elements (below) on the CPU. Functors hold raw pointers and
// hyper-parameters only; they are trivially copyable, so they travel to the device as kernel arguments.
//
// Noise layout (the same as ebm::fill_normal): element e of chain c at step s is word pair (e % 4) / 2 of the Philox
// block philox::block(purpose, c, s, e / 4), first or second Box-Muller output by e % 2. A functor call handles one
// block, i.e. four consecutive elements of one chain.
#include <cmath>
#include <cstdint>

#include "../../config.hpp"
#include "../../kernels/langevin.hpp"
#include "../../kernels/optimizer_updates.hpp"
#include "../../kernels/portable_math.hpp"
#include "../../random/philox.hpp"

namespace ebm::cuda_backend {

/// The one function that turns two Philox words into two scaled normals on the device (and in the host test of the
/// device code). It must equal what ebm::fill_normal computes for the same words bit for bit; today that is the
/// portable Box-Muller (kernels/portable_math.hpp). If random/distributions.hpp changes its Box-Muller, change
/// this line with it (tests/cuda/test_cuda_functors.cpp says when they disagree).
EBM_HOST_DEVICE inline portable::normal_pair noise_pair(std::uint32_t a, std::uint32_t b, float scale) {
    return portable::box_muller(a, b, scale);
}

/// log u for MALA's accept test, u = the first word of block 0 of (mala_accept, chain, step): portable log.
EBM_HOST_DEVICE inline float accept_log_uniform(const philox& rng, std::uint32_t chain, std::uint64_t step) {
    return portable::log_positive(portable::uniform_open01(rng.block(purpose::mala_accept, chain, step, 0)[0]));
}

/// True unless x is NaN or +-Inf (bit test: the same on host and device, unaffected by fast-math flags).
EBM_HOST_DEVICE inline bool is_finite(float x) { return (portable::float_bits(x) & 0x7f800000u) != 0x7f800000u; }

/// Where the step of a Philox counter comes from: `offset` plus, when `base` is set, *base read at run time. A CUDA
/// graph captured once for K steps reads the first step of each run from device memory (base), so the same graph
/// serves every training iteration.
struct step_counter {
    const std::uint64_t* base = nullptr;
    std::uint64_t offset = 0;
    [[nodiscard]] EBM_HOST_DEVICE std::uint64_t value() const { return (base != nullptr ? *base : 0) + offset; }
};

/// Blocks of 4 elements per chain of `dimension` elements.
EBM_HOST_DEVICE inline index blocks_per_chain(index dimension) { return (dimension + 3) / 4; }

/// Gaussian noise: out[c * dimension + e] = scale * z_e of chain first_chain + c (or, when `accumulate`, +=: the data
/// noise on positives, x <- x + sigma z). If `chains` is set, functor block row j writes batch chain chains[j]
/// (rejuvenated chains of a bank). Call for k in [0, rows * blocks_per_chain(dimension)).
struct normal_fill {
    float* out;
    index dimension;
    philox rng;
    purpose stream;
    std::uint32_t first_chain;
    step_counter step;
    float scale;
    bool accumulate = false;
    const std::uint32_t* chains = nullptr;

    EBM_HOST_DEVICE void operator()(index k) const {
        const index per_chain = blocks_per_chain(dimension);
        const index row = k / per_chain;
        const index b = k - row * per_chain;
        const index chain = chains != nullptr ? static_cast<index>(chains[row]) : row;
        const auto w = rng.block(stream, first_chain + static_cast<std::uint32_t>(chain), step.value(),
                                 static_cast<std::uint32_t>(b));
        const portable::normal_pair p0 = noise_pair(w[0], w[1], scale);
        const portable::normal_pair p1 = noise_pair(w[2], w[3], scale);
        const float z[4] = {p0.first, p0.second, p1.first, p1.second};
        float* o = out + chain * dimension + 4 * b;
        const index n = dimension - 4 * b < 4 ? dimension - 4 * b : 4;
        for (index j = 0; j < n; ++j) o[j] = accumulate ? o[j] + z[j] : z[j];
    }
};

/// Uniform noise in (low, high), as ebm::fill_uniform: out[4b + j] = low + (high - low) u(word j of block b).
struct uniform_fill {
    float* out;
    index dimension;
    philox rng;
    purpose stream;
    std::uint32_t first_chain;
    step_counter step;
    float low;
    float high;
    const std::uint32_t* chains = nullptr;

    EBM_HOST_DEVICE void operator()(index k) const {
        const index per_chain = blocks_per_chain(dimension);
        const index row = k / per_chain;
        const index b = k - row * per_chain;
        const index chain = chains != nullptr ? static_cast<index>(chains[row]) : row;
        const auto w = rng.block(stream, first_chain + static_cast<std::uint32_t>(chain), step.value(),
                                 static_cast<std::uint32_t>(b));
        float* o = out + chain * dimension + 4 * b;
        const index n = dimension - 4 * b < 4 ? dimension - 4 * b : 4;
        for (index j = 0; j < n; ++j) o[j] = portable::uniform_between(w[static_cast<std::size_t>(j)], low, high);
    }
};

/// MALA's proposal move for the step eps (no clamp: the box is an accept test), with the CPU sampler's arithmetic
/// h = 0.5f * eps * eps (two float multiplies: nothing a compiler can contract).
EBM_HOST_DEVICE inline kernels::langevin_move mala_move(float eps) { return {0.5f * eps * eps, eps, kernels::box{}}; }

/// One Langevin move with its own noise, fused: y = clamp(x - h g + s z), z from (langevin_noise, chain, step).
/// y may equal x (in place: unadjusted Langevin) or be another buffer (MALA's proposal). With noise off, z = 0 and no
/// Philox block is computed. With `mala_epsilon` set, the move is mala_move(*mala_epsilon), read at run time: the
/// step size of an adapting MALA chain lives in device memory, so a captured graph follows it.
/// Call for k in [0, count * blocks_per_chain(dimension)).
struct langevin_step {
    float* y;
    const float* x;
    const float* g;
    index dimension;
    philox rng;
    std::uint32_t first_chain;
    step_counter step;
    kernels::langevin_move move;
    bool noise = true;
    const float* mala_epsilon = nullptr;

    EBM_HOST_DEVICE void operator()(index k) const {
        const index per_chain = blocks_per_chain(dimension);
        const index chain = k / per_chain;
        const index b = k - chain * per_chain;
        const kernels::langevin_move m = mala_epsilon != nullptr ? mala_move(*mala_epsilon) : move;
        float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (noise) {
            const auto w = rng.block(purpose::langevin_noise, first_chain + static_cast<std::uint32_t>(chain),
                                     step.value(), static_cast<std::uint32_t>(b));
            const portable::normal_pair p0 = noise_pair(w[0], w[1], 1.0f);
            const portable::normal_pair p1 = noise_pair(w[2], w[3], 1.0f);
            z[0] = p0.first;
            z[1] = p0.second;
            z[2] = p1.first;
            z[3] = p1.second;
        }
        const index base = chain * dimension + 4 * b;
        const index n = dimension - 4 * b < 4 ? dimension - 4 * b : 4;
        for (index j = 0; j < n; ++j) y[base + j] = m(x[base + j], g[base + j], z[j]);
    }
};

/// Persistent bank, draw: x[i] = bank[slots[i]] element by element. Call for k in [0, count * dimension).
struct bank_gather {
    float* x;
    const float* bank;
    const std::uint32_t* slots;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index i = k / dimension;
        const index e = k - i * dimension;
        x[k] = bank[static_cast<index>(slots[i]) * dimension + e];
    }
};

/// Persistent bank, write-back: bank[slots[i]] = x[i]. Call for k in [0, count * dimension).
struct bank_scatter {
    float* bank;
    const float* x;
    const std::uint32_t* slots;
    index dimension;
    EBM_HOST_DEVICE void operator()(index k) const {
        const index i = k / dimension;
        const index e = k - i * dimension;
        bank[static_cast<index>(slots[i]) * dimension + e] = x[k];
    }
};

/// SGD (PyTorch arithmetic, kernels::sgd_update) on element k; `buffer` may be null when momentum is 0.
struct sgd_elements {
    kernels::sgd_update update;
    float* parameters;
    const float* gradient;
    float* buffer = nullptr;
    EBM_HOST_DEVICE void operator()(index k) const {
        float unused = 0.0f;
        update(parameters[k], gradient[k], buffer != nullptr ? buffer[k] : unused);
    }
};

/// Adam (PyTorch arithmetic, kernels::adam_update) on element k.
struct adam_elements {
    kernels::adam_update update;
    float* parameters;
    const float* gradient;
    float* first_moment;
    float* second_moment;
    EBM_HOST_DEVICE void operator()(index k) const {
        update(parameters[k], gradient[k], first_moment[k], second_moment[k]);
    }
};

/// MALA's per-chain decision from the reduced residuals, as sampler/mala.hpp decides it: a proposal outside the
/// clamp box or with a non-finite energy/residual is rejected; `probability` is min(1, ratio) for step-size
/// adaptation (0 for rejected-outright proposals, which the CPU sampler leaves out of its sum likewise).
struct mala_outcome {
    bool accept;
    bool finite;
    double probability;
};

EBM_HOST_DEVICE inline mala_outcome mala_decide(float log_u, float energy_current, float energy_proposed,
                                                float forward_sq, float backward_sq, float two_noise_sq, bool inside) {
    mala_outcome out{false, false, 0.0};
    out.finite = is_finite(energy_proposed) && is_finite(forward_sq) && is_finite(backward_sq);
    out.accept = inside && out.finite &&
                 kernels::mh_accept(log_u, energy_current, energy_proposed, forward_sq, backward_sq, two_noise_sq);
    if (inside && out.finite) {
        const double log_ratio = static_cast<double>(energy_current) - energy_proposed -
                                 (backward_sq - forward_sq) / two_noise_sq;
        out.probability = log_ratio >= 0 ? 1.0 : std::exp(log_ratio);
    }
    return out;
}

/// A product that is never fused into a following addition: __dmul_rn on the device (nvcc contracts a*b + c by
/// default), a plain product on the host. The dual averaging below uses it so that the device computes each
/// product and sum with its own rounding, as the CPU's sampler/adaptation.hpp written as plain expressions does.
EBM_HOST_DEVICE inline double product_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

/// One step of MALA's step-size adaptation as the device keeps it: ebm::dual_averaging_state
/// (sampler/adaptation.hpp, Hoffman & Gelman 2014, Algorithm 5) as a plain struct in device memory, updated by one
/// device thread after each step from the per-chain acceptance probabilities, so an adapting chain needs no host
/// round trip and stays capturable in a CUDA graph. Same fields, same double precision, same expression order as
/// the CPU class; exp, pow and sqrt are the device's (sqrt correctly rounded; exp and pow within an ulp or two of
/// glibc's), so the step sizes agree with the CPU's to the last bits, not necessarily bit for bit.
struct dual_averaging_device {
    double target_acceptance;
    double gamma;
    double t0;
    double kappa;
    double mu;                     // log(10 eps_0)
    double log_epsilon;
    double log_epsilon_bar = 0.0;
    double h_bar = 0.0;
    std::int64_t count = 0;

    /// ebm::dual_averaging_state::update: feeds the mean acceptance probability of one step.
    EBM_HOST_DEVICE void update(double acceptance_probability) {
        ++count;
        const double m = static_cast<double>(count);
        const double w = 1.0 / (m + t0);
        h_bar = product_rn(1.0 - w, h_bar) + product_rn(w, target_acceptance - acceptance_probability);
        log_epsilon = mu - product_rn(std::sqrt(m) / gamma, h_bar);
        const double eta = std::pow(m, -kappa);
        log_epsilon_bar = product_rn(eta, log_epsilon) + product_rn(1.0 - eta, log_epsilon_bar);
    }
    /// ebm::dual_averaging_state::current: the step to use next.
    [[nodiscard]] EBM_HOST_DEVICE double current() const { return std::exp(log_epsilon); }
    /// ebm::dual_averaging_state::final_epsilon: the averaged step, to sample with once warm-up ends.
    [[nodiscard]] EBM_HOST_DEVICE double final_epsilon() const {
        return count == 0 ? current() : std::exp(log_epsilon_bar);
    }
};

/// What one adaptation step did (the device keeps one record per warm-up step).
struct dual_averaging_record {
    double acceptance;   // mean min(1, ratio) over the chains, as fed to update()
    double epsilon;      // current() after the update: the step of the next MALA step (used as a float)
    double epsilon_bar;  // final_epsilon() after the update
};

/// The mean of the per-chain acceptance probabilities summed as the CPU sampler sums them: chains in order within
/// each task of chains_per_task chains, then the task sums in task order, divided by the chain count.
EBM_HOST_DEVICE inline double mean_acceptance(const double* probability, index count, index chains_per_task) {
    double total = 0.0, task = 0.0;
    for (index i = 0; i < count; ++i) {
        task += probability[i];
        if ((i + 1) % chains_per_task == 0 || i + 1 == count) {
            total += task;
            task = 0.0;
        }
    }
    return total / static_cast<double>(count);
}

/// The per-step work of an adapting MALA chain, for one thread: mean acceptance -> update -> the float step the
/// next proposal and accept read (static_cast<float>(current()), as the CPU sampler converts it) -> trace record.
struct dual_averaging_step {
    dual_averaging_device* state;
    const double* probability;  // per chain, min(1, ratio) of this step (0 for rejected-outright proposals)
    index count;
    index chains_per_task;
    float* epsilon;
    dual_averaging_record* trace;  // may be null
    index trace_capacity;
    EBM_HOST_DEVICE void operator()(index) const {
        const double p = mean_acceptance(probability, count, chains_per_task);
        state->update(p);
        const double next = state->current();
        *epsilon = static_cast<float>(next);
        if (trace != nullptr && state->count <= trace_capacity)
            trace[state->count - 1] = dual_averaging_record{p, next, state->final_epsilon()};
    }
};

/// The CPU launcher of these functors: f(k) for k in [0, n), in order (the reference the GPU is compared with).
template <class F>
void host_launch_elements(index n, const F& f) {
    for (index k = 0; k < n; ++k) f(k);
}

}  // namespace ebm::cuda_backend

#pragma once
// Small per-element pieces shared by every functor of kernels/: where a Philox counter's step comes from, the block
// layout of a chain's noise, a finiteness test that fast-math flags cannot remove, and three element-wise functors.
// Like everything in kernels/, these are EBM_HOST_DEVICE: the CPU execution calls them in a loop, the CUDA execution
// launches them, so both backends run the same arithmetic.
#include <cstdint>

#include "../config.hpp"
#include "portable_math.hpp"

namespace ebm::kernels {

/// Where the step of a Philox counter comes from: `offset` plus, when `base` is set, *base read at run time (memory
/// of the execution's space). A K-step chain captured once as a CUDA graph reads the first step of each run from
/// memory, so the same graph serves every training iteration; the CPU reads the same memory.
struct step_counter {
    const std::uint64_t* base = nullptr;
    std::uint64_t offset = 0;
    [[nodiscard]] EBM_HOST_DEVICE std::uint64_t value() const { return (base != nullptr ? *base : 0) + offset; }
};

/// Blocks of 4 elements per chain of `dimension` elements (one Philox block gives 4 words).
EBM_HOST_DEVICE constexpr index blocks_per_chain(index dimension) { return (dimension + 3) / 4; }

/// Where call k of a per-block functor works: batch chain `chain` (row k / blocks, or chains[row] when a chain list
/// is given), element block `block`, its first element `offset` in the batch and its `count` (4, fewer at the end).
struct block_site {
    index chain;
    index block;
    index offset;
    index count;
};
EBM_HOST_DEVICE inline block_site locate_block(index k, index dimension, const std::uint32_t* chains = nullptr) {
    const index per_chain = blocks_per_chain(dimension);
    const index row = k / per_chain;
    const index b = k - row * per_chain;
    const index chain = chains != nullptr ? static_cast<index>(chains[row]) : row;
    return {chain, b, chain * dimension + 4 * b, dimension - 4 * b < 4 ? dimension - 4 * b : 4};
}

/// True unless x is NaN or +-Inf (bit test: the same on host and device, unaffected by fast-math flags).
EBM_HOST_DEVICE inline bool is_finite(float x) { return (portable::float_bits(x) & 0x7f800000u) != 0x7f800000u; }

/// out[k] = value.
template <class T>
struct fill_with {
    T* out;
    T value;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = value; }
};
using fill_value = fill_with<float>;

/// out[k] = factor * in[k] (in may equal out).
struct scale_values {
    float* out;
    const float* in;
    float factor;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = factor * in[k]; }
};

/// out[k] = a[k] + b[k] (out may equal a or b).
struct add_values {
    float* out;
    const float* a;
    const float* b;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = a[k] + b[k]; }
};

/// out[k] = factor * (a[k] - b[k]) (out may equal a or b).
struct scaled_difference {
    float* out;
    const float* a;
    const float* b;
    float factor;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = factor * (a[k] - b[k]); }
};

/// out[k] = alpha * a[k] + beta * b[k] (out may equal a or b).
struct linear_combination {
    float* out;
    const float* a;
    const float* b;
    float alpha;
    float beta;
    EBM_HOST_DEVICE void operator()(index k) const { out[k] = alpha * a[k] + beta * b[k]; }
};

}  // namespace ebm::kernels

#pragma once
// How the CUDA MLP's per-chain kernels see a network (backend/cuda/mlp.cuh): the layers' matrix-vector products planned
// on the host (sizes, strides, how many lanes share a row), the flat parameters' layout (ebm::mlp's) and the padded
// copy the whole-chain kernel keeps in shared memory. Plain C++ (constexpr), so that the CPU tests check it and the
// compiled-sizes kernel folds it into its code.
#include "../../config.hpp"
#include "../../kernels/elements.hpp"  // blocks_per_chain

namespace ebm::cuda_backend::detail {

/// The threads that evaluate one chain's network together: four warps, one per scheduler of an SM (a single warp is
/// latency-bound: it issues an instruction every four or five cycles).
inline constexpr int team_threads = 128;

/// Vectors in shared memory are padded to whole float4s (16 bytes): the row products read them four at a time.
EBM_HOST_DEVICE constexpr int padded4(int n) { return (n + 3) & ~3; }

/// One matrix-vector product of a pass, planned on the host so that the kernels compute no shapes: the matrix
/// M (rows x columns) at data[offset + r * row_stride + c * column_stride], and how a team computes it.
struct row_product {
    int offset = 0;
    int row_stride = 0;
    int column_stride = 1;
    int rows = 0;
    int columns = 0;
    int split_shift = 0;  // log2 of the lanes that share a row (row_split)
    bool vector = false;  // rows readable as float4s: unit column stride, offset and row stride multiples of 4
    friend constexpr bool operator==(const row_product&, const row_product&) = default;
};

/// How many lanes of a warp share one row's dot product when a team computes `rows` rows: the largest power of two,
/// at most 32, with split * rows <= team_threads (1 for 65 rows or more).
constexpr int row_split(int rows) {
    int split = 1;
    while (split < 32 && 2 * split * rows <= team_threads) split *= 2;
    return split;
}

/// The plan of the product with M at (offset, row_stride, column_stride); the parameters' base is 16-byte aligned
/// (cudaMalloc, or the kernels' float4 shared memory).
constexpr row_product plan_product(int offset, int row_stride, int column_stride, int rows, int columns) {
    row_product m{offset, row_stride, column_stride, rows, columns, 0, false};
    for (int split = row_split(rows); split > 1; split /= 2) ++m.split_shift;
    m.vector = column_stride == 1 && offset % 4 == 0 && row_stride % 4 == 0;
    return m;
}

/// An MLP's layers for the per-chain kernels, passed by value (kernel parameter space): layer l's weight is read as
/// W_l (out x in) by the forward pass and as W_l^T (in x out) by the backward pass. In the flat parameters these are
/// two views of one array; the whole-chain kernel keeps a copy of each in shared memory, rows padded.
struct mlp_shape {
    static constexpr int max_layers = 8;
    int layers = 0;                           // weight layers
    int input = 0;                            // the input dimension
    row_product forward[max_layers] = {};     // W_l
    row_product backward[max_layers] = {};    // W_l^T
    int bias_offset[max_layers] = {};
    int z_offset[max_layers] = {};            // hidden layer l's pre-activations in a chain's z
    int parameter_floats = 0;                 // of this layout (the shared copy: a multiple of 4)
    int hidden_floats = 0;                    // sum of padded4(hidden width)
    int widest = 0;                           // padded4 of the widest layer, input included
    friend constexpr bool operator==(const mlp_shape&, const mlp_shape&) = default;
};

/// The per-chain kernels' view of ebm::mlp's flat parameters (per layer the weight, out x in row-major, then the bias:
/// mlp_parameter_tensors) for the layer sizes sizes[0..count), count - 1 <= max_layers.
constexpr mlp_shape flat_shape(const int* sizes, int count) {
    mlp_shape s{};
    s.layers = count - 1;
    s.input = sizes[0];
    int offset = 0, widest = 0;
    for (int l = 0; l + 1 < count; ++l) {
        const int in = sizes[l], out = sizes[l + 1];
        s.forward[l] = plan_product(offset, in, 1, out, in);
        s.backward[l] = plan_product(offset, 1, in, in, out);
        offset += in * out;
        s.bias_offset[l] = offset;
        offset += out;
        s.z_offset[l] = s.hidden_floats;
        if (l + 2 < count) s.hidden_floats += padded4(out);
    }
    for (int l = 0; l < count; ++l) widest = widest > sizes[l] ? widest : sizes[l];
    s.widest = padded4(widest);
    s.parameter_floats = offset;
    return s;
}

/// The row stride of a matrix copied into shared memory. Rows are read as float4s, `split` lanes of a row at
/// consecutive groups of four columns: a quarter warp (8 lanes, 128 bytes) reads 8 / split rows at once, which hit 32
/// different banks when the row stride is split times an odd number of float4s (any stride once a quarter warp reads
/// one row, split >= 8).
constexpr int shared_row_stride(int columns, int rows) {
    const int split = row_split(rows);
    int stride = padded4(columns);
    while (split < 8 && ((stride / 4) % split != 0 || (stride / 4 / split) % 2 == 0)) stride += 4;
    return stride;
}

/// The whole-chain kernel's shared-memory copy of the parameters of `flat`: per layer W (out x in) and W^T (in x out),
/// both row-major with shared_row_stride, then the bias, each part a multiple of 4 floats.
constexpr mlp_shape shared_shape(const mlp_shape& flat) {
    mlp_shape s = flat;
    int offset = 0;
    for (int l = 0; l < flat.layers; ++l) {
        const int in = flat.forward[l].columns, out = flat.forward[l].rows;
        const int stride = shared_row_stride(in, out), stride_t = shared_row_stride(out, in);
        s.forward[l] = plan_product(offset, stride, 1, out, in);
        offset += out * stride;
        s.backward[l] = plan_product(offset, stride_t, 1, in, out);
        offset += in * stride_t;
        s.bias_offset[l] = offset;
        offset += padded4(out);
    }
    s.parameter_floats = offset;
    return s;
}

/// The sizes whose whole-chain kernel is compiled with them as constants (every loop over layers and columns has
/// constant bounds): the Anatomy toy network. Other sizes run the same functions with the sizes read at run time.
inline constexpr int toy_sizes[] = {2, 32, 64, 64, 64, 1};
inline constexpr mlp_shape toy_flat = flat_shape(toy_sizes, 6);
inline constexpr mlp_shape toy_shared = shared_shape(toy_flat);

/// The floats of one chain's working vectors (chain_vectors in mlp.cuh): the hidden pre-activations, then two vectors
/// of the widest size.
EBM_HOST_DEVICE constexpr int chain_vector_floats(const mlp_shape& s) { return s.hidden_floats + 2 * s.widest; }

/// The whole-chain kernel's shared memory per chain, after the parameters: x and dU/dx (padded4 each), the chain's
/// vectors, two sets of normals (4 per block of the state; a step's set is written by the noise warp while the
/// previous one is read), and the energy (4 floats, for alignment).
EBM_HOST_DEVICE constexpr int whole_chain_floats(const mlp_shape& s) {
    const int d = s.input;
    return 2 * padded4(d) + chain_vector_floats(s) + 2 * 4 * static_cast<int>(kernels::blocks_per_chain(d)) + 4;
}

/// The most chains one block of the whole-chain kernel runs (a team each, plus the noise warp).
inline constexpr int max_chains_per_block = 2;

}  // namespace ebm::cuda_backend::detail

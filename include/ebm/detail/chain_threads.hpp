#pragma once
// Chains spread over OpenMP threads inside one energy call, for energies that evaluate one chain at a time on one
// thread (nonlocal_net, network): each thread owns a scratch; the parameter gradient is summed over fixed blocks of
// chains and then block by block in block order, so its bits are the same for any thread count.
#include <algorithm>
#include <span>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../config.hpp"

namespace ebm::detail {

/// The number of scratches a workspace makes: OpenMP's thread count (1 without OpenMP).
inline int chain_threads() {
#if defined(_OPENMP)
    return std::max(1, omp_get_max_threads());
#else
    return 1;
#endif
}

/// Whether a loop over `team` parts should open a parallel region: not for one part, nor inside a region already (a
/// sampler's thread calling an energy with its own chains), where the region would run on one thread all the same and
/// only add its cost (about a microsecond, a tenth of a small network's call).
inline bool open_team(index team) {
#if defined(_OPENMP)
    return team > 1 && !omp_in_parallel();
#else
    (void)team;
    return false;
#endif
}

/// f(i, scratch) for every i in [0, n) (chains, or blocks of chains), spread statically over at most threads.size()
/// threads, each with its own scratch.
template <class Scratch, class F>
void for_chains(std::vector<Scratch>& threads, index n, F&& f) {
    const int team = static_cast<int>(std::min<index>(static_cast<index>(threads.size()), n));
    if (!open_team(team)) {
        for (index i = 0; i < n; ++i) f(i, threads[0]);
        return;
    }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(team)
#endif
    for (index i = 0; i < n; ++i) {
#if defined(_OPENMP)
        Scratch& s = threads[static_cast<std::size_t>(omp_get_thread_num())];
#else
        Scratch& s = threads[0];
#endif
        f(i, s);
    }
    (void)team;
}

/// grad += the sum over chains of what block(begin, end, scratch, block_grad) adds into block_grad for the chains
/// [begin, end): the chains in fixed blocks of chains_per_block, block b summed by one thread into a scratch's `grad`
/// (a vector of grad.size() floats), the blocks then added to grad in block order. The thread count only decides
/// how many blocks run at once, so the sums, and the bits, are the same for any thread count.
template <class Scratch, class F>
void accumulate_chain_blocks(std::vector<Scratch>& threads, index n, index chains_per_block, std::span<float> grad,
                             F&& block) {
    const index blocks = (n + chains_per_block - 1) / chains_per_block;
    const index slots = static_cast<index>(threads.size());
    const index size = static_cast<index>(grad.size());
    if (!open_team(std::min(slots, blocks))) {  // one thread: each block into the scratch, then into grad, in order
        Scratch& s = threads[0];
        for (index b = 0; b < blocks; ++b) {
            std::fill(s.grad.begin(), s.grad.end(), 0.0f);
            const index begin = b * chains_per_block;
            block(begin, std::min(begin + chains_per_block, n), s, s.grad.data());
            for (index k = 0; k < size; ++k) grad[static_cast<std::size_t>(k)] += s.grad[static_cast<std::size_t>(k)];
        }
        return;
    }
    for (index first = 0; first < blocks; first += slots) {
        const index round = std::min(slots, blocks - first);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static, 1) num_threads(static_cast<int>(round))
#endif
        for (index t = 0; t < round; ++t) {
            Scratch& s = threads[static_cast<std::size_t>(t)];
            std::fill(s.grad.begin(), s.grad.end(), 0.0f);
            const index begin = (first + t) * chains_per_block;
            block(begin, std::min(begin + chains_per_block, n), s, s.grad.data());
        }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(round))
#endif
        for (index k = 0; k < size; ++k) {
            float sum = grad[static_cast<std::size_t>(k)];
            for (index t = 0; t < round; ++t) sum += threads[static_cast<std::size_t>(t)].grad[static_cast<std::size_t>(k)];
            grad[static_cast<std::size_t>(k)] = sum;
        }
    }
}

}  // namespace ebm::detail

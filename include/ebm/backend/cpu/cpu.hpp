#pragma once
// The CPU backend tag. Chains are split into fixed-size tasks whose boundaries do not depend on the
// number of threads, so results are bit-identical whatever OMP_NUM_THREADS is.
#include <algorithm>

#include "../../config.hpp"
#include "../../memory_space.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ebm {

struct cpu {
    static constexpr const char* name = "cpu";
    using memory_space = host_space;

    [[nodiscard]] static int threads() {
#if defined(_OPENMP)
        return omp_get_max_threads();
#else
        return 1;
#endif
    }

    /// Calls f(task) for task in [0, tasks), spread over the threads; each task runs on one thread.
    template <class F>
    static void parallel_tasks(index tasks, F&& f) {
#if defined(_OPENMP)
        if (tasks > 1 && threads() > 1 && !omp_in_parallel()) {
            // No more threads than tasks: idle threads would only wait at the closing barrier.
            const int team = static_cast<int>(std::min<index>(tasks, threads()));
#pragma omp parallel for schedule(static) num_threads(team)
            for (index t = 0; t < tasks; ++t) f(t);
            return;
        }
#endif
        for (index t = 0; t < tasks; ++t) f(t);
    }
};

namespace detail {
/// Chains in [first, first + count) of task `task` when n chains are cut into tasks of `per_task`.
struct task_range {
    index first;
    index count;
};
inline index task_count(index chains, index per_task) { return (chains + per_task - 1) / per_task; }
inline task_range task_chains(index task, index chains, index per_task) {
    const index first = task * per_task;
    return {first, std::min(per_task, chains - first)};
}
}  // namespace detail

}  // namespace ebm

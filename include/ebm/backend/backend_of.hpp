#pragma once
// Which backend an energy runs on follows from where its data lives (memory_space.hpp): host memory -> ebm::cpu,
// device memory -> ebm::cuda. The trainer and every policy pick their execution from it at compile time.
#include "../memory_space.hpp"
#include "cpu/cpu.hpp"
#include "cuda/cuda_tag.hpp"

namespace ebm {

template <class Space>
struct backend_of_space;
template <>
struct backend_of_space<host_space> {
    using type = cpu;
};
template <>
struct backend_of_space<device_space> {
    using type = cuda;
};

template <class E>
struct backend_of {
    using type = typename backend_of_space<memory_space_of_t<E>>::type;
};
template <class E>
using backend_of_t = typename backend_of<E>::type;

}  // namespace ebm

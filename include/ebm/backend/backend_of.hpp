#pragma once
// Which backend an energy runs on: E::backend when the energy names one (device energies declare
// `using backend = ebm::cuda;`), ebm::cpu otherwise. The trainer picks its implementation from it at compile time.
#include "cpu/cpu.hpp"

namespace ebm {

template <class E>
struct backend_of {
    using type = cpu;
};
template <class E>
    requires requires { typename E::backend; }
struct backend_of<E> {
    using type = typename E::backend;
};
template <class E>
using backend_of_t = typename backend_of<E>::type;

}  // namespace ebm

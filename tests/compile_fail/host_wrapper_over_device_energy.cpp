// Must not compile: a wrapper written for host memory (the pattern of docs/design.md: it asks
// ebm::check_host_memory of what it wraps) over an energy in device memory.
#include "device_energy.hpp"

template <class E>
struct clipped_energy {  // a user's CPU wrapper: it reads the energies on the host
    static_assert(ebm::check_host_memory<E>());
    E inner;
};

int main() {
    clipped_energy<compile_fail::device_energy> e{};
    return static_cast<int>(e.inner.dimension());
}

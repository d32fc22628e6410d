// Must not compile: a host-only evaluation (grid energies, read on the CPU) handed an energy in device memory.
#include <ebm/eval/grid.hpp>

#include "device_energy.hpp"

int main() {
    const auto g = ebm::eval::toy_grid(2, 1.0, 4);
    return static_cast<int>(ebm::eval::energy_on_grid(compile_fail::device_energy{}, g).size());
}

// Must not compile: an optimizer written for the CPU only (a plain nested state) in a trainer whose energy lives in
// device memory.
#include "device_energy.hpp"

int main() {
    using trainer = ebm::ml_trainer<compile_fail::device_energy, ebm::langevin, ebm::uniform_noise,
                                    compile_fail::cpu_only_sgd>;
    return sizeof(trainer) > 0 ? 0 : 1;
}

// Must not compile: a trainer given something that is not an optimizer.
#include <ebm/ebm.hpp>

#include "device_energy.hpp"

int main() {
    using trainer = ebm::ml_trainer<ebm::mlp, ebm::langevin, ebm::uniform_noise, compile_fail::not_an_optimizer>;
    return sizeof(trainer) > 0 ? 0 : 1;
}

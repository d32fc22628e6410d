// The control of the compile-fail programs: the same pieces used correctly compile, so the failures of the others
// come from the checks they name, not from a broken test setup.
#include <ebm/eval/grid.hpp>

#include "device_energy.hpp"

static_assert(ebm::learnable_energy<compile_fail::device_energy>);
static_assert(ebm::in_device_memory<compile_fail::device_energy>);
static_assert(std::is_same_v<ebm::backend_of_t<compile_fail::device_energy>, ebm::cuda>);
static_assert(ebm::optimizer<compile_fail::cpu_only_sgd>);  // a CPU-only optimizer is fine on the CPU
static_assert(!ebm::optimizer<compile_fail::cpu_only_sgd, ebm::cuda>);
static_assert(!ebm::optimizer<compile_fail::not_an_optimizer>);
static_assert(ebm::check_hessian_vector_energy<ebm::mlp>());  // an energy that gives Hessian-vector products
// Device and host views are different types: no conversion between them.
static_assert(!std::is_convertible_v<ebm::device_batch_view, ebm::batch_view>);
static_assert(!std::is_convertible_v<ebm::batch_view, ebm::const_device_batch_view>);
static_assert(!std::is_convertible_v<ebm::device_span<float>, std::span<float>>);

int main() {
    const auto g = ebm::eval::toy_grid(2, 1.0, 4);
    const auto u = ebm::eval::energy_on_grid(ebm::toy::gmm(), g);
    ebm::ml_trainer trainer(ebm::mlp({2, 4, 1}, ebm::leaky_relu{0.05f}), ebm::langevin{.steps = 1}, ebm::uniform_noise{},
                            compile_fail::cpu_only_sgd{}, ebm::trainer_options{.batch_size = 2});
    return u.size() == 16 && trainer.iteration() == 0 ? 0 : 1;
}

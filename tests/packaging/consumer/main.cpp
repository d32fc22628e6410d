// A user's program: includes the umbrella header and runs a few Langevin steps on the toy MLP.
#include <ebm/ebm.hpp>

#include <cmath>
#include <cstdio>

int main() {
    ebm::mlp net({2, 16, 1}, ebm::leaky_relu{0.05f}, ebm::seed{7});
    const ebm::langevin sampler{.epsilon = 0.1f, .steps = 10};
    auto state = sampler.make_state(net, 8);
    ebm::batch x(2, 8);
    ebm::uniform_noise{}.fill(x, ebm::philox(ebm::seed{1}), ebm::purpose::user, 0);
    const auto stats = sampler.run(state, net, x, ebm::philox(ebm::seed{1}), 0);
    std::printf("ebm %d.%d.%d consumer: mean gradient norm %.6f\n", EBM_VERSION_MAJOR, EBM_VERSION_MINOR,
                EBM_VERSION_PATCH, stats.mean_gradient_norm);
    return std::isfinite(stats.mean_gradient_norm) && stats.mean_gradient_norm > 0 ? 0 : 1;
}

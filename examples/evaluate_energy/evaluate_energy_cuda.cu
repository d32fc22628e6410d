// evaluate_energy --device cuda: the same evaluation (evaluate_run.hpp) on the GPU's networks (cuDNN, cuBLAS;
// a network description on cuda_backend::network).
#include <ebm/backend/cuda/cuda.cuh>
#include <ebm/energy/network_json.hpp>

#include "common/cuda_device.cuh"
#include "evaluate_run.hpp"

int evaluate_cuda(const evaluate::options& o) {
    namespace cb = ebm::cuda_backend;
    const ebm::seed s{o.init_seed.value_or(0)};
    if (evaluate::network_file(o)) return evaluate::run_with(cb::network(ebm::load_network_spec(o.arch), s), o);
    const ebm::index n_f = evaluate::default_features(o);
    const float slope = evaluate::default_slope(o);
    if (o.arch == "nonlocal") return evaluate::run_with(cb::nonlocal_net(o.channels, n_f, slope, s), o);
    if (o.arch == "vanilla") {
        if (o.negate) return evaluate::run_with(cb::convnet(ebm::vanilla_architecture(o.channels, n_f, slope), true, s), o);
        return evaluate::run_with(cb::convnet::vanilla(o.channels, n_f, slope, s), o);
    }
    return evaluate::run_with(cb::convnet::short_run(o.image_size, n_f, o.channels, slope, o.negate, s), o);
}

// bench_samplers --device cuda: the analytic targets as chain_energy on the GPU (one thread per chain) and the trained
// toy MLP on cuBLAS, run by the same samplers (bench_run.hpp); draws are copied to the host for the diagnostics.
#include <ebm/backend/cuda/cuda.cuh>
#include <ebm/energy/sampling_targets.hpp>

#include "bench_run.hpp"
#include "common/cuda_device.cuh"

bool bench::run_cuda(const std::string& target, const sampler_choice& choice, const ebm::batch& init, const settings& s,
                     const recorder& record, const std::vector<float>& mlp_parameters, float mlp_factor, timed_run& out) {
    if (target == "gauss2" || target == "gauss100") {
        out = run_one(choice, ebm::gaussian_target<ebm::cuda>(init.dimension(), 100.0), init, s, record);
        return true;
    }
    if (target == "funnel10") {
        out = run_one(choice, ebm::funnel<ebm::cuda>(init.dimension()), init, s, record);
        return true;
    }
    if (target == "banana2") {
        out = run_one(choice, ebm::banana<ebm::cuda>(), init, s, record);
        return true;
    }
    if (target == "gmm") {
        out = run_one(choice, ebm::isotropic_mixture<ebm::cuda>::ring(8, 1.0, 0.15), init, s, record);
        return true;
    }
    if (target == "mlp") {
        const ebm::cuda_backend::mlp net({2, 32, 64, 64, 64, 1}, 0.05f, mlp_parameters);
        out = run_one(choice, ebm::scaled_energy(net, mlp_factor), init, s, record);
        return true;
    }
    return false;
}

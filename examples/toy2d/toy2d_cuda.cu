// toy2d --device cuda: the same training runs (toy2d_run.hpp) on the GPU's toy MLP (cuBLAS), whose initialisation
// and parameter layout are ebm::mlp's.
#include <ebm/backend/cuda/cuda.cuh>

#include "common/cuda_device.cuh"
#include "toy2d_run.hpp"

toy2d::run_result train_cuda(ebm::index input, const toy2d::run_request& r) {
    return toy2d::run(ebm::cuda_backend::mlp({input, 32, 64, 64, 64, 1}, 0.05f, ebm::seed{r.seed}), r);
}

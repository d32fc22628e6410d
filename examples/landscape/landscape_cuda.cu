// landscape --device cuda: the convergent toy training (toy2d's runs) and the mapping of the learned energy, both on
// the GPU's toy MLP (cuBLAS; the CPU's parameter layout). ADELM's descent and chains run on the device; only the
// states it compares are read back. The same for a train_images model (--run).
#include <ebm/backend/cuda/cuda.cuh>

#include "common/cuda_device.cuh"
#include "image_landscape.hpp"
#include "landscape_run.hpp"
#include "toy2d/toy2d_run.hpp"
#include "train_images/image_nets_cuda.cuh"

toy2d::run_result train_cuda(const toy2d::run_request& r) {
    return toy2d::run(
        ebm::cuda_backend::mlp(landscape_program::toy_sizes, landscape_program::toy_slope, ebm::seed{r.seed}), r);
}

ebm::landscape::energy_landscape map_cuda(const std::vector<float>& parameters, ebm::const_batch_view starts,
                                          const ebm::landscape::adelm_settings& s, std::uint64_t seed) {
    ebm::cuda_backend::mlp net(landscape_program::toy_sizes, landscape_program::toy_slope,
                               std::span<const float>(parameters));
    return ebm::landscape::map_landscape(ebm::scaled(std::move(net), landscape_program::toy_epsilon), starts, s,
                                         ebm::philox(seed));
}

nlohmann::ordered_json map_image_model_cuda(const landscape_program::image_options& o,
                                            const std::filesystem::path& checkpoint, const ebm::train_config& c,
                                            const std::filesystem::path& dir) {
    return image_run::with_device_net(
        c, [&](auto net) { return landscape_program::map_image_model(o, checkpoint, c, std::move(net), dir); });
}

#pragma once
// The sampling run of sample_images for a network of either backend (main.cpp instantiates it with the CPU network,
// sample_images_cuda.cu with the GPU one): the trained model from a checkpoint, short-run synthesis from U[-1, 1],
// then optionally a long run from the short-run states or from data (long_run/long_run.hpp, the long_run
// program's), writing the same files on both.
#include <ebm/backend/execution.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "long_run/long_run.hpp"

namespace image_run {

struct sample_options {
    std::string run, checkpoint, output, sampler = "ula", device = "cpu", long_run_start = "short_run";
    long long chains = 64, grid = 64, steps = 0, long_run_steps = 0, trace_every = 100, compare = 0;
    float epsilon = 0.0f;
    unsigned long long seed = 2024;
    int threads = 0;
};

/// Loads the checkpoint at `path` (written for configuration `c`) into a trainer around `net` and samples.
template <class Net>
int run_sampling(const sample_options& o, const std::filesystem::path& path, const ebm::checkpoint_info& info,
                 const ebm::train_config& c, Net net) {
    const auto k2 = o.steps > 0 ? static_cast<ebm::index>(o.steps) : c.sampler.steps;
    return ebm::with_trainer(c, std::move(net), [&](auto& trainer) -> int {
        using trainer_type = std::remove_reference_t<decltype(trainer)>;
        using X = typename trainer_type::execution_type;
        ebm::load_checkpoint(path, trainer);
        const auto& energy = trainer.energy();
        std::filesystem::create_directories(o.output);
        std::printf("sample_images: %s (iteration %llu), %lld chains, K2 = %lld, on %s\n", path.string().c_str(),
                    static_cast<unsigned long long>(info.iteration), o.chains, static_cast<long long>(k2),
                    o.device.c_str());

        const ebm::philox rng(ebm::seed{o.seed});
        ebm::batch_in<typename trainer_type::backend> x(energy.dimension(), static_cast<ebm::index>(o.chains));
        ebm::uniform_noise{c.init.low, c.init.high}.fill(x.view(), rng, ebm::purpose::init_noise, 0);
        X::wait_all();
        const ebm::sampler_stats stats = run_training_chain(c, energy, x.view(), rng, 0, k2);
        save_states(o.output, static_cast<ebm::index>(o.grid), c, "short_run", x.view());
        std::printf("sample_images: short run done, mean energy %.6g\n", stats.mean_energy);

        if (o.long_run_steps > 0) {
            // Data for the comparison and for data starts: the checkpoint's data configuration.
            std::optional<ebm::data::dataset> data;
            if (o.compare > 0 || o.long_run_start == "data") data.emplace(load_data(c));
            if (o.long_run_start == "data")
                copy_data_start<typename trainer_type::backend>("sample_images", "--long-run-start", *data, x.view());
            const long_run_options long_run{.output = o.output,
                                            .sampler = o.sampler,
                                            .start = o.long_run_start,
                                            .steps = o.long_run_steps,
                                            .trace_every = o.trace_every,
                                            .compare = o.compare,
                                            .grid = o.grid,
                                            .epsilon = o.epsilon,
                                            .grids_at = {}};
            run_long_chain("sample_images", long_run, c, trainer, x.view(), rng, static_cast<std::uint64_t>(k2),
                           data ? &*data : nullptr);
        }
        return 0;
    });
}

}  // namespace image_run

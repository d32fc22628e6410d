#pragma once
// The sampling run of sample_images for a ConvNet of either backend (main.cpp instantiates it with the CPU network,
// sample_images_cuda.cu with the GPU one): the trained model from a checkpoint, short-run synthesis from U[-1, 1],
// then optionally a long run, writing the same files on both.
#include <ebm/backend/execution.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "train_images/image_run.hpp"

namespace image_run {

struct sample_options {
    std::string run, checkpoint, output, sampler = "ula", device = "cpu";
    long long chains = 64, grid = 64, steps = 0, long_run_steps = 0, trace_every = 100;
    float epsilon = 0.0f;
    unsigned long long seed = 2024;
    int threads = 0;
};

/// The chains as <stem>.png (the first `grid`) and <stem>.npy (all), from either memory space.
template <class View>
void save_states(const sample_options& o, const ebm::train_config& c, const std::string& stem, View states) {
    const ebm::basic_const_batch_view<typename View::memory_space> x = states;
    ebm::batch host(x.dimension, x.count);
    ebm::copy_to_host(x, host.view());
    ebm::io::write_png(std::filesystem::path(o.output) / (stem + ".png"),
                       grid(host.view(), c.data.channels, c.data.image_size, std::min<ebm::index>(x.count, o.grid)));
    ebm::io::write_npy(std::filesystem::path(o.output) / (stem + ".npy"), host.view().values(),
                       {x.count, c.data.channels, c.data.image_size, c.data.image_size});
}

/// `sampler` on `energy` for its steps, from first_step, on x in place (its state made for x's chains).
template <class Sampler, class Energy, class View>
ebm::sampler_stats run_sampler(const Sampler& sampler, const Energy& energy, View x, const ebm::philox& rng,
                               std::uint64_t first_step) {
    auto state = sampler.make_state(energy, x.count);
    return sampler.run(state, energy, x, rng, first_step);
}

/// Loads the checkpoint at `path` (written for configuration `c`) into a trainer around `net` and samples.
template <class Net>
int run_sampling(const sample_options& o, const std::filesystem::path& path, const ebm::checkpoint_info& info,
                 const ebm::train_config& c, Net net) {
    const auto k2 = o.steps > 0 ? static_cast<ebm::index>(o.steps) : c.sampler.steps;
    // MALA samples the trainer's energy at the training chain's temperature (T = sigma^2/(2 lambda) for the
    // decoupled form), with the training chain's step unless --epsilon is given.
    const ebm::training_temperature_mala mala_setting =
        o.sampler == "mala" ? ebm::mala_at_training_temperature(c) : ebm::training_temperature_mala{};
    const float epsilon = o.epsilon > 0 ? o.epsilon : mala_setting.epsilon;
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
        ebm::sampler_stats stats;
        if (c.sampler.kind == "langevin")
            stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = k2}, energy, x.view(), rng, 0);
        else
            stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                        .noise_sigma = c.sampler.noise, .steps = k2},
                                energy, x.view(), rng, 0);
        save_states(o, c, "short_run", x.view());
        std::printf("sample_images: short run done, mean energy %.6g\n", stats.mean_energy);

        if (o.long_run_steps > 0) {
            std::optional<decltype(ebm::tempered(energy, 1.0f))> target;  // U/T (T = 1: U itself), for MALA
            if (o.sampler == "mala") {
                target.emplace(ebm::tempered(energy, mala_setting.temperature));
                std::printf("sample_images: MALA on U/T, T = %.6g (the training chain's), epsilon %.6g\n",
                            mala_setting.temperature, epsilon);
            }
            std::ofstream trace(std::filesystem::path(o.output) / "energy_trace.csv");
            trace << "step,mean_energy,acceptance\n";
            std::uint64_t done = 0;
            const auto total = static_cast<std::uint64_t>(o.long_run_steps);
            while (done < total) {
                const auto chunk = static_cast<ebm::index>(std::min<std::uint64_t>(total - done, o.trace_every));
                const std::uint64_t first = static_cast<std::uint64_t>(k2) + done;
                if (o.sampler == "mala") {
                    stats = run_sampler(ebm::mala{.epsilon = epsilon, .steps = chunk}, *target, x.view(), rng, first);
                    stats.mean_energy *= mala_setting.temperature;  // the trace reports U, not U/T
                } else if (c.sampler.kind == "langevin") {
                    stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = chunk}, energy, x.view(),
                                        rng, first);
                } else {
                    stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                                .noise_sigma = c.sampler.noise, .steps = chunk},
                                        energy, x.view(), rng, first);
                }
                done += static_cast<std::uint64_t>(chunk);
                trace << done << ',' << stats.mean_energy << ',' << stats.acceptance << '\n';
            }
            save_states(o, c, "long_run", x.view());
            std::printf("sample_images: long run (%s) of %llu steps done, mean energy %.6g\n", o.sampler.c_str(),
                        static_cast<unsigned long long>(total), stats.mean_energy);
        }
        return 0;
    });
}

}  // namespace image_run

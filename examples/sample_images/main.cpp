// sample_images: synthesis from a trained ConvNet energy (a train_images checkpoint).
//
//   sample_images --run DIR | --checkpoint FILE [--chains 64] [--steps K2] [--long-run-steps N]
//                 [--sampler ula|mala] [--epsilon E] [--trace-every M] [--seed S] [--grid G] --output DIR
//
// Short-run synthesis (short-run paper Sec. 3): chains from U[-1,1] run K2 steps of the sampler the model was
// trained with (K2 defaults to the training K) -> short_run.npy (N x C x H x W, float32) and short_run.png (the
// first G chains).
// Long-run check (Anatomy Sec. 4): the short-run states continue for N more steps of unadjusted Langevin (ula, the
// training form) or MALA (mala, Anatomy form on U, step --epsilon) -> long_run.png, long_run.npy and
// energy_trace.csv (step, mean energy, acceptance) every M steps. Exit status: 0 done, 1 bad input.
#include <CLI/CLI.hpp>
#include <omp.h>

#include "../train_images/image_run.hpp"

#include <ebm/ebm.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct options {
    std::string run, checkpoint, output, sampler = "ula";
    long long chains = 64, grid = 64, steps = 0, long_run_steps = 0, trace_every = 100;
    float epsilon = 0.0f;
    unsigned long long seed = 2024;
    int threads = 0;
};

void save_states(const options& o, const ebm::train_config& c, const std::string& stem, ebm::const_batch_view x) {
    ebm::io::write_png(fs::path(o.output) / (stem + ".png"),
                       image_run::grid(x, c.data.channels, c.data.image_size, std::min<ebm::index>(x.count, o.grid)));
    ebm::io::write_npy(fs::path(o.output) / (stem + ".npy"), x.values(),
                       {x.count, c.data.channels, c.data.image_size, c.data.image_size});
}

template <class Sampler, class Energy>
ebm::sampler_stats run_sampler(const Sampler& sampler, const Energy& energy, ebm::batch& x, const ebm::philox& rng,
                               std::uint64_t first_step) {
    auto state = sampler.make_state(energy, x.count());
    return sampler.run(state, energy, x.view(), rng, first_step);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sample_images: short-run synthesis and long-run chains from a trained ConvNet energy"};
    options o;
    app.add_option("--run", o.run, "a train_images output folder (its newest checkpoint)");
    app.add_option("--checkpoint", o.checkpoint, "a checkpoint file");
    app.add_option("--output", o.output, "output folder")->required();
    app.add_option("--chains", o.chains, "number of chains")->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--grid", o.grid, "chains shown in the PNG grids (all are in the .npy)")->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--steps", o.steps, "short-run steps K2 (default: the training K)")->check(CLI::NonNegativeNumber);
    app.add_option("--long-run-steps", o.long_run_steps, "long-run steps after the short run (0: none)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--sampler", o.sampler, "long-run sampler")->check(CLI::IsMember({"ula", "mala"}))->capture_default_str();
    app.add_option("--epsilon", o.epsilon, "MALA step (default: the training epsilon)")->check(CLI::PositiveNumber);
    app.add_option("--trace-every", o.trace_every, "energy trace interval in steps")->check(CLI::Range(1, 1 << 30))
        ->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the chains")->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    CLI11_PARSE(app, argc, argv);
    if (o.threads > 0) omp_set_num_threads(o.threads);

    try {
        if (o.run.empty() == o.checkpoint.empty())
            ebm::detail::fail("sample_images", "give exactly one of --run and --checkpoint", o.run + o.checkpoint);
        fs::path path = o.checkpoint;
        if (!o.run.empty()) {
            const auto latest = ebm::checkpoint_folder(o.run).latest();
            if (!latest) ebm::detail::fail("sample_images", "no checkpoint in the run folder", o.run);
            path = *latest;
        }
        const ebm::checkpoint_info info = ebm::read_checkpoint_info(path);
        const ebm::train_config c = ebm::parse_config(info.config);
        const auto k2 = o.steps > 0 ? static_cast<ebm::index>(o.steps) : c.sampler.steps;
        const float epsilon = o.epsilon > 0 ? o.epsilon : c.sampler.epsilon;

        return ebm::with_trainer(c, image_run::make_net(c), [&](auto& trainer) -> int {
            ebm::load_checkpoint(path, trainer);
            const auto& energy = trainer.energy();
            fs::create_directories(o.output);
            std::printf("sample_images: %s (iteration %llu), %lld chains, K2 = %lld\n", path.string().c_str(),
                        static_cast<unsigned long long>(info.iteration), o.chains, static_cast<long long>(k2));

            const ebm::philox rng(ebm::seed{o.seed});
            ebm::batch x(energy.dimension(), static_cast<ebm::index>(o.chains));
            ebm::uniform_noise{c.init.low, c.init.high}.fill(x.view(), rng, ebm::purpose::init_noise, 0);
            ebm::sampler_stats stats;
            if (c.sampler.kind == "langevin")
                stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = k2}, energy, x, rng, 0);
            else
                stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                            .noise_sigma = c.sampler.noise, .steps = k2},
                                    energy, x, rng, 0);
            save_states(o, c, "short_run", x.view());
            std::printf("sample_images: short run done, mean energy %.6g\n", stats.mean_energy);

            if (o.long_run_steps > 0) {
                std::ofstream trace(fs::path(o.output) / "energy_trace.csv");
                trace << "step,mean_energy,acceptance\n";
                std::uint64_t done = 0;
                const auto total = static_cast<std::uint64_t>(o.long_run_steps);
                while (done < total) {
                    const auto chunk = static_cast<ebm::index>(std::min<std::uint64_t>(total - done, o.trace_every));
                    const std::uint64_t first = static_cast<std::uint64_t>(k2) + done;
                    if (o.sampler == "mala")
                        stats = run_sampler(ebm::mala{.epsilon = epsilon, .steps = chunk}, energy, x, rng, first);
                    else if (c.sampler.kind == "langevin")
                        stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = chunk}, energy, x, rng, first);
                    else
                        stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                                    .noise_sigma = c.sampler.noise, .steps = chunk},
                                            energy, x, rng, first);
                    done += static_cast<std::uint64_t>(chunk);
                    trace << done << ',' << stats.mean_energy << ',' << stats.acceptance << '\n';
                }
                save_states(o, c, "long_run", x.view());
                std::printf("sample_images: long run (%s) of %llu steps done, mean energy %.6g\n", o.sampler.c_str(),
                            static_cast<unsigned long long>(total), stats.mean_energy);
            }
            return 0;
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sample_images: %s\n", e.what());
        return 1;
    }
}

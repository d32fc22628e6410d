// sample_images: synthesis from a trained ConvNet energy (a train_images checkpoint).
//
//   sample_images --run DIR | --checkpoint FILE [--chains 64] [--steps K2] [--long-run-steps N]
//                 [--sampler ula|mala] [--epsilon E] [--trace-every M] [--long-run-start short_run|data]
//                 [--compare D] [--seed S] [--grid G] [--device cpu|cuda]
//                 --output DIR
//
// Short-run synthesis (short-run paper Sec. 3): chains from U[-1,1] run K2 steps of the sampler the model was
// trained with (K2 defaults to the training K) -> short_run.npy (N x C x H x W, float32) and short_run.png (the
// first G chains).
// Long-run check (Anatomy Sec. 4): the short-run states continue for N more steps of unadjusted Langevin (ula, the
// training form) or MALA (mala: on U/T at the training chain's temperature, T = 1 for the Anatomy form and
// T = sigma^2/(2 lambda) for the decoupled one, step --epsilon, by default the training chain's: epsilon or sigma)
// -> long_run.png, long_run.npy and
// energy_trace.csv (step, mean energy, acceptance, saturated fraction |x| > 0.99, FD to D data images with --compare)
// every M steps, drawn as long_run_trace.png. --long-run-start data starts the long run from the first N data images
// instead of the short-run states. --device cuda samples on the GPU (builds with the
// CUDA backend; a checkpoint from either device). Exit status: 0 done, 1 bad input.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <ebm/ebm.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include "common/checkpoint_choice.hpp"
#include "common/device.hpp"
#include "common/options.hpp"
#include "sample_run.hpp"
#include "train_images/image_nets.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

/// The sampling on the GPU (sample_images_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
int run_sampling_cuda(const image_run::sample_options& o, const fs::path& path, const ebm::checkpoint_info& info,
                      const ebm::train_config& c);
#if !EBM_PROGRAM_CUDA
int run_sampling_cuda(const image_run::sample_options&, const fs::path&, const ebm::checkpoint_info&,
                      const ebm::train_config&) {
    program::require_device_built("sample_images", "cuda");
    return 1;
}
#endif

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"sample_images: short-run synthesis and long-run chains from a trained ConvNet energy"};
    image_run::sample_options o;
    app.add_option("--run", o.run, "a train_images output folder (its newest checkpoint)");
    app.add_option("--checkpoint", o.checkpoint, "a checkpoint file");
    app.add_option("--output", o.output, "output folder")->required();
    app.add_option("--chains", o.chains, "number of chains")->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--grid", o.grid, "chains shown in the PNG grids (all are in the .npy)")->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--steps", o.steps, "short-run steps K2 (default: the training K)")->check(CLI::NonNegativeNumber);
    app.add_option("--long-run-steps", o.long_run_steps, "long-run steps after the short run (0: none)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--long-run-start", o.long_run_start, "where the long run starts: the short-run states or data images")
        ->check(CLI::IsMember({"short_run", "data"}))->capture_default_str();
    app.add_option("--compare", o.compare, "data images the long run is compared with (mean energy, FD; 0: none)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--sampler", o.sampler, "long-run sampler")->check(CLI::IsMember({"ula", "mala"}))->capture_default_str();
    app.add_option("--epsilon", o.epsilon, "MALA step on U/T (default: the training chain's, epsilon or sigma)")->check(program::positive_number);
    app.add_option("--trace-every", o.trace_every, "energy trace interval in steps")->check(CLI::Range(1, 1 << 30))
        ->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the chains")->check(program::unsigned_integer)->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    program::add_device_option(app, o.device);
    CLI11_PARSE(app, argc, argv);
    if (o.threads > 0) omp_set_num_threads(o.threads);

    try {
        program::require_device("sample_images", o.device);
        const fs::path path = program::chosen_checkpoint("sample_images", o.run, o.checkpoint);
        const ebm::checkpoint_info info = ebm::read_checkpoint_info(path);
        const ebm::train_config c = ebm::parse_config(info.config);
        if (o.device == "cuda") return run_sampling_cuda(o, path, info, c);
        return image_run::with_net(c, [&](auto net) { return image_run::run_sampling(o, path, info, c, std::move(net)); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sample_images: %s\n", e.what());
        return 1;
    }
}

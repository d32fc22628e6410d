// generate: the short-run chain of a trained model as a generator, x = M_θ(z) (short-run paper §3.4).
//
//   generate interpolate --run DIR | --checkpoint FILE --output DIR [--pairs 8] [--points 9]
//   generate reconstruct --run DIR | --checkpoint FILE --output DIR [--images 1000] [--batch 64]
//                        [--iterations 200] [--learning-rate 0.05] [--optimizer sgd|adam]
//                        [--sequence 8] [--sequence-every 25] [--baseline-images N]
//   common: [--steps K2] [--noise] [--seed S] [--threads N] [--device cpu|cuda]
//
// M_θ is the chain the model was trained with (its Langevin form, step and noise scale) for K2 steps (default: the
// training K), with its noise off (the paper's setting) or, with --noise, fixed by the seed.
// interpolate: pairs of latents z1, z2 from the training chain's p0; x_ρ = M_θ(ρ z1 + √(1 − ρ²) z2) for `points`
//   values of ρ from 1 to 0 -> interpolation.png (a row per pair, Fig. 3), interpolation.npy (pairs x points x
//   C x H x W) and interpolation.json.
// reconstruct: the first N images of the data set's test split (Fashion-MNIST or CIFAR-10, prepared as in training),
//   each reconstructed by gradient descent on L(z) = ||x − M_θ(z)||² from z0 ~ p0 (Fig. 4) -> reconstruction.png
//   (a row per image: the image, then M_θ(z_t) every --sequence-every iterations), reconstruction.npy and
//   latents.npy (the final M_θ(z) and z), reconstruction.json (MSE per pixel on [-1, 1] and on [0, 1], its curve
//   over t, the mean-training-image and nearest-training-image baselines, the paper's Table 1b).
// Exit status: 0 done, 1 bad input.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <ebm/ebm.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include "common/checkpoint_choice.hpp"
#include "common/device.hpp"
#include "common/options.hpp"
#include "generate_run.hpp"
#include "train_images/image_nets.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

/// The run on the GPU (generate_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
int run_generate_cuda(const image_run::generate_options& o, const fs::path& path, const ebm::checkpoint_info& info,
                      const ebm::train_config& c);
#if !EBM_PROGRAM_CUDA
int run_generate_cuda(const image_run::generate_options&, const fs::path&, const ebm::checkpoint_info&,
                      const ebm::train_config&) {
    program::require_device_built("generate", "cuda");
    return 1;
}
#endif

namespace {

/// The options every subcommand takes.
void add_common(CLI::App& app, image_run::generate_options& o) {
    app.add_option("--run", o.run, "a train_images output folder (its newest checkpoint)");
    app.add_option("--checkpoint", o.checkpoint, "a checkpoint file");
    app.add_option("--output", o.output, "output folder")->required();
    app.add_option("--steps", o.steps, "steps K2 of M_theta (default: the training K)")->check(CLI::Range(1, 1 << 30));
    app.add_flag("--noise", o.noise, "the chain's noise fixed by the seed (default: off, the paper's setting)");
    app.add_option("--seed", o.seed, "seed of the latents (and of the noise)")->check(program::unsigned_integer)
        ->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    program::add_device_option(app, o.device);
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"generate: the short-run chain of a trained model as a generator (interpolation, reconstruction)"};
    app.require_subcommand(1);
    image_run::generate_options o;
    CLI::App* interpolate = app.add_subcommand("interpolate", "x_rho = M(rho z1 + sqrt(1 - rho^2) z2) for pairs of latents");
    add_common(*interpolate, o);
    interpolate->add_option("--pairs", o.pairs, "pairs of latents (rows)")->check(CLI::Range(1, 10000))->capture_default_str();
    interpolate->add_option("--points", o.points, "values of rho from 1 to 0 (columns)")->check(CLI::Range(2, 1000))
        ->capture_default_str();
    CLI::App* reconstruct = app.add_subcommand("reconstruct", "held-out images by gradient descent on ||x - M(z)||^2");
    add_common(*reconstruct, o);
    reconstruct->add_option("--images", o.images, "held-out images (the first N of the test split)")
        ->check(CLI::Range(1, 100000))->capture_default_str();
    reconstruct->add_option("--batch", o.batch, "images reconstructed together")->check(CLI::Range(1, 100000))->capture_default_str();
    reconstruct->add_option("--iterations", o.iterations, "gradient steps on z")->check(CLI::Range(1, 1 << 24))->capture_default_str();
    reconstruct->add_option("--learning-rate", o.learning_rate, "step of the descent on z")->check(program::positive_number)
        ->capture_default_str();
    reconstruct->add_option("--optimizer", o.optimizer, "sgd (plain gradient descent, the paper's) or adam")
        ->check(CLI::IsMember({"sgd", "adam"}))->capture_default_str();
    reconstruct->add_option("--sequence", o.sequence, "images shown in reconstruction.png")->check(CLI::Range(1, 1000))
        ->capture_default_str();
    reconstruct->add_option("--sequence-every", o.sequence_every, "iterations between the pictures of a row")
        ->check(CLI::Range(1, 1 << 24))->capture_default_str();
    reconstruct->add_option("--baseline-images", o.baseline_images, "training images for the baselines (0: all)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    o.command = interpolate->parsed() ? "interpolate" : "reconstruct";
    if (o.threads > 0) omp_set_num_threads(o.threads);

    try {
        program::require_device("generate", o.device);
        const fs::path path = program::chosen_checkpoint("generate", o.run, o.checkpoint);
        const ebm::checkpoint_info info = ebm::read_checkpoint_info(path);
        const ebm::train_config c = ebm::parse_config(info.config);
        if (o.device == "cuda") return run_generate_cuda(o, path, info, c);
        return image_run::with_net(c, [&](auto net) { return image_run::run_generate(o, path, info, c, std::move(net)); });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "generate: %s\n", e.what());
        return 1;
    }
}

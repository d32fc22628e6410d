// train_images: maximum-likelihood learning of a ConvNet energy on images (Fashion-MNIST by default).
//
//   train_images [--config run.json] [--preset NAME] [--set section.key=value ...] [--output DIR] [--resume]
//                [--device cpu|cuda] [--threads N] [--time-limit MINUTES]
//
// The configuration (include/ebm/train/config.hpp) is the preset, then the JSON file, then the --set overrides;
// every error in it, in the data files or in a checkpoint is reported before any work. Output folder:
//   config.json                 the resolved configuration
//   diagnostics.csv             one row per iteration (d_t, v_t, r_t, energies, learning rate, time)
//   diagnostics.png             d_t, r_t, their cross-correlation and autocorrelations (Anatomy Fig. 4), redrawn
//                               with every negatives grid and at the end
//   samples/positives.png       a batch of training images as the network sees them
//   samples/negatives-<t>.png   negatives every output.image_every iterations
//   checkpoint-<t>.safetensors  every output.checkpoint_every iterations and at the end (newest few kept)
// --resume continues from the newest checkpoint with the configuration stored in it (plus --set overrides, e.g.
// training.iterations to train longer), bit-identically to an uninterrupted run. A fresh run refuses a folder
// that already holds checkpoints. Divergence rolls back to the last good checkpoint (divergence.max_retries).
// --device cuda trains on the GPU (builds with the CUDA backend): the same policies and files; checkpoints move
// between the devices. Exit status: 0 done, 1 bad input, 3 diverged.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <ebm/ebm.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/device.hpp"
#include "common/options.hpp"
#include "image_nets.hpp"
#include "train_run.hpp"

/// The run on the GPU (train_images_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
int run_training_cuda(const ebm::train_config& config, const std::optional<std::filesystem::path>& resume_from,
                      const ebm::data::dataset& data, double max_seconds);
#if !EBM_PROGRAM_CUDA
int run_training_cuda(const ebm::train_config&, const std::optional<std::filesystem::path>&, const ebm::data::dataset&,
                      double) {
    program::require_device_built("train_images", "cuda");
    return 1;
}
#endif

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"train_images: maximum-likelihood learning of a ConvNet energy on images"};
    std::string config_path, preset, output;
    std::vector<std::string> overrides;
    bool resume = false;
    int threads = 0;
    std::string device = "cpu";
    double time_limit_minutes = 0;
    app.add_option("--config", config_path, "JSON configuration file");
    app.add_option("--preset", preset, "short_run | anatomy_non_convergent | anatomy_convergent | anatomy_convergent_code");
    app.add_option("-s,--set", overrides, "override section.key=value (repeatable)");
    app.add_option("--output", output, "output folder (output.folder)");
    app.add_flag("--resume", resume, "continue from the newest checkpoint in the output folder");
    app.add_option("--threads", threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    program::add_device_option(app, device);
    app.add_option("--time-limit", time_limit_minutes,
                   "stop after this many minutes of training (with a final checkpoint; --resume continues)")
        ->check(CLI::NonNegativeNumber);
    CLI11_PARSE(app, argc, argv);
    if (threads > 0) omp_set_num_threads(threads);

    try {
        program::require_device("train_images", device);
        // 1. Configuration: preset, file, overrides. On resume the checkpoint's stored configuration is the base.
        std::vector<std::string> all_overrides;
        if (!preset.empty()) all_overrides.push_back("preset=" + preset);
        if (!output.empty()) all_overrides.push_back("output.folder=" + nlohmann::json(output).dump());
        all_overrides.insert(all_overrides.end(), overrides.begin(), overrides.end());
        ebm::train_config config = config_path.empty() ? ebm::parse_config("{}", all_overrides)
                                                       : ebm::load_config(config_path, all_overrides);
        const fs::path folder = config.output.folder;
        ebm::checkpoint_folder checkpoints(folder, config.output.keep_checkpoints);
        std::optional<fs::path> resume_from;
        if (resume) {
            resume_from = checkpoints.latest();
            if (!resume_from) ebm::detail::fail("train_images", "--resume: no checkpoint in the output folder", folder.string());
            const ebm::checkpoint_info info = ebm::read_checkpoint_info(*resume_from);  // verifies every checksum
            config = ebm::parse_config(info.config, overrides);
            config.output.folder = folder.string();
        } else if (checkpoints.latest()) {
            ebm::detail::fail("train_images", "the output folder already holds checkpoints; pass --resume or choose "
                                              "another --output", folder.string());
        }

        // 2. Network and data, checked before any work.
        (void)image_run::requested_net(config);
        const ebm::data::dataset data = image_run::load_data(config);
        if (data.size() < config.training.batch_size)
            ebm::detail::fail("train_images", "the data set must hold at least training.batch_size = " +
                                                  std::to_string(config.training.batch_size) + " images", data.size());
        std::printf("train_images: %lld images of %s, preset %s, %llu iterations on %s -> %s\n",
                    static_cast<long long>(data.size()), ebm::data::to_string(data.shape()).c_str(),
                    config.preset.c_str(), static_cast<unsigned long long>(config.training.iterations), device.c_str(),
                    folder.string().c_str());

        const double max_seconds = 60.0 * time_limit_minutes;
        if (device == "cuda") return run_training_cuda(config, resume_from, data, max_seconds);
        return image_run::with_net(config, [&](auto net) {
            return image_run::run_training(config, resume_from, data, std::move(net), max_seconds);
        });
    } catch (const ebm::error& e) {
        std::fprintf(stderr, "train_images: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "train_images: %s\n", e.what());
        return 1;
    }
}

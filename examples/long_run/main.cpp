// long_run: long-run chains of a trained image model (Anatomy Sec. 3-4): does the learned density's steady state
// look like the data (convergent learning) or oversaturate (non-convergent learning)?
//
//   long_run --run DIR | --checkpoint FILE --output DIR [--start noise|short_run|data|bank] [--chains 64]
//            [--steps 10000] [--sampler ula|mala] [--epsilon E] [--adapt W] [--trace-every 100]
//            [--grids-at 100,1000,...] [--grid 64] [--compare D] [--seed S] [--device cpu|cuda] [--quiet]
//
// The chains start from U[low, high] of the training configuration (noise), from K training steps after it
// (short_run), from the first N data images (data) or from the first N persistent chains of the checkpoint's bank
// (bank; a model trained with init.kind persistent_bank). They then run --steps steps of:
//   ula   the chain the model was trained with (its form, step and noise: the training temperature);
//   mala  MALA on U/T at the training chain's temperature (T = 1 for the Anatomy form, sigma^2/(2 lambda) for the
//         decoupled one), with the training chain's step, --epsilon, or a step adapted by dual averaging over --adapt
//         warm-up steps first (target acceptance 0.574).
// Output (replaced only as a whole; only an earlier long_run result or an empty folder is replaced):
//   start.png/.npy, long_run.png/.npy (the final states), long_run-<step>.png/.npy at each --grids-at step,
//   energy_trace.csv every --trace-every steps (step, mean energy U, acceptance, saturated fraction |x| > 0.99, FD on
//   the fixed feature map to the first D data images with --compare), long_run_trace.png, long_run.json (summary).
// Exit status: 0 done, 1 bad input or failure, 2 bad --output.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <ebm/ebm.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include "common/checkpoint_choice.hpp"
#include "common/device.hpp"
#include "common/options.hpp"
#include "common/result_folder.hpp"
#include "long_run_program.hpp"
#include "train_images/image_nets.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

/// The run on the GPU (long_run_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
void run_long_cuda(const image_run::long_program_options& o, const fs::path& path, const ebm::checkpoint_info& info,
                   const ebm::train_config& c, const fs::path& folder);
#if !EBM_PROGRAM_CUDA
void run_long_cuda(const image_run::long_program_options&, const fs::path&, const ebm::checkpoint_info&,
                   const ebm::train_config&, const fs::path&) {
    program::require_device_built("long_run", "cuda");
}
#endif

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"long_run: long-run ULA/MALA chains of a trained image model and their steady-state measures"};
    image_run::long_program_options o;
    o.chain.steps = 10'000;
    app.add_option("--run", o.run, "a train_images output folder (its newest checkpoint)");
    app.add_option("--checkpoint", o.checkpoint, "a checkpoint file");
    app.add_option("--output", o.output, "output folder")->required();
    app.add_option("--start", o.chain.start, "where the chains start: noise, short_run, data or bank")
        ->check(CLI::IsMember({"noise", "short_run", "data", "bank"}))->capture_default_str();
    app.add_option("--chains", o.chains, "number of chains")->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--steps", o.chain.steps, "long-run steps (after the warm-up)")->check(CLI::Range(1LL, 1LL << 40))
        ->capture_default_str();
    app.add_option("--sampler", o.chain.sampler, "ula (the training chain) or mala (on U/T at the training temperature)")
        ->check(CLI::IsMember({"ula", "mala"}))->capture_default_str();
    app.add_option("--epsilon", o.chain.epsilon, "MALA step on U/T (default: the training chain's, epsilon or sigma)")
        ->check(program::positive_number);
    app.add_option("--adapt", o.chain.adapt, "MALA: warm-up steps adapting the step by dual averaging (0: fixed)")
        ->check(CLI::Range(0LL, 1LL << 30))->capture_default_str();
    app.add_option("--trace-every", o.chain.trace_every, "steps between trace rows")->check(CLI::Range(1LL, 1LL << 30))
        ->capture_default_str();
    app.add_option("--grids-at", o.chain.grids_at, "steps after which the states are saved (comma-separated)")
        ->delimiter(',');
    app.add_option("--grid", o.chain.grid, "chains shown in the PNG grids (all are in the .npy)")
        ->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--compare", o.chain.compare, "data images the chains are compared with (mean energy, FD; 0: none)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the chains")->check(program::unsigned_integer)->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    app.add_flag("--quiet", o.quiet, "no line saying where the result was written");
    program::add_device_option(app, o.device);
    CLI11_PARSE(app, argc, argv);
    if (o.threads > 0) omp_set_num_threads(o.threads);

    fs::path path;
    ebm::checkpoint_info info;
    ebm::train_config c;
    try {  // the inputs are checked before the output folder is touched
        program::require_device("long_run", o.device);
        path = program::chosen_checkpoint("long_run", o.run, o.checkpoint);
        info = ebm::read_checkpoint_info(path);
        c = ebm::parse_config(info.config);
        if (o.chain.adapt > 0 && o.chain.sampler != "mala")
            ebm::detail::fail("long_run", "--adapt needs --sampler mala", o.chain.sampler);
        for (long long s : o.chain.grids_at)
            if (s < 1 || s > o.chain.steps)
                ebm::detail::fail("long_run", "--grids-at steps must lie in [1, --steps = " +
                                                  std::to_string(o.chain.steps) + "]", s);
        if (o.chain.start == "bank" && c.init.kind != "persistent_bank")
            ebm::detail::fail("long_run", "--start bank needs a model trained with init.kind persistent_bank",
                              c.init.kind);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "long_run: %s\n", e.what());
        return 1;
    }
    return program::write_result_folder("long_run", o.output, "long_run.json", o.quiet, [&](const fs::path& folder) {
        if (o.device == "cuda") return run_long_cuda(o, path, info, c, folder);
        image_run::with_net(c, [&](auto net) {
            image_run::run_long(o, path, info, c, std::move(net), folder);
            return 0;
        });
    });
}

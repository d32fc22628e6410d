// train_images: maximum-likelihood learning of a ConvNet energy on images (Fashion-MNIST by default).
//
//   train_images [--config run.json] [--preset NAME] [--set section.key=value ...] [--output DIR] [--resume]
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
// Exit status: 0 done, 1 bad input, 3 diverged.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <ebm/ebm.hpp>
#include <ebm/io/diagnostics_figure.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>
#include <ebm/train/progress.hpp>
#include <ebm/train/session.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "image_run.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    CLI::App app{"train_images: maximum-likelihood learning of a ConvNet energy on images"};
    std::string config_path, preset, output;
    std::vector<std::string> overrides;
    bool resume = false;
    int threads = 0;
    app.add_option("--config", config_path, "JSON configuration file");
    app.add_option("--preset", preset, "short_run | anatomy_non_convergent | anatomy_convergent | anatomy_convergent_code");
    app.add_option("-s,--set", overrides, "override section.key=value (repeatable)");
    app.add_option("--output", output, "output folder (output.folder)");
    app.add_flag("--resume", resume, "continue from the newest checkpoint in the output folder");
    app.add_option("--threads", threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    CLI11_PARSE(app, argc, argv);
    if (threads > 0) omp_set_num_threads(threads);

    try {
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

        // 2. Data and network, checked before any work.
        const ebm::data::dataset data = image_run::load_data(config);
        if (data.size() < config.training.batch_size)
            ebm::detail::fail("train_images", "the data set must hold at least training.batch_size = " +
                                                  std::to_string(config.training.batch_size) + " images", data.size());
        std::printf("train_images: %lld images of %s, preset %s, %llu iterations -> %s\n",
                    static_cast<long long>(data.size()), ebm::data::to_string(data.shape()).c_str(),
                    config.preset.c_str(), static_cast<unsigned long long>(config.training.iterations),
                    folder.string().c_str());

        return ebm::with_trainer(config, image_run::make_net(config), [&](auto& trainer) -> int {
            using trainer_type = std::remove_reference_t<decltype(trainer)>;
            const std::string config_text = ebm::to_json(config).dump();
            if (resume_from) {
                ebm::load_checkpoint(*resume_from, trainer);
                std::printf("train_images: resumed from %s (iteration %llu)\n", resume_from->string().c_str(),
                            static_cast<unsigned long long>(trainer.iteration()));
            }
            fs::create_directories(folder / "samples");
            {
                std::ofstream(folder / "config.json.tmp") << ebm::to_json(config).dump(2) << '\n';
                fs::rename(folder / "config.json.tmp", folder / "config.json");
            }

            ebm::data::shuffled_batches batches(data, config.training.batch_size, ebm::seed{config.training.seed});
            ebm::batch positives(data.dimension(), config.training.batch_size);
            batches.batch(trainer.iteration(), positives.view());  // what the data looks like to the network
            ebm::io::write_png(folder / "samples" / "positives.png",
                               image_run::grid(positives.view(), config.data.channels, config.data.image_size,
                                               config.output.grid_images));
            ebm::progress_line progress(config.training.iterations, trainer.iteration());
            if (!config.output.progress) progress.set_enabled(false);

            // The diagnostics figure covers the whole run: on resume, the rows before the resume point come from
            // the CSV (the session drops the rows past it).
            std::vector<ebm::iteration_record> history;
            if (resume_from && fs::exists(folder / "diagnostics.csv"))
                for (const auto& rec : ebm::read_csv(folder / "diagnostics.csv"))
                    if (rec.iteration < trainer.iteration()) history.push_back(rec);
            auto draw_diagnostics = [&] {
                if (history.size() >= 2)
                    ebm::io::diagnostics_figure(folder / "diagnostics.png", "train_images " + config.preset, history);
            };

            ebm::session_hooks<trainer_type> hooks;
            hooks.positives = [&](std::uint64_t t) -> ebm::const_batch_view {
                batches.batch(t, positives.view());
                return positives.view();
            };
            hooks.before_step = [&](trainer_type& tr, std::uint64_t t) { ebm::apply_schedules(tr, config, t); };
            hooks.after_step = [&](trainer_type& tr, const ebm::iteration_record& rec) {
                progress.update(rec);
                history.push_back(rec);
                const std::uint64_t done = rec.iteration + 1;
                if (config.output.image_every > 0 && (done % config.output.image_every == 0 || done == config.training.iterations)) {
                    char name[64];
                    std::snprintf(name, sizeof name, "negatives-%09llu.png", static_cast<unsigned long long>(done));
                    ebm::io::write_png(folder / "samples" / name,
                                       image_run::grid(tr.negatives(), config.data.channels, config.data.image_size,
                                                       config.output.grid_images));
                    draw_diagnostics();
                }
            };
            hooks.on_rollback = [&](const ebm::iteration_record& rec, const std::string& why, const fs::path& restored,
                                    int retry) {
                progress.finish();
                std::erase_if(history, [&](const ebm::iteration_record& h) { return h.iteration >= trainer.iteration(); });
                std::fprintf(stderr, "train_images: divergence at iteration %llu (%s); rolled back to %s (retry %d of %d)\n",
                             static_cast<unsigned long long>(rec.iteration), why.c_str(), restored.string().c_str(), retry,
                             config.divergence.max_retries);
            };

            ebm::session_options options;
            options.iterations = config.training.iterations;
            options.checkpoint_every = config.output.checkpoint_every;
            options.max_retries = config.divergence.max_retries;
            options.config = config_text;
            options.csv = folder / "diagnostics.csv";
            options.divergence = ebm::divergence_check{.energy_limit = config.divergence.energy_limit};
            const ebm::session_result result = ebm::run_session(trainer, checkpoints, options, hooks);
            progress.finish();
            draw_diagnostics();
            if (result.status == ebm::session_status::diverged) {
                std::fprintf(stderr, "train_images: %s; stopped at the last good checkpoint (iteration %llu)\n",
                             result.message.c_str(), static_cast<unsigned long long>(result.iteration));
                return 3;
            }
            std::printf("train_images: done, %llu iterations, %d rollback(s); newest checkpoint %s\n",
                        static_cast<unsigned long long>(result.iteration), result.rollbacks,
                        checkpoints.latest()->string().c_str());
            return 0;
        });
    } catch (const ebm::error& e) {
        std::fprintf(stderr, "train_images: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "train_images: %s\n", e.what());
        return 1;
    }
}

#pragma once
// The training run of train_images for a ConvNet of either backend (main.cpp instantiates it with the CPU network,
// train_images_cuda.cu with the GPU one): the configured ml_trainer in a session with checkpoints, resume, schedules,
// divergence rollback, the CSV, sample grids and the Anatomy-Fig.-4 diagnostics.png. The files are the same on both.
#include <ebm/io/diagnostics_figure.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>
#include <ebm/train/progress.hpp>
#include <ebm/train/session.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "image_run.hpp"

namespace image_run {

/// Trains `net` as `config` says into config.output.folder (resuming from `resume_from` when set), for at most
/// max_seconds of wall time when that is > 0; returns the program's exit status (0 done, 3 diverged).
template <class Net>
int run_training(const ebm::train_config& config, const std::optional<std::filesystem::path>& resume_from,
                 const ebm::data::dataset& data, Net net, double max_seconds = 0) {
    namespace fs = std::filesystem;
    const fs::path folder = config.output.folder;
    ebm::checkpoint_folder checkpoints(folder, config.output.keep_checkpoints);
    return ebm::with_trainer(config, std::move(net), [&](auto& trainer) -> int {
        using trainer_type = std::remove_reference_t<decltype(trainer)>;
        const std::string config_text = ebm::to_json(config).dump();
        if (resume_from) {
            ebm::load_checkpoint(*resume_from, trainer);
            std::printf("train_images: resumed from %s (iteration %llu)\n", resume_from->string().c_str(),
                        static_cast<unsigned long long>(trainer.iteration()));
        }
        fs::create_directories(folder / "samples");
        ebm::io::write_file_atomically(folder / "config.json", ebm::to_json(config).dump(2) + "\n", "train_images");

        ebm::data::shuffled_batches batches(data, config.training.batch_size, ebm::seed{config.training.seed});
        ebm::batch positives(data.dimension(), config.training.batch_size);
        batches.batch(trainer.iteration(), positives.view());  // what the data looks like to the network
        ebm::io::write_png(folder / "samples" / "positives.png",
                           grid(positives.view(), config.data.channels, config.data.image_size,
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
        // init.kind data (contrastive divergence): the chains start from a batch drawn independently of the
        // positives, stream 1 of the same seed (a pure function of t, so resume stays exact).
        ebm::data::shuffled_batches chain_batches(data, config.training.batch_size, ebm::seed{config.training.seed}, 1);
        ebm::batch chain_data(data.dimension(), config.training.batch_size);
        if (config.init.kind == "data")
            hooks.chain_data = [&](std::uint64_t t) -> ebm::const_batch_view {
                chain_batches.batch(t, chain_data.view());
                return chain_data.view();
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
                                   grid(tr.negatives(), config.data.channels, config.data.image_size,
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
        options.max_seconds = max_seconds;
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
        if (result.time_limit) std::printf("train_images: %s\n", result.message.c_str());
        std::printf("train_images: done, %llu iterations, %d rollback(s); newest checkpoint %s\n",
                    static_cast<unsigned long long>(result.iteration), result.rollbacks,
                    checkpoints.latest()->string().c_str());
        return 0;
    });
}

}  // namespace image_run

#pragma once
// A training session: the loop around ml_trainer::step that a training program needs —
//   * positives for iteration t from a callback (a pure function of t, e.g. data::shuffled_batches::batch),
//   * schedules applied before each step (a callback, e.g. apply_schedules from train/config.hpp),
//   * CSV diagnostics, one flushed row per iteration (csv_log; rows past the resume point are dropped),
//   * checkpoints every N iterations into a checkpoint_folder (atomic, newest few kept) and at the end,
//   * an optional wall-time limit (max_seconds): the run stops early with a final checkpoint,
//   * divergence detection (non-finite d_t or gradient, or a mean energy beyond a limit): roll back to the last
//     good checkpoint, report through a callback, retry with fresh Langevin noise (the sampler-step counter is
//     moved 2^32 steps on per retry), and stop — status `diverged` — after max_retries rollbacks.
// A session started on a trainer restored from a checkpoint continues the run bit-identically.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "checkpoint.hpp"
#include "diagnostics.hpp"

namespace ebm {

/// Flags divergence: a skipped update (non-finite d_t or gradient), or a non-finite or too large mean energy.
struct divergence_check {
    double energy_limit = 1e8;

    /// Why the record counts as divergence, or nothing.
    [[nodiscard]] std::optional<std::string> operator()(const iteration_record& r) const {
        if (r.diverged) return "non-finite d_t or parameter gradient";
        if (!std::isfinite(r.positive_energy) || !std::isfinite(r.negative_energy)) return "non-finite mean energy";
        if (std::abs(r.positive_energy) > energy_limit || std::abs(r.negative_energy) > energy_limit)
            return "mean energy beyond the limit " + detail::to_text(energy_limit);
        return std::nullopt;
    }
};

/// CSV diagnostics (train/diagnostics.hpp's columns), one row per iteration, flushed as written.
class csv_log {
public:
    /// Opens `path`; rows of iterations >= first_iteration already in the file are dropped (a resumed or rolled
    /// back run writes them again), so the file always holds each iteration once.
    csv_log(std::filesystem::path path, std::uint64_t first_iteration) : path_(std::move(path)) { truncate(first_iteration); }

    void write(const iteration_record& rec) {
        out_ << csv_row(rec) << '\n';
        out_.flush();
        if (!out_) throw runtime_error("ebm::csv_log: writing '" + path_.string() + "' failed");
    }

    /// Drops the rows of iterations >= first and reopens for appending.
    void truncate(std::uint64_t first) {
        if (out_.is_open()) out_.close();
        std::vector<std::string> kept;
        {
            std::ifstream in(path_);
            std::string line;
            bool header = true;
            while (std::getline(in, line)) {
                if (header) {
                    header = false;
                    continue;
                }
                if (line.empty()) continue;
                const auto comma = line.find(',');
                std::uint64_t iteration = 0;
                try {
                    iteration = std::stoull(line.substr(0, comma));
                } catch (const std::exception&) {
                    continue;
                }
                if (iteration < first) kept.push_back(line);
            }
        }
        std::string text = std::string(csv_header()) + "\n";
        for (const auto& line : kept) text += line + "\n";
        io::write_file_atomically(path_, text, "csv_log");  // a crash here keeps the old rows
        out_.open(path_, std::ios::app);
        if (!out_) throw runtime_error("ebm::csv_log: cannot open '" + path_.string() + "' for appending");
    }

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::ofstream out_;
};

struct session_options {
    std::uint64_t iterations = 0;          // run until trainer.iteration() == iterations
    double max_seconds = 0;                // > 0: also stop (finished, with a checkpoint) after this much wall time
    std::uint64_t checkpoint_every = 1000; // 0: only at the start and the end
    int max_retries = 3;                   // rollbacks before giving up
    std::string config = "{}";             // stored in every checkpoint
    std::filesystem::path csv;             // empty: no CSV
    std::function<std::optional<std::string>(const iteration_record&)> divergence = divergence_check{};
};

enum class session_status { finished, diverged };

struct session_result {
    session_status status = session_status::finished;
    std::uint64_t iteration = 0;  // trainer.iteration() at the end
    int rollbacks = 0;
    std::string message;          // why the session stopped, when it diverged or hit the time limit
    bool time_limit = false;      // stopped by max_seconds before options.iterations
};

template <class Trainer>
struct session_hooks {
    std::function<const_batch_view(std::uint64_t t)> positives;               // required
    /// Optional: the batch data-based initializers (data_init) start the chains of iteration t from, drawn
    /// independently of the positives (a pure function of t, as `positives`); unset: the positives themselves.
    std::function<const_batch_view(std::uint64_t t)> chain_data;
    std::function<void(Trainer&, std::uint64_t t)> before_step;               // schedules
    std::function<void(Trainer&, const iteration_record&)> after_step;        // progress line, sample grids
    std::function<void(const std::filesystem::path&)> on_checkpoint;
    std::function<void(const iteration_record&, const std::string& reason, const std::filesystem::path& restored,
                       int retry)> on_rollback;
};

/// Runs the trainer to options.iterations (see the file comment). Writes a checkpoint first when the folder has
/// none, so there is always a good state to roll back to.
template <class Trainer>
session_result run_session(Trainer& trainer, checkpoint_folder& folder, const session_options& options,
                           const session_hooks<Trainer>& hooks) {
    if (!hooks.positives) detail::fail("run_session", "hooks.positives must be set", "empty");
    constexpr bool takes_chain_data = requires(Trainer& tr, const_batch_view b) { tr.step(b, b); };
    if (hooks.chain_data && !takes_chain_data)
        detail::fail("run_session", "hooks.chain_data needs a trainer with step(positives, chain_data)", "set");
    detail::require_non_negative("run_session", "max_retries", options.max_retries);
    if (options.max_retries > 255) detail::fail("run_session", "max_retries must be <= 255", options.max_retries);
    std::optional<csv_log> csv;
    if (!options.csv.empty()) csv.emplace(options.csv, trainer.iteration());
    auto checkpoint = [&] {
        const auto path = folder.save(trainer, options.config);
        if (hooks.on_checkpoint) hooks.on_checkpoint(path);
        return trainer.iteration();
    };
    detail::require_non_negative("run_session", "max_seconds", options.max_seconds);
    std::uint64_t last_saved = folder.latest() ? read_checkpoint_info(*folder.latest()).iteration : checkpoint();
    session_result result;
    const auto start = std::chrono::steady_clock::now();
    while (trainer.iteration() < options.iterations) {
        if (options.max_seconds > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= options.max_seconds) {
            result.time_limit = true;
            result.message = "time limit of " + detail::to_text(options.max_seconds) + " s reached at iteration " +
                             std::to_string(trainer.iteration());
            break;
        }
        const std::uint64_t t = trainer.iteration();
        if (hooks.before_step) hooks.before_step(trainer, t);
        const iteration_record rec = [&] {
            if constexpr (takes_chain_data)
                if (hooks.chain_data) return trainer.step(hooks.positives(t), hooks.chain_data(t));
            return trainer.step(hooks.positives(t));
        }();
        if (const auto reason = options.divergence ? options.divergence(rec) : std::nullopt) {
            if (result.rollbacks >= options.max_retries) {
                result.status = session_status::diverged;
                result.message = "training diverged at iteration " + std::to_string(t) + " (" + *reason + ") after " +
                                 std::to_string(result.rollbacks) + " rollback(s)";
                const auto restored = folder.latest();
                if (restored) load_checkpoint(*restored, trainer);  // leave the trainer in its last good state
                result.iteration = trainer.iteration();
                return result;
            }
            ++result.rollbacks;
            const auto restored = folder.latest();
            if (!restored) detail::fail("run_session", "no checkpoint to roll back to in", folder.folder().string());
            load_checkpoint(*restored, trainer);
            trainer.restore_counters(trainer.iteration(),
                                     trainer.sampler_steps() + (static_cast<std::uint64_t>(result.rollbacks) << 32));
            if (csv) csv->truncate(trainer.iteration());
            if (hooks.on_rollback) hooks.on_rollback(rec, *reason, *restored, result.rollbacks);
            continue;
        }
        if (csv) csv->write(rec);
        if (hooks.after_step) hooks.after_step(trainer, rec);
        if (options.checkpoint_every > 0 && trainer.iteration() % options.checkpoint_every == 0) last_saved = checkpoint();
    }
    if (last_saved != trainer.iteration()) checkpoint();
    result.iteration = trainer.iteration();
    return result;
}

}  // namespace ebm

#include <doctest/doctest.h>

#include <ebm/train/session.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "../data/temp_folder.hpp"
#include "trainers.hpp"

namespace {

using short_run_t = decltype(ebm_test::short_run());

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// A CSV row without its wall-time column (the 9th), which differs between runs.
std::string without_seconds(const std::string& row) {
    std::string out;
    std::size_t start = 0;
    for (int field = 0;; ++field) {
        const auto comma = row.find(',', start);
        if (field != 8) out += row.substr(start, comma == std::string::npos ? std::string::npos : comma - start + 1);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

ebm::session_hooks<short_run_t> hooks_for(ebm_test::toy_data& data) {
    ebm::session_hooks<short_run_t> hooks;
    hooks.positives = [&data](std::uint64_t t) { return data.at(t); };
    return hooks;
}

}  // namespace

TEST_CASE("divergence_check: skipped updates, non-finite and exploding energies") {
    const ebm::divergence_check check{.energy_limit = 100};
    ebm::iteration_record r;
    CHECK_FALSE(check(r).has_value());
    r.negative_energy = -150;
    CHECK(check(r).value() == "mean energy beyond the limit 100");
    r.negative_energy = std::numeric_limits<double>::quiet_NaN();
    CHECK(check(r).value() == "non-finite mean energy");
    r.diverged = true;
    CHECK(check(r).value() == "non-finite d_t or parameter gradient");
}

TEST_CASE("a session runs to the end with CSV rows, periodic checkpoints, and resumes bit-identically") {
    ebm_test::temp_folder dir("session");
    ebm_test::toy_data data;
    auto straight = ebm_test::short_run();
    ebm::checkpoint_folder straight_folder(dir / "straight");
    const auto done = ebm::run_session(straight, straight_folder,
                                       {.iterations = 6, .checkpoint_every = 4, .csv = dir / "straight.csv"}, hooks_for(data));
    CHECK(done.status == ebm::session_status::finished);
    CHECK(done.iteration == 6);
    CHECK(lines_of(dir / "straight.csv").size() == 7);
    CHECK(straight_folder.latest()->filename() == "checkpoint-000000000006.safetensors");

    // Interrupted after 3, resumed in a fresh trainer from the folder.
    ebm::checkpoint_folder folder(dir / "run");
    {
        auto first = ebm_test::short_run();
        ebm::run_session(first, folder, {.iterations = 3, .checkpoint_every = 2, .csv = dir / "run.csv"}, hooks_for(data));
    }
    // A stray row of an iteration the checkpoint does not cover (a crash between CSV and checkpoint).
    std::ofstream(dir / "run.csv", std::ios::app) << "3,1,1,1,1,1,1,1,1,0,0\n";
    auto resumed = ebm_test::short_run(ebm_test::toy_net(99));
    ebm::load_checkpoint(*folder.latest(), resumed);
    CHECK(resumed.iteration() == 3);
    ebm::run_session(resumed, folder, {.iterations = 6, .checkpoint_every = 2, .csv = dir / "run.csv"}, hooks_for(data));
    CHECK(ebm_test::same_values(resumed.energy().parameters(), straight.energy().parameters()));
    const auto rows = lines_of(dir / "run.csv");
    REQUIRE(rows.size() == 7);
    CHECK(rows[4].rfind("3,", 0) == 0);
    CHECK(rows[4] != "3,1,1,1,1,1,1,1,1,0,0");
    const auto reference = lines_of(dir / "straight.csv");
    for (std::size_t i = 0; i < rows.size(); ++i) CHECK(without_seconds(rows[i]) == without_seconds(reference[i]));
}

TEST_CASE("divergence rolls back to the last good checkpoint, reports, and retries with fresh noise") {
    ebm_test::temp_folder dir("session-rollback");
    ebm_test::toy_data data;
    auto trainer = ebm_test::short_run();
    ebm::checkpoint_folder folder(dir / "run");
    int flagged = 0;
    std::vector<std::string> reports;
    ebm::session_options options{.iterations = 8, .checkpoint_every = 2, .max_retries = 2, .csv = dir / "log.csv"};
    options.divergence = [&](const ebm::iteration_record& r) -> std::optional<std::string> {
        if (r.iteration == 5 && flagged++ == 0) return "simulated explosion";
        return std::nullopt;
    };
    auto hooks = hooks_for(data);
    hooks.on_rollback = [&](const ebm::iteration_record& r, const std::string& why, const std::filesystem::path& restored,
                            int retry) {
        reports.push_back(std::to_string(r.iteration) + " " + why + " " + restored.filename().string() + " " +
                          std::to_string(retry));
    };
    const auto result = ebm::run_session(trainer, folder, options, hooks);
    CHECK(result.status == ebm::session_status::finished);
    CHECK(result.rollbacks == 1);
    CHECK(result.iteration == 8);
    REQUIRE(reports.size() == 1);
    CHECK(reports[0] == "5 simulated explosion checkpoint-000000000004.safetensors 1");
    CHECK(trainer.sampler_steps() == 8u * 10u + (std::uint64_t{1} << 32));  // retried with other Langevin noise
    const auto rows = lines_of(dir / "log.csv");
    REQUIRE(rows.size() == 9);  // every iteration once
    for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i].rfind(std::to_string(i - 1) + ",", 0) == 0);
}

TEST_CASE("persistent divergence stops after max_retries, leaving the last good checkpoint and state") {
    ebm_test::temp_folder dir("session-give-up");
    ebm_test::toy_data data;
    auto trainer = ebm_test::short_run();
    ebm::checkpoint_folder folder(dir / "run");
    ebm::session_options options;
    options.iterations = 8;
    options.checkpoint_every = 2;
    options.max_retries = 2;
    options.divergence = [](const ebm::iteration_record& r) -> std::optional<std::string> {
        if (r.iteration >= 3) return "simulated explosion";
        return std::nullopt;
    };
    int rollbacks = 0;
    auto hooks = hooks_for(data);
    hooks.on_rollback = [&](const ebm::iteration_record&, const std::string&, const std::filesystem::path&, int) { ++rollbacks; };
    const auto result = ebm::run_session(trainer, folder, options, hooks);
    CHECK(result.status == ebm::session_status::diverged);
    CHECK(result.rollbacks == 2);
    CHECK(rollbacks == 2);
    CHECK(result.message == "training diverged at iteration 3 (simulated explosion) after 2 rollback(s)");
    CHECK(result.iteration == 2);
    CHECK(trainer.iteration() == 2);
    const auto files = folder.list();
    REQUIRE(files.size() == 2);
    CHECK(files.back().filename() == "checkpoint-000000000002.safetensors");
    CHECK(ebm::read_checkpoint_info(files.back()).iteration == 2);
}

TEST_CASE("exploding energies are caught by the default divergence_check and rolled back") {
    ebm_test::temp_folder dir("session-explode");
    ebm_test::toy_data data;
    auto trainer = ebm_test::short_run();
    ebm::checkpoint_folder folder(dir / "run");
    ebm::session_options options;
    options.iterations = 6;
    options.checkpoint_every = 2;
    options.divergence = ebm::divergence_check{.energy_limit = 1e6};
    auto hooks = hooks_for(data);
    bool blown = false;
    hooks.before_step = [&](short_run_t& t, std::uint64_t it) {
        if (it == 3 && !blown) {  // a parameter explodes once, as after a bad update
            blown = true;
            t.energy().parameters()[0] = 1e30f;
        }
    };
    std::string why;
    hooks.on_rollback = [&](const ebm::iteration_record&, const std::string& reason, const std::filesystem::path&, int) {
        why = reason;
    };
    const auto result = ebm::run_session(trainer, folder, options, hooks);
    CHECK(result.status == ebm::session_status::finished);
    CHECK(result.rollbacks == 1);
    CHECK_FALSE(why.empty());
    MESSAGE("divergence reported as: " << why);
    for (float p : trainer.energy().parameters()) REQUIRE(std::isfinite(p));
    CHECK(std::abs(trainer.energy().parameters()[0]) < 10.0f);
}

TEST_CASE("a session stops at its wall-time limit with a checkpoint, and a limit it does not reach changes nothing") {
    ebm_test::temp_folder dir("session_time");
    ebm_test::toy_data data;
    auto stopped = ebm_test::short_run();
    ebm::checkpoint_folder folder(dir / "stopped");
    // A limit already passed when the loop starts: no iteration runs, the run ends as finished at iteration 0.
    const auto early = ebm::run_session(stopped, folder, {.iterations = 5, .max_seconds = 1e-12, .csv = {}}, hooks_for(data));
    CHECK(early.status == ebm::session_status::finished);
    CHECK(early.time_limit);
    CHECK(early.iteration == 0);
    CHECK(early.message.find("time limit") != std::string::npos);
    CHECK(folder.latest()->filename() == "checkpoint-000000000000.safetensors");

    auto full = ebm_test::short_run();
    ebm::checkpoint_folder full_folder(dir / "full");
    const auto done = ebm::run_session(full, full_folder, {.iterations = 3, .max_seconds = 1e6, .csv = {}}, hooks_for(data));
    CHECK_FALSE(done.time_limit);
    CHECK(done.iteration == 3);
    CHECK_THROWS_WITH_AS(ebm::run_session(full, full_folder, {.iterations = 4, .max_seconds = -1, .csv = {}}, hooks_for(data)),
                         doctest::Contains("max_seconds must be >= 0"), ebm::error);
}

TEST_CASE("hooks.chain_data reaches data_init: the chains of iteration t start from chain_data(t), not the positives") {
    ebm_test::temp_folder dir("session_chain_data");
    ebm_test::toy_data positives, starts;  // two buffers: the hooks' views must not alias
    auto trainer = ebm::ml_trainer(ebm_test::toy_net(), ebm::langevin{.epsilon = 0.1f, .steps = 0}, ebm::data_init{},
                                   ebm::sgd{.learning_rate = 1e-3f}, ebm::trainer_options{.batch_size = 16});
    using trainer_t = decltype(trainer);
    ebm::session_hooks<trainer_t> hooks;
    hooks.positives = [&](std::uint64_t t) { return positives.at(t); };
    hooks.chain_data = [&](std::uint64_t t) { return starts.at(t + 1000); };
    int checked = 0;
    hooks.after_step = [&](trainer_t& tr, const ebm::iteration_record& rec) {
        INFO("iteration " << rec.iteration << ": 0 Langevin steps, so the negatives are the chain starts");
        ebm_test::toy_data expected;
        const ebm::const_batch_view want = expected.at(rec.iteration + 1000);
        CHECK(ebm_test::same_values(std::span<const float>(tr.negatives().data, static_cast<std::size_t>(want.size())),
                                    std::span<const float>(want.data, static_cast<std::size_t>(want.size()))));
        ++checked;
    };
    ebm::checkpoint_folder folder(dir / "run");
    const auto done = ebm::run_session(trainer, folder, {.iterations = 3, .csv = {}}, hooks);
    CHECK(done.status == ebm::session_status::finished);
    CHECK(checked == 3);
}

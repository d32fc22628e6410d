// Crash safety of train_images' checkpoints: SIGKILL at random moments of runs that write a checkpoint every
// iteration, then (every trial) every complete-named checkpoint must load, and resuming from the latest must end
// with a final checkpoint byte-identical to an uninterrupted run's.
//   train_images_kill <train_images> <scratch folder> <trials> <seed>
// Even trials kill at a time uniform over the uninterrupted run's duration, odd trials inside a checkpoint write (of a
// checkpoint drawn at random: once its temporary file appears, plus 0-4 ms); std::mt19937_64 seeded with <seed>,
// printed. Kills that leave
// a temporary file behind are counted: they interrupted a write. Exit 0 when every
// trial passes, 1 otherwise, 77 (skipped) without Debian's dataset-fashion-mnist.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <ebm/train/checkpoint.hpp>

extern char** environ;

namespace {

namespace fs = std::filesystem;
constexpr int iterations = 4;

std::vector<std::string> common_arguments(const fs::path& output) {
    // A persistent bank of 1,000 states makes each checkpoint 4 MB: writing and syncing it takes a good part of
    // the run, so many kills land inside a write.
    return {"--preset", "short_run", "--set", "data.limit=64", "--set", "model.features=16", "--set", "sampler.steps=2",
            "--set", "training.batch_size=8", "--set", "init.kind=persistent_bank", "--set", "init.bank_size=1000",
            "--set", "output.checkpoint_every=1", "--set", "output.image_every=0", "--set", "output.keep_checkpoints=3",
            "--set", "training.iterations=" + std::to_string(iterations), "--output", output.string()};
}

/// Starts `program` with `arguments`, its output appended to `log`.
pid_t spawn(const std::string& program, const std::vector<std::string>& arguments, const fs::path& log) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        std::fprintf(stderr, "cannot start %s (error %d)\n", program.c_str(), rc);
        std::exit(1);
    }
    return pid;
}

int wait_for(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;  // ECHILD: already reaped
    return status;
}

bool run_to_end(const std::string& program, const std::vector<std::string>& arguments, const fs::path& log) {
    const int status = wait_for(spawn(program, arguments, log));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The name of a checkpoint temporary in `folder` (empty when none).
std::string temporary_in(const fs::path& folder) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.find(".safetensors.tmp-") != std::string::npos) return name;
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: train_images_kill <train_images> <scratch folder> <trials> <seed>\n");
        return 2;
    }
    if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
        std::printf("dataset-fashion-mnist not installed: skipped\n");
        return 77;
    }
    const std::string program = argv[1];
    const fs::path scratch = argv[2];
    const int trials = std::atoi(argv[3]);
    const unsigned long long seed = std::strtoull(argv[4], nullptr, 10);
    fs::remove_all(scratch);
    fs::create_directories(scratch);
    const fs::path log = scratch / "train_images.log";

    // The uninterrupted run: its final checkpoint and its duration. Every run uses the same folder, which is part of
    // the configuration a checkpoint stores.
    const fs::path trial_folder = scratch / "run";
    const auto start = std::chrono::steady_clock::now();
    if (!run_to_end(program, common_arguments(trial_folder), log)) {
        std::fprintf(stderr, "the uninterrupted run failed; see %s\n", log.c_str());
        return 1;
    }
    const double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fs::rename(trial_folder, scratch / "reference");
    const ebm::checkpoint_folder reference_folder(scratch / "reference");
    const auto reference = reference_folder.latest();
    if (!reference || ebm::read_checkpoint_info(*reference).iteration != iterations) {
        std::fprintf(stderr, "the uninterrupted run left no final checkpoint\n");
        return 1;
    }
    const std::string expected = bytes_of(*reference);
    std::printf("train_images_kill: seed %llu, %d trials, uninterrupted run %.2f s\n", seed, trials, duration);

    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> moment(0.0, duration);
    int failures = 0, mid_write = 0, before_first = 0, loaded = 0, finished = 0;
    std::uniform_real_distribution<double> into_write(0.0, 0.004);
    std::uniform_int_distribution<int> which_write(0, iterations);  // checkpoints 0 (the start) to `iterations`
    for (int trial = 0; trial < trials; ++trial) {
        fs::remove_all(trial_folder);
        const pid_t pid = spawn(program, common_arguments(trial_folder), log);
        double at = moment(rng);
        bool reaped = false;
        if (trial % 2 == 0) {  // anywhere in the run
            std::this_thread::sleep_for(std::chrono::duration<double>(at));
        } else {  // inside the n-th checkpoint write: once its temporary appears, after up to 4 ms more
            const double delay = into_write(rng);
            const int target = which_write(rng);
            const auto begin = std::chrono::steady_clock::now();
            int status = 0, seen = -1;
            std::string last;
            pid_t done = 0;
            while ((done = waitpid(pid, &status, WNOHANG)) == 0) {
                const std::string name = temporary_in(trial_folder);
                if (!name.empty() && name != last) {
                    last = name;
                    if (++seen == target) break;
                }
                std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
            at = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
            if (done != 0) {  // the run ended before the chosen write was seen: a complete run, checked below
                reaped = true;
                ++finished;
            } else {
                std::this_thread::sleep_for(std::chrono::duration<double>(delay));
                at += delay;
            }
        }
        if (!reaped) {
            kill(pid, SIGKILL);
            wait_for(pid);
        }
        if (!temporary_in(trial_folder).empty()) ++mid_write;

        const ebm::checkpoint_folder folder(trial_folder);
        const auto all = folder.list();
        bool ok = true;
        for (const auto& path : all) {  // every file under a checkpoint's name is complete
            try {
                (void)ebm::read_checkpoint_info(path);
                ++loaded;
            } catch (const std::exception& e) {
                std::printf("trial %d (kill at %.3f s): %s does not load: %s\n", trial, at, path.c_str(), e.what());
                ok = false;
            }
        }
        if (all.empty()) {
            ++before_first;  // killed before the first checkpoint: nothing to resume
        } else if (ok) {
            std::vector<std::string> resume = {"--resume", "--set",
                                               "training.iterations=" + std::to_string(iterations), "--output",
                                               trial_folder.string()};
            if (!run_to_end(program, resume, log)) {
                std::printf("trial %d (kill at %.3f s): resuming failed; see %s\n", trial, at, log.c_str());
                ok = false;
            } else if (bytes_of(folder.path_for(iterations)) != expected) {
                std::printf("trial %d (kill at %.3f s): the resumed run's final checkpoint differs\n", trial, at);
                ok = false;
            }
        }
        failures += ok ? 0 : 1;
    }
    std::printf("train_images_kill: %d trials, %d failed; %d killed while a checkpoint was being written, %d before the "
                "first checkpoint, %d runs ended before their chosen write was seen; %d checkpoints loaded after kills\n",
                trials, failures, mid_write, before_first, finished, loaded);
    if (failures == 0) fs::remove_all(scratch);
    return failures == 0 ? 0 : 1;
}

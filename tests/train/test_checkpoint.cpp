#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/io/safetensors.hpp>
#include <ebm/train/checkpoint.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "../data/temp_folder.hpp"
#include "trainers.hpp"

namespace {

std::string message_of(auto&& f) { return ebm_test::message_of<std::exception>(f); }

template <class Trainer>
void run(Trainer& trainer, ebm_test::toy_data& data, int iterations) {
    for (int k = 0; k < iterations; ++k) trainer.step(data.at(trainer.iteration()));
}

template <class A, class B>
void check_same_state(A& a, B& b) {
    CHECK(a.iteration() == b.iteration());
    CHECK(a.sampler_steps() == b.sampler_steps());
    CHECK(ebm_test::same_values(a.energy().parameters(), b.energy().parameters()));
    CHECK(a.optimizer_state().steps == b.optimizer_state().steps);
    if constexpr (requires { a.initializer_state().bank(); }) {
        CHECK(ebm_test::same_values(a.initializer_state().bank().values(), b.initializer_state().bank().values()));
        CHECK(ebm_test::same_values(a.initializer_state().permutation(), b.initializer_state().permutation()));
    }
    if constexpr (requires { a.optimizer_state().first_moment; }) {
        CHECK(ebm_test::same_values(a.optimizer_state().first_moment, b.optimizer_state().first_moment));
        CHECK(ebm_test::same_values(a.optimizer_state().second_moment, b.optimizer_state().second_moment));
    }
}

void flip_byte(const std::filesystem::path& p, std::uintmax_t from_end) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(p);
    f.seekg(static_cast<std::streamoff>(size - from_end));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(static_cast<std::streamoff>(size - from_end));
    f.write(&c, 1);
}

}  // namespace

TEST_CASE("checkpoint round trip: parameters, bank, optimizer, counters and config come back exactly") {
    ebm_test::temp_folder dir("ckpt");
    ebm_test::toy_data data;
    auto a = ebm_test::convergent();
    run(a, data, 3);
    const std::string config = R"({"preset": "anatomy_convergent"})";
    ebm::save_checkpoint(dir / "a.safetensors", a, config);

    auto b = ebm_test::convergent(ebm_test::toy_net(/*init_seed=*/8));
    const auto info = ebm::load_checkpoint(dir / "a.safetensors", b);
    CHECK(info.config == config);
    CHECK(info.iteration == 3);
    CHECK(info.seed == 123);
    CHECK(info.architecture == "scaled(mlp[2,16,16,1] leaky_relu(0.05), factor 128)");
    check_same_state(a, b);

    const auto header = ebm::read_checkpoint_info(dir / "a.safetensors");
    CHECK(header.iteration == 3);
    CHECK(header.config == config);

    auto s = ebm_test::short_run();
    run(s, data, 2);
    ebm::save_checkpoint(dir / "s.safetensors", s);
    auto t = ebm_test::short_run(ebm_test::toy_net(9));
    ebm::load_checkpoint(dir / "s.safetensors", t);
    check_same_state(s, t);
}

TEST_CASE("a corrupted checkpoint (one flipped byte) is a checksum error and leaves the trainer untouched") {
    ebm_test::temp_folder dir("ckpt-corrupt");
    ebm_test::toy_data data;
    auto a = ebm_test::convergent();
    run(a, data, 2);
    const auto path = dir / "a.safetensors";
    ebm::save_checkpoint(path, a);
    flip_byte(path, 3);  // inside the last tensor's data

    auto b = ebm_test::convergent(ebm_test::toy_net(8));
    const std::vector<float> before(b.energy().parameters().begin(), b.energy().parameters().end());
    const auto msg = message_of([&] { ebm::load_checkpoint(path, b); });
    CHECK(msg.find("ebm::load_checkpoint: checksum mismatch in '") == 0);
    CHECK(msg.find("is corrupted") != std::string::npos);
    CHECK(ebm_test::same_values(before, b.energy().parameters()));
    CHECK(b.iteration() == 0);
    CHECK(message_of([&] { (void)ebm::read_checkpoint_info(path); }).find("checksum mismatch") != std::string::npos);

    std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
    CHECK(message_of([&] { ebm::load_checkpoint(path, b); }).find("is not a valid safetensors file") != std::string::npos);
    CHECK(message_of([&] { ebm::load_checkpoint(dir / "missing.safetensors", b); }) ==
          "ebm::load_checkpoint: checkpoint file not found (got '" + (dir / "missing.safetensors").string() + "')");
    std::ofstream(dir / "junk.safetensors") << "definitely not a checkpoint";
    CHECK(message_of([&] { ebm::load_checkpoint(dir / "junk.safetensors", b); }).find("is not a valid safetensors file") !=
          std::string::npos);
}

TEST_CASE("a bank order that is not a permutation (checksums valid) is refused before anything changes") {
    ebm_test::temp_folder dir("ckpt-permutation");
    ebm_test::toy_data data;
    auto a = ebm_test::convergent();
    run(a, data, 2);
    const auto path = dir / "a.safetensors";
    ebm::save_checkpoint(path, a);
    // Rewrite the file with slot 1 listed twice, the checksums recomputed: only the state's own check can see it.
    auto f = ebm::io::read_safetensors(path, true);
    auto& order = f.find("initializer.permutation")->bytes;
    std::memcpy(order.data(), order.data() + 4, 4);
    std::erase_if(f.metadata, [](const auto& entry) { return entry.first.starts_with("crc32."); });
    ebm::io::write_safetensors(path, f.tensors, f.metadata);

    auto b = ebm_test::convergent(ebm_test::toy_net(8));
    const std::vector<float> before(b.energy().parameters().begin(), b.energy().parameters().end());
    const auto msg = message_of([&] { ebm::load_checkpoint(path, b); });
    CHECK(msg.find("is corrupted: initializer.permutation is not a permutation") != std::string::npos);
    CHECK(ebm_test::same_values(before, b.energy().parameters()));
    CHECK(b.iteration() == 0);
}

TEST_CASE("a checkpoint from another architecture, seed or configuration is refused before anything changes") {
    ebm_test::temp_folder dir("ckpt-arch");
    ebm_test::toy_data data;
    auto a = ebm_test::convergent();
    run(a, data, 1);
    const auto path = dir / "a.safetensors";
    ebm::save_checkpoint(path, a);

    auto other = ebm::make_convergent_trainer(ebm::mlp({2, 8, 1}, ebm::leaky_relu{0.05f}),
                                              {.epsilon = 0.125f, .steps = 10, .bank_size = 64, .batch_size = 16});
    const auto msg = message_of([&] { ebm::load_checkpoint(path, other); });
    CHECK(msg.find("ebm::load_checkpoint: '") == 0);
    CHECK(msg.find("was written for another architecture; this trainer's energy is "
                   "'scaled(mlp[2,8,1] leaky_relu(0.05), factor 128)' (got 'scaled(mlp[2,16,16,1]") != std::string::npos);

    auto reseeded = ebm::make_convergent_trainer(ebm_test::toy_net(), {.epsilon = 0.125f, .steps = 10, .bank_size = 64,
                                                                       .batch_size = 16, .random_seed = ebm::seed{5}});
    CHECK(message_of([&] { ebm::load_checkpoint(path, reseeded); }).find("another seed") != std::string::npos);

    auto bigger_bank = ebm::make_convergent_trainer(ebm_test::toy_net(), {.epsilon = 0.125f, .steps = 10, .bank_size = 128,
                                                                          .batch_size = 16, .random_seed = ebm::seed{123}});
    const std::vector<float> before(bigger_bank.energy().parameters().begin(), bigger_bank.energy().parameters().end());
    CHECK(message_of([&] { ebm::load_checkpoint(path, bigger_bank); })
              .find("tensor 'initializer.bank' must have 256 elements (got 128)") != std::string::npos);
    CHECK(ebm_test::same_values(before, bigger_bank.energy().parameters()));  // checked before applied

    // Same energy and seed, another optimizer: the Adam moments are missing from the file.
    ebm::ml_trainer adam_trainer(ebm::scaled(ebm_test::toy_net(), 0.125f), ebm::langevin{.epsilon = 0.125f, .steps = 10},
                                 ebm::persistent_bank<ebm::uniform_noise>{.size = 64}, ebm::adam{},
                                 ebm::trainer_options{.batch_size = 16, .random_seed = ebm::seed{123}});
    CHECK(message_of([&] { ebm::load_checkpoint(path, adam_trainer); })
              .find("does not match this trainer: it has no tensor (got 'optimizer.first_moment')") != std::string::npos);
}

TEST_CASE("atomic saves: a failed save leaves the previous checkpoint intact") {
    ebm_test::temp_folder dir("ckpt-atomic");
    ebm_test::toy_data data;
    auto a = ebm_test::convergent();
    run(a, data, 2);
    const auto path = dir / "a.safetensors";
    ebm::save_checkpoint(path, a);
    const auto size = std::filesystem::file_size(path);
    run(a, data, 2);

    // The temporary file cannot be created (a 250-character name leaves no room for the temporary's suffix
    // within the 255-byte limit): an ebm::runtime_error, the old file kept, no temporary left.
    const auto long_path = dir / (std::string(238, 'c') + ".safetensors");
    std::filesystem::copy_file(path, long_path);
    const auto long_size = std::filesystem::file_size(long_path);
    const auto msg = message_of([&] { ebm::save_checkpoint(long_path, a); });
    CHECK(msg.find("ebm::save_checkpoint: cannot create the temporary file: File name too long (got '") == 0);
    CHECK(std::filesystem::file_size(long_path) == long_size);
    CHECK(ebm::read_checkpoint_info(long_path).iteration == 2);
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 2);
    CHECK(std::filesystem::file_size(path) == size);

    // A non-finite state is refused before anything is written.
    a.energy().parameters()[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK(message_of([&] { ebm::save_checkpoint(path, a); })
              .find("ebm::save_checkpoint: refusing to save a non-finite state: energy.0.weight[3]") == 0);
    CHECK(ebm::read_checkpoint_info(path).iteration == 2);
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 2);
}

TEST_CASE("checkpoint_folder keeps the newest checkpoints and finds the latest") {
    ebm_test::temp_folder dir("ckpt-folder");
    ebm_test::toy_data data;
    auto a = ebm_test::short_run();
    ebm::checkpoint_folder folder(dir / "run", 2);
    CHECK_FALSE(folder.latest().has_value());
    for (int k = 0; k < 4; ++k) {
        run(a, data, 1);
        folder.save(a);
    }
    const auto all = folder.list();
    REQUIRE(all.size() == 2);
    CHECK(all[0].filename() == "checkpoint-000000000003.safetensors");
    CHECK(folder.latest()->filename() == "checkpoint-000000000004.safetensors");
}

TEST_CASE("MALA's adapted step size travels with the checkpoint") {
    ebm_test::temp_folder dir("ckpt-mala");
    ebm_test::toy_data data;
    ebm::ml_trainer a(ebm_test::toy_net(), ebm::mala{.epsilon = 0.05f, .steps = 5}, ebm::uniform_noise{},
                      ebm::adam{.learning_rate = 1e-3f}, ebm::trainer_options{.batch_size = 16});
    run(a, data, 2);
    a.sampler_state().epsilon = 0.0375f;  // as an adaptation would leave it
    ebm::save_checkpoint(dir / "m.safetensors", a);
    ebm::ml_trainer b(ebm_test::toy_net(), ebm::mala{.epsilon = 0.05f, .steps = 5}, ebm::uniform_noise{},
                      ebm::adam{.learning_rate = 1e-3f}, ebm::trainer_options{.batch_size = 16});
    ebm::load_checkpoint(dir / "m.safetensors", b);
    CHECK(b.sampler_state().epsilon == 0.0375f);
    check_same_state(a, b);
}

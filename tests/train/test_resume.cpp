// Resuming from a checkpoint continues bit-identically: N iterations in one go versus k iterations, a checkpoint,
// a freshly constructed trainer (other initial weights), loading, and N - k more. Parameters, persistent bank,
// optimizer state, counters and the last negatives must agree to the bit — for the Anatomy convergent recipe
// (persistent bank + SGD with annealed rate) and the short-run recipe (uniform init + Adam + annealed data noise).
#include <doctest/doctest.h>

#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <cstring>
#include <vector>

#include "../data/temp_folder.hpp"
#include "trainers.hpp"

namespace {

constexpr int total_iterations = 12;

// Schedules as a training program applies them before each step (a pure function of the iteration).
const ebm::anneal_schedule rate_anneal{.start = 2, .end = 10, .initial_factor = 1.0, .final_factor = 0.1};
const ebm::anneal_schedule noise_anneal{.start = 3, .end = 9, .initial_factor = 1.0, .final_factor = 0.2};

template <class Trainer>
ebm::iteration_record run_until(Trainer& trainer, ebm_test::toy_data& data, std::uint64_t end, float base_rate,
                                float base_noise) {
    ebm::iteration_record last;
    while (trainer.iteration() < end) {
        const auto t = trainer.iteration();
        trainer.optimizer().learning_rate = static_cast<float>(base_rate * rate_anneal.factor(t));
        if (base_noise > 0) trainer.set_data_noise(static_cast<float>(base_noise * noise_anneal.factor(t)));
        last = trainer.step(data.at(t));
        REQUIRE_FALSE(last.diverged);
    }
    return last;
}

template <class Make>
void check_resume(Make make, int k, float base_noise) {
    CAPTURE(k);
    ebm_test::temp_folder dir("resume");
    ebm_test::toy_data data;

    auto straight = make(ebm_test::toy_net());
    const float base_rate = straight.optimizer().learning_rate;
    const auto straight_last = run_until(straight, data, total_iterations, base_rate, base_noise);

    ebm::checkpoint_folder folder(dir / "run");
    {
        auto first = make(ebm_test::toy_net());
        run_until(first, data, static_cast<std::uint64_t>(k), base_rate, base_noise);
        folder.save(first, R"({"test": "resume"})");
    }  // the first trainer is gone, as after a crash

    auto resumed = make(ebm_test::toy_net(/*init_seed=*/4242));  // other weights: all must come from the file
    REQUIRE(folder.latest().has_value());
    ebm::load_checkpoint(*folder.latest(), resumed);
    CHECK(resumed.iteration() == static_cast<std::uint64_t>(k));
    const auto resumed_last = run_until(resumed, data, total_iterations, base_rate, base_noise);

    CHECK(resumed.iteration() == straight.iteration());
    CHECK(resumed.sampler_steps() == straight.sampler_steps());
    CHECK(ebm_test::same_values(resumed.energy().parameters(), straight.energy().parameters()));
    CHECK(resumed.optimizer_state().steps == straight.optimizer_state().steps);
    if constexpr (requires { straight.initializer_state().bank(); }) {
        CHECK(ebm_test::same_values(resumed.initializer_state().bank().values(), straight.initializer_state().bank().values()));
        CHECK(ebm_test::same_values(resumed.initializer_state().permutation(), straight.initializer_state().permutation()));
    }
    if constexpr (requires { straight.optimizer_state().first_moment; }) {
        CHECK(ebm_test::same_values(resumed.optimizer_state().first_moment, straight.optimizer_state().first_moment));
        CHECK(ebm_test::same_values(resumed.optimizer_state().second_moment, straight.optimizer_state().second_moment));
    }
    CHECK(ebm_test::same_values(resumed.negatives().values(), straight.negatives().values()));
    CHECK(std::memcmp(&resumed_last.d, &straight_last.d, sizeof(double)) == 0);
    CHECK(std::memcmp(&resumed_last.r, &straight_last.r, sizeof(double)) == 0);

    // And the parameters did move: the test compares trained states, not two copies of the initial one.
    const auto initial = ebm_test::toy_net();
    CHECK_FALSE(ebm_test::same_values(initial.parameters(), straight.energy().parameters()));
}

}  // namespace

TEST_CASE("resume is bit-identical: Anatomy convergent recipe (persistent bank, SGD, annealed rate)") {
    for (int k : {1, 5, 11}) check_resume([](ebm::mlp net) { return ebm_test::convergent(std::move(net)); }, k, 0.0f);
}

TEST_CASE("resume is bit-identical: short-run recipe (uniform init, Adam, annealed data noise)") {
    for (int k : {1, 5, 11}) check_resume([](ebm::mlp net) { return ebm_test::short_run(std::move(net)); }, k, 0.03f);
}

TEST_CASE("resume is bit-identical with persistent bank + data noise + Adam built from a configuration") {
    const auto c = ebm::parse_config("{}", {"preset=anatomy_convergent", "sampler.steps=5", "sampler.epsilon=0.125",
                                            "optimizer.kind=adam", "optimizer.learning_rate=0.001",
                                            "training.batch_size=16", "init.bank_size=40",
                                            "training.data_noise_anneal={\"start\": 2, \"end\": 6, \"final_factor\": 0.5}"});
    ebm_test::temp_folder dir("resume-config");
    ebm_test::toy_data data;
    std::vector<float> straight_params, resumed_params, straight_bank, resumed_bank;
    ebm::with_trainer(c, ebm_test::toy_net(), [&](auto& t) {
        for (std::uint64_t i = 0; i < 8; ++i) {
            ebm::apply_schedules(t, c, i);
            t.step(data.at(i));
            if (i == 2) ebm::save_checkpoint(dir / "c.safetensors", t, ebm::to_json(c).dump());
        }
        straight_params.assign(t.energy().parameters().begin(), t.energy().parameters().end());
        if constexpr (requires { t.initializer_state().bank(); })
            straight_bank.assign(t.initializer_state().bank().values().begin(), t.initializer_state().bank().values().end());
    });
    const auto info = ebm::read_checkpoint_info(dir / "c.safetensors");
    const auto c2 = ebm::parse_config(info.config);  // the program rebuilds the run from the stored configuration
    ebm::with_trainer(c2, ebm_test::toy_net(77), [&](auto& t) {
        ebm::load_checkpoint(dir / "c.safetensors", t);
        for (std::uint64_t i = t.iteration(); i < 8; ++i) {
            ebm::apply_schedules(t, c2, i);
            t.step(data.at(i));
        }
        resumed_params.assign(t.energy().parameters().begin(), t.energy().parameters().end());
        if constexpr (requires { t.initializer_state().bank(); })
            resumed_bank.assign(t.initializer_state().bank().values().begin(), t.initializer_state().bank().values().end());
    });
    CHECK(ebm_test::same_values(straight_params, resumed_params));
    CHECK(straight_bank.size() == 40u * 2u);
    CHECK(ebm_test::same_values(straight_bank, resumed_bank));
}

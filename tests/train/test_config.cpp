#include "common/error_message.hpp"
#include <doctest/doctest.h>

#include <ebm/energy/mlp.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/train/config.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "../data/temp_folder.hpp"

namespace {
using ebm_test::message_of;

// A small network for 1 x 8 x 8 images, as a user writes it (defaults left out).
const char* const small_network =
    R"({"input": [1, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3},)"
    R"( {"type": "LeakyReLU", "negative_slope": 0.2}, {"type": "Flatten"},)"
    R"( {"type": "Linear", "in_features": 72, "out_features": 1}]})";
}  // namespace

TEST_CASE("presets spell the papers' settings") {
    const auto s = ebm::parse_config("{}");
    CHECK(s.preset == "short_run");
    CHECK(s.init.kind == "uniform");
    CHECK(s.sampler.kind == "langevin_decoupled");
    CHECK(s.sampler.steps == 100);
    CHECK(s.sampler.step_size == 1.0f);
    CHECK(s.sampler.noise == 0.01f);
    CHECK(s.optimizer.kind == "adam");
    CHECK(s.optimizer.learning_rate == 1e-4f);
    CHECK(s.training.data_noise == 0.03f);
    CHECK(s.training.batch_size == 64);

    const auto nc = ebm::parse_config(R"({"preset": "anatomy_non_convergent"})");
    CHECK(nc.sampler.kind == "langevin");
    CHECK(nc.sampler.epsilon == 0.01f);
    CHECK(nc.init.kind == "uniform");
    CHECK(nc.optimizer.kind == "adam");
    CHECK(nc.training.batch_size == 100);

    const auto c = ebm::parse_config(R"({"preset": "anatomy_convergent"})");
    CHECK(c.init.kind == "persistent_bank");
    CHECK(c.init.bank_size == 10000);
    CHECK(c.sampler.steps == 500);
    CHECK(c.sampler.epsilon == 0.015f);
    CHECK(c.training.data_noise == doctest::Approx(0.03f));
    CHECK(c.optimizer.kind == "sgd");
    CHECK(c.optimizer.momentum == 0.0f);
    // gamma = (eps^2/2) gamma0, gamma0 annealed from 0.05 to 0.0005 over 100k updates.
    CHECK(c.learning_rate_at(0) == doctest::Approx(0.05 * 0.5 * 0.015 * 0.015).epsilon(1e-5));
    CHECK(c.learning_rate_at(100000) == doctest::Approx(0.0005 * 0.5 * 0.015 * 0.015).epsilon(1e-5));
    CHECK(c.learning_rate_at(50000) == doctest::Approx(0.005 * 0.5 * 0.015 * 0.015).epsilon(1e-4));

    const auto code = ebm::parse_config(R"({"preset": "anatomy_convergent_code"})");
    CHECK(code.sampler.epsilon == 0.0075f);
    CHECK(code.training.data_noise == doctest::Approx(0.015f));
}

TEST_CASE("mala_at_training_temperature: T = 1 and eps for the Anatomy form, sigma^2/(2 lambda) and sigma for the decoupled") {
    const auto anatomy = ebm::parse_config(R"({"preset": "anatomy_non_convergent"})");
    const auto a = ebm::mala_at_training_temperature(anatomy);
    CHECK(a.temperature == 1.0f);
    CHECK(a.epsilon == anatomy.sampler.epsilon);
    const auto short_run = ebm::parse_config("{}", {"sampler.step_size=0.5", "sampler.noise=0.1"});
    const auto d = ebm::mala_at_training_temperature(short_run);
    CHECK(d.temperature == doctest::Approx(0.01));
    CHECK(d.epsilon == 0.1f);
    CHECK(ebm::mala_at_training_temperature(ebm::parse_config("{}")).temperature == doctest::Approx(5e-5));
    const auto silent = ebm::parse_config("{}", {"sampler.noise=0"});
    CHECK_THROWS_WITH_AS(ebm::mala_at_training_temperature(silent),
                         doctest::Contains("mala_at_training_temperature: a model trained without Langevin noise"),
                         ebm::error);
}

TEST_CASE("sampler.tau: Algorithm 1's noise switch for the Anatomy form (1 by default, 0 = gradient descent)") {
    const auto on = ebm::parse_config(R"({"preset": "anatomy_non_convergent"})");
    CHECK(on.sampler.tau == 1);
    CHECK(ebm::make_langevin(on).noise);
    const auto off = ebm::parse_config(R"({"preset": "anatomy_non_convergent", "sampler": {"tau": 0}})");
    CHECK(off.sampler.tau == 0);
    CHECK_FALSE(ebm::make_langevin(off).noise);
    CHECK(ebm::make_langevin(off).implied_temperature() == 0.0f);
    CHECK(ebm::parse_config(ebm::to_json(off).dump()).sampler.tau == 0);  // kept in checkpoints' configurations
    CHECK_THROWS_WITH_AS(ebm::mala_at_training_temperature(off), doctest::Contains("sampler.tau = 0"), ebm::error);
    CHECK_THROWS_WITH_AS(ebm::parse_config("{}", {"sampler.tau=2"}), doctest::Contains("sampler.tau must be 0 or 1"),
                         ebm::error);
}

TEST_CASE("file entries override the preset, command-line overrides override the file") {
    const auto c = ebm::parse_config(R"({"preset": "anatomy_convergent", "sampler": {"steps": 50}, "training": {"batch_size": 20}})",
                                     {"sampler.steps=7", "output.folder=runs/x y", "training.data_noise=0.1",
                                      "optimizer.anneal={\"start\": 10, \"end\": 20, \"final_factor\": 0.5}"});
    CHECK(c.preset == "anatomy_convergent");
    CHECK(c.sampler.steps == 7);
    CHECK(c.training.batch_size == 20);
    CHECK(c.output.folder == "runs/x y");
    CHECK(c.training.data_noise == doctest::Approx(0.1f));
    CHECK(c.optimizer.anneal.start == 10);
    CHECK(c.optimizer.anneal.initial_factor == 100.0);  // keys not given keep the preset's values
    CHECK(c.optimizer.anneal.factor(15) == doctest::Approx(std::sqrt(100.0 * 0.5)));
    CHECK(c.init.kind == "persistent_bank");

    const auto p = ebm::parse_config("{}", {"preset=anatomy_non_convergent"});
    CHECK(p.sampler.kind == "langevin");
}

TEST_CASE("to_json and parse_config round-trip") {
    for (const auto& name : ebm::config_presets()) {
        const auto c = ebm::preset_config(name);
        const auto again = ebm::config_from_json(ebm::to_json(c));
        CHECK(ebm::to_json(again) == ebm::to_json(c));
    }
}

TEST_CASE("model.architecture network: model.network inline or from a file, kept inline in full, round-trips") {
    const std::string inline_text = std::string(R"({"model": {"architecture": "network", "network": )") + small_network + "}}";
    const auto c = ebm::parse_config(inline_text);
    REQUIRE(c.model.network.is_object());
    const ebm::network_spec spec = ebm::network_spec_from_json(c.model.network);
    CHECK(spec.input == std::vector<ebm::index>{1, 8, 8});
    CHECK(spec.layers.size() == 4);
    // Stored in network_spec_to_json's full form: every default spelled out.
    CHECK(c.model.network == ebm::network_spec_to_json(ebm::network_spec_from_json(nlohmann::json::parse(small_network))));
    CHECK(c.model.network["layers"][0]["stride"] == 1);
    CHECK(ebm::to_json(c)["model"]["network"] == c.model.network);

    // A file: read when the configuration is, stored inline (a checkpoint's configuration needs no other file).
    ebm_test::temp_folder dir("config-network");
    std::ofstream(dir / "net.json") << small_network;
    const auto from_file = ebm::parse_config(R"({"model": {"architecture": "network"}})",
                                             {"model.network=" + (dir / "net.json").string()});
    CHECK(from_file.model.network == c.model.network);
    CHECK(ebm::to_json(from_file) == ebm::to_json(c));
    // In a configuration file, a relative path is relative to that file's folder.
    std::ofstream(dir / "run.json") << R"({"model": {"architecture": "network", "network": "net.json"}})";
    CHECK(ebm::load_config(dir / "run.json").model.network == c.model.network);

    // Round trip: config_from_json(to_json(c)) is c; the other architectures keep model.network null.
    CHECK(ebm::to_json(ebm::config_from_json(ebm::to_json(c))) == ebm::to_json(c));
    CHECK(ebm::to_json(ebm::parse_config(ebm::to_json(c).dump())) == ebm::to_json(c));
    CHECK(ebm::to_json(ebm::parse_config("{}"))["model"]["network"].is_null());
    CHECK(ebm::parse_config("{}", {"model.network=\"\""}).model.network.is_null());  // "" is none
}

TEST_CASE("model.architecture network: a missing, misplaced or bad model.network is an error naming it") {
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"model.architecture=network"}); }) ==
          "ebm::train_config: model.architecture network needs model.network (a network description or the path of "
          "its .json file) (got 'nothing')");
    CHECK(message_of([] {
              (void)ebm::parse_config("{}", {std::string("model.network=") + small_network});
          }) == "ebm::train_config: model.network applies to model.architecture network only (got 'convnet')");
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"model.architecture=network", "model.network=3"}); }) ==
          "ebm::train_config: key 'model.network' must be a network description (a JSON object) or the path of a "
          ".json file (got '3')");
    // A bad description: the reader's message, and where it came from.
    const std::string unknown = message_of([] {
        (void)ebm::parse_config(R"({"model": {"architecture": "network", "network": {"input": [1, 8, 8], )"
                                R"("layers": [{"type": "Dense"}]}}})");
    });
    CHECK(unknown.find("ebm::network_spec_from_json: layers[0]: unknown layer type 'Dense'") == 0);
    CHECK(unknown.ends_with(" [in model.network]"));
    const std::string shapes = message_of([] {
        (void)ebm::parse_config(R"({"model": {"architecture": "network", "network": {"input": [1, 8, 8], )"
                                R"("layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 60, "out_features": 1}]}}})");
    });
    CHECK(shapes.find("layers[1] (Linear): in_features must equal the size of its input [64]") != std::string::npos);
    // Files: missing, not JSON, a bad description, each named.
    ebm_test::temp_folder dir("config-network-bad");
    const std::string missing = (dir / "absent.json").string();
    CHECK(message_of([&] { (void)ebm::parse_config("{}", {"model.architecture=network", "model.network=" + missing}); }) ==
          "ebm::load_network_spec: cannot open the network description (got '" + missing + "') [in model.network '" +
              missing + "']");
    std::ofstream(dir / "broken.json") << "{\"input\": [1, 8, 8], ";
    const std::string broken = (dir / "broken.json").string();
    CHECK(message_of([&] { (void)ebm::parse_config("{}", {"model.architecture=network", "model.network=" + broken}); })
              .find("ebm::load_network_spec: " + broken + " is not valid JSON") == 0);
    std::ofstream(dir / "dense.json") << R"({"input": [1, 8, 8], "layers": [{"type": "Dense"}]})";
    const std::string dense = (dir / "dense.json").string();
    const std::string from_file =
        message_of([&] { (void)ebm::parse_config("{}", {"model.architecture=network", "model.network=" + dense}); });
    CHECK(from_file.find("unknown layer type 'Dense'") != std::string::npos);
    CHECK(from_file.ends_with("[in model.network '" + dense + "']"));
}

TEST_CASE("unknown presets, sections and keys, and bad values, are errors naming the key") {
    CHECK(message_of([] { (void)ebm::parse_config(R"({"preset": "long_run"})"); }) ==
          "ebm::train_config: unknown preset (known: short_run, anatomy_non_convergent, anatomy_convergent, "
          "anatomy_convergent_code) (got 'long_run')");
    CHECK(message_of([] { (void)ebm::parse_config(R"({"sampler": {"stepz": 3}})"); }) ==
          "ebm::train_config: unknown key in the configuration (got 'sampler.stepz')");
    CHECK(message_of([] { (void)ebm::parse_config(R"({"samplr": {}})"); }) ==
          "ebm::train_config: unknown key in the configuration (got 'samplr')");
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"optimizer.anneal.stop=3"}); }) ==
          "ebm::train_config: unknown key in the configuration (got 'optimizer.anneal.stop')");
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"sampler.steps=many"}); }) ==
          "ebm::train_config: key 'sampler.steps' must be an integer (got '\"many\"')");
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"sampler.steps=-3"}); }).find("sampler.steps must be >= 0") !=
          std::string::npos);
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"init.kind=cd"}); }) ==
          "ebm::train_config: init.kind must be one of uniform, gaussian, persistent_bank, data (got 'cd')");
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"init.data_noise=-0.5"}); }).find("init.data_noise must be >= 0") !=
          std::string::npos);
    CHECK(message_of([] { (void)ebm::parse_config("{}", {"steps"}); }).find("ebm::apply_override: an override must read") == 0);
    CHECK(message_of([] { (void)ebm::parse_config("{not json"); }).find("ebm::parse_config: the configuration is not valid JSON") == 0);
    CHECK(message_of([] { (void)ebm::parse_config(R"({"data": {"source": "idx"}})"); }).find("data.path must be set") !=
          std::string::npos);
    CHECK(message_of([] { (void)ebm::load_config("/nonexistent/config.json"); }) ==
          "ebm::load_config: configuration file not found (got '/nonexistent/config.json')");
}

TEST_CASE("with_trainer builds every configured combination, apply_schedules anneals rate and data noise") {
    int built = 0;
    for (const char* sampler : {"langevin", "langevin_decoupled"})
        for (const char* init : {"uniform", "gaussian", "persistent_bank", "data"})
            for (const char* opt : {"adam", "sgd"}) {
                const auto c = ebm::parse_config(
                    "{}", {std::string("sampler.kind=") + sampler, std::string("init.kind=") + init,
                           std::string("optimizer.kind=") + opt, "sampler.steps=2", "training.batch_size=4",
                           "init.bank_size=8", "training.data_noise_anneal={\"start\": 0, \"end\": 1, \"final_factor\": 0.5}"});
                ebm::with_trainer(c, ebm::mlp({2, 4, 1}, ebm::leaky_relu{0.1f}), [&](auto& trainer) {
                    std::vector<float> x(8, 0.1f);
                    ebm::apply_schedules(trainer, c, 1);
                    CHECK(trainer.options().data_noise == doctest::Approx(0.015f));
                    const auto rec = trainer.step(ebm::const_batch_view(x.data(), 2, 4));
                    CHECK(!rec.diverged);
                    ++built;
                });
            }
    CHECK(built == 16);
}

TEST_CASE("init.kind data: chains start from the chain-data batch plus init.data_noise") {
    const auto c = ebm::parse_config("{}", {"init.kind=data", "init.data_noise=0", "sampler.steps=0",
                                            "training.batch_size=3", "training.data_noise=0"});
    ebm::with_trainer(c, ebm::mlp({2, 4, 1}, ebm::leaky_relu{0.1f}), [&](auto& trainer) {
        const std::vector<float> positives{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, starts{-0.1f, -0.2f, -0.3f, -0.4f, -0.5f, -0.6f};
        trainer.step(ebm::const_batch_view(positives.data(), 2, 3), ebm::const_batch_view(starts.data(), 2, 3));
        for (std::size_t k = 0; k < starts.size(); ++k) CHECK(trainer.negatives().data[k] == starts[k]);
    });
}

#pragma once
// Configuration of an image training run: a JSON file, a preset for the papers' settings, and command-line
// overrides `section.key=value`. Resolution order: preset defaults (the file's "preset", or "short_run"), then
// the file, then the overrides. Unknown presets, sections and keys are errors that name the key, before any work.
//
// Presets (the authors' image configurations, docs/training.md):
//   short_run                 uniform [-1,1] init every iteration, K = 100 decoupled Langevin (lambda 1, sigma
//                             0.01), Adam 1e-4 (0.9, 0.999), data noise 0.03, batch 64, LeakyReLU 0.2, n_f 64
//   anatomy_non_convergent    uniform init, L = 100 Langevin eps 0.01 on U = F/(eps^2/2), Adam 1e-4, data noise
//                             0.03, batch 100, n_f 32, LeakyReLU 0.05
//   anatomy_convergent        persistent bank of 10,000 from U[-1,1], L = 500, eps 0.015 (paper), SGD without
//                             momentum at gamma = (eps^2/2) gamma0, gamma0 annealed 0.05 -> 0.0005 over 100k
//                             updates, data noise 2 eps = 0.03, batch 100, n_f 32, LeakyReLU 0.05
//   anatomy_convergent_code   the same with the authors' code's eps 0.0075 and data noise 0.015
// Annealing (short-run paper Sec. 5.1; Anatomy's learning-rate warm start): `anneal` multiplies a base value by
// a factor going geometrically from initial_factor (up to `start`) to final_factor (from `end` on).
// model.architecture "network" takes its network from model.network: a description (energy/network_json.hpp) or the
// path of a .json file holding one (in a configuration file, relative to that file's folder). It is checked when
// read and kept inline, in full, so the configuration a checkpoint stores is self-contained.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../energy/network_json.hpp"
#include "../energy/scaled.hpp"
#include "../error.hpp"
#include "../init/data.hpp"
#include "../init/noise.hpp"
#include "../init/persistent_bank.hpp"
#include "../optim/adam.hpp"
#include "../optim/schedules.hpp"
#include "../optim/sgd.hpp"
#include "../sampler/langevin.hpp"
#include "ml_trainer.hpp"

namespace ebm {

/// factor(t) = initial up to `start`, final from `end` on, geometric in between.
struct anneal_schedule {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    double initial_factor = 1.0;
    double final_factor = 1.0;

    [[nodiscard]] double factor(std::uint64_t t) const {
        if (end <= start) return t < start ? initial_factor : final_factor;  // a step at `start`
        if (t <= start) return initial_factor;
        if (t >= end) return final_factor;
        const double u = static_cast<double>(t - start) / static_cast<double>(end - start);
        return initial_factor * std::pow(final_factor / initial_factor, u);
    }
    void validate(const std::string& name) const {
        detail::require_positive("train_config", name + ".initial_factor", initial_factor);
        detail::require_positive("train_config", name + ".final_factor", final_factor);
        if (end < start) detail::fail("train_config", name + ".end must be >= " + name + ".start", end);
    }
};

struct train_config {
    std::string preset = "short_run";

    struct data_section {
        std::string source = "fashion_mnist";  // fashion_mnist | idx | cifar10 | image_folder
        std::string path;                      // file (idx), folder (cifar10, image_folder); default for fashion_mnist
        std::string labels;                    // optional labels file (idx)
        bool train_split = true;               // fashion_mnist / cifar10: training or test files
        index image_size = 32;                 // the network's height and width
        index channels = 1;
        std::string fit = "pad";               // pad | resize
        index limit = 0;                       // keep the first `limit` images (0: all)
    } data;

    struct model_section {
        std::string architecture = "convnet";  // convnet (short-run paper) | vanilla | nonlocal (Anatomy code, 32 px)
                                               // | network (model.network)
        nlohmann::json network;      // network: the description (network_spec_to_json's form); null otherwise
        index features = 64;         // n_f
        float negative_slope = 0.2f;
        std::uint64_t init_seed = 0;
    } model;

    struct sampler_section {
        std::string kind = "langevin_decoupled";  // langevin (Anatomy form on U = F/(eps^2/2)) | langevin_decoupled
        index steps = 100;
        float epsilon = 0.01f;     // langevin
        int tau = 1;               // langevin: Algorithm 1's tau, 1 (noise on) or 0 (gradient descent, noise off)
        float step_size = 1.0f;    // langevin_decoupled: lambda
        float noise = 0.01f;       // langevin_decoupled: sigma
    } sampler;

    struct init_section {
        std::string kind = "uniform";  // uniform | gaussian | persistent_bank | data
        float low = -1.0f;
        float high = 1.0f;
        float scale = 1.0f;            // gaussian
        index bank_size = 10'000;      // persistent_bank (states drawn from U[low, high])
        float rejuvenation = 0.0f;
        float data_noise = 0.03f;      // data (CD): sigma of the noise on the chain starts, a batch drawn
                                       // independently of the positives (the papers' data noise, 0.03)
    } init;

    struct optimizer_section {
        std::string kind = "adam";  // adam | sgd
        float learning_rate = 1e-4f;
        bool scale_by_step = false;  // sgd on the rescaled energy: gamma = (eps^2/2) * learning_rate (Anatomy Eq. 13)
        float beta1 = 0.9f;
        float beta2 = 0.999f;
        float momentum = 0.0f;
        anneal_schedule anneal{};
    } optimizer;

    struct training_section {
        std::uint64_t iterations = 100'000;
        index batch_size = 64;
        std::uint64_t seed = 1;
        float data_noise = 0.03f;
        anneal_schedule data_noise_anneal{};
    } training;

    struct output_section {
        std::string folder = "runs/train";
        std::uint64_t image_every = 1000;       // PNG grid of negatives (0: never)
        std::uint64_t checkpoint_every = 1000;  // (0: only at the end)
        int keep_checkpoints = 2;
        index grid_images = 64;
        bool progress = true;                   // live line, only when stdout is a terminal
    } output;

    struct divergence_section {
        double energy_limit = 1e8;  // |mean energy| above this counts as divergence
        int max_retries = 3;        // rollbacks to the last good checkpoint before giving up
    } divergence;

    /// The learning rate the optimizer starts from (before annealing).
    [[nodiscard]] float base_learning_rate() const {
        if (optimizer.scale_by_step && sampler.kind == "langevin") return anatomy_scaled_rate(optimizer.learning_rate, sampler.epsilon);
        return optimizer.learning_rate;
    }
    [[nodiscard]] float learning_rate_at(std::uint64_t t) const {
        return static_cast<float>(base_learning_rate() * optimizer.anneal.factor(t));
    }
    [[nodiscard]] float data_noise_at(std::uint64_t t) const {
        return static_cast<float>(training.data_noise * training.data_noise_anneal.factor(t));
    }

    void validate() const {
        const char* w = "train_config";
        auto one_of = [&](const std::string& key, const std::string& value, std::initializer_list<const char*> allowed) {
            std::string list;
            for (const char* a : allowed) {
                if (value == a) return;
                list += (list.empty() ? "" : ", ") + std::string(a);
            }
            detail::fail(w, key + " must be one of " + list, value);
        };
        one_of("data.source", data.source, {"fashion_mnist", "idx", "cifar10", "image_folder"});
        one_of("data.fit", data.fit, {"pad", "resize"});
        if (data.source != "fashion_mnist" && data.path.empty())
            detail::fail(w, "data.path must be set for data.source " + data.source, data.path);
        detail::require_positive(w, "data.image_size", data.image_size);
        if (data.channels != 1 && data.channels != 3) detail::fail(w, "data.channels must be 1 or 3", data.channels);
        detail::require_non_negative(w, "data.limit", data.limit);
        if (model.architecture == "network" && model.network.is_null())
            detail::fail(w, "model.architecture network needs model.network (a network description or the path of "
                            "its .json file)", "nothing");
        if (model.architecture != "network" && !model.network.is_null())
            detail::fail(w, "model.network applies to model.architecture network only", model.architecture);
        detail::require_positive(w, "model.features", model.features);
        detail::require_in_closed(w, "model.negative_slope", model.negative_slope, 0.0f, 1.0f);
        one_of("sampler.kind", sampler.kind, {"langevin", "langevin_decoupled"});
        detail::require_non_negative(w, "sampler.steps", sampler.steps);
        detail::require_positive(w, "sampler.epsilon", sampler.epsilon);
        if (sampler.tau != 0 && sampler.tau != 1) detail::fail(w, "sampler.tau must be 0 or 1", sampler.tau);
        detail::require_positive(w, "sampler.step_size", sampler.step_size);
        detail::require_non_negative(w, "sampler.noise", sampler.noise);
        one_of("init.kind", init.kind, {"uniform", "gaussian", "persistent_bank", "data"});
        if (!(init.low < init.high)) detail::fail(w, "init.low must be < init.high = " + detail::to_text(init.high), init.low);
        detail::require_positive(w, "init.scale", init.scale);
        detail::require_positive(w, "init.bank_size", init.bank_size);
        if (init.kind == "persistent_bank" && init.bank_size < training.batch_size)
            detail::fail(w, "init.bank_size must be >= training.batch_size = " + detail::to_text(training.batch_size),
                         init.bank_size);
        detail::require_in_closed(w, "init.rejuvenation", init.rejuvenation, 0.0f, 1.0f);
        detail::require_non_negative(w, "init.data_noise", init.data_noise);
        detail::require_finite(w, "init.data_noise", init.data_noise);
        one_of("optimizer.kind", optimizer.kind, {"adam", "sgd"});
        detail::require_positive(w, "optimizer.learning_rate", optimizer.learning_rate);
        detail::require_in_closed(w, "optimizer.beta1", optimizer.beta1, 0.0f, 0.999999f);
        detail::require_in_closed(w, "optimizer.beta2", optimizer.beta2, 0.0f, 0.999999f);
        detail::require_in_closed(w, "optimizer.momentum", optimizer.momentum, 0.0f, 1.0f);
        optimizer.anneal.validate("optimizer.anneal");
        detail::require_positive(w, "training.iterations", training.iterations);
        detail::require_positive(w, "training.batch_size", training.batch_size);
        detail::require_non_negative(w, "training.data_noise", training.data_noise);
        training.data_noise_anneal.validate("training.data_noise_anneal");
        if (output.folder.empty()) detail::fail(w, "output.folder must not be empty", output.folder);
        detail::require_positive(w, "output.keep_checkpoints", output.keep_checkpoints);
        detail::require_positive(w, "output.grid_images", output.grid_images);
        detail::require_positive(w, "divergence.energy_limit", divergence.energy_limit);
        detail::require_non_negative(w, "divergence.max_retries", divergence.max_retries);
        if (divergence.max_retries > 255) detail::fail(w, "divergence.max_retries must be <= 255", divergence.max_retries);
    }
};

namespace detail::config {

using json = nlohmann::json;

/// model.network as the configuration keeps it: a description (checked, in network_spec_to_json's full form), or
/// null for none (absent, null or ""). A string names a .json file; errors say which.
inline json network_description(const json& v) {
    if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) return nullptr;
    if (v.is_string()) {
        const std::string path = v.get<std::string>();
        try {
            return network_spec_to_json(load_network_spec(path));
        } catch (const error& e) {
            throw error(std::string(e.what()) + " [in model.network '" + path + "']");
        }
    }
    if (!v.is_object())
        fail("train_config", "key 'model.network' must be a network description (a JSON object) or the path of a "
                             ".json file", v.dump());
    try {
        return network_spec_to_json(network_spec_from_json(v));
    } catch (const error& e) {
        throw error(std::string(e.what()) + " [in model.network]");
    }
}

/// The configuration's JSON text ("" is the empty configuration).
inline json parse_text(std::string_view text) {
    try {
        return text.empty() ? json::object() : json::parse(text);
    } catch (const json::exception& e) {
        fail("parse_config", "the configuration is not valid JSON", std::string(e.what()));
    }
}

/// Reads the keys of one JSON object, rejecting any it was not asked for.
class section_reader {
public:
    section_reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
        if (!object_.is_object()) fail("train_config", "'" + path_ + "' must be a JSON object", object_.dump());
    }
    template <class T>
    void read(const char* key, T& out) {
        seen_.insert(key);
        const auto it = object_.find(key);
        if (it == object_.end()) return;
        const std::string name = qualified(key);
        const json& v = *it;
        if constexpr (std::is_same_v<T, bool>) {
            if (!v.is_boolean()) fail("train_config", "key '" + name + "' must be true or false", v.dump());
            out = v.get<bool>();
        } else if constexpr (std::is_same_v<T, std::string>) {
            if (!v.is_string()) fail("train_config", "key '" + name + "' must be a string", v.dump());
            out = v.get<std::string>();
        } else if constexpr (std::is_integral_v<T>) {
            // Range-checked: a value the field cannot hold is an error, never wrapped around.
            if (!v.is_number_integer()) fail("train_config", "key '" + name + "' must be an integer", v.dump());
            constexpr auto low = std::numeric_limits<T>::min();
            constexpr auto high = std::numeric_limits<T>::max();
            const std::string range = "' must lie in [" + std::to_string(low) + ", " + std::to_string(high) + "]";
            if (v.is_number_unsigned()) {
                const auto u = v.get<std::uint64_t>();
                if (u > static_cast<std::uint64_t>(high)) fail("train_config", "key '" + name + range, v.dump());
                out = static_cast<T>(u);
            } else {
                const auto i = v.get<std::int64_t>();
                if constexpr (std::is_unsigned_v<T>) {
                    if (i < 0) fail("train_config", "key '" + name + "' must be >= 0", v.dump());
                } else {
                    if (i < static_cast<std::int64_t>(low) || i > static_cast<std::int64_t>(high))
                        fail("train_config", "key '" + name + range, v.dump());
                }
                out = static_cast<T>(i);
            }
        } else if constexpr (std::is_same_v<T, json>) {
            out = network_description(v);  // model.network, the one key that holds JSON
        } else if constexpr (std::is_floating_point_v<T>) {
            // Finite in the field's own type: 1e300 must not become a float infinity that passes "> 0" checks.
            if (!v.is_number()) fail("train_config", "key '" + name + "' must be a number", v.dump());
            const double d = v.get<double>();
            if (!std::isfinite(d) || std::abs(d) > static_cast<double>(std::numeric_limits<T>::max()))
                fail("train_config", "key '" + name + "' must be a finite number within +-" +
                                         detail::to_text(std::numeric_limits<T>::max()), v.dump());
            out = static_cast<T>(d);
        } else {
            static_assert(std::is_same_v<T, anneal_schedule>);
            section_reader sub(v, name);
            sub.read("start", out.start);
            sub.read("end", out.end);
            sub.read("initial_factor", out.initial_factor);
            sub.read("final_factor", out.final_factor);
            sub.finish();
        }
    }
    [[nodiscard]] section_reader section(const char* key) {
        seen_.insert(key);
        static const json empty = json::object();
        const auto it = object_.find(key);
        return {it == object_.end() ? empty : *it, qualified(key)};
    }
    void finish() const {
        for (const auto& [key, value] : object_.items())
            if (!seen_.contains(key)) fail("train_config", "unknown key in the configuration", qualified(key));
    }

private:
    [[nodiscard]] std::string qualified(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
    const json& object_;
    std::string path_;
    std::set<std::string> seen_;
};

inline json anneal_json(const anneal_schedule& a) {
    return {{"start", a.start}, {"end", a.end}, {"initial_factor", a.initial_factor}, {"final_factor", a.final_factor}};
}

}  // namespace detail::config

/// The configuration as JSON (all keys; config_from_json(to_json(c)) == c).
inline nlohmann::json to_json(const train_config& c) {
    using detail::config::anneal_json;
    return {
        {"preset", c.preset},
        {"data",
         {{"source", c.data.source}, {"path", c.data.path}, {"labels", c.data.labels}, {"train_split", c.data.train_split},
          {"image_size", c.data.image_size}, {"channels", c.data.channels}, {"fit", c.data.fit}, {"limit", c.data.limit}}},
        {"model",
         {{"architecture", c.model.architecture}, {"network", c.model.network}, {"features", c.model.features},
          {"negative_slope", c.model.negative_slope}, {"init_seed", c.model.init_seed}}},
        {"sampler",
         {{"kind", c.sampler.kind}, {"steps", c.sampler.steps}, {"epsilon", c.sampler.epsilon},
          {"tau", c.sampler.tau}, {"step_size", c.sampler.step_size}, {"noise", c.sampler.noise}}},
        {"init",
         {{"kind", c.init.kind}, {"low", c.init.low}, {"high", c.init.high}, {"scale", c.init.scale},
          {"bank_size", c.init.bank_size}, {"rejuvenation", c.init.rejuvenation},
          {"data_noise", c.init.data_noise}}},
        {"optimizer",
         {{"kind", c.optimizer.kind}, {"learning_rate", c.optimizer.learning_rate},
          {"scale_by_step", c.optimizer.scale_by_step}, {"beta1", c.optimizer.beta1}, {"beta2", c.optimizer.beta2},
          {"momentum", c.optimizer.momentum}, {"anneal", anneal_json(c.optimizer.anneal)}}},
        {"training",
         {{"iterations", c.training.iterations}, {"batch_size", c.training.batch_size}, {"seed", c.training.seed},
          {"data_noise", c.training.data_noise}, {"data_noise_anneal", anneal_json(c.training.data_noise_anneal)}}},
        {"output",
         {{"folder", c.output.folder}, {"image_every", c.output.image_every},
          {"checkpoint_every", c.output.checkpoint_every}, {"keep_checkpoints", c.output.keep_checkpoints},
          {"grid_images", c.output.grid_images}, {"progress", c.output.progress}}},
        {"divergence", {{"energy_limit", c.divergence.energy_limit}, {"max_retries", c.divergence.max_retries}}},
    };
}

/// Names of the presets.
inline std::vector<std::string> config_presets() {
    return {"short_run", "anatomy_non_convergent", "anatomy_convergent", "anatomy_convergent_code"};
}

/// The full configuration of a preset (an unknown name is an ebm::error listing the known ones).
inline train_config preset_config(const std::string& name) {
    train_config c;  // the defaults are the short-run paper's
    c.preset = name;
    if (name == "short_run") return c;
    // Both Anatomy settings: the authors' VanillaNet (n_f 32, LeakyReLU 0.05), U = F/(eps^2/2), batch 100.
    c.model.features = 32;
    c.model.negative_slope = 0.05f;
    c.sampler.kind = "langevin";
    c.training.batch_size = 100;
    if (name == "anatomy_non_convergent") {
        c.sampler.steps = 100;
        c.sampler.epsilon = 0.01f;
        c.optimizer = {};
        c.optimizer.kind = "adam";
        c.optimizer.learning_rate = 1e-4f;
        c.training.data_noise = 0.03f;
        return c;
    }
    if (name == "anatomy_convergent" || name == "anatomy_convergent_code") {
        const bool code = name == "anatomy_convergent_code";
        c.sampler.steps = 500;
        c.sampler.epsilon = code ? 0.0075f : 0.015f;
        c.init.kind = "persistent_bank";
        c.init.bank_size = 10'000;
        c.optimizer.kind = "sgd";
        c.optimizer.learning_rate = 0.0005f;  // gamma0
        c.optimizer.scale_by_step = true;
        c.optimizer.momentum = 0.0f;
        c.optimizer.anneal = {.start = 0, .end = 100'000, .initial_factor = 100.0, .final_factor = 1.0};  // 0.05 -> 0.0005
        c.training.data_noise = 2.0f * c.sampler.epsilon;
        return c;
    }
    std::string known;
    for (const auto& p : config_presets()) known += (known.empty() ? "" : ", ") + p;
    detail::fail("train_config", "unknown preset (known: " + known + ")", name);
}

/// Applies one override "section.key=value" to a JSON configuration. The value is read as JSON when it parses
/// (numbers, true/false, quoted strings, objects) and as a plain string otherwise.
inline void apply_override(nlohmann::json& config, std::string_view assignment) {
    const auto eq = assignment.find('=');
    if (eq == std::string_view::npos || eq == 0)
        detail::fail("apply_override", "an override must read key=value, e.g. sampler.steps=50", std::string(assignment));
    const std::string key(assignment.substr(0, eq));
    const std::string text(assignment.substr(eq + 1));
    nlohmann::json value;
    try {
        value = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        value = text;
    }
    nlohmann::json* node = &config;
    std::size_t start = 0;
    while (true) {
        const auto dot = key.find('.', start);
        const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (part.empty()) detail::fail("apply_override", "empty component in key", key);
        if (!node->is_object()) detail::fail("apply_override", "key does not name a configuration entry", key);
        if (dot == std::string::npos) {
            (*node)[part] = value;
            return;
        }
        node = &(*node)[part];
        if (node->is_null()) *node = nlohmann::json::object();
        start = dot + 1;
    }
}

/// A configuration from JSON: the preset named by "preset" (default short_run), then the JSON's entries.
/// Unknown keys and bad values are ebm::errors naming the key.
inline train_config config_from_json(const nlohmann::json& j) {
    using detail::config::section_reader;
    if (!j.is_object()) detail::fail("train_config", "the configuration must be a JSON object", j.dump());
    std::string preset = "short_run";
    if (const auto it = j.find("preset"); it != j.end()) {
        if (!it->is_string()) detail::fail("train_config", "key 'preset' must be a string", it->dump());
        preset = it->get<std::string>();
    }
    train_config c = preset_config(preset);
    section_reader top(j, "");
    top.read("preset", c.preset);
    {
        auto s = top.section("data");
        s.read("source", c.data.source);
        s.read("path", c.data.path);
        s.read("labels", c.data.labels);
        s.read("train_split", c.data.train_split);
        s.read("image_size", c.data.image_size);
        s.read("channels", c.data.channels);
        s.read("fit", c.data.fit);
        s.read("limit", c.data.limit);
        s.finish();
    }
    {
        auto s = top.section("model");
        s.read("architecture", c.model.architecture);
        s.read("network", c.model.network);
        s.read("features", c.model.features);
        s.read("negative_slope", c.model.negative_slope);
        s.read("init_seed", c.model.init_seed);
        s.finish();
    }
    {
        auto s = top.section("sampler");
        s.read("kind", c.sampler.kind);
        s.read("steps", c.sampler.steps);
        s.read("epsilon", c.sampler.epsilon);
        s.read("tau", c.sampler.tau);
        s.read("step_size", c.sampler.step_size);
        s.read("noise", c.sampler.noise);
        s.finish();
    }
    {
        auto s = top.section("init");
        s.read("kind", c.init.kind);
        s.read("low", c.init.low);
        s.read("high", c.init.high);
        s.read("scale", c.init.scale);
        s.read("bank_size", c.init.bank_size);
        s.read("rejuvenation", c.init.rejuvenation);
        s.read("data_noise", c.init.data_noise);
        s.finish();
    }
    {
        auto s = top.section("optimizer");
        s.read("kind", c.optimizer.kind);
        s.read("learning_rate", c.optimizer.learning_rate);
        s.read("scale_by_step", c.optimizer.scale_by_step);
        s.read("beta1", c.optimizer.beta1);
        s.read("beta2", c.optimizer.beta2);
        s.read("momentum", c.optimizer.momentum);
        s.read("anneal", c.optimizer.anneal);
        s.finish();
    }
    {
        auto s = top.section("training");
        s.read("iterations", c.training.iterations);
        s.read("batch_size", c.training.batch_size);
        s.read("seed", c.training.seed);
        s.read("data_noise", c.training.data_noise);
        s.read("data_noise_anneal", c.training.data_noise_anneal);
        s.finish();
    }
    {
        auto s = top.section("output");
        s.read("folder", c.output.folder);
        s.read("image_every", c.output.image_every);
        s.read("checkpoint_every", c.output.checkpoint_every);
        s.read("keep_checkpoints", c.output.keep_checkpoints);
        s.read("grid_images", c.output.grid_images);
        s.read("progress", c.output.progress);
        s.finish();
    }
    {
        auto s = top.section("divergence");
        s.read("energy_limit", c.divergence.energy_limit);
        s.read("max_retries", c.divergence.max_retries);
        s.finish();
    }
    top.finish();
    c.validate();
    return c;
}

/// JSON text -> configuration, with overrides applied first.
inline train_config parse_config(std::string_view text, const std::vector<std::string>& overrides = {}) {
    nlohmann::json j = detail::config::parse_text(text);
    for (const auto& o : overrides) apply_override(j, o);
    return config_from_json(j);
}

/// A configuration file (JSON) plus overrides; a missing file is an ebm::error.
inline train_config load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) detail::fail("load_config", "configuration file not found", path.string());
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
        nlohmann::json j = detail::config::parse_text(text);
        // A network file the configuration file names lies beside it; an override's path is the caller's.
        if (j.is_object() && j.contains("model") && j["model"].is_object() && j["model"].contains("network")) {
            nlohmann::json& network = j["model"]["network"];
            if (network.is_string() && !network.get<std::string>().empty() &&
                std::filesystem::path(network.get<std::string>()).is_relative())
                network = (path.parent_path() / network.get<std::string>()).string();
        }
        for (const auto& o : overrides) apply_override(j, o);
        return config_from_json(j);
    } catch (const error& e) {
        throw error(std::string(e.what()) + " [in '" + path.string() + "']");
    }
}

// ---- policies from a configuration ----------------------------------------------------------------------------

inline trainer_options make_trainer_options(const train_config& c) {
    return {.batch_size = c.training.batch_size, .data_noise = c.data_noise_at(0), .random_seed = seed{c.training.seed}};
}
inline langevin make_langevin(const train_config& c) {
    return {.epsilon = c.sampler.epsilon, .steps = c.sampler.steps, .noise = c.sampler.tau == 1};
}
inline langevin_decoupled make_langevin_decoupled(const train_config& c) {
    return {.step_size_lambda = c.sampler.step_size, .noise_sigma = c.sampler.noise, .steps = c.sampler.steps};
}
/// MALA at the temperature of the training chain (the authors always sample f/T with the T of training). The
/// Anatomy form runs x <- x - (eps^2/2) dU/dx + eps z on the trainer's energy U = F/(eps^2/2): that is Langevin on U
/// itself, so T = 1 and the step is eps. The decoupled form x <- x - lambda dU/dx + sigma z is Langevin on U/T with
/// T = sigma^2/(2 lambda) (langevin_decoupled::implied_temperature) and step sigma: at the short-run defaults
/// T = 5e-5, so MALA on U at T = 1 would be 20,000 times hotter than the chain the model learned with.
struct training_temperature_mala {
    float temperature = 1.0f;  // sample exp(-U/T) of the trainer's energy U
    float epsilon = 0.01f;     // MALA's step on U/T
};
inline training_temperature_mala mala_at_training_temperature(const train_config& c) {
    const float temperature = c.sampler.kind == "langevin" ? make_langevin(c).implied_temperature()
                                                           : make_langevin_decoupled(c).implied_temperature();
    if (!(temperature > 0.0f))
        detail::fail("mala_at_training_temperature",
                     "a model trained without Langevin noise (sampler.noise = 0 or sampler.tau = 0) has no training "
                     "temperature to sample at",
                     temperature);
    if (c.sampler.kind == "langevin") return {temperature, c.sampler.epsilon};
    return {temperature, c.sampler.noise};
}

inline adam make_adam(const train_config& c) {
    return {.learning_rate = c.learning_rate_at(0), .beta1 = c.optimizer.beta1, .beta2 = c.optimizer.beta2};
}
inline sgd make_sgd(const train_config& c) { return {.learning_rate = c.learning_rate_at(0), .momentum = c.optimizer.momentum}; }

/// Builds the ml_trainer the configuration describes around `net` and calls fn(trainer). The sampler kind
/// decides the energy: "langevin" runs on U = F/(eps^2/2) (scaled), "langevin_decoupled" on F itself.
/// Every combination of sampler, initializer and optimizer is instantiated, so `fn` is a generic lambda.
template <class F, class Fn>
decltype(auto) with_trainer(const train_config& c, F net, Fn&& fn) {
    c.validate();
    const trainer_options options = make_trainer_options(c);
    auto with_optimizer = [&](auto energy, auto sampler, auto init) -> decltype(auto) {
        if (c.optimizer.kind == "sgd") {
            ml_trainer t(std::move(energy), sampler, init, make_sgd(c), options);
            return fn(t);
        }
        ml_trainer t(std::move(energy), sampler, init, make_adam(c), options);
        return fn(t);
    };
    auto with_init = [&](auto energy, auto sampler) -> decltype(auto) {
        if (c.init.kind == "persistent_bank")
            return with_optimizer(std::move(energy), sampler,
                                  persistent_bank<uniform_noise>{.size = c.init.bank_size,
                                                                 .init = uniform_noise{c.init.low, c.init.high},
                                                                 .rejuvenation = c.init.rejuvenation});
        if (c.init.kind == "gaussian") return with_optimizer(std::move(energy), sampler, gaussian_noise{c.init.scale});
        if (c.init.kind == "data") return with_optimizer(std::move(energy), sampler, data_init{.noise = c.init.data_noise});
        return with_optimizer(std::move(energy), sampler, uniform_noise{c.init.low, c.init.high});
    };
    if (c.sampler.kind == "langevin") return with_init(scaled(std::move(net), c.sampler.epsilon), make_langevin(c));
    return with_init(std::move(net), make_langevin_decoupled(c));
}

/// Sets the annealed learning rate and data noise of iteration t (call before each step, also after a resume).
template <class Trainer>
void apply_schedules(Trainer& trainer, const train_config& c, std::uint64_t t) {
    trainer.optimizer().learning_rate = c.learning_rate_at(t);
    trainer.set_data_noise(c.data_noise_at(t));
}

}  // namespace ebm

#pragma once
// Checkpoints of an ml_trainer (either backend: device state is copied through the host): everything a run needs to
// continue bit-identically, in one safetensors file.
//   tensors   energy.<name> (F32) per parameter tensor under PyTorch's state_dict names (mlp: 0.weight, 0.bias,
//             ...; ConvNets: f.0.weight, ...), or energy.parameters for an energy without named tensors;
//             optimizer.* (Adam moments, SGD momentum; U64 step count),
//             initializer.* (persistent bank states F32 [size, dimension] and slot order U32),
//             sampler.epsilon (F32, only for samplers whose state adapts a step, e.g. MALA),
//             trainer.iteration, trainer.sampler_steps, trainer.seed (U64 [1]) — the Philox counters
//   metadata  format, architecture (a description of the energy that must match on load), config (the run's
//             JSON, returned on load), iteration, and crc32.<tensor> (zlib CRC-32 of each tensor's bytes)
// Writing is atomic: a temporary file in the same folder, fsync, rename over the target, fsync of the folder; a
// failed save (I/O error, or a state that is not finite) leaves any existing file untouched. Loading checks the
// whole file first (header, every checksum, every name, dtype and shape, the architecture and the seed) and
// only then changes the trainer, so a bad checkpoint is an ebm::error before any work and never half-applied.
// checkpoint_folder keeps the newest `keep` checkpoints of a run (checkpoint-<iteration>.safetensors).
// A policy's state says what it keeps with `template <class Visitor> void checkpoint_fields(Visitor& v)`, calling
//   v.floats(name, buffer or span of either memory space [, shape]), v.words(name, std::vector<std::uint32_t>&),
//   v.counter(name, std::uint64_t&), and when Visitor::loading: v.apply (false in the checking pass, true in the
//   applying one) and v.reject(what, value) for data it finds corrupted.
//
// The file is read and written by io/safetensors.hpp (checksums required on load) through io/atomic_file.hpp.
// Needs zlib (link ZLIB::ZLIB) and nlohmann-json.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../energy/parameter_tensor.hpp"
#include "../energy/scaled.hpp"
#include "../error.hpp"
#include "../backend/execution.hpp"
#include "../io/atomic_file.hpp"
#include "../io/safetensors.hpp"
#include "ml_trainer.hpp"

namespace ebm {

inline constexpr const char* checkpoint_format = "ebm.checkpoint.v2";  // v2: parameters by PyTorch name

/// What a checkpoint says about itself besides the tensors.
struct checkpoint_info {
    std::string architecture;     // description of the energy; a checkpoint loads only into the same one
    std::string config;           // the run's configuration (JSON text), stored verbatim
    std::uint64_t iteration = 0;  // iterations completed when it was written
    std::uint64_t seed = 0;
};

// ---- describing an energy --------------------------------------------------------------------------------------

namespace detail {
template <class E>
concept has_architecture_member = requires(const E& e) {
    { e.architecture() } -> std::convertible_to<std::string>;
};
template <class E>
struct is_scaled_energy : std::false_type {};
template <class E>
struct is_scaled_energy<scaled_energy<E>> : std::true_type {};
}  // namespace detail

/// A description of an energy's architecture; checkpoints load only into an energy with the same description.
/// Energies may provide `std::string architecture() const`; mlp, convnet (an architecture() with name and
/// layers) and scaled_energy are described here, the same on either backend, so that a checkpoint moves between
/// the CPU and the GPU.
template <class E>
std::string energy_architecture(const E& energy) {
    if constexpr (detail::has_architecture_member<E>) {
        return energy.architecture();
    } else if constexpr (requires { energy.architecture().layers; energy.architecture().name; }) {
        // Convolutional energies (energy/convnet.hpp): name, input shape, every layer, activation, sign.
        const auto& a = energy.architecture();
        std::string text = a.name + "[" + std::to_string(a.channels) + "x" + std::to_string(a.height) + "x" +
                           std::to_string(a.width) + ";";
        for (const auto& layer : a.layers)
            text += " conv(" + std::to_string(layer.out_channels) + ",k" + std::to_string(layer.kernel) + ",s" +
                    std::to_string(layer.stride) + ",p" + std::to_string(layer.padding) + ")";
        text += "] leaky_relu(" + detail::to_text(a.negative_slope) + ")";
        if constexpr (requires { energy.options().negate_output; })
            if (energy.options().negate_output) text += " negated";
        return text;
    } else if constexpr (requires { energy.layer_sizes(); energy.negative_slope(); }) {  // mlp, either backend
        std::string text = "mlp[";
        for (std::size_t l = 0; l < energy.layer_sizes().size(); ++l) {
            if (l > 0) text += ',';
            text += std::to_string(energy.layer_sizes()[l]);
        }
        return text + "] leaky_relu(" + detail::to_text(energy.negative_slope()) + ")";
    } else if constexpr (requires { energy.parameter_tensors(); }) {  // any network with named tensors (nonlocal_net)
        std::string text = "network[";
        for (const auto& t : energy.parameter_tensors()) {
            text += " " + t.name + "(";
            for (std::size_t k = 0; k < t.shape.size(); ++k) {
                if (k > 0) text += 'x';
                text += std::to_string(t.shape[k]);
            }
            text += ")";
        }
        text += " ]";
        if constexpr (requires { energy.negative_slope(); })
            text += " leaky_relu(" + detail::to_text(energy.negative_slope()) + ")";
        return text;
    } else if constexpr (requires { energy.inner(); energy.alpha(); energy.target(); }) {  // magnetized_energy
        return "magnetized(" + energy_architecture(energy.inner()) + ", alpha " + detail::to_text(energy.alpha()) + ")";
    } else if constexpr (detail::is_scaled_energy<E>::value) {
        return "scaled(" + energy_architecture(energy.inner()) + ", factor " + detail::to_text(energy.factor()) + ")";
    } else if constexpr (requires { energy.parameter_count(); }) {
        return "energy with " + std::to_string(energy.parameter_count()) + " parameters";
    } else {
        return "energy of dimension " + std::to_string(energy.dimension());
    }
}

// ---- visiting the trainer state ----------------------------------------------------------------------------------

namespace detail::checkpointing {

/// A span over a state buffer or a span, of either memory space (aligned_vector or std::span on the host,
/// device_buffer or device_span on a device).
template <class Values>
auto span_of(Values&& values) {
    using B = std::remove_cvref_t<Values>;
    using T = std::remove_reference_t<decltype(*values.data())>;
    if constexpr (requires { typename B::memory_space; })
        return span_in<T, typename B::memory_space>(values.data(), static_cast<std::size_t>(values.size()));
    else
        return std::span<T>(values.data(), static_cast<std::size_t>(values.size()));
}

/// A policy state with nothing to keep: empty, or only the lane its work is ordered on.
template <class State>
constexpr bool keeps_nothing() {
    if constexpr (std::is_empty_v<State>)
        return true;
    else if constexpr (requires(State& st) { st.lane; })
        return sizeof(State) == sizeof(std::declval<State&>().lane);
    else
        return false;
}

/// A policy state saves and restores itself through `st.checkpoint_fields(visitor)` (the library's states) or a
/// user's `checkpoint_fields(visitor, state&)` found by ADL; a state that keeps data and says nothing is an error.
/// Sampler states are scratch space unless they say otherwise (MALA keeps its adapted step).
template <bool scratch_unless_told, class V, class State>
void visit_state(V& v, State& st) {
    if constexpr (requires { st.checkpoint_fields(v); }) {
        st.checkpoint_fields(v);
    } else if constexpr (requires { checkpoint_fields(v, st); }) {
        checkpoint_fields(v, st);
    } else {
        static_assert(scratch_unless_told || keeps_nothing<State>(),
                      "ebm::checkpoint: this policy state keeps data but does not say what; give it `template <class "
                      "Visitor> void checkpoint_fields(Visitor&)` (see ebm::adam::state) or a `checkpoint_fields(visitor, "
                      "state&)` overload");
    }
}

/// The PyTorch-named parameter tensors of an energy, looking through wrappers (scaled, tempered); null when it
/// has none.
template <class E>
const std::vector<parameter_tensor>* named_parameters(const E& energy) {
    if constexpr (requires { energy.parameter_tensors(); })
        return &energy.parameter_tensors();
    else if constexpr (requires { energy.inner(); })
        return named_parameters(energy.inner());
    else
        return nullptr;
}

/// Energy parameters are saved per tensor under "energy.<PyTorch name>" (a PyTorch module loads them after the
/// prefix is dropped), or as one "energy.parameters" for an energy without named tensors.
template <class V, class Trainer>
void visit_trainer(V& v, Trainer& trainer) {
    if (const auto* tensors = named_parameters(std::as_const(trainer.energy()))) {
        const auto parameters = span_of(trainer.energy().parameters());
        for (const auto& t : *tensors)
            v.floats("energy." + t.name,
                     parameters.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.count())),
                     std::vector<std::uint64_t>(t.shape.begin(), t.shape.end()));
    } else {
        v.floats("energy.parameters", trainer.energy().parameters());
    }
    visit_state<false>(v, trainer.optimizer_state());
    visit_state<false>(v, trainer.initializer_state());
    visit_state<true>(v, trainer.sampler_state());
}

template <class T>
std::vector<std::uint8_t> to_bytes(std::span<const T> values) {
    std::vector<std::uint8_t> bytes(values.size_bytes());
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

struct saver {
    static constexpr bool loading = false;
    const char* where = "save_checkpoint";
    std::vector<io::named_tensor> tensors;
    std::map<std::string, std::string> metadata;

    template <class Values>
    void floats(const std::string& name, Values&& values, std::vector<std::uint64_t> shape = {}) {
        const std::vector<float> host = to_host_vector(span_of(values));
        for (std::size_t k = 0; k < host.size(); ++k)
            if (!std::isfinite(host[k]))
                ebm::detail::fail(where, "refusing to save a non-finite state: " + name + "[" + std::to_string(k) + "]",
                                  host[k]);
        std::vector<index> extents(shape.begin(), shape.end());
        if (extents.empty()) extents = {static_cast<index>(host.size())};
        tensors.push_back(io::named_tensor::of(name, std::move(extents), host));
    }
    void words(const std::string& name, std::vector<std::uint32_t>& values) {
        tensors.push_back(io::named_tensor::of(name, {static_cast<index>(values.size())}, values));
    }
    void counter(const std::string& name, std::uint64_t& value) {
        tensors.push_back(io::named_tensor::of(name, {1}, std::span<const std::uint64_t>(&value, 1)));
    }
};

/// Two passes: apply = false checks every tensor's presence, dtype and shape; apply = true copies.
struct loader {
    static constexpr bool loading = true;
    const char* where = "load_checkpoint";
    std::string source;
    const io::safetensors_file* in = nullptr;
    bool apply = false;

    const io::named_tensor& find(const std::string& name, io::dtype type, std::uint64_t elements) const {
        const io::named_tensor* t = in->find(name);
        if (t == nullptr) ebm::detail::fail(where, "'" + source + "' does not match this trainer: it has no tensor", name);
        if (t->type != type)
            ebm::detail::fail(where, "'" + source + "' does not match this trainer: tensor '" + name + "' must be " +
                                         std::string(io::dtype_name(type)),
                              std::string(io::dtype_name(t->type)));
        if (static_cast<std::uint64_t>(t->elements()) != elements)
            ebm::detail::fail(where, "'" + source + "' does not match this trainer (another architecture or configuration?): "
                                     "tensor '" + name + "' must have " + std::to_string(elements) + " elements",
                              t->elements());
        return *t;
    }
    template <class Values>
    void floats(const std::string& name, Values&& values, std::vector<std::uint64_t> shape = {}) {
        const auto target = span_of(values);
        const auto& t = find(name, io::dtype::f32, target.size());
        if (!shape.empty() && !std::equal(shape.begin(), shape.end(), t.shape.begin(), t.shape.end()))
            ebm::detail::fail(where, "'" + source + "' does not match this trainer: tensor '" + name + "' must have shape " +
                                         io::internal::shape_text(std::vector<index>(shape.begin(), shape.end())),
                              io::internal::shape_text(t.shape));
        if (!apply || t.bytes.empty()) return;
        std::vector<float> host(target.size());
        std::memcpy(host.data(), t.bytes.data(), t.bytes.size());
        copy_values_from_host(std::span<const float>(host), target);
    }
    /// A state's own check of what it read (before anything is applied): the file is corrupted.
    template <class T>
    [[noreturn]] void reject(const std::string& what, const T& value) const {
        ebm::detail::fail(where, "'" + source + "' is corrupted: " + what, value);
    }
    void words(const std::string& name, std::vector<std::uint32_t>& values) {
        const auto& t = find(name, io::dtype::u32, values.size());
        if (!t.bytes.empty()) std::memcpy(values.data(), t.bytes.data(), t.bytes.size());  // a copy: safe in both passes
    }
    void counter(const std::string& name, std::uint64_t& value) {
        const auto& t = find(name, io::dtype::u64, 1);
        if (apply) std::memcpy(&value, t.bytes.data(), 8);
    }
    [[nodiscard]] std::uint64_t read_counter(const std::string& name) const {
        const auto& t = find(name, io::dtype::u64, 1);
        std::uint64_t value = 0;
        std::memcpy(&value, t.bytes.data(), 8);
        return value;
    }
};

inline checkpoint_info info_of(const io::safetensors_file& f, const std::string& source, const char* where) {
    auto get = [&](const char* key) -> std::string {
        const auto it = f.metadata.find(key);
        if (it == f.metadata.end())
            ebm::detail::fail(where, "'" + source + "' is not an ebm checkpoint: metadata lacks", std::string(key));
        return it->second;
    };
    if (get("format") != checkpoint_format)
        ebm::detail::fail(where, "'" + source + "' has an unsupported format (expected '" + std::string(checkpoint_format) + "')",
                          get("format"));
    checkpoint_info info;
    info.architecture = get("architecture");
    info.config = get("config");
    loader l{.where = where, .source = source, .in = &f};
    info.iteration = l.read_counter("trainer.iteration");
    info.seed = l.read_counter("trainer.seed");
    return info;
}

}  // namespace detail::checkpointing

namespace detail::checkpointing {

template <class E, class S, class I, class O>
std::string serialize(ml_trainer<E, S, I, O>& trainer, const std::string& config, std::optional<std::string> architecture) {
    saver s;
    visit_trainer(s, trainer);
    std::uint64_t iteration = trainer.iteration(), steps = trainer.sampler_steps(), seed_value = trainer.rng().seed_value();
    s.counter("trainer.iteration", iteration);
    s.counter("trainer.sampler_steps", steps);
    s.counter("trainer.seed", seed_value);
    s.metadata["format"] = checkpoint_format;
    s.metadata["architecture"] = architecture ? *architecture : energy_architecture(trainer.energy());
    s.metadata["config"] = config;
    s.metadata["iteration"] = std::to_string(iteration);
    return io::safetensors_bytes(s.tensors, s.metadata, true, s.where);
}

inline io::safetensors_file read(const std::filesystem::path& path, const char* where) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) ebm::detail::fail(where, "checkpoint file not found", path.string());
    return io::read_safetensors(path, true, where);
}

}  // namespace detail::checkpointing

/// The state of `trainer` as checkpoint bytes (safetensors). The architecture defaults to
/// energy_architecture(trainer.energy()).
template <class E, class S, class I, class O>
std::vector<std::uint8_t> checkpoint_bytes(ml_trainer<E, S, I, O>& trainer, const std::string& config = "{}",
                                           std::optional<std::string> architecture = std::nullopt) {
    const std::string bytes = detail::checkpointing::serialize(trainer, config, std::move(architecture));
    return {bytes.begin(), bytes.end()};
}

/// Saves the trainer atomically to `path` (see the file comment). A non-finite state is refused (ebm::error)
/// before anything is written.
template <class E, class S, class I, class O>
void save_checkpoint(const std::filesystem::path& path, ml_trainer<E, S, I, O>& trainer, const std::string& config = "{}",
                     std::optional<std::string> architecture = std::nullopt) {
    io::write_file_atomically(path, detail::checkpointing::serialize(trainer, config, std::move(architecture)),
                              "save_checkpoint");
}

/// Reads and verifies a checkpoint's header and checksums, and returns what it says about itself.
inline checkpoint_info read_checkpoint_info(const std::filesystem::path& path) {
    const auto f = detail::checkpointing::read(path, "read_checkpoint_info");
    return detail::checkpointing::info_of(f, path.string(), "read_checkpoint_info");
}

/// Restores the trainer from a checkpoint. Everything is verified before the trainer changes: checksums, the
/// architecture (against energy_architecture(trainer.energy()) unless given), the seed, every tensor's dtype and
/// size. Returns the checkpoint's info (its config, for instance).
template <class E, class S, class I, class O>
checkpoint_info load_checkpoint(const std::filesystem::path& path, ml_trainer<E, S, I, O>& trainer,
                                std::optional<std::string> architecture = std::nullopt) {
    const char* where = "load_checkpoint";
    const auto f = detail::checkpointing::read(path, where);
    const checkpoint_info info = detail::checkpointing::info_of(f, path.string(), where);
    const std::string expected = architecture ? *architecture : energy_architecture(trainer.energy());
    if (info.architecture != expected)
        detail::fail(where, "'" + path.string() + "' was written for another architecture; this trainer's energy is '" +
                                expected + "'", info.architecture);
    if (info.seed != trainer.rng().seed_value())
        detail::fail(where, "'" + path.string() + "' was written with another seed; this trainer's seed is " +
                                std::to_string(trainer.rng().seed_value()), info.seed);
    detail::checkpointing::loader check{.where = where, .source = path.string(), .in = &f, .apply = false};
    detail::checkpointing::visit_trainer(check, trainer);
    const std::uint64_t steps = check.read_counter("trainer.sampler_steps");
    detail::checkpointing::loader apply{.where = where, .source = path.string(), .in = &f, .apply = true};
    detail::checkpointing::visit_trainer(apply, trainer);
    trainer.restore_counters(info.iteration, steps);
    return info;
}

/// The checkpoints of one run in a folder: checkpoint-<iteration, 12 digits>.safetensors, the newest `keep` kept.
class checkpoint_folder {
public:
    explicit checkpoint_folder(std::filesystem::path folder, int keep = 2) : folder_(std::move(folder)), keep_(keep) {
        detail::require_positive("checkpoint_folder", "keep", keep);
    }

    [[nodiscard]] const std::filesystem::path& folder() const { return folder_; }

    [[nodiscard]] std::filesystem::path path_for(std::uint64_t iteration) const {
        char name[64];
        std::snprintf(name, sizeof name, "checkpoint-%012llu.safetensors", static_cast<unsigned long long>(iteration));
        return folder_ / name;
    }

    /// Existing checkpoints, oldest first.
    [[nodiscard]] std::vector<std::filesystem::path> list() const {
        std::vector<std::filesystem::path> found;
        std::error_code ec;
        if (!std::filesystem::is_directory(folder_, ec)) return found;
        for (const auto& entry : std::filesystem::directory_iterator(folder_)) {
            const std::string name = entry.path().filename().string();
            if (entry.is_regular_file() && name.size() == 35 && name.starts_with("checkpoint-") &&
                name.ends_with(".safetensors"))
                found.push_back(entry.path());
        }
        std::sort(found.begin(), found.end());
        return found;
    }

    [[nodiscard]] std::optional<std::filesystem::path> latest() const {
        auto all = list();
        if (all.empty()) return std::nullopt;
        return all.back();
    }

    /// Saves atomically, then removes the oldest beyond `keep` (never the one just written).
    template <class E, class S, class I, class O>
    std::filesystem::path save(ml_trainer<E, S, I, O>& trainer, const std::string& config = "{}",
                               std::optional<std::string> architecture = std::nullopt) {
        std::filesystem::create_directories(folder_);
        const auto path = path_for(trainer.iteration());
        save_checkpoint(path, trainer, config, std::move(architecture));
        auto all = list();
        for (std::size_t k = 0; k + static_cast<std::size_t>(keep_) < all.size(); ++k)
            if (all[k] != path) std::filesystem::remove(all[k]);
        return path;
    }

private:
    std::filesystem::path folder_;
    int keep_;
};

}  // namespace ebm

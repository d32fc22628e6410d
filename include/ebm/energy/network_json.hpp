#pragma once
// A network energy's description in JSON, with PyTorch's module names and arguments, so that an nn.Sequential
// transcribes field for field (energy/network_spec.hpp has the C++ form and the naming rules):
//
//   {"input": [3, 32, 32], "negate": false, "layers": [
//     {"type": "Conv2d", "in_channels": 3, "out_channels": 64, "kernel_size": 3, "stride": 1, "padding": 1},
//     {"type": "SiLU"},
//     {"type": "AvgPool2d", "kernel_size": 2},
//     {"type": "Flatten"},
//     {"type": "Linear", "in_features": 16384, "out_features": 1}]}
//
// Types and fields (defaults as PyTorch's; "name" is optional on every layer and replaces its index in parameter names):
//   Conv2d        in_channels, out_channels, kernel_size, stride 1, padding 0, bias true (dilation 1, groups 1,
//                 padding_mode "zeros" accepted with those values only); kernel_size, stride and padding may be a
//                 number or a pair of equal numbers
//   Linear        in_features, out_features, bias true
//   ReLU | SiLU | Tanh | Sigmoid        (inplace accepted and ignored)
//   LeakyReLU     negative_slope 0.01          ELU  alpha 1.0          GELU  approximate "none"
//   Softplus      beta 1, threshold 20
//   AvgPool2d | MaxPool2d    kernel_size, stride = kernel_size (padding 0 only)
//   Flatten       (start_dim 1, end_dim -1 only)
//   ResidualBlock in_channels, out_channels, kernel_size 3, activation {"type": "LeakyReLU", "negative_slope": 0.2},
//                 downsample false
//   NonLocalBlock channels (the Anatomy code's non-local block: energy/network_spec.hpp)
//   Sequential    layers
// An unknown type or field, a value of the wrong kind and a shape that does not fit are errors naming the layer's
// path ("layers[2]"), the field and the value; network_spec_to_json writes a description back.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "network_spec.hpp"

namespace ebm {

namespace detail {

class network_json_reader {
public:
    network_spec read(const nlohmann::json& j) {
        if (!j.is_object()) fail(where, "the description must be a JSON object", j.type_name());
        for (const auto& [key, value] : j.items())
            if (key != "input" && key != "layers" && key != "negate")
                fail(where, "unknown top-level field '" + key + "' (expected input, layers, negate)", key);
        network_spec spec;
        if (!j.contains("input")) fail(where, "missing field 'input' ([C, H, W] or [D])", "nothing");
        const nlohmann::json& input = j.at("input");
        if (!input.is_array() || (input.size() != 1 && input.size() != 3))
            fail(where, "input must be [C, H, W] or [D]", input.dump());
        for (const auto& v : input) {
            if (!v.is_number_integer() || v.get<long long>() <= 0)
                fail(where, "input must hold positive integers", input.dump());
            spec.input.push_back(static_cast<index>(v.get<long long>()));
        }
        if (j.contains("negate")) {
            if (!j.at("negate").is_boolean()) fail(where, "negate must be true or false", j.at("negate").dump());
            spec.negate = j.at("negate").get<bool>();
        }
        if (!j.contains("layers")) fail(where, "missing field 'layers'", "nothing");
        spec.layers = layer_list(j.at("layers"), "layers");
        return spec;
    }

private:
    static constexpr const char* where = "network_spec_from_json";

    std::vector<layers::layer> layer_list(const nlohmann::json& list, const std::string& path) {
        if (!list.is_array() || list.empty()) fail(where, path + " must be a non-empty array of layers", list.dump());
        std::vector<layers::layer> out;
        for (std::size_t i = 0; i < list.size(); ++i) out.push_back(layer(list[i], path + "[" + std::to_string(i) + "]"));
        return out;
    }

    // The fields of one layer object, checked against the ones its type allows.
    struct fields {
        const nlohmann::json& j;
        std::string path, type;
        [[noreturn]] void bad(const std::string& field, const std::string& what, const nlohmann::json& value) const {
            fail(where, path + " (" + type + "): field '" + field + "' " + what, value.dump());
        }
        void allow(std::initializer_list<const char*> names) const {
            std::set<std::string> allowed{"type", "name"};
            for (const char* n : names) allowed.insert(n);
            for (const auto& [key, value] : j.items())
                if (allowed.count(key) == 0) {
                    std::string list;
                    for (const char* n : names) list += std::string(list.empty() ? "" : ", ") + n;
                    fail(where, path + " (" + type + "): unknown field '" + key + "'" +
                                    (list.empty() ? std::string(" (it takes none)") : " (expected " + list + ")"),
                         key);
                }
        }
        [[nodiscard]] bool has(const char* name) const { return j.contains(name) && !j.at(name).is_null(); }
        // A positive or non-negative integer, or a pair of equal ones (PyTorch's square kernels, strides, paddings).
        [[nodiscard]] index size(const char* name, std::optional<index> fallback, index low = 1) const {
            if (!has(name)) {
                if (!fallback) bad(name, "is required", nullptr);
                return *fallback;
            }
            const nlohmann::json& v = j.at(name);
            const nlohmann::json* scalar = &v;
            if (v.is_array()) {
                if (v.size() != 2 || v[0] != v[1]) bad(name, "must be a number or a pair of equal numbers", v);
                scalar = &v[0];
            }
            if (!scalar->is_number_integer() || scalar->get<long long>() < low)
                bad(name, low > 0 ? "must be a positive integer" : "must be an integer >= 0", v);
            return static_cast<index>(scalar->get<long long>());
        }
        [[nodiscard]] bool flag(const char* name, bool fallback) const {
            if (!has(name)) return fallback;
            if (!j.at(name).is_boolean()) bad(name, "must be true or false", j.at(name));
            return j.at(name).get<bool>();
        }
        [[nodiscard]] float number(const char* name, float fallback) const {
            if (!has(name)) return fallback;
            if (!j.at(name).is_number()) bad(name, "must be a number", j.at(name));
            return j.at(name).get<float>();
        }
        void exactly(const char* name, const nlohmann::json& only) const {
            if (has(name) && j.at(name) != only) bad(name, "is only supported as " + only.dump(), j.at(name));
        }
    };

    std::optional<kernels::activation_function> activation(const fields& f) {
        using kernels::activation_kind;
        const std::string& t = f.type;
        if (t == "ReLU" || t == "SiLU" || t == "Tanh" || t == "Sigmoid") {
            f.allow({"inplace"});
            const activation_kind kind = t == "ReLU"   ? activation_kind::relu
                                         : t == "SiLU" ? activation_kind::silu
                                         : t == "Tanh" ? activation_kind::tanh
                                                       : activation_kind::sigmoid;
            return kernels::activation_function{kind};
        }
        if (t == "LeakyReLU") {
            f.allow({"negative_slope", "inplace"});
            return layers::leaky_relu(f.number("negative_slope", 0.01f)).function;
        }
        if (t == "ELU") {
            f.allow({"alpha", "inplace"});
            return layers::elu(f.number("alpha", 1.0f)).function;
        }
        if (t == "GELU") {
            f.allow({"approximate"});
            f.exactly("approximate", "none");
            return layers::gelu().function;
        }
        if (t == "Softplus") {
            f.allow({"beta", "threshold"});
            return layers::softplus(f.number("beta", 1.0f), f.number("threshold", 20.0f)).function;
        }
        return std::nullopt;
    }

    layers::layer layer(const nlohmann::json& j, const std::string& path) {
        if (!j.is_object()) fail(where, path + " must be a JSON object with a \"type\"", j.dump());
        if (!j.contains("type") || !j.at("type").is_string())
            fail(where, path + ": field 'type' must name the layer (Conv2d, Linear, ReLU, ...)",
                 j.contains("type") ? j.at("type").dump() : std::string("nothing"));
        const fields f{j, path, j.at("type").get<std::string>()};
        std::string name;
        if (j.contains("name")) {
            if (!j.at("name").is_string() || j.at("name").get<std::string>().empty() ||
                j.at("name").get<std::string>().find('.') != std::string::npos)
                f.bad("name", "must be a non-empty string without '.'", j.at("name"));
            name = j.at("name").get<std::string>();
        }
        if (auto a = activation(f)) return {layers::activation{*a}, name};
        if (f.type == "Conv2d") {
            f.allow({"in_channels", "out_channels", "kernel_size", "stride", "padding", "bias", "dilation", "groups",
                     "padding_mode"});
            f.exactly("dilation", 1);
            f.exactly("groups", 1);
            f.exactly("padding_mode", "zeros");
            return {layers::conv2d{f.size("in_channels", {}), f.size("out_channels", {}), f.size("kernel_size", {}),
                                   f.size("stride", 1), f.size("padding", 0, 0), f.flag("bias", true)},
                    name};
        }
        if (f.type == "Linear") {
            f.allow({"in_features", "out_features", "bias"});
            return {layers::linear{f.size("in_features", {}), f.size("out_features", {}), f.flag("bias", true)}, name};
        }
        if (f.type == "AvgPool2d" || f.type == "MaxPool2d") {
            f.allow({"kernel_size", "stride", "padding"});
            f.exactly("padding", 0);
            const index kernel = f.size("kernel_size", {});
            const index stride = f.size("stride", kernel);
            if (f.type == "AvgPool2d") return {layers::avg_pool2d{kernel, stride}, name};
            return {layers::max_pool2d{kernel, stride}, name};
        }
        if (f.type == "Flatten") {
            f.allow({"start_dim", "end_dim"});
            f.exactly("start_dim", 1);
            f.exactly("end_dim", -1);
            return {layers::flatten{}, name};
        }
        if (f.type == "ResidualBlock") {
            f.allow({"in_channels", "out_channels", "kernel_size", "activation", "downsample"});
            layers::residual_block r{f.size("in_channels", {}), f.size("out_channels", {}), f.size("kernel_size", 3)};
            if (f.has("activation")) {
                const nlohmann::json& a = j.at("activation");
                if (!a.is_object() || !a.contains("type") || !a.at("type").is_string())
                    f.bad("activation", "must be an activation layer object, e.g. {\"type\": \"SiLU\"}", a);
                const auto function = activation(fields{a, path + ".activation", a.at("type").get<std::string>()});
                if (!function) f.bad("activation", "must be an activation (ReLU, LeakyReLU, ELU, SiLU, GELU, Tanh, "
                                                   "Sigmoid, Softplus)", a);
                r.activation = *function;
            }
            r.downsample = f.flag("downsample", false);
            return {r, name};
        }
        if (f.type == "NonLocalBlock") {
            f.allow({"channels"});
            return {layers::nonlocal_block{f.size("channels", {})}, name};
        }
        if (f.type == "Sequential") {
            f.allow({"layers"});
            if (!f.has("layers")) f.bad("layers", "is required", nullptr);
            return {layers::sequential{layer_list(j.at("layers"), path + ".layers")}, name};
        }
        fail(where, path + ": unknown layer type '" + f.type +
                        "' (known: Conv2d, Linear, ReLU, LeakyReLU, ELU, SiLU, GELU, Tanh, Sigmoid, Softplus, "
                        "AvgPool2d, MaxPool2d, Flatten, ResidualBlock, NonLocalBlock, Sequential)",
             f.type);
    }
};

inline nlohmann::json activation_to_json(const kernels::activation_function& f) {
    using kernels::activation_kind;
    switch (f.kind) {
        case activation_kind::relu: return {{"type", "ReLU"}};
        case activation_kind::leaky_relu: return {{"type", "LeakyReLU"}, {"negative_slope", f.alpha}};
        case activation_kind::elu: return {{"type", "ELU"}, {"alpha", f.alpha}};
        case activation_kind::silu: return {{"type", "SiLU"}};
        case activation_kind::gelu: return {{"type", "GELU"}};
        case activation_kind::tanh: return {{"type", "Tanh"}};
        case activation_kind::sigmoid: return {{"type", "Sigmoid"}};
        case activation_kind::softplus: return {{"type", "Softplus"}, {"beta", f.beta}, {"threshold", f.threshold}};
    }
    return {};
}

inline nlohmann::json layers_to_json(const std::vector<layers::layer>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const layers::layer& l : list) {
        nlohmann::json j = std::visit(
            [](const auto& n) -> nlohmann::json {
                using T = std::decay_t<decltype(n)>;
                if constexpr (std::is_same_v<T, layers::conv2d>)
                    return {{"type", "Conv2d"},       {"in_channels", n.in_channels}, {"out_channels", n.out_channels},
                            {"kernel_size", n.kernel_size}, {"stride", n.stride},      {"padding", n.padding},
                            {"bias", n.bias}};
                else if constexpr (std::is_same_v<T, layers::linear>)
                    return {{"type", "Linear"}, {"in_features", n.in_features}, {"out_features", n.out_features},
                            {"bias", n.bias}};
                else if constexpr (std::is_same_v<T, layers::activation>)
                    return activation_to_json(n.function);
                else if constexpr (std::is_same_v<T, layers::avg_pool2d>)
                    return {{"type", "AvgPool2d"}, {"kernel_size", n.kernel_size},
                            {"stride", n.stride == 0 ? n.kernel_size : n.stride}};
                else if constexpr (std::is_same_v<T, layers::max_pool2d>)
                    return {{"type", "MaxPool2d"}, {"kernel_size", n.kernel_size},
                            {"stride", n.stride == 0 ? n.kernel_size : n.stride}};
                else if constexpr (std::is_same_v<T, layers::flatten>)
                    return {{"type", "Flatten"}};
                else if constexpr (std::is_same_v<T, layers::nonlocal_block>)
                    return {{"type", "NonLocalBlock"}, {"channels", n.channels}};
                else if constexpr (std::is_same_v<T, layers::residual_block>)
                    return {{"type", "ResidualBlock"}, {"in_channels", n.in_channels}, {"out_channels", n.out_channels},
                            {"kernel_size", n.kernel_size}, {"activation", activation_to_json(n.activation)},
                            {"downsample", n.downsample}};
                else
                    return {{"type", "Sequential"}, {"layers", layers_to_json(n.layers)}};
            },
            l.node);
        if (!l.name.empty()) j["name"] = l.name;
        out.push_back(std::move(j));
    }
    return out;
}

}  // namespace detail

/// The network described by `j` (see the header comment). Shapes are checked too (compile_network).
inline network_spec network_spec_from_json(const nlohmann::json& j) {
    network_spec spec = detail::network_json_reader{}.read(j);
    (void)compile_network(spec);
    return spec;
}

/// The description of `spec` as JSON (network_spec_from_json reads it back to the same network).
inline nlohmann::json network_spec_to_json(const network_spec& spec) {
    return {{"input", spec.input}, {"negate", spec.negate}, {"layers", detail::layers_to_json(spec.layers)}};
}

/// Reads a description from a JSON file; a file that does not parse is an error naming it and the parser's message.
inline network_spec load_network_spec(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::fail("load_network_spec", "cannot open the network description", path.string());
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number beyond double (out_of_range)
        detail::fail("load_network_spec", path.string() + " is not valid JSON: " + e.what(), path.string());
    }
    return network_spec_from_json(j);
}

}  // namespace ebm

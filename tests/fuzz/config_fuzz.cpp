// Fuzz harness: JSON run configurations (ebm::parse_config). Input: the JSON text.
// A configuration that parses must survive to_json -> config_from_json unchanged, and every value of the input
// must come back from to_json as given (integers exactly, floats to float precision and finite).
#include <ebm/train/config.hpp>

#include <cmath>

#include "fuzz_common.hpp"

namespace {

// Every entry of `given` (the input) against `got` (to_json of the parsed configuration).
void compare(const nlohmann::json& given, const nlohmann::json& got) {
    for (const auto& [key, value] : given.items()) {
        ebm_fuzz::check(got.contains(key), "parse_config: every accepted key appears in to_json");
        const nlohmann::json& out = got.at(key);
        if (value.is_object()) {
            compare(value, out);
        } else if (value.is_number_integer() && out.is_number_integer()) {
            ebm_fuzz::check(value == out, "parse_config: integer values are kept exactly");
        } else if (value.is_number()) {
            ebm_fuzz::check(out.is_number(), "parse_config: numbers stay numbers");
            const double x = value.get<double>(), y = out.get<double>();
            ebm_fuzz::check(std::isfinite(y), "parse_config: stored numbers are finite");
            ebm_fuzz::check(std::abs(x - y) <= 1e-6 * std::abs(x) + 1e-37, "parse_config: numbers kept to float precision");
        } else {
            ebm_fuzz::check(value == out, "parse_config: strings and booleans are kept");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    ebm_fuzz::expect_ebm_errors([&] {
        const ebm::train_config c = ebm::parse_config(text);
        const nlohmann::json out = ebm::to_json(c);
        try {
            const ebm::train_config again = ebm::config_from_json(out);
            ebm_fuzz::check(ebm::to_json(again) == out, "parse_config: config_from_json(to_json(c)) == c");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "round trip of an accepted configuration failed: %s\n", e.what());
            std::abort();
        }
        compare(text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text), out);
    });
    return 0;
}

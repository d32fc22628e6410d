#pragma once
// The seed of a statistical test: a fixed default per test, overridden for all tests by the environment
// variable EBM_TEST_SEED (a decimal or 0x-prefixed integer). Tests print the seed they use.
#include <cstdint>
#include <cstdlib>
#include <string>

namespace ebm_test {

inline std::uint64_t test_seed(std::uint64_t fallback) {
    const char* text = std::getenv("EBM_TEST_SEED");
    if (text == nullptr || *text == '\0') return fallback;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 0);
    if (end == text || *end != '\0') return fallback;
    return static_cast<std::uint64_t>(value);
}

}  // namespace ebm_test

/// Reads the seed (default `fallback`, or EBM_TEST_SEED) into `name` and prints it.
#define EBM_TEST_SEED_VAR(name, fallback)                                                      \
    const std::uint64_t name = ::ebm_test::test_seed(fallback);                                \
    MESSAGE("seed = " << name << " (set EBM_TEST_SEED to override)")

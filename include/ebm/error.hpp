#pragma once
// One error type and one message format: "ebm::<where>: <what> (got <value>)".
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ebm {

/// Misuse of a public entry point (bad size, non-positive step, NaN in data, ...).
class error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// Failure of the environment (file system, backend library) rather than of the caller's arguments.
class runtime_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

template <class T>
std::string to_text(const T& value) {
    std::ostringstream out;
    if constexpr (std::is_convertible_v<T, std::string_view>) {
        out << '\'' << std::string_view(value) << '\'';
    } else {
        out << value;
    }
    return out.str();
}

/// Throws ebm::error("ebm::<where>: <what> (got <value>)").
template <class T>
[[noreturn]] void fail(std::string_view where, std::string_view what, const T& value) {
    throw error("ebm::" + std::string(where) + ": " + std::string(what) + " (got " + to_text(value) + ")");
}

template <class T>
void require_positive(std::string_view where, std::string_view name, T value) {
    if (!(value > T(0))) fail(where, std::string(name) + " must be > 0", value);
}

template <class T>
void require_non_negative(std::string_view where, std::string_view name, T value) {
    if (!(value >= T(0))) fail(where, std::string(name) + " must be >= 0", value);
}

template <class T>
void require_finite(std::string_view where, std::string_view name, T value) {
    if (!std::isfinite(static_cast<double>(value))) fail(where, std::string(name) + " must be finite", value);
}

template <class T>
void require_in_closed(std::string_view where, std::string_view name, T value, T low, T high) {
    if (!(value >= low && value <= high))
        fail(where, std::string(name) + " must lie in [" + to_text(low) + ", " + to_text(high) + "]", value);
}

template <class T>
void require_in_open(std::string_view where, std::string_view name, T value, T low, T high) {
    if (!(value > low && value < high))
        fail(where, std::string(name) + " must lie in (" + to_text(low) + ", " + to_text(high) + ")", value);
}

}  // namespace detail
}  // namespace ebm

#pragma once
// EBM_CHECK_ERROR(expression, "part", ...): the expression throws ebm::error and its message contains every part
// (function name, argument name, offending value — "ebm::<where>: <what> (got <value>)").
#include <doctest/doctest.h>

#include <ebm/error.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace ebm_test {

template <class F>
void check_error(F&& f, std::initializer_list<std::string_view> parts, const char* expression) {
    INFO("expression: " << expression);
    try {
        f();
        FAIL_CHECK("no ebm::error was thrown");
    } catch (const ebm::error& e) {
        const std::string message = e.what();
        INFO("message: " << message);
        CHECK(message.rfind("ebm::", 0) == 0);
        for (std::string_view part : parts) {
            INFO("expected part: " << std::string(part));
            CHECK(message.find(part) != std::string::npos);
        }
    }
}

}  // namespace ebm_test

#define EBM_CHECK_ERROR(expression, ...) \
    ::ebm_test::check_error([&] { (void)(expression); }, {__VA_ARGS__}, #expression)

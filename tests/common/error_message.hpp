#pragma once
// message_of(f): the message of the exception (ebm::error unless told otherwise) that f throws, or "" if none.
#include <ebm/error.hpp>

#include <string>

namespace ebm_test {

template <class Exception = ebm::error, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const Exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace ebm_test

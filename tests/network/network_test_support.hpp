#pragma once
// Helpers of the network tests: a preset against the specialised class it describes.
#include <doctest/doctest.h>

#include <cstring>

#include <ebm/energy/network.hpp>

namespace network_test {

/// The same tensors (names, shapes, offsets) and the same initial values, bit for bit.
template <class Reference>
void check_same_parameters(const ebm::network& net, const Reference& reference) {
    REQUIRE(net.parameter_count() == reference.parameter_count());
    REQUIRE(net.parameter_tensors().size() == reference.parameter_tensors().size());
    for (std::size_t t = 0; t < net.parameter_tensors().size(); ++t) {
        CHECK(net.parameter_tensors()[t].name == reference.parameter_tensors()[t].name);
        CHECK(net.parameter_tensors()[t].shape == reference.parameter_tensors()[t].shape);
        CHECK(net.parameter_tensors()[t].offset == reference.parameter_tensors()[t].offset);
    }
    CHECK(std::memcmp(net.parameters().data(), reference.parameters().data(),
                      sizeof(float) * static_cast<std::size_t>(net.parameter_count())) == 0);
}

}  // namespace network_test

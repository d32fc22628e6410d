// The ConvNet presets of ebm::network (energy/network_presets.hpp) against the oneDNN ebm::convnet they describe:
// the same parameter names, shapes and initial values from the same seed, and the same energies, dU/dx and weighted
// dU/dtheta up to float rounding (the two sum in different orders), for the short-run nets at 32, 64 and 128 px
// (negated output too) and the Anatomy VanillaNet.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_presets.hpp>
#include <ebm/random/distributions.hpp>

#include "common/torch_support.hpp"
#include "network_test_support.hpp"

namespace {

using ebm_test::relative_error;

void compare(const char* label, const ebm::convnet& reference, const ebm::network& net, ebm::index n) {
    REQUIRE(net.dimension() == reference.dimension());
    network_test::check_same_parameters(net, reference);
    const ebm::index d = net.dimension();
    const ebm::batch x = ebm_test::uniform_batch(d, n, 77);  // states U(-1, 1), Philox seed 77
    auto ws = net.make_workspace(n);
    auto wr = reference.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), ur(u), w(u);
    for (ebm::index i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = 0.5f - 0.25f * static_cast<float>(i);
    ebm::batch g(d, n), gr(d, n);
    net.energy_and_gradient(x, u, g, ws);
    reference.energy_and_gradient(x, ur, gr, wr);
    std::vector<float> theta(static_cast<std::size_t>(net.parameter_count()), 0.0f), theta_r(theta);
    net.accumulate_parameter_gradient(x, w, theta, u, ws);
    reference.accumulate_parameter_gradient(x, w, theta_r, ur, wr);
    const double e_u = relative_error(u, ur), e_g = relative_error(g.view().values(), gr.view().values()),
                 e_t = relative_error(theta, theta_r);
    std::printf("preset %-22s vs convnet: energy %.2e  dU/dx %.2e  dU/dtheta %.2e\n", label, e_u, e_g, e_t);
    CHECK(e_u < 1e-5);
    CHECK(e_g < 1e-5);
    CHECK(e_t < 1e-5);
}

}  // namespace

TEST_CASE("network presets: the short-run nets (32, 64, 128 px, negated) and VanillaNet are ebm::convnet's") {
    compare("short_run(32, n_f 8)", ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{1}),
            ebm::network(ebm::short_run_network(32, 8, 3, 0.2f), ebm::seed{1}), 5);
    compare("short_run(32, grey, -U)", ebm::convnet::short_run(32, 8, 1, 0.2f, {.negate_output = true}, ebm::seed{2}),
            ebm::network(ebm::short_run_network(32, 8, 1, 0.2f, true), ebm::seed{2}), 4);
    compare("short_run(64, n_f 4)", ebm::convnet::short_run(64, 4, 3, 0.2f, {}, ebm::seed{3}),
            ebm::network(ebm::short_run_network(64, 4, 3, 0.2f), ebm::seed{3}), 3);
    compare("short_run(128, n_f 2)", ebm::convnet::short_run(128, 2, 1, 0.2f, {}, ebm::seed{4}),
            ebm::network(ebm::short_run_network(128, 2, 1, 0.2f), ebm::seed{4}), 2);
    compare("vanilla(n_f 8)", ebm::convnet::vanilla(3, 8, 0.05f, {}, ebm::seed{5}),
            ebm::network(ebm::vanilla_network(3, 8, 0.05f), ebm::seed{5}), 3);
}

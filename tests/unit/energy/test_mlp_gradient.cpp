// mlp (toy net {2, 32, 64, 64, 64, 1}, LeakyReLU slope 0.05): dU/dx and the weighted parameter gradient against
//   (a) central differences of an independent double-precision forward pass (step 1e-6: U is piecewise linear,
//       so the difference is exact unless a kink lies within 1e-6 — tolerance 1e-4 relative, float arithmetic);
//   (b) central differences of the library's own float energies (step 1e-2 for x, 1e-3 for parameters).
#include <doctest/doctest.h>

#include <ebm/detail/aligned_buffer.hpp>
#include <ebm/energy/mlp.hpp>

#include <cmath>
#include <vector>

#include "finite_difference.hpp"

namespace {

constexpr ebm::index chains = 8;

ebm::batch sample_points() { return ebm_test::dyadic_points(2, chains, 2.0, 21); }

// Non-uniform weights of both signs, as in the ML gradient (+1/n on data, -1/m on samples) but unequal.
std::vector<float> sample_weights() {
    std::vector<float> w;
    for (ebm::index i = 0; i < chains; ++i) w.push_back((i % 2 == 0 ? 1.0f : -1.0f) * (0.25f + 0.1f * static_cast<float>(i)));
    return w;
}

double weighted_reference(const ebm::mlp& net, const std::vector<double>& params, const ebm::batch& x,
                          const std::vector<float>& w) {
    double s = 0;
    for (ebm::index i = 0; i < chains; ++i) {
        const double p[2] = {x.chain(i)[0], x.chain(i)[1]};
        s += w[static_cast<std::size_t>(i)] * ebm_test::reference_mlp_energy(net, params, p);
    }
    return s;
}

}  // namespace

TEST_CASE("mlp: energies match an independent double-precision forward pass") {
    const auto net = ebm_test::toy_net();
    CHECK(net.parameter_count() == 2 * 32 + 32 + 32 * 64 + 64 + 2 * (64 * 64 + 64) + 64 + 1);
    const auto x = sample_points();
    auto ws = net.make_workspace(chains);
    std::vector<float> u(chains);
    net.energy(x, u, ws);
    const auto params = ebm_test::to_double(net.parameters());
    for (ebm::index i = 0; i < chains; ++i) {
        const double p[2] = {x.chain(i)[0], x.chain(i)[1]};
        CHECK(u[static_cast<std::size_t>(i)] == doctest::Approx(ebm_test::reference_mlp_energy(net, params, p)).epsilon(1e-5));
    }
}

TEST_CASE("mlp: dU/dx matches finite differences") {
    const auto net = ebm_test::toy_net();
    const auto x = sample_points();
    auto ws = net.make_workspace(chains);
    std::vector<float> u(chains), u_only(chains);
    ebm::batch g(2, chains);
    net.energy_and_gradient(x, u, g, ws);
    net.energy(x, u_only, ws);
    CHECK(u == u_only);
    const auto params = ebm_test::to_double(net.parameters());

    SUBCASE("double-precision reference, step 1e-6") {
        for (ebm::index i = 0; i < chains; ++i)
            for (int k = 0; k < 2; ++k) {
                double p[2] = {x.chain(i)[0], x.chain(i)[1]};
                const double h = 1e-6;
                p[k] += h;
                const double up = ebm_test::reference_mlp_energy(net, params, p);
                p[k] -= 2 * h;
                const double down = ebm_test::reference_mlp_energy(net, params, p);
                const double fd = (up - down) / (2 * h);
                INFO("chain " << i << " coordinate " << k);
                CHECK(g.chain(i)[k] == doctest::Approx(fd).epsilon(1e-4).scale(1.0));
            }
    }
    SUBCASE("library float energies, step 1e-2") {
        // Float rounding of U (|U| < 1, ~1e-7 absolute) over 2h = 2e-2 contributes < 1e-5; a LeakyReLU kink within
        // +-h adds at most (1 - slope) |dz/dx| h-weighted error, so agreement is required to 2e-3 absolute.
        for (ebm::index i = 0; i < chains; ++i)
            for (int k = 0; k < 2; ++k) {
                ebm::batch p(2, 2);
                for (int s = 0; s < 2; ++s) {
                    p.chain(s)[0] = x.chain(i)[0];
                    p.chain(s)[1] = x.chain(i)[1];
                }
                const float h = 1e-2f;
                p.chain(0)[k] += h;
                p.chain(1)[k] -= h;
                std::vector<float> up_down(2);
                auto ws2 = net.make_workspace(2);
                net.energy(p, up_down, ws2);
                const double fd = (double(up_down[0]) - up_down[1]) / (double(p.chain(0)[k]) - p.chain(1)[k]);
                INFO("chain " << i << " coordinate " << k << ": analytic " << g.chain(i)[k] << ", difference " << fd);
                CHECK(std::abs(g.chain(i)[k] - fd) < 2e-3);
            }
    }
}

TEST_CASE("mlp: weighted parameter gradient matches finite differences") {
    auto net = ebm_test::toy_net();
    const auto x = sample_points();
    const auto w = sample_weights();
    auto ws = net.make_workspace(chains);
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.0f), u(chains);
    net.accumulate_parameter_gradient(x, w, grad, u, ws);
    // u are the energies
    std::vector<float> u_ref(chains);
    net.energy(x, u_ref, ws);
    CHECK(u == u_ref);
    // Parameters checked: every bias, every first-layer weight and every 11th other weight.
    std::vector<std::size_t> checked;
    for (ebm::index l = 0; l < net.layers(); ++l) {
        const auto in = net.layer_sizes()[static_cast<std::size_t>(l)];
        const auto out = net.layer_sizes()[static_cast<std::size_t>(l) + 1];
        for (ebm::index o = 0; o < out; ++o) checked.push_back(static_cast<std::size_t>(net.bias_offset(l) + o));
        for (ebm::index k = 0; k < in * out; k += (l == 0 ? 1 : 11)) checked.push_back(static_cast<std::size_t>(net.weight_offset(l) + k));
    }

    SUBCASE("double-precision reference, step 1e-6") {
        auto params = ebm_test::to_double(net.parameters());
        double max_grad = 0;
        for (float v : grad) max_grad = std::max(max_grad, double(std::abs(v)));
        for (std::size_t p : checked) {
            const double keep = params[p], h = 1e-6;
            params[p] = keep + h;
            const double up = weighted_reference(net, params, x, w);
            params[p] = keep - h;
            const double down = weighted_reference(net, params, x, w);
            params[p] = keep;
            const double fd = (up - down) / (2 * h);
            INFO("parameter " << p << ": analytic " << grad[p] << ", difference " << fd);
            CHECK(std::abs(grad[p] - fd) <= 1e-4 * (std::abs(fd) + 1e-2 * max_grad));
        }
    }
    SUBCASE("library float energies, step 1e-3") {
        // U is piecewise linear in every parameter, so a central difference is exact unless a LeakyReLU kink lies
        // within +-h; such parameters are recognised with the double reference at the same step and skipped (they
        // must be rare). Otherwise only float rounding of sum w U (|U| < 1: ~1e-7 absolute) over 2h = 2e-3
        // remains, ~1e-4; the tolerance is 5e-4 absolute (gradients here are of order 1e-2 .. 1).
        auto params = ebm_test::to_double(net.parameters());
        auto weighted = [&] {
            std::vector<float> e(chains);
            net.energy(x, e, ws);
            double s = 0;
            for (ebm::index i = 0; i < chains; ++i) s += double(w[static_cast<std::size_t>(i)]) * e[static_cast<std::size_t>(i)];
            return s;
        };
        double worst = 0;
        std::size_t kinks = 0;
        for (std::size_t p : checked) {
            float& theta = net.parameters()[p];
            const float keep = theta, h = 1e-3f;
            const float hi = keep + h, lo = keep - h;
            theta = hi;
            const double up = weighted();
            theta = lo;
            const double down = weighted();
            theta = keep;
            const double fd = (up - down) / (double(hi) - lo);
            params[p] = hi;
            const double ref_up = weighted_reference(net, params, x, w);
            params[p] = lo;
            const double ref_down = weighted_reference(net, params, x, w);
            params[p] = keep;
            const double ref_fd = (ref_up - ref_down) / (double(hi) - lo);
            if (std::abs(ref_fd - grad[p]) > 1e-4 * (1.0 + std::abs(grad[p]))) {
                ++kinks;
                continue;
            }
            worst = std::max(worst, std::abs(grad[p] - fd));
            INFO("parameter " << p << ": analytic " << grad[p] << ", difference " << fd);
            CHECK(std::abs(grad[p] - fd) < 5e-4);
        }
        MESSAGE("largest deviation from float finite differences: " << worst << "; " << kinks << " of " << checked.size()
                                                                    << " parameters skipped (kink within the step)");
        CHECK(kinks < checked.size() / 10);
    }
}

TEST_CASE("mlp: accumulate_parameter_gradient adds to grad and is linear in the weights") {
    const auto net = ebm_test::toy_net();
    const auto x = sample_points();
    const auto w = sample_weights();
    auto ws = net.make_workspace(chains);
    const auto n = static_cast<std::size_t>(net.parameter_count());
    // (Any alignment gives the same bits: see the alignment test below.)
    ebm::detail::aligned_vector<float> once(n, 0.0f), twice(n, 0.0f), doubled(n, 0.0f);
    std::vector<float> u(chains);
    net.accumulate_parameter_gradient(x, w, once, u, ws);
    net.accumulate_parameter_gradient(x, w, twice, u, ws);
    net.accumulate_parameter_gradient(x, w, twice, u, ws);
    std::vector<float> w2(w);
    for (float& v : w2) v *= 2.0f;
    net.accumulate_parameter_gradient(x, w2, doubled, u, ws);
    for (std::size_t p = 0; p < n; ++p) {
        // Adding twice rounds once more; doubling every weight scales every intermediate by 2 exactly.
        CHECK(twice[p] == doctest::Approx(2.0 * once[p]).epsilon(1e-4).scale(1e-4));
        CHECK(doubled[p] == 2.0f * once[p]);
    }
}

TEST_CASE("mlp: parameters follow PyTorch's state_dict layout and default initialisation bounds") {
    const auto net = ebm_test::toy_net();
    CHECK(net.layers() == 5);
    CHECK(net.weight_offset(0) == 0);
    CHECK(net.bias_offset(0) == 64);
    CHECK(net.weight_offset(1) == 96);
    CHECK(net.bias_offset(4) == net.parameter_count() - 1);
    for (ebm::index l = 0; l < net.layers(); ++l) {
        const auto in = net.layer_sizes()[static_cast<std::size_t>(l)];
        const float bound = 1.0f / std::sqrt(static_cast<float>(in));
        for (ebm::index k = net.weight_offset(l); k < net.bias_offset(l) + net.layer_sizes()[static_cast<std::size_t>(l) + 1]; ++k) {
            CHECK(std::abs(net.parameters()[static_cast<std::size_t>(k)]) <= bound);
        }
    }
    // Different seeds give different nets; the same seed the same net.
    const auto again = ebm_test::toy_net();
    const auto other = ebm_test::toy_net(8);
    CHECK(std::equal(net.parameters().begin(), net.parameters().end(), again.parameters().begin()));
    CHECK(!std::equal(net.parameters().begin(), net.parameters().end(), other.parameters().begin()));
}

// The trainers hand the energy 64-byte aligned buffers, but a user's std::vector need not be: Eigen's vectorised
// reductions peel a different number of leading elements for other alignments, which used to change the last bits
// of the bias gradients. Every result must be the same bits wherever the caller's x, weights, grad, u and g start.
TEST_CASE("mlp: energies and gradients do not depend on the alignment of the caller's buffers") {
    const auto net = ebm_test::toy_net();
    const ebm::index n = 37, d = net.dimension();  // whole SIMD vectors and a remainder
    const auto p = static_cast<std::size_t>(net.parameter_count());
    const ebm::batch x0 = ebm_test::dyadic_points(d, n, 2.0, 33);
    auto ws = net.make_workspace(n);
    std::vector<float> ref_u, ref_g, ref_grad;
    for (const std::size_t shift : {0, 1, 3, 7, 15}) {  // floats past a 64-byte boundary
        CAPTURE(shift);
        ebm::detail::aligned_vector<float> xs(shift + static_cast<std::size_t>(n * d)), gs(xs.size());
        ebm::detail::aligned_vector<float> ws_(shift + static_cast<std::size_t>(n)), us(ws_.size()), grads(shift + p, 0.0f);
        std::copy(x0.data(), x0.data() + n * d, xs.begin() + static_cast<std::ptrdiff_t>(shift));
        for (ebm::index i = 0; i < n; ++i)
            ws_[shift + static_cast<std::size_t>(i)] = (i % 3 == 0 ? -1.0f : 1.0f) * (0.3f + 0.01f * static_cast<float>(i));
        const ebm::const_batch_view x{xs.data() + shift, d, n};
        const std::span<float> u(us.data() + shift, static_cast<std::size_t>(n));
        net.energy_and_gradient(x, u, ebm::batch_view{gs.data() + shift, d, n}, ws);
        const std::vector<float> got_u(u.begin(), u.end()), got_g(gs.begin() + static_cast<std::ptrdiff_t>(shift), gs.end());
        const std::span<float> grad(grads.data() + shift, p);
        net.accumulate_parameter_gradient(x, std::span<const float>(ws_.data() + shift, static_cast<std::size_t>(n)), grad, u, ws);
        const std::vector<float> got_grad(grad.begin(), grad.end());
        if (shift == 0) {
            ref_u = got_u;
            ref_g = got_g;
            ref_grad = got_grad;
            continue;
        }
        CHECK(got_u == ref_u);
        CHECK(got_g == ref_g);
        std::size_t differing = 0;
        for (std::size_t k = 0; k < p; ++k) differing += got_grad[k] != ref_grad[k];
        INFO(differing << " of " << p << " parameter-gradient entries differ from the aligned buffers' bits");
        CHECK(differing == 0);
    }
}

// ConvNet energies without PyTorch: the learnable_energy contract, finite differences, PyTorch-style
// initialisation, state_dict names, batch-size handling, the samplers and trainer running them unchanged, and
// errors for bad architectures and bad calls.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <ebm/concepts/learnable_energy.hpp>
#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/ml_trainer.hpp>

#include "convnet_test_support.hpp"

using namespace convnet_test;

static_assert(ebm::check_learnable_energy<ebm::convnet>());
static_assert(ebm::learnable_energy<ebm::convnet>);
static_assert(!ebm::split_chains_across_threads<ebm::convnet>());
static_assert(ebm::check_learnable_energy<ebm::nonlocal_net>());
static_assert(!ebm::split_chains_across_threads<ebm::nonlocal_net>());

namespace {

// A small net for cheap checks: 16 x 16 grey input, 3 convolutions.
ebm::convnet tiny_net(float slope = 0.2f, bool negate = false, std::uint64_t s = 5) {
    ebm::convnet_architecture arch;
    arch.name = "tiny";
    arch.channels = 1;
    arch.height = arch.width = 16;
    arch.layers = {{4, 3, 1, 1}, {8, 4, 2, 1}, {1, 8, 1, 0}};
    arch.negative_slope = slope;
    return ebm::convnet(arch, {.negate_output = negate}, ebm::seed{s});
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const ebm::error& e) {
        return e.what();
    }
    return "(no ebm::error)";
}

}  // namespace

TEST_CASE("convnet: finite differences of dU/dx and dU/dtheta (directional / central / fp32)") {
    for (const bool negate : {false, true}) {
        auto net = tiny_net(0.2f, negate);
        const ebm::index n = 3, d = net.dimension();
        const ebm::batch x = uniform_batch(d, n, 7);
        const ebm::batch v = uniform_batch(d, n, 8);  // direction
        auto ws = net.make_workspace(n);
        std::vector<float> u(n), up(n), um(n);
        ebm::batch g(d, n);
        net.energy_and_gradient(x, u, g, ws);
        const float h = 2e-3f;  // small enough that few LeakyReLU kinks are crossed, large for fp32 rounding
        ebm::batch xp(d, n), xm(d, n);
        for (ebm::index k = 0; k < n * d; ++k) {
            xp.data()[k] = x.data()[k] + h * v.data()[k];
            xm.data()[k] = x.data()[k] - h * v.data()[k];
        }
        net.energy(xp, up, ws);
        net.energy(xm, um, ws);
        for (ebm::index i = 0; i < n; ++i) {
            double analytic = 0, scale = 0;
            for (ebm::index k = 0; k < d; ++k) {
                analytic += static_cast<double>(g.chain(i)[k]) * v.chain(i)[k];
                scale += std::abs(static_cast<double>(g.chain(i)[k]) * v.chain(i)[k]);
            }
            const double numeric = (static_cast<double>(up[i]) - um[i]) / (2.0 * h);
            CHECK_MESSAGE(std::abs(analytic - numeric) <= 2e-2 * std::max(std::abs(analytic), 0.1 * scale),
                          "chain " << i << " analytic " << analytic << " numeric " << numeric);
        }

        // dU/dtheta along a random direction of parameter space, weights w_i.
        const std::vector<float> w = {0.7f, -0.4f, 1.1f};
        std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.0f);
        net.accumulate_parameter_gradient(x, w, grad, u, ws);
        std::vector<float> dir(grad.size());
        const ebm::philox rng(9);
        ebm::fill_uniform(rng, ebm::purpose::user, 0, 0, dir.data(), static_cast<ebm::index>(dir.size()), -1.0f, 1.0f);
        const std::vector<float> theta(net.parameters().begin(), net.parameters().end());
        const auto weighted = [&](float sgn) {
            auto p = net.parameters();
            for (std::size_t k = 0; k < p.size(); ++k) p[k] = theta[k] + sgn * 1e-3f * dir[k];
            std::vector<float> uu(n);
            net.energy(x, uu, ws);
            double s = 0;
            for (ebm::index i = 0; i < n; ++i) s += static_cast<double>(w[static_cast<std::size_t>(i)]) * uu[i];
            return s;
        };
        const double numeric = (weighted(1.0f) - weighted(-1.0f)) / (2.0 * 1e-3);
        double analytic = 0, scale = 0;
        for (std::size_t k = 0; k < grad.size(); ++k) {
            analytic += static_cast<double>(grad[k]) * dir[k];
            scale += std::abs(static_cast<double>(grad[k]) * dir[k]);
        }
        CHECK_MESSAGE(std::abs(analytic - numeric) <= 2e-2 * std::max(std::abs(analytic), 0.1 * scale),
                      "negate " << negate << " analytic " << analytic << " numeric " << numeric);
    }
}

TEST_CASE("convnet: accumulate_parameter_gradient adds to grad and is linear in the weights") {
    const auto net = tiny_net();
    const ebm::index n = 2, d = net.dimension();
    const ebm::batch x = uniform_batch(d, n, 11);
    auto ws = net.make_workspace(n);
    std::vector<float> u(n), g1(static_cast<std::size_t>(net.parameter_count()), 0.0f), g2(g1.size(), 1.0f);
    net.accumulate_parameter_gradient(x, std::vector<float>{1.0f, 2.0f}, g1, u, ws);
    net.accumulate_parameter_gradient(x, std::vector<float>{2.0f, 4.0f}, g2, u, ws);
    for (std::size_t k = 0; k < g1.size(); ++k) CHECK(g2[k] - 1.0f == doctest::Approx(2.0f * g1[k]).epsilon(1e-4).scale(1e-3));
    std::vector<float> e(n);
    net.energy(x, e, ws);
    CHECK(u == e);
}

TEST_CASE("convnet: PyTorch default initialisation / deterministic per seed / state_dict names") {
    const auto net = ebm::convnet::short_run(32, 8, 3);
    const auto& tensors = net.parameter_tensors();
    REQUIRE(tensors.size() == 10);
    const std::vector<std::string> names = {"f.0.weight", "f.0.bias", "f.2.weight", "f.2.bias", "f.4.weight",
                                            "f.4.bias",   "f.6.weight", "f.6.bias", "f.8.weight", "f.8.bias"};
    for (std::size_t t = 0; t < tensors.size(); ++t) CHECK(tensors[t].name == names[t]);
    CHECK(tensors[0].shape == std::vector<ebm::index>{8, 3, 3, 3});
    CHECK(tensors[2].shape == std::vector<ebm::index>{16, 8, 4, 4});
    CHECK(tensors[8].shape == std::vector<ebm::index>{1, 64, 4, 4});
    CHECK(tensors.back().offset + tensors.back().count() == net.parameter_count());
    const auto p = net.parameters();
    for (std::size_t t = 0; t < tensors.size(); ++t) {
        const auto& wt = tensors[t - t % 2];
        const double bound = 1.0 / std::sqrt(static_cast<double>(wt.shape[1] * wt.shape[2] * wt.shape[3]));
        double lo = 1e9, hi = -1e9, sum = 0;
        for (ebm::index k = 0; k < tensors[t].count(); ++k) {
            const double v = p[static_cast<std::size_t>(tensors[t].offset + k)];
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
        CHECK(lo >= -bound);
        CHECK(hi <= bound);
        if (tensors[t].count() >= 1000) {
            CHECK(hi > 0.95 * bound);  // uniform over the whole range
            CHECK(std::abs(sum / tensors[t].count()) < 0.05 * bound);
        }
    }
    const auto same = ebm::convnet::short_run(32, 8, 3);
    const auto other = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{1});
    CHECK(std::equal(p.begin(), p.end(), same.parameters().begin()));
    CHECK_FALSE(std::equal(p.begin(), p.end(), other.parameters().begin()));

    const auto big = ebm::convnet::short_run(128, 4, 1);
    CHECK(big.parameter_tensors().size() == 14);
    CHECK(big.parameter_tensors().back().name == "f.12.bias");
    CHECK(big.dimension() == 128 * 128);
    CHECK(ebm::convnet::short_run(64, 4).parameter_tensors().back().name == "f.10.bias");
    CHECK(ebm::convnet::vanilla().architecture().negative_slope == doctest::Approx(0.05f));
    CHECK(ebm::convnet::vanilla().parameter_tensors()[0].shape == std::vector<ebm::index>{32, 3, 3, 3});
}

TEST_CASE("convnet: parameter changes through parameters() are seen by an existing workspace") {
    auto net = tiny_net();
    const ebm::batch x = uniform_batch(net.dimension(), 2, 3);
    auto ws = net.make_workspace(2);
    std::vector<float> u1(2), u2(2), u3(2);
    net.energy(x, u1, ws);
    const auto params = net.parameters();
    params.back() += 1.0f;  // the last bias: U shifts by 1
    net.energy(x, u2, ws);
    CHECK(u2[0] == doctest::Approx(u1[0] + 1.0f).epsilon(1e-5));
    // A copy has its own parameters; the same workspace serves it correctly.
    auto copy = net;
    copy.parameters().back() -= 2.0f;
    copy.energy(x, u3, ws);
    CHECK(u3[1] == doctest::Approx(u1[1] - 1.0f).epsilon(1e-5));
    net.energy(x, u3, ws);
    CHECK(u3[1] == doctest::Approx(u2[1]).epsilon(1e-6));
    // Writing through a kept span needs parameters_changed().
    params.back() += 1.0f;
    net.parameters_changed();
    net.energy(x, u3, ws);
    CHECK(u3[0] == doctest::Approx(u1[0] + 2.0f).epsilon(1e-5));
}

TEST_CASE("convnet: Langevin / MALA and ml_trainer run it unchanged") {
    const auto net = tiny_net();
    const ebm::index n = 5;
    ebm::batch x = uniform_batch(net.dimension(), n, 21);
    const ebm::philox rng(4);
    const ebm::langevin lg{.epsilon = 0.05f, .steps = 3};
    auto st = lg.make_state(net, n);
    const auto stats = lg.run(st, net, x, rng, 0);
    CHECK(std::isfinite(stats.mean_energy));
    CHECK(st.workspaces.size() == 1);  // the whole batch in one call
    const ebm::mala mh{.epsilon = 0.01f, .steps = 3};
    auto ms = mh.make_state(net, n);
    const auto mstats = mh.run(ms, net, x, rng, 10);
    CHECK(mstats.acceptance >= 0.0);
    CHECK(mstats.acceptance <= 1.0);
    // Fewer chains than the state was made for.
    lg.run(st, net, x.view().chains(0, 2), rng, 20);

    ebm::ml_trainer trainer(tiny_net(), ebm::langevin_decoupled{.steps = 2}, ebm::uniform_noise{},
                            ebm::adam{.learning_rate = 1e-3f}, ebm::trainer_options{.batch_size = 4});
    const ebm::batch data = uniform_batch(net.dimension(), 4, 22);
    const std::vector<float> before(trainer.energy().parameters().begin(), trainer.energy().parameters().end());
    for (int t = 0; t < 2; ++t) {
        const auto rec = trainer.step(data);
        CHECK_FALSE(rec.diverged);
        CHECK(std::isfinite(rec.d));
    }
    const auto after = std::as_const(trainer.energy()).parameters();
    CHECK_FALSE(std::equal(before.begin(), before.end(), after.begin()));
}

TEST_CASE("convnet: bad architectures and calls name what is wrong") {
    CHECK(error_of([] { (void)ebm::convnet::short_run(48); }) ==
          "ebm::convnet::short_run: image_size must be 32, 64 or 128 (got 48)");
    CHECK(error_of([] { (void)ebm::convnet::short_run(32, 8, 2); }) ==
          "ebm::convnet::short_run: channels must be 1 or 3 (got 2)");
    CHECK(error_of([] { (void)ebm::convnet::vanilla(4); }) == "ebm::convnet::vanilla: channels must be 1 or 3 (got 4)");
    CHECK(error_of([] { (void)ebm::convnet::short_run(32, 0); }) == "ebm::convnet::short_run: n_f must be > 0 (got 0)");
    ebm::convnet_architecture arch;
    arch.channels = 1;
    arch.height = arch.width = 8;
    arch.layers = {{4, 3, 1, 1}, {2, 8, 1, 0}};
    CHECK(error_of([&] { ebm::convnet net(arch); }).find("the last convolution must give 1 x 1 x 1 per chain") !=
          std::string::npos);
    arch.layers = {{4, 3, 1, 1}, {1, 4, 1, 0}};
    CHECK(error_of([&] { ebm::convnet net(arch); }).find("kernel must cover its whole 8 x 8 input (got 4)") !=
          std::string::npos);
    arch.layers = {{4, 3, 1, 1}, {1, 9, 1, 0}};
    CHECK(error_of([&] { ebm::convnet net(arch); }).find("kernel") != std::string::npos);

    const auto net = tiny_net();
    auto ws = net.make_workspace(2);
    std::vector<float> u(4);
    const ebm::batch x3 = uniform_batch(net.dimension(), 3, 1);
    CHECK(error_of([&] { net.energy(x3, u, ws); }) ==
          "ebm::convnet::energy: x holds more chains than the workspace capacity 2 (got 3)");
    const ebm::batch wrong = uniform_batch(3 * 16 * 16, 2, 1);
    CHECK(error_of([&] { net.energy(wrong, u, ws); }) ==
          "ebm::convnet::energy: x dimension must equal channels x height x width = 1 x 16 x 16 = 256 (got 768)");
    std::vector<float> u1(1);
    const ebm::batch x2 = uniform_batch(net.dimension(), 2, 1);
    CHECK(error_of([&] { net.energy(x2, u1, ws); }) == "ebm::convnet::energy: u must have one entry per chain (2) (got 1)");
    ebm::batch g(net.dimension(), 1);
    CHECK(error_of([&] { net.energy_and_gradient(x2, u, g, ws); }).find("grad must have the shape of x") !=
          std::string::npos);
    std::vector<float> grad(5);
    CHECK(error_of([&] { net.accumulate_parameter_gradient(x2, std::vector<float>{1, 1}, grad, u, ws); })
              .find("grad must have parameter_count()") != std::string::npos);
    std::vector<float> grad_ok(static_cast<std::size_t>(net.parameter_count()));
    CHECK(error_of([&] { net.accumulate_parameter_gradient(x2, std::vector<float>{1}, grad_ok, u, ws); }) ==
          "ebm::convnet::accumulate_parameter_gradient: weights must have one entry per chain (2) (got 1)");
    CHECK(error_of([&] { (void)net.make_workspace(0); }) == "ebm::convnet::make_workspace: max_chains must be > 0 (got 0)");
    ebm::convnet::workspace empty;
    CHECK(error_of([&] { net.energy(x2, u, empty); }).find("the workspace is empty") != std::string::npos);
}

TEST_CASE("nonlocal_net: finite differences / state_dict names / zero-initialised output projections / errors") {
    ebm::nonlocal_net net(1, 4, 0.05f, ebm::seed{2});
    const auto& t = net.parameter_tensors();
    REQUIRE(t.size() == 26);
    CHECK(t[0].name == "convs.0.weight");
    CHECK(t[2].name == "convs.3.g.0.weight");
    CHECK(t[4].name == "convs.3.W.weight");
    CHECK(t[6].name == "convs.3.theta.weight");
    CHECK(t[8].name == "convs.3.phi.0.weight");
    CHECK(t[10].name == "convs.4.weight");
    CHECK(t[22].name == "fc.0.weight");
    CHECK(t[22].shape == std::vector<ebm::index>{32, 256});
    CHECK(t[25].name == "fc.2.bias");
    const auto p = net.parameters();
    for (ebm::index k = 0; k < t[4].count(); ++k) CHECK(p[static_cast<std::size_t>(t[4].offset + k)] == 0.0f);
    // Switch the blocks on, then check gradients by central differences.
    const ebm::philox rng(3);
    for (int b : {4, 5, 16, 17})
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(b), 0, p.data() + t[b].offset, t[b].count(),
                          -0.5f, 0.5f);
    const ebm::index n = 3, d = net.dimension();
    const ebm::batch x = uniform_batch(d, n, 31);
    const ebm::batch v = uniform_batch(d, n, 32);
    auto ws = net.make_workspace(n);
    std::vector<float> u(n), up(n), um(n);
    ebm::batch g(d, n);
    net.energy_and_gradient(x, u, g, ws);
    const float h = 2e-3f;
    ebm::batch xp(d, n), xm(d, n);
    for (ebm::index k = 0; k < n * d; ++k) {
        xp.data()[k] = x.data()[k] + h * v.data()[k];
        xm.data()[k] = x.data()[k] - h * v.data()[k];
    }
    net.energy(xp, up, ws);
    net.energy(xm, um, ws);
    for (ebm::index i = 0; i < n; ++i) {
        double analytic = 0, scale = 0;
        for (ebm::index k = 0; k < d; ++k) {
            analytic += static_cast<double>(g.chain(i)[k]) * v.chain(i)[k];
            scale += std::abs(static_cast<double>(g.chain(i)[k]) * v.chain(i)[k]);
        }
        const double numeric = (static_cast<double>(up[i]) - um[i]) / (2.0 * h);
        CHECK_MESSAGE(std::abs(analytic - numeric) <= 3e-2 * std::max(std::abs(analytic), 0.1 * scale),
                      "chain " << i << " analytic " << analytic << " numeric " << numeric);
    }
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.0f);
    const std::vector<float> w = {1.0f, -0.5f, 0.25f};
    net.accumulate_parameter_gradient(x, w, grad, u, ws);
    std::vector<float> dir(grad.size());
    ebm::fill_uniform(rng, ebm::purpose::user, 99, 0, dir.data(), static_cast<ebm::index>(dir.size()), -1.0f, 1.0f);
    const std::vector<float> theta(p.begin(), p.end());
    const auto weighted = [&](float sgn) {
        for (std::size_t k = 0; k < p.size(); ++k) p[k] = theta[k] + sgn * 1e-3f * dir[k];
        std::vector<float> uu(n);
        net.energy(x, uu, ws);
        double s = 0;
        for (ebm::index i = 0; i < n; ++i) s += static_cast<double>(w[static_cast<std::size_t>(i)]) * uu[i];
        return s;
    };
    const double numeric = (weighted(1.0f) - weighted(-1.0f)) / 2e-3;
    double analytic = 0, scale = 0;
    for (std::size_t k = 0; k < grad.size(); ++k) {
        analytic += static_cast<double>(grad[k]) * dir[k];
        scale += std::abs(static_cast<double>(grad[k]) * dir[k]);
    }
    CHECK_MESSAGE(std::abs(analytic - numeric) <= 3e-2 * std::max(std::abs(analytic), 0.1 * scale),
                  "analytic " << analytic << " numeric " << numeric);

    CHECK(error_of([] { ebm::nonlocal_net bad(2); }) == "ebm::nonlocal_net: channels must be 1 or 3 (got 2)");
    const ebm::batch wrong = uniform_batch(3 * 32 * 32, 1, 1);
    CHECK(error_of([&] { net.energy(wrong, u, ws); }) ==
          "ebm::nonlocal_net::energy: x dimension must equal channels x 32 x 32 = 1024 (got 3072)");
    // The samplers run it unchanged.
    ebm::batch chains = x;
    const ebm::langevin lg{.epsilon = 0.01f, .steps = 2};
    auto st = lg.make_state(net, n);
    CHECK(std::isfinite(lg.run(st, net, chains, rng, 0).mean_energy));
}

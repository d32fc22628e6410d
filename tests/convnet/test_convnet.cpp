// ConvNet energies without PyTorch: the learnable_energy contract, finite differences, PyTorch-style
// initialisation, state_dict names, batch-size handling, the samplers and trainer running them unchanged, and
// errors for bad architectures and bad calls.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <ebm/concepts/hessian_vector_energy.hpp>
#include <ebm/concepts/learnable_energy.hpp>
#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/ml_trainer.hpp>

#include "convnet_test_support.hpp"
#include "double_reference.hpp"

using namespace convnet_test;

static_assert(ebm::check_learnable_energy<ebm::convnet>());
static_assert(ebm::learnable_energy<ebm::convnet>);
static_assert(ebm::check_hessian_vector_energy<ebm::convnet>());
static_assert(!ebm::split_chains_across_threads<ebm::convnet>());
static_assert(ebm::check_learnable_energy<ebm::nonlocal_net>());
static_assert(ebm::check_hessian_vector_energy<ebm::nonlocal_net>());
static_assert(!ebm::split_chains_across_threads<ebm::nonlocal_net>());

namespace {

// A small net for cheap checks: 16 x 16 grey input, 3 convolutions.
ebm::convnet_architecture tiny_architecture(float slope) {
    ebm::convnet_architecture arch;
    arch.name = "tiny";
    arch.channels = 1;
    arch.height = arch.width = 16;
    arch.layers = {{4, 3, 1, 1}, {8, 4, 2, 1}, {1, 8, 1, 0}};
    arch.negative_slope = slope;
    return arch;
}
ebm::convnet tiny_net(float slope = 0.2f, bool negate = false, std::uint64_t s = 5) {
    return ebm::convnet(tiny_architecture(slope), {.negate_output = negate}, ebm::seed{s});
}

std::vector<double> to_double(std::span<const float> v) { return {v.begin(), v.end()}; }

/// The float parameter gradient `grad` of sum_i w_i U_i against central differences of its double reference
/// `weighted(theta)`, along the direction `dir_f` restricted to one parameter tensor at a time, so that an error in a
/// small tensor (a bias) is not lost in the sum over all of them. Tolerance: 1e-5 of the tensor's sum of |terms| plus
/// 1e-8 of the sum over every tensor (the float sums' rounding is relative to it).
template <class Net, class Weighted>
void check_parameter_gradient(const Net& net, const std::vector<float>& grad, const std::vector<float>& dir_f,
                              const Weighted& weighted, const std::vector<double>& theta) {
    double total_scale = 0;
    for (std::size_t j = 0; j < grad.size(); ++j) total_scale += std::abs(static_cast<double>(grad[j]) * dir_f[j]);
    for (const auto& tensor : net.parameter_tensors()) {
        std::vector<double> dir(grad.size(), 0.0);
        double analytic = 0, scale = 0;
        for (ebm::index k = tensor.offset; k < tensor.offset + tensor.count(); ++k) {
            const auto j = static_cast<std::size_t>(k);
            dir[j] = dir_f[j];
            analytic += static_cast<double>(grad[j]) * dir[j];
            scale += std::abs(static_cast<double>(grad[j]) * dir[j]);
        }
        const double numeric = central_difference(weighted, theta, dir);
        INFO(tensor.name << ": float " << analytic << ", double central difference " << numeric << ", difference "
             << std::abs(analytic - numeric) << " (sum of |terms| " << scale << ")");
        CHECK(std::abs(analytic - numeric) <= 1e-5 * scale + 1e-8 * total_scale);
    }
}

/// The float gradients of a ConvNet energy against central differences (step 1e-6, in double) of its double
/// reference `reference(theta, x)`: U of every chain, dU/dx coordinate by coordinate (every `stride`-th coordinate),
/// and the weighted parameter gradient along a random direction within each parameter tensor. The float
/// computation rounds each of its sums (relative 6e-8 per operation, a few hundred terms deep): observed, dU/dx
/// within 2e-7 of the largest entry, and the directional parameter derivatives within 1e-7 of their sum of |terms|
/// or, for tensors with tiny gradients (the attention's theta and phi), within 1e-11 of the sum of |terms| over all
/// tensors. The tolerances allow 1e-5 of the per-tensor scale plus 1e-8 of the overall one (U: 1e-5 relative), far
/// below the 2-3% a float finite difference needs and below what a wrong gradient term costs (a LeakyReLU slope
/// 10% off in one backward pass, a bias gradient 1% off: both fail here).
template <class Net, class Reference>
void check_against_double_reference(Net& net, const Reference& reference, ebm::index n, ebm::index stride,
                                    std::uint64_t seed_value, const std::vector<float>& w) {
    const ebm::index d = net.dimension();
    const ebm::batch x = uniform_batch(d, n, seed_value);
    auto ws = net.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), u2(u.size());
    ebm::batch g(d, n);
    net.energy_and_gradient(x, u, g, ws);
    const std::vector<double> theta = to_double(std::as_const(net).parameters());
    for (ebm::index i = 0; i < n; ++i) {
        const std::vector<double> xi(x.chain(i), x.chain(i) + d);
        const double ref_u = reference(theta, xi);
        INFO("chain " << i << " (x from seed " << seed_value << "): U float " << u[static_cast<std::size_t>(i)]
             << ", double " << ref_u);
        CHECK(std::abs(u[static_cast<std::size_t>(i)] - ref_u) <= 1e-5 * std::max(std::abs(ref_u), 1.0));
        const auto of_x = [&](const std::vector<double>& xx) { return reference(theta, xx); };
        std::vector<double> e(static_cast<std::size_t>(d), 0.0), fd;
        double largest = 0, worst = 0;
        for (ebm::index k = 0; k < d; k += stride) {
            e[static_cast<std::size_t>(k)] = 1.0;
            fd.push_back(central_difference(of_x, xi, e));
            e[static_cast<std::size_t>(k)] = 0.0;
            largest = std::max(largest, std::abs(fd.back()));
        }
        for (ebm::index k = 0; k < d; k += stride)
            worst = std::max(worst, std::abs(g.chain(i)[k] - fd[static_cast<std::size_t>(k / stride)]));
        MESSAGE("chain " << i << ": largest |dU/dx| " << largest << ", largest float error " << worst);
        CHECK(largest > 0.0);
        CHECK(worst <= 1e-5 * largest);
    }
    // d(sum_i w_i U_i)/dtheta along a random direction (seed 9) restricted to one parameter tensor at a time, so
    // that an error in a small tensor (a bias) is not lost in the sum over all of them.
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.0f), dir_f(grad.size());
    net.accumulate_parameter_gradient(x, w, grad, u2, ws);
    ebm::fill_uniform(ebm::philox(9), ebm::purpose::user, 0, 0, dir_f.data(), static_cast<ebm::index>(dir_f.size()), -1.0f, 1.0f);
    const auto weighted = [&](const std::vector<double>& t) {
        double sum = 0;
        for (ebm::index i = 0; i < n; ++i)
            sum += w[static_cast<std::size_t>(i)] * reference(t, std::vector<double>(x.chain(i), x.chain(i) + d));
        return sum;
    };
    check_parameter_gradient(net, grad, dir_f, weighted, theta);
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

TEST_CASE("convnet: dU/dx and dU/dtheta against central differences of a double-precision reference") {
    for (const bool negate : {false, true}) {
        INFO("negate_output " << negate);
        auto net = tiny_net(0.2f, negate);
        const auto arch = tiny_architecture(0.2f);
        const auto reference = [&](const std::vector<double>& theta, const std::vector<double>& xi) {
            return convnet_energy(arch, negate, theta, xi);
        };
        check_against_double_reference(net, reference, 3, 1, 7, {0.7f, -0.4f, 1.1f});
    }
}

// Convolutions and LeakyReLUs are piecewise linear: dU/dx is constant between kinks, so its differences along a step
// that crosses none are exactly zero, as is the product the net returns.
TEST_CASE("convnet: the Hessian-vector product is zero, as differences of gradients are between kinks") {
    const auto net = tiny_net();
    const ebm::index n = 3, d = net.dimension();
    ebm::batch x(d, n), v(d, n), hv(d, n), plus(d, n), minus(d, n), g_plus(d, n), g_minus(d, n);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(41), ebm::purpose::user, 0);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(v, ebm::philox(42), ebm::purpose::user, 0);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(hv, ebm::philox(43), ebm::purpose::user, 0);  // overwritten with zeros
    auto ws = net.make_workspace(n);
    net.hessian_vector_product(x.view(), v.view(), hv.view(), ws);
    CHECK(std::all_of(hv.data(), hv.data() + d * n, [](float h) { return h == 0.0f; }));
    for (ebm::index k = 0; k < d * n; ++k) {
        plus.data()[k] = x.data()[k] + 1e-5f * v.data()[k];
        minus.data()[k] = x.data()[k] - 1e-5f * v.data()[k];
    }
    std::vector<float> u(static_cast<std::size_t>(n));
    net.energy_and_gradient(plus.view(), u, g_plus.view(), ws);
    net.energy_and_gradient(minus.view(), u, g_minus.view(), ws);
    ebm::index unchanged = 0;  // coordinates whose gradient did not move (every one, unless a kink lies within 1e-5)
    for (ebm::index k = 0; k < d * n; ++k) unchanged += g_plus.data()[k] == g_minus.data()[k] ? 1 : 0;
    MESSAGE("gradient coordinates unchanged along the step (points seed 41, direction seed 42): " << unchanged << " of "
                                                                                                   << d * n);
    CHECK(unchanged == d * n);
    ebm::batch short_v(d, n - 1);
    CHECK_THROWS_WITH_AS(net.hessian_vector_product(x.view(), short_v.view(), hv.view(), ws),
                         "ebm::convnet::hessian_vector_product: v must have x's shape 256 x 3 (got '256 x 2')",
                         ebm::error);
}

// n_f 4, 8 and 12 are not multiples of oneDNN's SIMD block: with the layouts oneDNN picks level by level, the second
// convolution of these nets ran on oneDNN's reference kernels (3.7 s per Langevin step at n_f 8 and batch 64 instead
// of 13 ms). The layout search must find optimised kernels for every primitive, through reorders between
// levels, and the reordered path must give the gradients of the double-precision reference.
TEST_CASE("convnet: small widths get optimised oneDNN kernels, and their reordered layouts exact gradients") {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const bool avx2 = (isa & static_cast<unsigned>(dnnl::cpu_isa::avx2)) == static_cast<unsigned>(dnnl::cpu_isa::avx2);
    const bool avx512 = (isa & static_cast<unsigned>(dnnl::cpu_isa::avx512_core)) ==
                        static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    MESSAGE("oneDNN " << ebm::onednn::version() << ", CPU ISA mask " << isa << (avx2 ? "" : ": no AVX2, the kernel checks are skipped"));
    bool reordered_somewhere = false;
    for (const ebm::index channels : {1, 3})
        for (const ebm::index n_f : {4, 8, 12, 16, 32}) {
            const auto net = ebm::convnet::short_run(32, n_f, channels);
            auto ws = net.make_workspace(64);
            const auto reference = ws.reference_kernels();
            std::string listed;
            for (const auto& label : reference) listed += " " + label;
            INFO("channels " << channels << ", n_f " << n_f << ": reference kernels:" << listed);
            if (avx2) CHECK(reference.empty());
            // Which levels read a reordered copy shows in the profile's labels.
            const ebm::batch x = uniform_batch(net.dimension(), 64, 3);
            ebm::batch g(net.dimension(), 64);
            std::vector<float> u(64);
            ws.profiling().enabled = true;
            net.energy_and_gradient(x, u, g, ws);
            for (const auto& label : ws.profiling().labels)
                if (label.find(".input_reorder") != std::string::npos) reordered_somewhere = true;
        }
    if (avx512) CHECK_MESSAGE(reordered_somewhere, "no net of this test reads a reordered input: the test below would not "
                                                   "exercise the reordered path");

    // short_run(32, n_f 8, 1 channel) at batch 64 reads a reordered input at its second convolution (AVX-512).
    const ebm::index n = 64;
    const auto net = ebm::convnet::short_run(32, 8, 1, 0.2f, {}, ebm::seed{4});
    const auto arch = net.architecture();
    const ebm::index d = net.dimension();
    const ebm::batch x = uniform_batch(d, n, 21);
    auto ws = net.make_workspace(n);
    std::vector<float> u(n), u2(n);
    ebm::batch g(d, n);
    net.energy_and_gradient(x, u, g, ws);
    const std::vector<double> theta(net.parameters().begin(), net.parameters().end());
    const auto chain = [&](ebm::index i) { return std::vector<double>(x.chain(i), x.chain(i) + d); };
    std::vector<float> dir_f(static_cast<std::size_t>(std::max(d, net.parameter_count())));
    ebm::fill_uniform(ebm::philox(9), ebm::purpose::user, 0, 0, dir_f.data(), static_cast<ebm::index>(dir_f.size()),
                      -1.0f, 1.0f);
    for (const ebm::index i : {0, 17, 63}) {
        const std::vector<double> xi = chain(i);
        const double ref_u = convnet_energy(arch, false, theta, xi);
        CHECK(std::abs(u[static_cast<std::size_t>(i)] - ref_u) <= 1e-5 * std::max(std::abs(ref_u), 1.0));
        // dU/dx along a random direction
        const std::vector<double> dir(dir_f.begin(), dir_f.begin() + d);
        double analytic = 0, scale = 0;
        for (ebm::index k = 0; k < d; ++k) {
            analytic += static_cast<double>(g.chain(i)[k]) * dir[static_cast<std::size_t>(k)];
            scale += std::abs(static_cast<double>(g.chain(i)[k]) * dir[static_cast<std::size_t>(k)]);
        }
        const double numeric =
            central_difference([&](const std::vector<double>& xx) { return convnet_energy(arch, false, theta, xx); }, xi, dir);
        INFO("chain " << i << ": dU/dx . v float " << analytic << ", double central difference " << numeric);
        CHECK(std::abs(analytic - numeric) <= 1e-5 * scale);
    }
    // The parameter gradient with weight on three chains, per tensor along the random direction.
    std::vector<float> w(n, 0.0f), grad(static_cast<std::size_t>(net.parameter_count()), 0.0f);
    w[0] = 0.5f;
    w[17] = -1.25f;
    w[63] = 2.0f;
    net.accumulate_parameter_gradient(x, w, grad, u2, ws);
    CHECK(u2 == u);
    const auto weighted = [&](const std::vector<double>& t) {
        return 0.5 * convnet_energy(arch, false, t, chain(0)) - 1.25 * convnet_energy(arch, false, t, chain(17)) +
               2.0 * convnet_energy(arch, false, t, chain(63));
    };
    check_parameter_gradient(net, grad, dir_f, weighted, theta);
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
    {
        // One MALA step at step 10, every decision recomputed here: the proposal y = x - (eps^2/2) dU/dx + eps z from
        // the documented noise stream, the MH log ratio from the net's energies and gradients at x and y, and
        // log u from (mala_accept, chain, step). Away from the decision boundary the decision is determined.
        const float eps = 0.3f;
        const ebm::mala mh{.epsilon = eps, .steps = 1};
        auto ms = mh.make_state(net, n);
        const ebm::index d = net.dimension();
        const ebm::batch x0 = x;
        const auto mstats = mh.run(ms, net, x, rng, 10);
        ebm::batch y(d, n), gx(d, n), gy(d, n);
        std::vector<float> ux(n), uy(n), z(static_cast<std::size_t>(d));
        auto ws = net.make_workspace(n);
        net.energy_and_gradient(x0, ux, gx, ws);
        for (ebm::index i = 0; i < n; ++i) {
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 10, z.data(), d);
            for (ebm::index k = 0; k < d; ++k)
                y.chain(i)[k] = x0.chain(i)[k] - 0.5f * eps * eps * gx.chain(i)[k] + eps * z[static_cast<std::size_t>(k)];
        }
        net.energy_and_gradient(y, uy, gy, ws);
        ebm::index moved = 0, decided = 0;
        for (ebm::index i = 0; i < n; ++i) {
            double forward = 0, backward = 0, to_y = 0;
            bool stayed = true;
            for (ebm::index k = 0; k < d; ++k) {
                const double a = x0.chain(i)[k], b = y.chain(i)[k], h = 0.5 * eps * eps;
                forward += std::pow(b - a + h * gx.chain(i)[k], 2);
                backward += std::pow(a - b + h * gy.chain(i)[k], 2);
                stayed = stayed && x.chain(i)[k] == x0.chain(i)[k];
                to_y = std::max(to_y, std::abs(x.chain(i)[k] - b));
            }
            const double log_ratio = double(ux[static_cast<std::size_t>(i)]) - uy[static_cast<std::size_t>(i)] -
                                     (backward - forward) / (2.0 * eps * eps);
            const double log_u =
                std::log(ebm::uniform_scalar(rng, ebm::purpose::mala_accept, static_cast<std::uint32_t>(i), 10));
            const bool at_proposal = to_y < 1e-4;
            INFO("chain " << i << " (seed 4): log u " << log_u << ", log ratio " << log_ratio);
            CHECK((stayed || at_proposal));
            CHECK(ms.chain_acceptance(i, 1) == (stayed ? 0.0 : 1.0));
            if (std::abs(log_u - log_ratio) > 1e-2) {
                ++decided;
                CHECK(!stayed == (log_u < log_ratio));
            }
            moved += stayed ? 0 : 1;
        }
        CHECK(decided >= n - 1);
        CHECK(mstats.acceptance == static_cast<double>(moved) / static_cast<double>(n));
    }
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
          "ebm::convnet::energy: x dimension must equal the network's input [1, 16, 16] = 256 (got 768)");
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
    // Switch the blocks on (the output projections start at zero), then check the gradients against central
    // differences of the double reference (every 4th input coordinate).
    const ebm::philox rng(3);
    for (int b : {4, 5, 16, 17})
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(b), 0, p.data() + t[b].offset, t[b].count(),
                          -0.5f, 0.5f);
    const ebm::index n = 3;
    const auto reference = [](const std::vector<double>& theta, const std::vector<double>& xi) {
        return nonlocal_energy(1, 4, 0.05f, theta, xi);
    };
    check_against_double_reference(net, reference, n, 4, 31, {1.0f, -0.5f, 0.25f});
    const ebm::batch x = uniform_batch(net.dimension(), n, 31);
    auto ws = net.make_workspace(n);
    std::vector<float> u(n);

    CHECK(error_of([] { ebm::nonlocal_net bad(2); }) == "ebm::nonlocal_net: channels must be 1 or 3 (got 2)");
    const ebm::batch wrong = uniform_batch(3 * 32 * 32, 1, 1);
    CHECK(error_of([&] { net.energy(wrong, u, ws); }) ==
          "ebm::nonlocal_net::energy: x dimension must equal the network's input [1, 32, 32] = 1024 (got 3072)");
    // The samplers run it unchanged.
    ebm::batch chains = x;
    const ebm::langevin lg{.epsilon = 0.01f, .steps = 2};
    auto st = lg.make_state(net, n);
    CHECK(std::isfinite(lg.run(st, net, chains, rng, 0).mean_energy));
}

// The non-local net's Hessian-vector product (exact, the R-operator through the attention) against PyTorch's double
// backward is in test_convnet_parity.cpp. Here, without PyTorch: a Hessian is symmetric, u . (H v) = v . (H u), which
// an error in any one term of the product breaks; the product is linear in v; with the blocks switched off (zero
// output projections) the net is piecewise linear and the product zero. Central differences of gradients cannot
// check it: a step of 1e-4 already crosses several of the net's thousands of kinks (max-pool switches, LeakyReLU
// signs), each a jump in the gradient.
TEST_CASE("nonlocal_net: the Hessian-vector product is symmetric, linear, and zero with the blocks switched off") {
    for (const ebm::index channels : {1, 3}) {
        const ebm::index n_f = channels == 1 ? 8 : 32;
        INFO("channels " << channels << ", n_f " << n_f << " (weights seed 16, output projections seed 17)");
        ebm::nonlocal_net net(channels, n_f, 0.05f, ebm::seed{16});
        const ebm::index n = 3, d = net.dimension();
        const ebm::batch x = uniform_batch(d, n, 51), u = uniform_batch(d, n, 52), v = uniform_batch(d, n, 53);
        ebm::batch hu(d, n), hv(d, n), h_sum(d, n), sum(d, n);
        auto ws = net.make_workspace(n);
        net.hessian_vector_product(x, v, hv, ws);
        CHECK(std::all_of(hv.data(), hv.data() + d * n, [](float h) { return h == 0.0f; }));

        switch_on_nonlocal_blocks(net);
        net.hessian_vector_product(x, u, hu, ws);
        net.hessian_vector_product(x, v, hv, ws);
        for (ebm::index k = 0; k < d * n; ++k) sum.data()[k] = u.data()[k] + 2.0f * v.data()[k];
        net.hessian_vector_product(x, sum, h_sum, ws);
        for (ebm::index i = 0; i < n; ++i) {
            double uhv = 0, vhu = 0, scale = 0, linear_error = 0, largest = 0;
            for (ebm::index k = 0; k < d; ++k) {
                uhv += static_cast<double>(u.view().chain(i)[k]) * hv.view().chain(i)[k];
                vhu += static_cast<double>(v.view().chain(i)[k]) * hu.view().chain(i)[k];
                scale += std::abs(static_cast<double>(u.view().chain(i)[k]) * hv.view().chain(i)[k]);
                const double expected = static_cast<double>(hu.view().chain(i)[k]) + 2.0 * hv.view().chain(i)[k];
                linear_error = std::max(linear_error, std::abs(h_sum.view().chain(i)[k] - expected));
                largest = std::max(largest, std::abs(expected));
            }
            MESSAGE("chain " << i << ": u.Hv " << uhv << ", v.Hu " << vhu << " (sum of |terms| " << scale
                             << "), largest |H(u + 2v)| " << largest);
            CHECK(largest > 0);
            CHECK(std::abs(uhv - vhu) <= 1e-6 * scale);
            CHECK(linear_error <= 1e-5 * largest);
        }
        ebm::batch short_hv(d, n - 1);
        CHECK(error_of([&] { net.hessian_vector_product(x, v, short_hv, ws); }) ==
              "ebm::nonlocal_net::hessian_vector_product: hv must have x's shape " + std::to_string(d) + " x 3 (got '" +
                  std::to_string(d) + " x 2')");
    }
}

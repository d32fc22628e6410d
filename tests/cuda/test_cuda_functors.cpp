// The per-element functors of include/ebm/kernels/ (what execution<cuda> launches on the GPU and execution<cpu> runs
// in loops), compiled here as plain C++ and run by a plain host loop, checked against independent references: the
// Philox block layout, ebm::fill_normal/fill_uniform (the CPU's batched paths), PyTorch's optimizer formulas written
// out, Hoffman & Gelman's dual averaging written out. Runs in every build, with or without CUDA.
#include <doctest/doctest.h>

#include <ebm/ebm.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace kn = ebm::kernels;
using idx = ebm::index;

namespace {

/// The reference launcher: f(k) for k in [0, n), in order.
template <class F>
void host_launch(idx n, const F& f) {
    for (idx k = 0; k < n; ++k) f(k);
}

std::size_t mismatches(const std::vector<float>& a, const std::vector<float>& b) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < a.size(); ++k) n += std::memcmp(&a[k], &b[k], sizeof(float)) != 0 ? 1 : 0;
    return n;
}

/// The device noise of `count` chains, computed by the device functor on the host.
std::vector<float> functor_noise(const ebm::philox& rng, ebm::purpose p, std::uint32_t first_chain, std::uint64_t step,
                                 idx dimension, idx count, float scale) {
    std::vector<float> out(static_cast<std::size_t>(dimension * count), -7.0f);
    host_launch(count * kn::blocks_per_chain(dimension),
                             kn::normal_fill{out.data(), dimension, rng, p, first_chain, {nullptr, step}, scale});
    return out;
}

}  // namespace

TEST_CASE("device noise functor: element e of chain c is Box-Muller pair (e%4)/2 of Philox block e/4") {
    const ebm::philox rng(ebm::seed{20240601});
    for (idx dimension : {1, 2, 3, 4, 5, 7, 8, 17, 3072}) {
        for (std::uint64_t step : {std::uint64_t{0}, std::uint64_t{12345}, (std::uint64_t{1} << 35) + 3}) {
            const idx count = 3;
            const auto noise = functor_noise(rng, ebm::purpose::langevin_noise, 5, step, dimension, count, 0.5f);
            std::vector<float> reference(noise.size());
            for (idx c = 0; c < count; ++c)
                for (idx e = 0; e < dimension; ++e) {
                    const auto w = rng.block(ebm::purpose::langevin_noise, static_cast<std::uint32_t>(5 + c), step,
                                             static_cast<std::uint32_t>(e / 4));
                    const std::size_t pair = static_cast<std::size_t>(e % 4) / 2;
                    const auto z = ebm::portable::box_muller(w[2 * pair], w[2 * pair + 1], 0.5f);
                    reference[static_cast<std::size_t>(c * dimension + e)] = e % 2 == 0 ? z.first : z.second;
                }
            INFO("dimension " << dimension << ", step " << step << ", seed 20240601");
            CHECK(mismatches(noise, reference) == 0);
        }
    }
}

TEST_CASE("device noise functor versus ebm::fill_normal (CPU backend)") {
    const ebm::philox rng(ebm::seed{7});
    const idx dimension = 3072, count = 16;
    const auto device = functor_noise(rng, ebm::purpose::langevin_noise, 0, 5, dimension, count, 1.0f);
    std::vector<float> cpu(device.size());
    for (idx i = 0; i < count; ++i)
        ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 5,
                         cpu.data() + i * dimension, dimension);
    // The requirement (random/distributions.hpp uses kernels/portable_math.hpp): same seed, same noise, bit for bit.
    INFO("seed 7, " << mismatches(cpu, device) << " of " << cpu.size() << " elements differ");
    CHECK(mismatches(cpu, device) == 0);
}

TEST_CASE("langevin_step functor equals the CPU's move with fill_normal noise, in place and into a proposal") {
    const ebm::philox rng(ebm::seed{99});
    const idx dimension = 7, count = 5;
    std::vector<float> x(static_cast<std::size_t>(dimension * count)), g(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
        x[k] = std::sin(0.37f * static_cast<float>(k));
        g[k] = std::cos(0.11f * static_cast<float>(k)) * 3.0f;
    }
    const ebm::kernels::langevin_move move{0.005f, 0.1f, ebm::kernels::box{-1.0f, 1.0f}};
    for (bool noise : {true, false}) {
        std::vector<float> y(x.size());
        host_launch(count * kn::blocks_per_chain(dimension),
                                 kn::langevin_step{y.data(), x.data(), g.data(), dimension, rng, 0, {nullptr, 42}, move, noise});
        // The reference: the device's noise functor (checked against fill_normal above) and the shared move.
        const auto z = functor_noise(rng, ebm::purpose::langevin_noise, 0, 42, dimension, count, 1.0f);
        std::vector<float> reference(x.size());
        for (std::size_t k = 0; k < x.size(); ++k) reference[k] = move(x[k], g[k], noise ? z[k] : 0.0f);
        CHECK(mismatches(y, reference) == 0);
        std::vector<float> in_place = x;
        host_launch(count * kn::blocks_per_chain(dimension),
                                 kn::langevin_step{in_place.data(), in_place.data(), g.data(), dimension, rng, 0,
                                                   {nullptr, 42}, move, noise});
        CHECK(mismatches(in_place, y) == 0);
    }
}

TEST_CASE("step_counter reads the run's first step from memory (the CUDA graph's way)") {
    const ebm::philox rng(ebm::seed{3});
    const std::uint64_t base = 1000;
    std::vector<float> a(8), b(8);
    host_launch(2, kn::normal_fill{a.data(), 8, rng, ebm::purpose::langevin_noise, 0, {&base, 7}, 1.0f});
    host_launch(2, kn::normal_fill{b.data(), 8, rng, ebm::purpose::langevin_noise, 0, {nullptr, 1007}, 1.0f});
    CHECK(mismatches(a, b) == 0);
}

TEST_CASE("uniform_fill functor versus ebm::fill_uniform and the initializers") {
    const ebm::philox rng(ebm::seed{11});
    const idx dimension = 13, count = 4;
    std::vector<float> device(static_cast<std::size_t>(dimension * count));
    host_launch(count * kn::blocks_per_chain(dimension),
                             kn::uniform_fill{device.data(), dimension, rng, ebm::purpose::init_noise, 0, {nullptr, 9},
                                              -1.0f, 1.0f});
    ebm::batch cpu(dimension, count);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(cpu.view(), rng, ebm::purpose::init_noise, 9);
    std::vector<float> cpu_values(cpu.data(), cpu.data() + cpu.view().size());
    // Not claimed bit-identical: the functor computes low + (high - low) u with an explicit fma, fill_uniform with
    // whatever the compiler makes of it (one or two roundings). The two differ by at most one rounding of a value in
    // (-1, 1): half an ulp of 1 (6e-8) per rounding, so 1.2e-7 bounds it; nothing larger is allowed.
    double max_difference = 0;
    for (std::size_t k = 0; k < device.size(); ++k)
        max_difference = std::max(max_difference, static_cast<double>(std::fabs(device[k] - cpu_values[k])));
    INFO(mismatches(device, cpu_values) << " elements differ (fused vs compiler-chosen low + (high - low) u)");
    CHECK(max_difference <= 1.2e-7);
    for (float v : device) CHECK((v > -1.0f && v < 1.0f));

    // Gaussian initializer = normal_fill with the scale.
    ebm::batch gauss(dimension, count);
    ebm::gaussian_noise{2.0f}.fill(gauss.view(), rng, ebm::purpose::init_noise, 9);
    const auto device_gauss = functor_noise(rng, ebm::purpose::init_noise, 0, 9, dimension, count, 2.0f);
    // Both are scale * (radius * cos/sin) of the portable Box-Muller: bit for bit.
    const std::vector<float> cpu_gauss(gauss.data(), gauss.data() + gauss.view().size());
    INFO("seed 11: " << mismatches(device_gauss, cpu_gauss) << " Gaussian initializer elements differ");
    CHECK(mismatches(device_gauss, cpu_gauss) == 0);
}

TEST_CASE("normal_fill with a chain list writes only the listed chains (bank rejuvenation)") {
    const ebm::philox rng(ebm::seed{5});
    const idx dimension = 6, count = 4;
    std::vector<float> out(static_cast<std::size_t>(dimension * count), 0.0f);
    const std::uint32_t chains[2] = {1, 3};
    host_launch(2 * kn::blocks_per_chain(dimension),
                             kn::normal_fill{out.data(), dimension, rng, ebm::purpose::init_noise, 0, {nullptr, 2}, 1.0f,
                                             false, chains});
    const auto all = functor_noise(rng, ebm::purpose::init_noise, 0, 2, dimension, count, 1.0f);
    for (idx i = 0; i < count; ++i)
        for (idx e = 0; e < dimension; ++e) {
            const auto k = static_cast<std::size_t>(i * dimension + e);
            CHECK(out[k] == ((i == 1 || i == 3) ? all[k] : 0.0f));
        }
}

TEST_CASE("data noise functor (accumulate) adds sigma z of (data_noise, i, iteration)") {
    const ebm::philox rng(ebm::seed{8});
    const idx dimension = 10, count = 3;
    std::vector<float> x(static_cast<std::size_t>(dimension * count), 0.25f);
    host_launch(count * kn::blocks_per_chain(dimension),
                             kn::normal_fill{x.data(), dimension, rng, ebm::purpose::data_noise, 0, {nullptr, 4}, 0.03f, true});
    const auto z = functor_noise(rng, ebm::purpose::data_noise, 0, 4, dimension, count, 0.03f);
    for (std::size_t k = 0; k < x.size(); ++k) CHECK(x[k] == 0.25f + z[k]);
}

TEST_CASE("bank gather and scatter functors move whole chains between bank slots and the batch") {
    const idx dimension = 3, size = 10, count = 4;
    const ebm::philox rng(ebm::seed{1});
    const ebm::persistent_bank<> policy{.size = size};
    auto st = policy.make_state(dimension, count, rng);
    ebm::batch x(dimension, count);
    policy.draw(st, x.view(), ebm::const_batch_view{}, rng, 0);
    const auto slots = st.drawn_slots();
    std::vector<float> bank(st.bank().data, st.bank().data + st.bank().size());
    std::vector<float> gathered(static_cast<std::size_t>(dimension * count));
    host_launch(count * dimension, kn::bank_gather{gathered.data(), bank.data(), slots.data(), dimension});
    CHECK(std::memcmp(gathered.data(), x.data(), gathered.size() * sizeof(float)) == 0);
    for (auto& v : gathered) v += 1.0f;
    host_launch(count * dimension, kn::bank_scatter{bank.data(), gathered.data(), slots.data(), dimension});
    for (auto& v : std::span<float>(x.data(), static_cast<std::size_t>(x.view().size()))) v += 1.0f;
    policy.write_back(st, x.view());
    CHECK(std::memcmp(bank.data(), st.bank().data, bank.size() * sizeof(float)) == 0);
}

TEST_CASE("SGD and Adam element functors follow PyTorch's formulas, written out") {
    const idx n = 37;
    std::vector<float> p(static_cast<std::size_t>(n)), g(p.size());
    for (idx k = 0; k < n; ++k) {
        p[static_cast<std::size_t>(k)] = 0.1f * static_cast<float>(k) - 1.0f;
        g[static_cast<std::size_t>(k)] = std::sin(static_cast<float>(k));
    }
    {  // torch.optim.SGD with momentum: buf = g (first step) else mu buf + g; p -= lr buf
        const float lr = 0.05f, mu = 0.9f;
        std::vector<double> ref(p.begin(), p.end()), ref_buffer(p.size(), 0.0);
        std::vector<float> dev = p, buffer(p.size(), 0.0f);
        for (std::uint64_t t = 0; t < 3; ++t) {
            for (std::size_t k = 0; k < p.size(); ++k) {
                ref_buffer[k] = t == 0 ? g[k] : mu * ref_buffer[k] + g[k];
                ref[k] -= lr * ref_buffer[k];
            }
            host_launch(n, kn::sgd_elements{kn::sgd_update{lr, mu, t == 0}, dev.data(), g.data(), buffer.data()});
        }
        for (std::size_t k = 0; k < p.size(); ++k) CHECK(dev[k] == doctest::Approx(ref[k]).epsilon(1e-6));
    }
    {  // torch.optim.Adam: m, v moments; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        std::vector<double> ref(p.begin(), p.end()), rm(p.size(), 0.0), rv(p.size(), 0.0);
        std::vector<float> dev = p, m(p.size(), 0.0f), v(p.size(), 0.0f);
        for (int t = 1; t <= 3; ++t) {
            const double c1 = 1.0 - std::pow(b1, t), c2 = 1.0 - std::pow(b2, t);
            for (std::size_t k = 0; k < p.size(); ++k) {
                rm[k] = b1 * rm[k] + (1 - b1) * g[k];
                rv[k] = b2 * rv[k] + (1 - b2) * g[k] * g[k];
                ref[k] -= lr / c1 * rm[k] / (std::sqrt(rv[k]) / std::sqrt(c2) + eps);
            }
            const kn::adam_update update{1e-3f, 0.9f, 0.999f, 1e-8f, static_cast<float>(c1), static_cast<float>(c2)};
            host_launch(n, kn::adam_elements{update, dev.data(), g.data(), m.data(), v.data()});
        }
        for (std::size_t k = 0; k < p.size(); ++k) CHECK(dev[k] == doctest::Approx(ref[k]).epsilon(1e-6));
    }
}

TEST_CASE("mala_decide: the CPU sampler's decision, NaN and out-of-box proposals rejected") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    // log ratio = U(x) - U(y) - (b - f) / (2 s^2) = 1 - 0.5 - (0.3 - 0.1) / 0.02 = -9.5
    auto out = kn::mala_decide(-10.0f, 1.0f, 0.5f, 0.1f, 0.3f, 0.02f, true);
    CHECK(out.accept);
    CHECK(out.finite);
    CHECK(out.probability == doctest::Approx(std::exp(-9.5)).epsilon(1e-5));
    CHECK_FALSE(kn::mala_decide(-9.0f, 1.0f, 0.5f, 0.1f, 0.3f, 0.02f, true).accept);
    CHECK_FALSE(kn::mala_decide(-10.0f, 1.0f, 0.5f, 0.1f, 0.3f, 0.02f, false).accept);  // outside the box
    CHECK(kn::mala_decide(-10.0f, 1.0f, 0.5f, 0.1f, 0.3f, 0.02f, false).probability == 0.0);
    for (float bad : {nan, inf, -inf}) {
        const auto r = kn::mala_decide(-100.0f, 1.0f, bad, 0.1f, 0.3f, 0.02f, true);
        CHECK_FALSE(r.accept);
        CHECK_FALSE(r.finite);
        CHECK_FALSE(kn::mala_decide(-100.0f, 1.0f, 0.5f, bad, 0.3f, 0.02f, true).accept);
    }
    CHECK(kn::is_finite(1.0f));
    CHECK_FALSE(kn::is_finite(nan));
    CHECK_FALSE(kn::is_finite(-inf));
    // log u of the accept test: the portable log of the CPU's uniform_scalar, within an ulp of std::log, and the
    // CPU MALA's batched log-uniforms bit for bit.
    const ebm::philox rng(ebm::seed{2});
    std::vector<float> cpu_log_u(50);
    ebm::detail::fill_log_uniforms(rng, ebm::purpose::mala_accept, 0, 50, 17, cpu_log_u.data());
    std::vector<float> device_log_u(50);
    for (std::uint32_t chain = 0; chain < 50; ++chain) {
        const float u = ebm::uniform_scalar(rng, ebm::purpose::mala_accept, chain, 17);
        device_log_u[chain] = kn::accept_log_uniform(rng, chain, 17);
        CHECK(device_log_u[chain] == doctest::Approx(std::log(u)).epsilon(3e-7));
    }
    CHECK(mismatches(device_log_u, cpu_log_u) == 0);  // the same portable log of the same uniform
}

TEST_CASE("langevin_step with a step in memory is MALA's proposal (h = eps^2/2, noise eps, no clamp)") {
    const ebm::philox rng(ebm::seed{5});
    const idx dimension = 9, count = 3;
    std::vector<float> x(static_cast<std::size_t>(dimension * count)), g(x.size()), y(x.size()), reference(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
        x[k] = 2.0f * std::sin(0.29f * static_cast<float>(k));
        g[k] = std::cos(0.13f * static_cast<float>(k));
    }
    const float eps = 0.37f;
    host_launch(count * kn::blocks_per_chain(dimension),
                             kn::langevin_step{y.data(), x.data(), g.data(), dimension, rng, 0, {nullptr, 8},
                                               ebm::kernels::langevin_move{1.0f, 1.0f, ebm::kernels::box{-1.0f, 1.0f}},
                                               true, &eps});
    // The CPU sampler's proposal: langevin_move{0.5f * eps * eps, eps, box{}} with the same noise.
    const ebm::kernels::langevin_move move{0.5f * eps * eps, eps, ebm::kernels::box{}};
    const auto z = functor_noise(rng, ebm::purpose::langevin_noise, 0, 8, dimension, count, 1.0f);
    for (std::size_t k = 0; k < x.size(); ++k) reference[k] = move(x[k], g[k], z[k]);
    CHECK(mismatches(y, reference) == 0);
}

TEST_CASE("dual_averaging_state follows Hoffman & Gelman's Algorithm 5, written out in plain double arithmetic") {
    const ebm::dual_averaging settings{};
    const double eps0 = 0.3;
    ebm::dual_averaging_state state(settings, eps0);
    const double mu = std::log(10.0 * eps0);
    double h_bar = 0, log_eps = std::log(eps0), log_eps_bar = 0;
    CHECK(state.current() == doctest::Approx(eps0).epsilon(1e-15));
    CHECK(state.final_epsilon() == state.current());
    for (int l = 1; l <= 200; ++l) {
        const double p = 0.5 + 0.45 * std::sin(0.7 * l);
        const double w = 1.0 / (l + settings.t0);
        h_bar = (1 - w) * h_bar + w * (settings.target_acceptance - p);
        log_eps = mu - std::sqrt(static_cast<double>(l)) / settings.gamma * h_bar;
        const double eta = std::pow(static_cast<double>(l), -settings.kappa);
        log_eps_bar = eta * log_eps + (1 - eta) * log_eps_bar;
        const double step = state.update(p);
        // The library fuses each product with its sum (the same bits on host and device); the plain expressions round
        // twice, so they agree to a few ulps of the logs.
        CHECK(std::fabs(step - std::exp(log_eps)) <= 1e-12 * step);
        CHECK(std::fabs(state.final_epsilon() - std::exp(log_eps_bar)) <= 1e-12 * state.final_epsilon());
    }
}

TEST_CASE("dual_averaging_step: one update per call from the chain-order mean, the float step and a trace record") {
    const ebm::dual_averaging settings{};
    ebm::dual_averaging_state state(settings, 0.1);
    ebm::dual_averaging_state reference(settings, 0.1);
    const std::vector<double> probability{1.0, 0.25, 0.5, 0.0};
    float eps = 0.1f;
    std::vector<ebm::dual_averaging_record> trace(2);
    const kn::dual_averaging_step step{&state, probability.data(), 4, &eps, trace.data(), 2};
    std::vector<ebm::dual_averaging_record> expected;
    for (int l = 0; l < 3; ++l) {  // the third record does not fit: not written
        host_launch(1, step);
        const double next = reference.update((1.0 + 0.25 + 0.5 + 0.0) / 4.0);
        expected.push_back({0.4375, next, reference.final_epsilon()});
        CHECK(eps == static_cast<float>(next));
    }
    CHECK(state.count == 3);
    for (std::size_t l = 0; l < 2; ++l) {
        CHECK(trace[l].acceptance == expected[l].acceptance);
        CHECK(trace[l].epsilon == expected[l].epsilon);
        CHECK(trace[l].epsilon_bar == expected[l].epsilon_bar);
    }
}

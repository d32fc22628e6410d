// PyTorch parity of the ConvNet energies: energies, input gradients and weighted parameter gradients for every
// architecture and image size, one Langevin run and one full training iteration, on random weights and inputs.
// Reference: tests/convnet/torch_reference.py under Debian's /usr/bin/python3 (torch 1.13); without torch every
// case here exits 77, which ctest reports as skipped.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/safetensors.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/train/ml_trainer.hpp>

#include "convnet_test_support.hpp"

using namespace convnet_test;

namespace {

constexpr double tolerance = 1e-4;

struct parity_case {
    std::string arch;
    ebm::index size;
    ebm::index n_f;
    ebm::index channels;
    float slope;
    bool negate;
    ebm::index chains;
};

template <class Net>
void check_eval_parity(const Net& net, const parity_case& c, std::uint64_t data_seed) {
    require_torch();  // before any scratch folder: a skip exits the process
    scratch_dir dir;
    const ebm::index n = c.chains, d = net.dimension();
    ebm::io::save_parameters(net, dir.file("weights.safetensors"));
    const ebm::batch x = uniform_batch(d, n, data_seed);
    std::vector<float> w(static_cast<std::size_t>(n));
    for (ebm::index i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = 0.5f - 0.3f * static_cast<float>(i);
    const std::vector<ebm::index> shape = {n, net.channels(), net.height(), net.width()};
    ebm::io::write_npy(dir.file("x.npy"), x.view().values(), shape);
    ebm::io::write_npy(dir.file("w.npy"), w, {n});
    const ebm::batch v = uniform_batch(d, n, data_seed + 1000);  // direction of the Hessian-vector products
    ebm::io::write_npy(dir.file("v.npy"), v.view().values(), shape);
    run_reference("--dir " + dir.path.string() + " --task eval --arch " + c.arch + " --size " + std::to_string(c.size) +
                  " --n_f " + std::to_string(c.n_f) + " --channels " + std::to_string(c.channels) + " --slope " +
                  std::to_string(c.slope) + " --sign " + (c.negate ? "-1" : "1"));
    const auto u_ref = ebm::io::read_npy(dir.file("u.npy"));
    const auto gx_ref = ebm::io::read_npy(dir.file("gx.npy"));
    const auto grad_file = ebm::io::read_safetensors(dir.file("grad.safetensors"));
    std::vector<float> grad_ref(static_cast<std::size_t>(net.parameter_count()));
    for (const auto& t : net.parameter_tensors()) {
        const auto* found = grad_file.find(t.name);
        REQUIRE_MESSAGE(found != nullptr, t.name);
        const auto values = found->template values<float>();
        std::copy(values.begin(), values.end(), grad_ref.begin() + t.offset);
    }

    auto ws = net.make_workspace(n);
    std::vector<float> u(static_cast<std::size_t>(n)), u2(static_cast<std::size_t>(n)), u3(static_cast<std::size_t>(n));
    ebm::batch g(d, n);
    net.energy(x, u, ws);
    net.energy_and_gradient(x, u2, g, ws);
    std::vector<float> grad(static_cast<std::size_t>(net.parameter_count()), 0.0f);
    net.accumulate_parameter_gradient(x, w, grad, u3, ws);

    const double e_u = relative_error(u, u_ref.values);
    const double e_u2 = relative_error(u2, u_ref.values);
    const double e_u3 = relative_error(u3, u_ref.values);
    const double e_gx = relative_error(g.view().values(), gx_ref.values);
    const double e_grad = relative_error(grad, grad_ref);
    // (d2U/dx2) v: zero for the piecewise-linear nets, as PyTorch's double backward gives; the attention's otherwise.
    const auto hv_ref = ebm::io::read_npy(dir.file("hv.npy"));
    ebm::batch hv(d, n);
    net.hessian_vector_product(x, v, hv, ws);
    const double e_hv = relative_error(hv.view().values(), hv_ref.values);
    double hv_largest = 0;
    for (float h : hv_ref.values) hv_largest = std::max(hv_largest, std::abs(static_cast<double>(h)));
    std::printf("parity %-10s %3td px n_f %3td C %td slope %.2f sign %+d: energy %.2e  dU/dx %.2e  dU/dtheta %.2e  "
                "Hv %.2e (largest |Hv| %.3g)\n",
                c.arch.c_str(), c.size, c.n_f, c.channels, static_cast<double>(c.slope), c.negate ? -1 : 1,
                std::max({e_u, e_u2, e_u3}), e_gx, e_grad, e_hv, hv_largest);
    CHECK(e_u < tolerance);
    CHECK(e_u2 < tolerance);
    CHECK(e_u3 < tolerance);
    CHECK(e_gx < tolerance);
    CHECK(e_grad < tolerance);
    CHECK(e_hv < tolerance);
    CHECK((hv_largest > 0) == (c.arch == "nonlocal"));  // the reference is exactly zero where the net is piecewise linear
    // Per tensor too, so a small tensor's error is not hidden by a large one's scale. A tensor whose true gradient
    // is zero (the non-local blocks' phi bias: softmax ignores a constant per row) is compared against 1% of the
    // largest gradient instead of its own rounding noise.
    double global = 0;
    for (float v : grad_ref) global = std::max(global, std::abs(static_cast<double>(v)));
    for (const auto& t : net.parameter_tensors()) {
        double diff = 0, scale = 0;
        for (ebm::index k = t.offset; k < t.offset + t.count(); ++k) {
            diff = std::max(diff, std::abs(static_cast<double>(grad[static_cast<std::size_t>(k)]) - grad_ref[static_cast<std::size_t>(k)]));
            scale = std::max(scale, std::abs(static_cast<double>(grad_ref[static_cast<std::size_t>(k)])));
        }
        const double e = diff / std::max(scale, 1e-2 * global);
        CHECK_MESSAGE(e < 10 * tolerance, t.name << " relative error " << e);
    }

    // Fewer chains than the workspace capacity: a second set of primitives, same numbers per chain.
    if (n > 1) {
        const ebm::index m = n - 1;
        std::vector<float> um(static_cast<std::size_t>(m));
        ebm::batch gm(d, m);
        net.energy_and_gradient(x.view().chains(0, m), um, gm, ws);
        CHECK(relative_error(um, std::span<const float>(u_ref.values.data(), static_cast<std::size_t>(m))) < tolerance);
        CHECK(relative_error(gm.view().values(),
                             std::span<const float>(gx_ref.values.data(), static_cast<std::size_t>(m * d))) < tolerance);
        if (std::string(net.execution()) == "oneDNN convolution stack") CHECK(ws.cached_batch_sizes() == 2);
    }
}

}  // namespace

TEST_CASE("convnet parity with PyTorch: short-run net / 32 px / RGB") {
    const parity_case c{"short_run", 32, 16, 3, 0.2f, false, 4};
    check_eval_parity(ebm::convnet::short_run(32, c.n_f, 3, 0.2f, {}, ebm::seed{11}), c, 101);
}

TEST_CASE("convnet parity with PyTorch: short-run net / 32 px / grey / negated output (U = -f)") {
    const parity_case c{"short_run", 32, 8, 1, 0.2f, true, 3};
    check_eval_parity(ebm::convnet::short_run(32, c.n_f, 1, 0.2f, {.negate_output = true}, ebm::seed{12}), c, 102);
}

TEST_CASE("convnet parity with PyTorch: short-run net / 64 px") {
    const parity_case c{"short_run", 64, 8, 3, 0.2f, false, 3};
    check_eval_parity(ebm::convnet::short_run(64, c.n_f, 3, 0.2f, {}, ebm::seed{13}), c, 103);
}

TEST_CASE("convnet parity with PyTorch: short-run net / 128 px") {
    const parity_case c{"short_run", 128, 4, 3, 0.2f, false, 2};
    check_eval_parity(ebm::convnet::short_run(128, c.n_f, 3, 0.2f, {}, ebm::seed{14}), c, 104);
}

TEST_CASE("convnet parity with PyTorch: Anatomy VanillaNet (n_f 32 / LeakyReLU 0.05)") {
    const parity_case c{"vanilla", 32, 32, 3, 0.05f, false, 3};
    check_eval_parity(ebm::convnet::vanilla(3, 32, 0.05f, {}, ebm::seed{15}), c, 105);
}

TEST_CASE("convnet parity with PyTorch: Anatomy NonlocalNet (non-local blocks switched on)") {
    for (const ebm::index channels : {3, 1}) {
        const ebm::index n_f = channels == 3 ? 32 : 8;
        const parity_case c{"nonlocal", 32, n_f, channels, 0.05f, false, 3};
        ebm::nonlocal_net net(channels, n_f, 0.05f, ebm::seed{16});
        switch_on_nonlocal_blocks(net);  // the output projections start at zero (identity blocks)
        check_eval_parity(net, c, 106);
    }
}

TEST_CASE("convnet parity with PyTorch: Langevin steps with the same noise") {
    const auto net = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{21});
    const ebm::index n = 3, d = net.dimension(), steps = 3;
    const float lambda = 1.0f, sigma = 0.01f;
    require_torch();
    scratch_dir dir;
    ebm::io::save_parameters(net, dir.file("weights.safetensors"));
    ebm::batch x = uniform_batch(d, n, 201);
    ebm::io::write_npy(dir.file("x.npy"), x.view().values(), {n, 3, 32, 32});
    // The sampler's noise: chain i, step k of Philox stream langevin_noise (first_step 0).
    const ebm::philox rng(ebm::seed{77});
    std::vector<float> z(static_cast<std::size_t>(steps * n * d));
    for (ebm::index k = 0; k < steps; ++k)
        for (ebm::index i = 0; i < n; ++i)
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), static_cast<std::uint64_t>(k),
                             z.data() + (k * n + i) * d, d);
    ebm::io::write_npy(dir.file("z.npy"), z, {steps, n, 3, 32, 32});
    run_reference("--dir " + dir.path.string() + " --task langevin --arch short_run --size 32 --n_f 8 --slope 0.2 --step " +
                  std::to_string(lambda) + " --sigma " + std::to_string(sigma));
    const auto ref = ebm::io::read_npy(dir.file("x_out.npy"));

    const ebm::batch x0 = x;
    const ebm::langevin_decoupled sampler{.step_size_lambda = lambda, .noise_sigma = sigma, .steps = steps};
    auto st = sampler.make_state(net, n);
    sampler.run(st, net, x, rng, 0);
    // Compare the displacement x_K - x_0 (the part the energy and the noise produced).
    std::vector<float> moved(static_cast<std::size_t>(n * d)), moved_ref(static_cast<std::size_t>(n * d));
    for (ebm::index k = 0; k < n * d; ++k) {
        moved[static_cast<std::size_t>(k)] = x.data()[k] - x0.data()[k];
        moved_ref[static_cast<std::size_t>(k)] = ref.values[static_cast<std::size_t>(k)] - x0.data()[k];
    }
    const double e = relative_error(moved, moved_ref);
    std::printf("parity langevin (3 steps, lambda 1, sigma 0.01): displacement %.2e\n", e);
    CHECK(e < tolerance);
}

TEST_CASE("convnet parity with PyTorch: one ml_trainer iteration (uniform init / Langevin / SGD)") {
    const ebm::index m = 4, steps = 2;
    const float lambda = 1.0f, sigma = 0.01f, lr = 0.05f;
    auto net = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{31});
    const ebm::index d = net.dimension();
    require_torch();
    scratch_dir dir;
    ebm::io::save_parameters(net, dir.file("weights.safetensors"));
    const std::vector<float> theta0(net.parameters().begin(), net.parameters().end());
    const ebm::batch pos = uniform_batch(d, m, 301);
    const ebm::seed s{99};
    const ebm::philox rng(s);
    ebm::batch x0(d, m);
    ebm::uniform_noise{}.fill(x0, rng, ebm::purpose::init_noise, 0);
    std::vector<float> z(static_cast<std::size_t>(steps * m * d));
    for (ebm::index k = 0; k < steps; ++k)
        for (ebm::index i = 0; i < m; ++i)
            ebm::fill_normal(rng, ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), static_cast<std::uint64_t>(k),
                             z.data() + (k * m + i) * d, d);
    ebm::io::write_npy(dir.file("pos.npy"), pos.view().values(), {m, 3, 32, 32});
    ebm::io::write_npy(dir.file("x.npy"), x0.view().values(), {m, 3, 32, 32});
    ebm::io::write_npy(dir.file("z.npy"), z, {steps, m, 3, 32, 32});
    run_reference("--dir " + dir.path.string() + " --task train --arch short_run --size 32 --n_f 8 --slope 0.2 --step " +
                  std::to_string(lambda) + " --sigma " + std::to_string(sigma) + " --lr " + std::to_string(lr));

    ebm::ml_trainer trainer(std::move(net),
                            ebm::langevin_decoupled{.step_size_lambda = lambda, .noise_sigma = sigma, .steps = steps},
                            ebm::uniform_noise{}, ebm::sgd{.learning_rate = lr},
                            ebm::trainer_options{.batch_size = m, .data_noise = 0.0f, .random_seed = s});
    const auto rec = trainer.step(pos);
    REQUIRE_FALSE(rec.diverged);

    const auto x_ref = ebm::io::read_npy(dir.file("x_out.npy"));
    const auto d_ref = ebm::io::read_npy(dir.file("d.npy"));
    ebm::convnet expected = ebm::convnet::short_run(32, 8, 3, 0.2f);
    ebm::io::load_parameters(expected, dir.file("weights_out.safetensors"));
    std::vector<float> step_mine(theta0.size()), step_ref(theta0.size());
    const auto after = trainer.energy().parameters();
    const auto after_ref = std::as_const(expected).parameters();
    for (std::size_t k = 0; k < theta0.size(); ++k) {
        step_mine[k] = after[k] - theta0[k];
        step_ref[k] = after_ref[k] - theta0[k];
    }
    const double e_x = relative_error(trainer.negatives().values(), x_ref.values);
    const double e_d = std::abs(rec.d - d_ref.values[0]) / std::max(1e-6, std::abs(static_cast<double>(d_ref.values[0])));
    const double e_theta = relative_error(step_mine, step_ref);
    std::printf("parity training iteration: negatives %.2e  d_t %.2e  parameter update %.2e\n", e_x, e_d, e_theta);
    CHECK(e_x < tolerance);
    CHECK(e_d < 1e-3);  // d is a difference of two means: cancellation magnifies relative error
    CHECK(e_theta < tolerance);
}

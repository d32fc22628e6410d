// evaluate_energy: reads ConvNet weights (.safetensors, PyTorch state_dict names) and a batch of states (.npy,
// float32, N x C x H x W) and writes per-chain energies U(x_i) (.npy, shape [N]) and, if asked, dU/dx (.npy,
// N x C x H x W). Everything is checked and computed before anything is written; each output is written atomically
// (temporary file + rename). Exit code 0 on success, 1 on bad input (message "evaluate_energy: ebm::...").
//
//   evaluate_energy --arch short_run --image-size 32 --n-f 64 --weights f.safetensors
//                   --input x.npy --energies u.npy --gradients g.npy   (one command line)
//   evaluate_energy --arch short_run --negate ...      # weights from the short-run code, whose net is -U
//   evaluate_energy --arch vanilla --init-seed 1 --save-weights w.safetensors   # PyTorch-style initial weights
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/safetensors.hpp>

namespace {

struct options {
    std::string arch = "short_run";
    ebm::index image_size = 32;
    ebm::index n_f = 0;  // 0: the architecture's default (64 short_run, 32 vanilla)
    ebm::index channels = 3;
    float slope = -1.0f;  // < 0: the architecture's default (0.2 short_run, 0.05 vanilla)
    bool negate = false;
    std::string weights, input, energies, gradients, save_weights;
    std::optional<std::uint64_t> init_seed;
    ebm::index batch = 64;
};

ebm::convnet make_net(const options& o) {
    const ebm::convnet_options net_options{.negate_output = o.negate};
    const ebm::seed s{o.init_seed.value_or(0)};
    if (o.arch == "short_run")
        return ebm::convnet::short_run(o.image_size, o.n_f > 0 ? o.n_f : 64, o.channels, o.slope >= 0 ? o.slope : 0.2f,
                                       net_options, s);
    if (o.arch == "vanilla") {
        if (o.image_size != 32) ebm::detail::fail("evaluate_energy", "--arch vanilla takes 32 x 32 images", o.image_size);
        return ebm::convnet::vanilla(o.channels, o.n_f > 0 ? o.n_f : 32, o.slope >= 0 ? o.slope : 0.05f, net_options, s);
    }
    ebm::detail::fail("evaluate_energy", "--arch must be short_run, vanilla or nonlocal", o.arch);
}

template <class Net>
int run_with(Net net, const options& o) {
    if (!o.weights.empty())
        ebm::io::load_parameters(net, o.weights);
    else if (!o.init_seed)
        ebm::detail::fail("evaluate_energy", "give --weights FILE (or --init-seed N for PyTorch-style initial weights)",
                          "neither");
    if (!o.save_weights.empty()) ebm::io::save_parameters(net, o.save_weights, {{"format", "pt"}});
    if (o.input.empty()) {
        if (o.save_weights.empty()) ebm::detail::fail("evaluate_energy", "--input is required", "nothing");
        return 0;
    }
    if (o.energies.empty()) ebm::detail::fail("evaluate_energy", "--energies is required with --input", "nothing");
    const auto x = ebm::io::read_npy(o.input);
    const std::vector<ebm::index> want = {net.channels(), net.height(), net.width()};
    const std::string want_text = "[N, " + std::to_string(want[0]) + ", " + std::to_string(want[1]) + ", " +
                                  std::to_string(want[2]) + "]";
    if (x.shape.size() != 4 || x.shape[1] != want[0] || x.shape[2] != want[1] || x.shape[3] != want[2] || x.shape[0] < 1)
        ebm::detail::fail("evaluate_energy", "input must have shape " + want_text,
                          ebm::io::internal::shape_text(x.shape));
    const ebm::index n = x.shape[0], d = net.dimension();
    ebm::detail::require_batch("evaluate_energy", "input", ebm::const_batch_view(x.values.data(), d, n), d);
    ebm::detail::require_positive("evaluate_energy", "--batch", o.batch);

    const ebm::index chunk = std::min(o.batch, n);
    auto ws = net.make_workspace(chunk);
    std::vector<float> u(static_cast<std::size_t>(n));
    std::vector<float> g(o.gradients.empty() ? 0 : static_cast<std::size_t>(n * d));
    for (ebm::index first = 0; first < n; first += chunk) {  // the last chunk may be smaller
        const ebm::index count = std::min(chunk, n - first);
        const ebm::const_batch_view xs(x.values.data() + first * d, d, count);
        const std::span<float> us(u.data() + first, static_cast<std::size_t>(count));
        if (g.empty())
            net.energy(xs, us, ws);
        else
            net.energy_and_gradient(xs, us, ebm::batch_view{g.data() + first * d, d, count}, ws);
    }
    for (ebm::index i = 0; i < n; ++i)
        if (!std::isfinite(u[static_cast<std::size_t>(i)]))
            ebm::detail::fail("evaluate_energy", "the energy of chain " + std::to_string(i) + " is not finite",
                              u[static_cast<std::size_t>(i)]);
    ebm::io::write_npy(o.energies, u, {n});
    if (!g.empty()) ebm::io::write_npy(o.gradients, g, x.shape);
    std::printf("evaluate_energy: %td chains, mean energy %.6g -> %s%s%s\n", n,
                [&] {
                    double s = 0;
                    for (float v : u) s += v;
                    return s / static_cast<double>(n);
                }(),
                o.energies.c_str(), g.empty() ? "" : ", gradients -> ", g.empty() ? "" : o.gradients.c_str());
    return 0;
}

int run(const options& o) {
    if (o.arch == "nonlocal") {
        if (o.image_size != 32) ebm::detail::fail("evaluate_energy", "--arch nonlocal takes 32 x 32 images", o.image_size);
        if (o.negate) ebm::detail::fail("evaluate_energy", "--negate applies to short_run and vanilla only", "nonlocal");
        return run_with(ebm::nonlocal_net(o.channels, o.n_f > 0 ? o.n_f : 32, o.slope >= 0 ? o.slope : 0.05f,
                                          ebm::seed{o.init_seed.value_or(0)}),
                        o);
    }
    return run_with(make_net(o), o);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Per-chain energies (and dU/dx) of a ConvNet energy for a batch of states"};
    options o;
    app.add_option("--arch", o.arch, "short_run (Tables 4-6 of the short-run paper), vanilla (Anatomy VanillaNet) or nonlocal (Anatomy NonlocalNet)")
        ->capture_default_str();
    app.add_option("--image-size", o.image_size, "32, 64 or 128 (short_run); 32 (vanilla)")->capture_default_str();
    app.add_option("--n-f", o.n_f, "base width n_f (default 64 short_run, 32 vanilla)");
    app.add_option("--channels", o.channels, "input channels, 1 or 3")->capture_default_str();
    app.add_option("--slope", o.slope, "LeakyReLU negative slope (default 0.2 short_run, 0.05 vanilla)");
    app.add_flag("--negate", o.negate, "U = -net(x): for weights trained with the short-run code (its f is -U)");
    app.add_option("--weights", o.weights, "weights (.safetensors, PyTorch state_dict names)");
    app.add_option("--init-seed", o.init_seed, "use PyTorch-style initial weights from this seed instead of --weights");
    app.add_option("--save-weights", o.save_weights, "write the network's weights (.safetensors)");
    app.add_option("--input", o.input, "states (.npy float32, N x C x H x W)");
    app.add_option("--energies", o.energies, "output: energies (.npy, shape [N])");
    app.add_option("--gradients", o.gradients, "output: dU/dx (.npy, N x C x H x W)");
    app.add_option("--batch", o.batch, "chains per oneDNN call")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "evaluate_energy: %s\n", e.what());
        return 1;
    }
}

// evaluate_energy: reads ConvNet weights (.safetensors, PyTorch state_dict names) and a batch of states (.npy,
// float32, N x C x H x W) and writes per-chain energies U(x_i) (.npy, shape [N]) and, if asked, dU/dx (.npy,
// N x C x H x W). Everything is checked and computed before anything is written; each output is written atomically
// (temporary file + rename). Exit code 0 on success, 1 on bad input (message "evaluate_energy: ebm::...").
//
//   evaluate_energy --arch short_run --image-size 32 --n-f 64 --weights f.safetensors
//                   --input x.npy --energies u.npy --gradients g.npy   (one command line)
//   evaluate_energy --arch short_run --negate ...      # weights from the short-run code, whose net is -U
//   evaluate_energy --arch vanilla --init-seed 1 --save-weights w.safetensors   # PyTorch-style initial weights
//   evaluate_energy --arch FILE.json --weights W.safetensors --input X.npy --energies U.npy --gradients G.npy
//                                                      # a network description (ebm::network; on the GPU cuda_backend::network);
//                                                      # input [N, C, H, W], or [N, D] for a flat input [D]
//   evaluate_energy --device cuda ...                  # on the GPU (builds with the CUDA backend)
// A description sets its own shape and sign ("negate"): --image-size, --channels, --n-f, --slope and --negate are
// errors with it.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/energy/network_json.hpp>

#include "common/device.hpp"
#include "common/options.hpp"
#include "evaluate_run.hpp"

/// The evaluation on the GPU (evaluate_energy_cuda.cu; in builds without the CUDA backend, --device cuda stops
/// before).
int evaluate_cuda(const evaluate::options& o);
#if !EBM_PROGRAM_CUDA
int evaluate_cuda(const evaluate::options&) {
    program::require_device_built("evaluate_energy", "cuda");
    return 1;
}
#endif

namespace {

int run(const evaluate::options& o) {
    evaluate::check_architecture(o);
    if (o.device == "cuda") return evaluate_cuda(o);
    const ebm::seed s{o.init_seed.value_or(0)};
    if (evaluate::network_file(o)) return evaluate::run_with(ebm::network(ebm::load_network_spec(o.arch), s), o);
    const ebm::index n_f = evaluate::default_features(o);
    const float slope = evaluate::default_slope(o);
    if (o.arch == "nonlocal") return evaluate::run_with(ebm::nonlocal_net(o.channels, n_f, slope, s), o);
    const ebm::convnet_options net_options{.negate_output = o.negate};
    if (o.arch == "vanilla") return evaluate::run_with(ebm::convnet::vanilla(o.channels, n_f, slope, net_options, s), o);
    return evaluate::run_with(ebm::convnet::short_run(o.image_size, n_f, o.channels, slope, net_options, s), o);
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{"Per-chain energies (and dU/dx) of a ConvNet energy for a batch of states"};
    evaluate::options o;
    app.add_option("--arch", o.arch, "short_run (Tables 4-6 of the short-run paper), vanilla (Anatomy VanillaNet), nonlocal (Anatomy NonlocalNet) or a network description FILE.json")
        ->capture_default_str();
    app.add_option("--image-size", o.image_size, "32, 64 or 128 (short_run); 32 (vanilla)")->capture_default_str();
    app.add_option("--n-f", o.n_f, "base width n_f (default 64 short_run, 32 vanilla)");
    app.add_option("--channels", o.channels, "input channels, 1 or 3")->capture_default_str();
    app.add_option("--slope", o.slope, "LeakyReLU negative slope (default 0.2 short_run, 0.05 vanilla)");
    app.add_flag("--negate", o.negate, "U = -net(x): for weights trained with the short-run code (its f is -U)");
    app.add_option("--weights", o.weights, "weights (.safetensors, PyTorch state_dict names) or a train_images checkpoint");
    app.add_option("--init-seed", o.init_seed, "use PyTorch-style initial weights from this seed instead of --weights")
        ->check(program::unsigned_integer);
    app.add_option("--save-weights", o.save_weights, "write the network's weights (.safetensors)");
    app.add_option("--input", o.input, "states (.npy float32, N x C x H x W)");
    app.add_option("--energies", o.energies, "output: energies (.npy, shape [N])");
    app.add_option("--gradients", o.gradients, "output: dU/dx (.npy, N x C x H x W)");
    app.add_option("--batch", o.batch, "chains per oneDNN / cuDNN call")->capture_default_str();
    program::add_device_option(app, o.device);
    CLI11_PARSE(app, argc, argv);
    try {
        program::require_device("evaluate_energy", o.device);
        if (evaluate::network_file(o))
            for (const char* option : {"--image-size", "--channels", "--n-f", "--slope", "--negate"})
                if (app.count(option) > 0)
                    ebm::detail::fail("evaluate_energy", std::string(option) + " does not apply to --arch FILE.json (the "
                                                         "description sets its input shape, layers and \"negate\")",
                                      o.arch);
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "evaluate_energy: %s\n", e.what());
        return 1;
    }
}

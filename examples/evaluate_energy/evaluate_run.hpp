#pragma once
// The evaluation of evaluate_energy for a network of either backend (main.cpp instantiates it with the CPU networks,
// evaluate_energy_cuda.cu with the GPU ones): weights, then energies (and dU/dx) of the input batch chunk by chunk,
// all checked before anything is written.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ebm/backend/execution.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/safetensors.hpp>

namespace evaluate {

struct options {
    std::string arch = "short_run";  // short_run | vanilla | nonlocal | the path of a network description (.json)
    ebm::index image_size = 32;
    ebm::index n_f = 0;  // 0: the architecture's default (64 short_run, 32 vanilla)
    ebm::index channels = 3;
    float slope = -1.0f;  // < 0: the architecture's default (0.2 short_run, 0.05 vanilla)
    bool negate = false;
    std::string weights, input, energies, gradients, save_weights;
    std::optional<std::uint64_t> init_seed;
    ebm::index batch = 64;
    std::string device = "cpu";
};

/// True when --arch names a network description (energy/network_json.hpp): a path ending in .json, or a file.
inline bool network_file(const options& o) {
    if (o.arch == "short_run" || o.arch == "vanilla" || o.arch == "nonlocal") return false;
    std::error_code ec;
    return o.arch.ends_with(".json") || std::filesystem::is_regular_file(o.arch, ec);
}

/// The architecture the options ask for, checked once for both backends.
inline void check_architecture(const options& o) {
    if (network_file(o)) return;
    if (o.arch != "short_run" && o.arch != "vanilla" && o.arch != "nonlocal")
        ebm::detail::fail("evaluate_energy", "--arch must be short_run, vanilla, nonlocal or a network description "
                                             "FILE.json", o.arch);
    if (o.arch != "short_run" && o.image_size != 32)
        ebm::detail::fail("evaluate_energy", "--arch " + o.arch + " takes 32 x 32 images", o.image_size);
    if (o.arch == "nonlocal" && o.negate)
        ebm::detail::fail("evaluate_energy", "--negate applies to short_run and vanilla only", "nonlocal");
}
inline ebm::index default_features(const options& o) { return o.n_f > 0 ? o.n_f : (o.arch == "short_run" ? 64 : 32); }
inline float default_slope(const options& o) { return o.slope >= 0 ? o.slope : (o.arch == "short_run" ? 0.2f : 0.05f); }

/// The shape of one chain: a network's description gives it ([C, H, W] or [D]), the options the ConvNets'.
template <class Net>
std::vector<ebm::index> chain_shape(const Net& net, const options& o) {
    if constexpr (requires { net.spec().input; }) {
        return net.spec().input;
    } else {
        return {o.channels, o.image_size, o.image_size};
    }
}

template <class Net>
int run_with(Net net, const options& o) {
    using X = ebm::execution_for<Net>;
    using space = ebm::memory_space_of_t<Net>;
    if (!o.weights.empty()) {
        // A train_images checkpoint keeps the energy's tensors under "energy." beside the rest of the trainer.
        const auto file = ebm::io::read_safetensors(o.weights, false, "evaluate_energy");
        const auto format = file.metadata.find("format");
        const bool checkpoint = format != file.metadata.end() && format->second.starts_with("ebm.checkpoint.");
        ebm::io::load_parameters(net, file, "'" + o.weights + "'", checkpoint ? "energy." : "");
    }
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
    const std::vector<ebm::index> want = chain_shape(net, o);
    std::string want_text = "[N";
    for (ebm::index s : want) want_text += ", " + std::to_string(s);
    want_text += "]";
    if (x.shape.size() != want.size() + 1 || !std::equal(want.begin(), want.end(), x.shape.begin() + 1) || x.shape[0] < 1)
        ebm::detail::fail("evaluate_energy", "input must have shape " + want_text,
                          ebm::io::internal::shape_text(x.shape));
    const ebm::index n = x.shape[0], d = net.dimension();
    ebm::detail::require_batch("evaluate_energy", "input", ebm::const_batch_view(x.values.data(), d, n), d);
    ebm::detail::require_positive("evaluate_energy", "--batch", o.batch);

    const ebm::index chunk = std::min(o.batch, n);
    auto ws = net.make_workspace(chunk);
    const auto lane = X::lane_of(ws);
    ebm::batch_in<typename X::backend> xs(d, chunk), gs(d, chunk);
    auto us = X::template make_buffer<float>(chunk);
    std::vector<float> u(static_cast<std::size_t>(n));
    std::vector<float> g(o.gradients.empty() ? 0 : static_cast<std::size_t>(n * d));
    for (ebm::index first = 0; first < n; first += chunk) {  // the last chunk may be smaller
        const ebm::index count = std::min(chunk, n - first);
        X::upload(lane, xs.view().data, x.values.data() + first * d, count * d);
        const ebm::basic_const_batch_view<space> xv(xs.view().data, d, count);
        const ebm::span_in<float, space> uv(us.data(), static_cast<std::size_t>(count));
        if (g.empty()) {
            net.energy(xv, uv, ws);
        } else {
            net.energy_and_gradient(xv, uv, gs.view().chains(0, count), ws);
            X::download(lane, g.data() + first * d, gs.view().data, count * d);
        }
        X::download(lane, u.data() + first, us.data(), count);
    }
    for (ebm::index i = 0; i < n; ++i)
        if (!std::isfinite(u[static_cast<std::size_t>(i)]))
            ebm::detail::fail("evaluate_energy", "the energy of chain " + std::to_string(i) + " is not finite",
                              u[static_cast<std::size_t>(i)]);
    ebm::io::write_npy(o.energies, u, {n});
    if (!g.empty()) ebm::io::write_npy(o.gradients, g, x.shape);
    double mean = 0;
    for (float v : u) mean += v;
    std::printf("evaluate_energy: %td chains on %s, mean energy %.6g -> %s%s%s\n", n, o.device.c_str(),
                mean / static_cast<double>(n), o.energies.c_str(), g.empty() ? "" : ", gradients -> ",
                g.empty() ? "" : o.gradients.c_str());
    return 0;
}

}  // namespace evaluate

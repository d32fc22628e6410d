#pragma once
// The runs of the generate program for a network of either backend (main.cpp instantiates them with the CPU network,
// generate_cuda.cu with the GPU one): the trained model from a checkpoint, its training chain as the generator
// x = M_θ(z) (ebm::short_run_map), then interpolation or reconstruction (short-run paper §3.4), writing the same
// files on both.
#include <ebm/backend/execution.hpp>
#include <ebm/concepts/hessian_vector_energy.hpp>
#include <ebm/generator/interpolation.hpp>
#include <ebm/generator/reconstruction.hpp>
#include <ebm/generator/short_run_map.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/io/atomic_file.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/png.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "generate_baselines.hpp"
#include "long_run/long_run.hpp"

namespace image_run {

struct generate_options {
    std::string command, run, checkpoint, output, device = "cpu", optimizer = "sgd";
    long long pairs = 8, points = 9;                            // interpolate
    long long images = 1000, batch = 64, iterations = 200;     // reconstruct
    long long sequence = 8, sequence_every = 25, baseline_images = 0;
    double learning_rate = 0.05;  // our choice: the paper gives none (docs/generator.md)
    long long steps = 0;  // K2 (0: the training K)
    bool noise = false;
    unsigned long long seed = 2024;
    int threads = 0;
};

/// Host images (values in [-1, 1], CHW) in rows of `columns`: each one is grid()'s picture of that single chain.
inline ebm::io::image strip(const std::vector<const float*>& panels, ebm::index channels, ebm::index side,
                            ebm::index columns) {
    std::vector<ebm::io::image> images;
    for (const float* chain : panels) images.push_back(grid(ebm::const_batch_view{chain, channels * side * side, 1}, channels, side, 1));
    return ebm::io::compose(images, columns, 0, {0, 0, 0});
}

inline void write_json(const std::filesystem::path& path, const nlohmann::json& j) {
    ebm::io::write_file_atomically(path, j.dump(2) + "\n", "generate");
}

/// Interpolation (Fig. 3): `pairs` pairs of latents from the training chain's p0, `points` values of rho from 1 to 0.
template <class Energy, class Policy>
int run_interpolation(const generate_options& o, const ebm::train_config& c, const Energy& energy, const Policy& policy,
                      nlohmann::json summary) {
    using backend = ebm::backend_of_t<Energy>;
    using X = ebm::execution<backend>;
    const auto pairs = static_cast<ebm::index>(o.pairs), points = static_cast<ebm::index>(o.points);
    const ebm::index d = energy.dimension();
    ebm::short_run_map generator(energy, policy, pairs, {.noise = o.noise, .seed = o.seed});
    const ebm::philox rng(ebm::seed{o.seed});
    ebm::batch_in<backend> z1(d, pairs), z2(d, pairs), out(d, pairs * points);
    const ebm::uniform_noise p0{c.init.low, c.init.high};
    p0.fill(z1.view(), rng, ebm::purpose::init_noise, 0);
    p0.fill(z2.view(), rng, ebm::purpose::init_noise, static_cast<std::uint32_t>(pairs));
    X::wait_all();
    std::vector<float> rho(static_cast<std::size_t>(points));
    for (ebm::index j = 0; j < points; ++j)
        rho[static_cast<std::size_t>(j)] = points == 1 ? 1.0f : 1.0f - static_cast<float>(j) / static_cast<float>(points - 1);
    ebm::interpolate(generator, ebm::basic_const_batch_view<typename backend::memory_space>(z1.view()),
                     ebm::basic_const_batch_view<typename backend::memory_space>(z2.view()), rho, out.view());
    ebm::batch host(d, pairs * points);
    ebm::copy_to_host(ebm::basic_const_batch_view<typename backend::memory_space>(out.view()), host.view());
    // Rows are pairs, columns rho: chain (j, i) of `out` is block j, pair i.
    ebm::batch rows(d, pairs * points);
    std::vector<const float*> panels;
    for (ebm::index i = 0; i < pairs; ++i)
        for (ebm::index j = 0; j < points; ++j) {
            std::copy(host.chain(j * pairs + i), host.chain(j * pairs + i) + d, rows.chain(i * points + j));
            panels.push_back(rows.chain(i * points + j));
        }
    const std::filesystem::path folder = o.output;
    ebm::io::write_png(folder / "interpolation.png", strip(panels, c.data.channels, c.data.image_size, points));
    ebm::io::write_npy(folder / "interpolation.npy", rows.view().values(),
                       {pairs, points, c.data.channels, c.data.image_size, c.data.image_size});
    summary["pairs"] = pairs;
    summary["rho"] = rho;
    write_json(folder / "interpolation.json", summary);
    std::printf("generate: %lld pairs x %lld values of rho -> %s\n", o.pairs, o.points,
                (folder / "interpolation.png").string().c_str());
    return 0;
}

/// Reconstruction (Fig. 4, Table 1b): the first `images` held-out images, in batches, by gradient descent on z.
template <class Energy, class Policy>
int run_reconstruction(const generate_options& o, const ebm::train_config& c, const Energy& energy,
                       const Policy& policy, nlohmann::json summary) {
    static_assert(ebm::hessian_vector_energy<Energy>,
                  "generate reconstruct: every model of train_images has a Hessian-vector product on both devices");
    using backend = ebm::backend_of_t<Energy>;
    using X = ebm::execution<backend>;
    using space = typename backend::memory_space;
    const ebm::data::dataset test = load_held_out(c, static_cast<ebm::index>(o.images));
    const ebm::index d = energy.dimension(), images = test.size();
    const ebm::index batch = std::min<ebm::index>(static_cast<ebm::index>(o.batch), images);
    ebm::short_run_map generator(energy, policy, batch, {.noise = o.noise, .seed = o.seed});
    const ebm::philox rng(ebm::seed{o.seed});
    const ebm::uniform_noise p0{c.init.low, c.init.high};
    ebm::batch_in<backend> observed(d, batch), z(d, batch);
    ebm::batch reconstructed(d, images), latents(d, images), host(d, batch);
    std::vector<double> curve(static_cast<std::size_t>(o.iterations + 1), 0.0);
    // The sequence picture: the first `sequence` images, observed, then M(z_t) every sequence_every iterations.
    const ebm::index shown = std::min<ebm::index>(static_cast<ebm::index>(o.sequence), batch);
    std::vector<ebm::index> shown_at;
    for (ebm::index t = 0; t <= o.iterations; t += static_cast<ebm::index>(o.sequence_every)) shown_at.push_back(t);
    if (shown_at.back() != o.iterations) shown_at.push_back(static_cast<ebm::index>(o.iterations));
    ebm::batch sequence(d, shown * (1 + static_cast<ebm::index>(shown_at.size())));
    for (ebm::index i = 0; i < shown; ++i)
        std::copy(test.image(i), test.image(i) + d, sequence.chain(i * (1 + static_cast<ebm::index>(shown_at.size()))));
    const auto start = std::chrono::steady_clock::now();
    auto descend = [&](auto descent) {
        for (ebm::index first = 0; first < images; first += batch) {
            const ebm::index n = std::min(batch, images - first);
            ebm::copy_from_host(ebm::const_batch_view{test.image(first), d, n}, observed.view().chains(0, n));
            p0.fill(z.view().chains(0, n), rng, ebm::purpose::init_noise, static_cast<std::uint32_t>(first));
            X::wait_all();
            auto each = [&](ebm::index t, ebm::basic_const_batch_view<space> x) {
                if (t == o.iterations)  // the final images: M(z_T), the descent's last map
                    ebm::copy_to_host(x, ebm::batch_view{reconstructed.chain(first), d, n});
                if (first > 0) return;
                const auto at = std::find(shown_at.begin(), shown_at.end(), t);
                if (at == shown_at.end()) return;
                ebm::copy_to_host(x.chains(0, shown), host.view().chains(0, shown));
                const auto column = 1 + (at - shown_at.begin());
                for (ebm::index i = 0; i < shown; ++i)
                    std::copy(host.chain(i), host.chain(i) + d,
                              sequence.chain(i * (1 + static_cast<ebm::index>(shown_at.size())) + column));
            };
            const ebm::reconstruction_result r =
                ebm::reconstruct(generator, ebm::reconstruction<decltype(descent)>{o.iterations, descent},
                                 ebm::basic_const_batch_view<space>(observed.view().chains(0, n)),
                                 z.view().chains(0, n), each);
            for (std::size_t t = 0; t < curve.size(); ++t) curve[t] += r.mse[t] * static_cast<double>(n);
            ebm::copy_to_host(ebm::basic_const_batch_view<space>(z.view().chains(0, n)),
                              ebm::batch_view{latents.chain(first), d, n});
            std::printf("generate: images %lld-%lld, MSE per pixel %.5f -> %.5f\n", static_cast<long long>(first),
                        static_cast<long long>(first + n - 1), r.mse.front(), r.mse.back());
            std::fflush(stdout);
        }
    };
    const auto rate = static_cast<float>(o.learning_rate);
    if (o.optimizer == "adam") descend(ebm::adam{.learning_rate = rate});
    else descend(ebm::sgd{.learning_rate = rate});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (double& v : curve) v /= static_cast<double>(images);

    // Per-image MSE of the final reconstructions, against the observed images.
    double mse = 0;
    for (ebm::index i = 0; i < images; ++i)
        for (ebm::index k = 0; k < d; ++k) {
            const double r = static_cast<double>(reconstructed.chain(i)[k]) - test.image(i)[k];
            mse += r * r;
        }
    mse /= static_cast<double>(images * d);
    const baseline_errors base = pixel_baselines(c, test, static_cast<ebm::index>(o.baseline_images));

    const std::filesystem::path folder = o.output;
    std::vector<const float*> panels;
    for (ebm::index k = 0; k < sequence.count(); ++k) panels.push_back(sequence.chain(k));
    ebm::io::write_png(folder / "reconstruction.png",
                       strip(panels, c.data.channels, c.data.image_size, 1 + static_cast<ebm::index>(shown_at.size())));
    const std::vector<ebm::index> shape = {images, c.data.channels, c.data.image_size, c.data.image_size};
    ebm::io::write_npy(folder / "reconstruction.npy", reconstructed.view().values(), shape);
    ebm::io::write_npy(folder / "latents.npy", latents.view().values(), shape);
    summary["images"] = images;
    summary["iterations"] = o.iterations;
    summary["optimizer"] = o.optimizer;
    summary["learning_rate"] = o.learning_rate;
    summary["pixel_scale"] = "[-1, 1]";
    summary["mse_per_pixel"] = mse;
    summary["mse_per_pixel_01"] = mse / 4.0;  // the same on [0, 1] pixels
    summary["mse_curve"] = curve;
    summary["sequence_iterations"] = shown_at;
    summary["baselines"] = {{"mean_training_image", base.mean_image},
                            {"nearest_training_image", base.nearest_image},
                            {"training_images", base.training_images}};
    summary["paper_table_1b"] = {{"cifar10", 0.0387}, {"celeba", 0.0271}, {"lsun_bedroom", 0.0272}};
    summary["seconds"] = seconds;
    write_json(folder / "reconstruction.json", summary);
    std::printf("generate: %lld held-out images, MSE per pixel on [-1, 1] %.5f (mean training image %.5f, nearest "
                "training image %.5f) -> %s\n",
                static_cast<long long>(images), mse, base.mean_image, base.nearest_image,
                (folder / "reconstruction.json").string().c_str());
    return 0;
}

/// Loads the checkpoint at `path` into a trainer around `net` and runs o.command with the training chain as M_θ.
template <class Net>
int run_generate(const generate_options& o, const std::filesystem::path& path, const ebm::checkpoint_info& info,
                 const ebm::train_config& c, Net net) {
    const auto k2 = o.steps > 0 ? static_cast<ebm::index>(o.steps) : c.sampler.steps;
    return ebm::with_trainer(c, std::move(net), [&](auto& trainer) -> int {
        ebm::load_checkpoint(path, trainer);
        std::filesystem::create_directories(o.output);
        std::printf("generate %s: %s (iteration %llu), K = %lld, noise %s, on %s\n", o.command.c_str(),
                    path.string().c_str(), static_cast<unsigned long long>(info.iteration), static_cast<long long>(k2),
                    o.noise ? "fixed" : "off", o.device.c_str());
        const nlohmann::json summary = {{"checkpoint", path.string()}, {"iteration", info.iteration},
                                        {"steps", k2},                 {"noise", o.noise ? "fixed" : "off"},
                                        {"seed", o.seed},              {"device", o.device}};
        return with_training_chain(c, [&](auto with_steps) -> int {
            const auto policy = with_steps(k2);
            if (o.command == "interpolate") return run_interpolation(o, c, trainer.energy(), policy, summary);
            return run_reconstruction(o, c, trainer.energy(), policy, summary);
        });
    });
}

}  // namespace image_run

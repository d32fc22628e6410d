#pragma once
// The sampling run of sample_images for a network of either backend (main.cpp instantiates it with the CPU network,
// sample_images_cuda.cu with the GPU one): the trained model from a checkpoint, short-run synthesis from U[-1, 1],
// then optionally a long run (from the short-run states or from data), with its steady-state measures against data,
// writing the same files on both.
#include <ebm/backend/execution.hpp>
#include <ebm/eval/frechet.hpp>
#include <ebm/eval/image_features.hpp>
#include <ebm/eval/steady_state.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "train_images/image_run.hpp"

namespace image_run {

struct sample_options {
    std::string run, checkpoint, output, sampler = "ula", device = "cpu", long_run_start = "short_run";
    long long chains = 64, grid = 64, steps = 0, long_run_steps = 0, trace_every = 100, compare = 0;
    float epsilon = 0.0f;
    unsigned long long seed = 2024;
    int threads = 0;
};

/// The chains as <stem>.png (the first `grid`) and <stem>.npy (all), from either memory space.
template <class View>
void save_states(const sample_options& o, const ebm::train_config& c, const std::string& stem, View states) {
    const ebm::basic_const_batch_view<typename View::memory_space> x = states;
    ebm::batch host(x.dimension, x.count);
    ebm::copy_to_host(x, host.view());
    ebm::io::write_png(std::filesystem::path(o.output) / (stem + ".png"),
                       grid(host.view(), c.data.channels, c.data.image_size, std::min<ebm::index>(x.count, o.grid)));
    ebm::io::write_npy(std::filesystem::path(o.output) / (stem + ".npy"), host.view().values(),
                       {x.count, c.data.channels, c.data.image_size, c.data.image_size});
}

/// `sampler` on `energy` for its steps, from first_step, on x in place (its state made for x's chains).
template <class Sampler, class Energy, class View>
ebm::sampler_stats run_sampler(const Sampler& sampler, const Energy& energy, View x, const ebm::philox& rng,
                               std::uint64_t first_step) {
    auto state = sampler.make_state(energy, x.count);
    return sampler.run(state, energy, x, rng, first_step);
}

/// Mean U over host images, evaluated `chunk` at a time in the energy's memory.
template <class Backend, class Energy>
double mean_energy_of(const Energy& energy, ebm::const_batch_view images, ebm::index chunk) {
    using X = ebm::execution<Backend>;
    using space = ebm::memory_space_of_t<Energy>;
    chunk = std::min(chunk, images.count);
    ebm::batch_in<Backend> x(images.dimension, chunk);
    auto u = X::template make_buffer<float>(chunk);
    auto ws = energy.make_workspace(chunk);
    std::vector<float> host(static_cast<std::size_t>(chunk));
    double sum = 0;
    for (ebm::index first = 0; first < images.count; first += chunk) {
        const ebm::index n = std::min(chunk, images.count - first);
        const auto part = x.view().chains(0, n);
        ebm::copy_from_host(images.chains(first, n), part);
        energy.energy(ebm::basic_const_batch_view<space>(part), ebm::span_in<float, space>(u.data(), static_cast<std::size_t>(n)), ws);
        X::download(X::lane_of(ws), host.data(), u.data(), n);
        for (ebm::index k = 0; k < n; ++k) sum += host[static_cast<std::size_t>(k)];
    }
    return sum / static_cast<double>(images.count);
}

/// The long run's steady-state measures along the chain (Anatomy Sec. 4), against `compare` data images: the data's
/// mean energy, the states' saturated fraction (|x| > 0.99) and FD on the fixed feature map.
struct steady_state_reference {
    double mean_energy = 0;                     // of the trainer's energy over the data images
    double saturated = 0;                       // their saturated fraction (data can sit at the edges too)
    ebm::eval::gaussian_statistics features{};  // of their features
};
struct trace_row {
    std::uint64_t step = 0;
    double mean_energy = 0, acceptance = 0, saturated = 0, fd = 0;
};

/// energy_trace.csv's rows as long_run_trace.png: mean energy (and the data's), acceptance, saturated fraction, FD.
inline void trace_figure(const std::filesystem::path& path, const std::vector<trace_row>& rows,
                         const steady_state_reference* reference) {
    std::vector<double> steps, energy, acceptance, saturated, fd, data_energy, data_saturated;
    bool adjusted = false;  // acceptance exists (MALA; ULA reports -1)
    for (const trace_row& r : rows) {
        steps.push_back(static_cast<double>(r.step));
        energy.push_back(r.mean_energy);
        acceptance.push_back(r.acceptance);
        saturated.push_back(r.saturated);
        fd.push_back(r.fd);
        adjusted = adjusted || r.acceptance >= 0;
        if (reference != nullptr) {
            data_energy.push_back(reference->mean_energy);
            data_saturated.push_back(reference->saturated);
        }
    }
    ebm::io::figure fig(path, 1200, 900, 2, 2);
    std::vector<ebm::io::series> energy_lines{{steps, energy, "long run", 1}};
    if (reference != nullptr) energy_lines.push_back({steps, data_energy, "data", 2});
    fig.line_panel("mean energy U", "step", "U", energy_lines);
    if (adjusted)
        fig.line_panel("acceptance rate (MALA)", "step", "rate", std::vector<ebm::io::series>{{steps, acceptance, "acceptance", 3}});
    else
        fig.empty_panel();  // ULA: no acceptance
    std::vector<ebm::io::series> saturated_lines{{steps, saturated, "long run", 4}};
    if (reference != nullptr) saturated_lines.push_back({steps, data_saturated, "data", 2});
    fig.line_panel("saturated fraction, |x| > 0.99", "step", "fraction", saturated_lines);
    if (reference != nullptr)
        fig.line_panel("FD to data (fixed feature map)", "step", "FD", std::vector<ebm::io::series>{{steps, fd, "FD", 5}});
    else
        fig.empty_panel();
    fig.finish();
}

/// Loads the checkpoint at `path` (written for configuration `c`) into a trainer around `net` and samples.
template <class Net>
int run_sampling(const sample_options& o, const std::filesystem::path& path, const ebm::checkpoint_info& info,
                 const ebm::train_config& c, Net net) {
    const auto k2 = o.steps > 0 ? static_cast<ebm::index>(o.steps) : c.sampler.steps;
    // MALA samples the trainer's energy at the training chain's temperature (T = sigma^2/(2 lambda) for the
    // decoupled form), with the training chain's step unless --epsilon is given.
    const ebm::training_temperature_mala mala_setting =
        o.sampler == "mala" ? ebm::mala_at_training_temperature(c) : ebm::training_temperature_mala{};
    const float epsilon = o.epsilon > 0 ? o.epsilon : mala_setting.epsilon;
    return ebm::with_trainer(c, std::move(net), [&](auto& trainer) -> int {
        using trainer_type = std::remove_reference_t<decltype(trainer)>;
        using X = typename trainer_type::execution_type;
        ebm::load_checkpoint(path, trainer);
        const auto& energy = trainer.energy();
        std::filesystem::create_directories(o.output);
        std::printf("sample_images: %s (iteration %llu), %lld chains, K2 = %lld, on %s\n", path.string().c_str(),
                    static_cast<unsigned long long>(info.iteration), o.chains, static_cast<long long>(k2),
                    o.device.c_str());

        const ebm::philox rng(ebm::seed{o.seed});
        ebm::batch_in<typename trainer_type::backend> x(energy.dimension(), static_cast<ebm::index>(o.chains));
        ebm::uniform_noise{c.init.low, c.init.high}.fill(x.view(), rng, ebm::purpose::init_noise, 0);
        X::wait_all();
        ebm::sampler_stats stats;
        if (c.sampler.kind == "langevin")
            stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = k2}, energy, x.view(), rng, 0);
        else
            stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                        .noise_sigma = c.sampler.noise, .steps = k2},
                                energy, x.view(), rng, 0);
        save_states(o, c, "short_run", x.view());
        std::printf("sample_images: short run done, mean energy %.6g\n", stats.mean_energy);

        if (o.long_run_steps > 0) {
            // Data for the comparison and for data starts: the checkpoint's data configuration.
            std::optional<ebm::data::dataset> data;
            if (o.compare > 0 || o.long_run_start == "data") data.emplace(load_data(c));
            std::optional<steady_state_reference> reference;
            const ebm::eval::image_features feature_map(c.data.channels);
            if (o.compare > 0) {
                const ebm::index n = std::min<ebm::index>(o.compare, data->size());
                if (n < 2) ebm::detail::fail("sample_images", "--compare needs at least 2 data images", n);
                const ebm::const_batch_view images = data->images().chains(0, n);
                reference.emplace();
                reference->mean_energy = mean_energy_of<typename trainer_type::backend>(energy, images, x.count());
                reference->features = ebm::eval::fit_gaussian(feature_map(images, c.data.image_size));
                reference->saturated = ebm::eval::saturated_fraction(images);
                std::printf("sample_images: %lld data images to compare with, their mean energy %.6g, saturated "
                            "fraction %.4g\n",
                            static_cast<long long>(n), reference->mean_energy, reference->saturated);
            }
            if (o.long_run_start == "data") {  // the first chains' worth of data images, in order
                if (data->size() < x.count())
                    ebm::detail::fail("sample_images", "--long-run-start data needs at least --chains data images",
                                      data->size());
                ebm::copy_from_host(data->images().chains(0, x.count()), x.view());
            }
            std::optional<decltype(ebm::tempered(energy, 1.0f))> target;  // U/T (T = 1: U itself), for MALA
            if (o.sampler == "mala") {
                target.emplace(ebm::tempered(energy, mala_setting.temperature));
                std::printf("sample_images: MALA on U/T, T = %.6g (the training chain's), epsilon %.6g\n",
                            mala_setting.temperature, epsilon);
            }
            std::ofstream trace(std::filesystem::path(o.output) / "energy_trace.csv");
            trace << "step,mean_energy,acceptance,saturated_fraction,fd\n";
            std::vector<trace_row> rows;
            ebm::batch host(x.dimension(), x.count());
            std::uint64_t done = 0;
            const auto total = static_cast<std::uint64_t>(o.long_run_steps);
            while (done < total) {
                const auto chunk = static_cast<ebm::index>(std::min<std::uint64_t>(total - done, o.trace_every));
                const std::uint64_t first = static_cast<std::uint64_t>(k2) + done;
                if (o.sampler == "mala") {
                    stats = run_sampler(ebm::mala{.epsilon = epsilon, .steps = chunk}, *target, x.view(), rng, first);
                    stats.mean_energy *= mala_setting.temperature;  // the trace reports U, not U/T
                } else if (c.sampler.kind == "langevin") {
                    stats = run_sampler(ebm::langevin{.epsilon = c.sampler.epsilon, .steps = chunk}, energy, x.view(),
                                        rng, first);
                } else {
                    stats = run_sampler(ebm::langevin_decoupled{.step_size_lambda = c.sampler.step_size,
                                                                .noise_sigma = c.sampler.noise, .steps = chunk},
                                        energy, x.view(), rng, first);
                }
                done += static_cast<std::uint64_t>(chunk);
                ebm::copy_to_host(std::as_const(x).view(), host.view());
                trace_row row{done, stats.mean_energy, stats.acceptance, ebm::eval::saturated_fraction(host.view()), 0.0};
                if (reference)
                    row.fd = ebm::eval::frechet_distance(
                        ebm::eval::fit_gaussian(feature_map(host.view(), c.data.image_size)), reference->features);
                rows.push_back(row);
                trace << row.step << ',' << row.mean_energy << ',' << row.acceptance << ',' << row.saturated << ',';
                if (reference) trace << row.fd;
                trace << '\n';
            }
            trace.close();
            trace_figure(std::filesystem::path(o.output) / "long_run_trace.png", rows, reference ? &*reference : nullptr);
            save_states(o, c, "long_run", x.view());
            std::printf("sample_images: long run (%s) of %llu steps done, mean energy %.6g, saturated fraction %.4g%s\n",
                        o.sampler.c_str(), static_cast<unsigned long long>(total), stats.mean_energy,
                        rows.back().saturated,
                        reference ? (", FD to data " + std::to_string(rows.back().fd)).c_str() : "");
        }
        return 0;
    });
}

}  // namespace image_run

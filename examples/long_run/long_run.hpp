#pragma once
// The long run of a trained image model (Anatomy Sec. 4), for a network of either backend. long_run and
// sample_images --long-run-steps both call run_long_chain:
//   - ULA in the training form, or MALA on U/T at the training chain's temperature, with a fixed step or a step
//     adapted by dual averaging first;
//   - the chain runs in chunks between trace points; at each one the steady-state measures against data are taken
//     (mean energy, saturated fraction, FD on the fixed feature map);
//   - it writes energy_trace.csv, long_run_trace.png, grids at chosen steps, long_run.png/.npy and long_run.json.
#include <ebm/backend/execution.hpp>
#include <ebm/data/dataset.hpp>
#include <ebm/eval/steady_state.hpp>
#include <ebm/io/atomic_file.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/config.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_comparison.hpp"
#include "train_images/image_run.hpp"

namespace image_run {

/// The chains as <stem>.png (the first `grid`) and <stem>.npy (all), from either memory space.
template <class View>
void save_states(const std::filesystem::path& folder, ebm::index grid_count, const ebm::train_config& c,
                 const std::string& stem, View states) {
    const ebm::basic_const_batch_view<typename View::memory_space> x = states;
    ebm::batch host(x.dimension, x.count);
    ebm::copy_to_host(x, host.view());
    ebm::io::write_png(folder / (stem + ".png"),
                       grid(host.view(), c.data.channels, c.data.image_size, std::min<ebm::index>(x.count, grid_count)));
    ebm::io::write_npy(folder / (stem + ".npy"), host.view().values(),
                       {x.count, c.data.channels, c.data.image_size, c.data.image_size});
}

/// `sampler` on `energy` for its steps, from first_step, on x in place (its state made for x's chains).
template <class Sampler, class Energy, class View>
ebm::sampler_stats run_sampler(const Sampler& sampler, const Energy& energy, View x, const ebm::philox& rng,
                               std::uint64_t first_step) {
    auto state = sampler.make_state(energy, x.count);
    return sampler.run(state, energy, x, rng, first_step);
}

/// The training chain's sampler `chain` (make_langevin or make_langevin_decoupled of the configuration) for `steps`.
template <class Chain>
Chain with_chain_steps(Chain chain, ebm::index steps) {
    chain.steps = steps;
    return chain;
}

/// f(with_steps), with_steps(k) the chain the model was trained with (its form, step and noise) for k steps: the one
/// place that picks the Langevin form from the configuration.
template <class F>
decltype(auto) with_training_chain(const ebm::train_config& c, F&& f) {
    if (c.sampler.kind == "langevin") return f([&c](ebm::index k) { return with_chain_steps(ebm::make_langevin(c), k); });
    return f([&c](ebm::index k) { return with_chain_steps(ebm::make_langevin_decoupled(c), k); });
}

/// `steps` steps of the chain the model was trained with on x from Philox step first_step.
template <class Energy, class View>
ebm::sampler_stats run_training_chain(const ebm::train_config& c, const Energy& energy, View x, const ebm::philox& rng,
                                      std::uint64_t first_step, ebm::index steps) {
    return with_training_chain(c, [&](auto with_steps) { return run_sampler(with_steps(steps), energy, x, rng, first_step); });
}

/// A data start: the first x.count images of `data`, in order, in place in x before any chain reads it (`flag` names
/// the option in the message when there are too few).
template <class Backend, class View>
void copy_data_start(const char* program, const char* flag, const ebm::data::dataset& data, View x) {
    if (data.size() < x.count)
        ebm::detail::fail(program, std::string(flag) + " data needs at least --chains data images", data.size());
    ebm::copy_from_host(data.images().chains(0, x.count), x);
    ebm::execution<Backend>::wait_all();  // the chains run on their own stream
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
    ebm::index images = 0;
    double mean_energy = 0;  // of the trainer's energy over the data images
    double saturated = 0;    // their saturated fraction (data can sit at the edges too)
    data_comparison features;
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

/// What a long run is asked to do (the programs' flags).
struct long_run_options {
    std::filesystem::path output;
    std::string sampler = "ula";       // ula (the training form) | mala (on U/T at the training temperature)
    std::string start = "short_run";   // what the chains were started from, for the summary
    long long steps = 0;               // long-run steps after the warm-up
    long long trace_every = 100;       // steps between trace rows
    long long compare = 0;             // data images the chain is compared with (0: none)
    long long adapt = 0;               // MALA: warm-up steps adapting the step by dual averaging (0: fixed step)
    long long grid = 64;               // chains shown in the PNG grids
    float epsilon = 0.0f;              // MALA: the step on U/T (0: the training chain's)
    std::vector<long long> grids_at;   // steps after which long_run-<step>.png/.npy are written
};

/// The data a long run is compared with: the first `count` images of `data`.
template <class Backend, class Energy>
steady_state_reference make_reference(const Energy& energy, const ebm::data::dataset& data, long long count,
                                      ebm::index chunk, const ebm::train_config& c, const char* program) {
    const ebm::index n = std::min<ebm::index>(count, data.size());
    if (n < 2) ebm::detail::fail(program, "--compare needs at least 2 data images", n);
    const ebm::const_batch_view images = data.images().chains(0, n);
    return {n, mean_energy_of<Backend>(energy, images, chunk), ebm::eval::saturated_fraction(images),
            data_comparison(images, c.data.channels, c.data.image_size)};
}

/// Runs the long chain on x (the trainer's energy, the checkpoint's configuration `c`) from Philox step
/// first_step on, and writes its files into o.output. `data` is needed when o.compare > 0.
template <class Trainer, class View>
void run_long_chain(const char* program, const long_run_options& o, const ebm::train_config& c, const Trainer& trainer,
                    View x, const ebm::philox& rng, std::uint64_t first_step, const ebm::data::dataset* data) {
    using backend = typename Trainer::backend;
    const auto& energy = trainer.energy();
    if (o.steps <= 0) ebm::detail::fail(program, "the long run needs at least one step", o.steps);
    if (o.adapt > 0 && o.sampler != "mala") ebm::detail::fail(program, "--adapt needs --sampler mala", o.sampler);
    for (long long s : o.grids_at)
        if (s < 1 || s > o.steps)
            ebm::detail::fail(program, "--grids-at steps must lie in [1, " + std::to_string(o.steps) + "]", s);

    std::optional<steady_state_reference> reference;
    if (o.compare > 0) {
        if (data == nullptr) ebm::detail::fail(program, "--compare needs the checkpoint's data set", o.compare);
        reference = make_reference<backend>(energy, *data, o.compare, x.count, c, program);
        std::printf("%s: %lld data images to compare with, their mean energy %.6g, saturated fraction %.4g\n", program,
                    static_cast<long long>(reference->images), reference->mean_energy, reference->saturated);
    }

    // MALA samples the trainer's energy at the training chain's temperature (T = sigma^2/(2 lambda) for the
    // decoupled form, 1 for the Anatomy form), with the training chain's step unless --epsilon is given or the
    // step is adapted.
    const ebm::training_temperature_mala setting =
        o.sampler == "mala" ? ebm::mala_at_training_temperature(c) : ebm::training_temperature_mala{};
    float epsilon = o.epsilon > 0 ? o.epsilon : setting.epsilon;
    std::optional<decltype(ebm::tempered(energy, 1.0f))> target;  // U/T, for MALA
    std::uint64_t first = first_step;
    const auto started = std::chrono::steady_clock::now();
    if (o.sampler == "mala") {
        target.emplace(ebm::tempered(energy, setting.temperature));
        if (o.adapt > 0) {
            const ebm::mala warmup{.epsilon = epsilon, .steps = 1};
            auto st = warmup.make_state(*target, x.count);
            const float start_epsilon = epsilon;
            epsilon = warmup.adapt(st, *target, x, rng, first, static_cast<ebm::index>(o.adapt));
            first += static_cast<std::uint64_t>(o.adapt);
            std::printf("%s: MALA step adapted over %lld warm-up steps: %.6g -> %.6g\n", program, o.adapt,
                        start_epsilon, epsilon);
        }
        std::printf("%s: MALA on U/T, T = %.6g (the training chain's), epsilon %.6g\n", program,
                    setting.temperature, epsilon);
    }

    std::ofstream trace(o.output / "energy_trace.csv");
    trace << "step,mean_energy,acceptance,saturated_fraction,fd\n";
    std::vector<trace_row> rows;
    ebm::batch host(x.dimension, x.count);
    std::vector<long long> grids = o.grids_at;
    std::sort(grids.begin(), grids.end());
    double accepted = 0;  // acceptance weighted by steps, for the summary
    // The chain in chunks between trace and grid steps. `with_steps(k)` is the sampler for a chunk of k steps; its
    // state is made once for the whole run (buffers, workspaces and the CUDA graph are not remade per chunk).
    auto run_chunks = [&](const auto& chain_energy, auto with_steps) {
        auto state = with_steps(ebm::index{1}).make_state(chain_energy, x.count);
        auto next_grid = grids.begin();
        long long done = 0;
        while (done < o.steps) {
            long long end = std::min(o.steps, (done / o.trace_every + 1) * o.trace_every);
            while (next_grid != grids.end() && *next_grid <= done) ++next_grid;
            if (next_grid != grids.end()) end = std::min(end, *next_grid);
            const auto chunk = static_cast<ebm::index>(end - done);
            ebm::sampler_stats stats =
                with_steps(chunk).run(state, chain_energy, x, rng, first + static_cast<std::uint64_t>(done));
            if (o.sampler == "mala") {
                stats.mean_energy *= setting.temperature;  // the trace reports U, not U/T
                accepted += stats.acceptance * static_cast<double>(chunk);
            }
            done = end;
            ebm::copy_to_host(ebm::basic_const_batch_view<typename View::memory_space>(x), host.view());
            trace_row row{static_cast<std::uint64_t>(done), stats.mean_energy, stats.acceptance,
                          ebm::eval::saturated_fraction(host.view()), 0.0};
            if (reference) row.fd = reference->features.frechet_distance_to(host.view());
            rows.push_back(row);
            trace << row.step << ',' << row.mean_energy << ',' << row.acceptance << ',' << row.saturated << ',';
            if (reference) trace << row.fd;
            trace << '\n';
            if (next_grid != grids.end() && *next_grid == done) {
                char stem[48];
                std::snprintf(stem, sizeof stem, "long_run-%09lld", done);
                save_states(o.output, static_cast<ebm::index>(o.grid), c, stem, x);
            }
        }
    };
    if (o.sampler == "mala")
        run_chunks(*target, [&](ebm::index k) { return ebm::mala{.epsilon = epsilon, .steps = k}; });
    else
        with_training_chain(c, [&](auto with_steps) { run_chunks(energy, with_steps); });
    trace.close();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    trace_figure(o.output / "long_run_trace.png", rows, reference ? &*reference : nullptr);
    save_states(o.output, static_cast<ebm::index>(o.grid), c, "long_run", x);

    const trace_row& last = rows.back();
    nlohmann::json summary = {{"start", o.start},
                              {"sampler", o.sampler},
                              {"training_form", c.sampler.kind},
                              {"chains", x.count},
                              {"steps", o.steps},
                              {"warmup_steps", o.adapt},
                              {"seconds", seconds},
                              {"mean_energy", last.mean_energy},
                              {"saturated_fraction", last.saturated}};
    if (o.sampler == "mala") {
        summary["temperature"] = setting.temperature;
        summary["epsilon"] = epsilon;
        summary["acceptance"] = accepted / static_cast<double>(o.steps);
    }
    if (reference) {
        summary["fd"] = last.fd;
        summary["data"] = {{"images", reference->images},
                           {"mean_energy", reference->mean_energy},
                           {"saturated_fraction", reference->saturated}};
    }
    ebm::io::write_file_atomically(o.output / "long_run.json", summary.dump(2) + "\n", program);
    std::printf("%s: long run (%s) of %lld steps in %.1f s, mean energy %.6g, saturated fraction %.4g%s\n", program,
                o.sampler.c_str(), o.steps, seconds, last.mean_energy, last.saturated,
                reference ? (", FD to data " + std::to_string(last.fd)).c_str() : "");
}

}  // namespace image_run

// landscape: energy-landscape mapping by attraction-diffusion (ADELM; Anatomy Sec. 4.4, after Hill et al. 2019) of
// the Anatomy gmm toy. It maps the analytic mixture's own energy U = -log q (the reference: 8 minima at the means,
// saddles on the chords between neighbours) and, with --energy learned-gmm, the energy the toy MLP learns by the
// convergent recipe (toy2d's run, --iterations of it), then compares them: basins (one per mode?), and the barrier
// heights between neighbouring modes. Writes landscape.json (minima, basins, barriers, merge trees, comparison),
// disconnectivity.png (the disconnectivity graphs) and energy_map.png (U on a grid). Everything goes to a
// temporary sibling folder that replaces --output only when the whole run succeeded. See docs/landscape.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ebm/ebm.hpp>
#include <ebm/eval/grid.hpp>
#include <ebm/io/disconnectivity_figure.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/landscape/adelm.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "common/device.hpp"
#include "common/options.hpp"
#include "common/result_folder.hpp"
#include "image_landscape.hpp"
#include "landscape_run.hpp"
#include "toy2d/toy2d_run.hpp"
#include "train_images/image_nets.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

/// The GPU paths (landscape_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
toy2d::run_result train_cuda(const toy2d::run_request& r);
ebm::landscape::energy_landscape map_cuda(const std::vector<float>& parameters, ebm::const_batch_view starts,
                                          const ebm::landscape::adelm_settings& s, std::uint64_t seed);
nlohmann::ordered_json map_image_model_cuda(const landscape_program::image_options& o,
                                            const std::filesystem::path& checkpoint, const ebm::train_config& c,
                                            const std::filesystem::path& dir);
#if !EBM_PROGRAM_CUDA
nlohmann::ordered_json map_image_model_cuda(const landscape_program::image_options&, const std::filesystem::path&,
                                            const ebm::train_config&, const std::filesystem::path&) {
    program::require_device_built("landscape", "cuda");
    return {};
}
toy2d::run_result train_cuda(const toy2d::run_request&) {
    program::require_device_built("landscape", "cuda");
    return {};
}
ebm::landscape::energy_landscape map_cuda(const std::vector<float>&, ebm::const_batch_view,
                                          const ebm::landscape::adelm_settings&, std::uint64_t) {
    program::require_device_built("landscape", "cuda");
    return {};
}
#endif

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

struct options {
    std::string energy = "gmm";
    long iterations = 4000;
    int starts = 16;  // per axis
    float temperature = 0.1f;
    float merge_alpha = 20.0f;
    float barrier_alpha = 100.0f;
    std::uint64_t seed = 123;
    std::string output = "out/landscape";
    std::string device = "cpu";
    int threads = 0;
    bool quiet = false;
    std::string run;  // a train_images folder: map its model instead of the toy
    landscape_program::image_options image;
};

constexpr double extent = 1.6;  // the gmm's plot square, [-1.6, 1.6]^2 (radius + 4 sd)

/// Starts on a side x side grid over [-1.5, 1.5]^2, shifted off the origin (a critical point of the symmetric toy).
ebm::batch grid_starts(int side) {
    ebm::batch x(2, static_cast<ebm::index>(side) * side);
    for (int i = 0; i < side; ++i)
        for (int j = 0; j < side; ++j) {
            x.chain(i * side + j)[0] = static_cast<float>(-1.5 + 3.0 * (i + 0.5) / side + 0.01);
            x.chain(i * side + j)[1] = static_cast<float>(-1.5 + 3.0 * (j + 0.5) / side + 0.02);
        }
    return x;
}

/// Mapping settings at the gmm's scale (U of order 1 per sd 0.15): descent h = 0.005 (curvature 44 at a mode),
/// attraction-diffusion at T = 0.1 (barriers of 2.6 are 26 T). A magnet of alpha on U/T pays alpha x distance:
/// crossing the 0.38 to a neighbour's saddle takes alpha > 67, so the default merge alpha 20 keeps the 8 modes
/// apart and the barrier alpha 100 crosses.
ebm::landscape::adelm_settings settings(const options& o) {
    ebm::landscape::adelm_settings s;
    s.descent = {.step = 0.005f,
                 .max_steps = 20'000,
                 .check_every = 250,
                 .gradient_tolerance = 1e-3f,
                 .energy_tolerance = 1e-5f,
                 .step_decay = 0.7f};
    s.merge = {.temperature = o.temperature,
               .alpha = o.merge_alpha,
               .epsilon = 0.02f,
               .max_steps = 1'000,
               .reach = 0.05f,
               .chains = 8};
    s.barrier = {.temperature = o.temperature,
                 .alpha = o.barrier_alpha,
                 .epsilon = 0.01f,
                 .max_steps = 2'000,
                 .reach = 0.05f,
                 .chains = 16};
    s.same_state_distance = 0.02f;
    return s;
}

int nearest_mode(const std::vector<float>& x, double* distance) {
    int best = 0;
    double d = 1e300;
    for (int k = 0; k < 8; ++k) {
        const double a = 2 * std::numbers::pi * k / 8;
        const double e = std::hypot(x[0] - std::cos(a), x[1] - std::sin(a));
        if (e < d) d = e, best = k;
    }
    *distance = d;
    return best;
}

/// The landscape as JSON, with each basin's nearest gmm mode and the barrier heights between basins whose modes
/// are neighbours on the circle (height = barrier - the higher of the two minima: what the shallower basin climbs).
json describe(const ebm::landscape::energy_landscape& l, std::vector<double>& neighbour_heights) {
    json basins = json::array();
    std::vector<int> mode;
    for (std::size_t b = 0; b < l.basins.size(); ++b) {
        double d = 0;
        mode.push_back(nearest_mode(l.basins[b].representative, &d));
        basins.push_back({{"representative", l.basins[b].representative},
                          {"energy", l.basins[b].energy},
                          {"minima", l.basins[b].minima.size()},
                          {"nearest_mode", mode.back()},
                          {"distance_to_mode", d}});
    }
    const auto n = static_cast<ebm::index>(l.basins.size());
    json pairs = json::array();
    neighbour_heights.clear();
    for (ebm::index a = 0; a < n; ++a)
        for (ebm::index b = a + 1; b < n; ++b) {
            const int gap = (mode[static_cast<std::size_t>(a)] - mode[static_cast<std::size_t>(b)] + 8) % 8;
            if (gap != 1 && gap != 7) continue;
            const double height = l.barrier(a, b) - std::max(l.basins[static_cast<std::size_t>(a)].energy,
                                                             l.basins[static_cast<std::size_t>(b)].energy);
            neighbour_heights.push_back(height);
            pairs.push_back({{"modes", {mode[static_cast<std::size_t>(a)], mode[static_cast<std::size_t>(b)]}},
                             {"barrier", std::isfinite(height) ? json(l.barrier(a, b)) : json(nullptr)},
                             {"height", std::isfinite(height) ? json(height) : json(nullptr)}});
        }
    json out = landscape_program::landscape_json(l, basins);
    out["neighbour_barriers"] = pairs;
    return out;
}

double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? NAN : s / static_cast<double>(v.size());
}

/// landscape --run DIR: the newest checkpoint of a train_images folder.
void run_image_model(const options& o, const fs::path& dir) {
    const auto latest = ebm::checkpoint_folder(o.run).latest();
    if (!latest) ebm::detail::fail("landscape", "no checkpoint in the run folder (--run)", o.run);
    const ebm::checkpoint_info info = ebm::read_checkpoint_info(*latest);
    const ebm::train_config c = ebm::parse_config(info.config);
    auto image = o.image;
    image.seed = o.seed;
    image.quiet = o.quiet;
    image.temperature = o.temperature;
    image.merge_alpha = o.merge_alpha;
    image.barrier_alpha = o.barrier_alpha;
    json out =
        o.device == "cuda" ? map_image_model_cuda(image, *latest, c, dir) : image_run::with_net(c, [&](auto net) {
            return landscape_program::map_image_model(image, *latest, c, std::move(net), dir);
        });
    out["device"] = o.device;
    out["iteration"] = info.iteration;
    if (!o.quiet)
        std::fprintf(stderr, "landscape: %zu basins from %zu minima (%lld starts did not converge%s)\n",
                     out["basins"].size(), static_cast<std::size_t>(out["minima_found"]),
                     static_cast<long long>(out["unconverged_starts"]),
                     out["basins"].empty() ? "; no picture: raise --descent-steps" : "");
    std::ofstream file(dir / "landscape.json");
    file << out.dump(2) << '\n';
    if (!file) throw ebm::runtime_error("could not write landscape.json");
}

void run(const options& o, const fs::path& dir) {
    if (!o.run.empty()) return run_image_model(o, dir);
    const auto gmm = ebm::toy::gmm();
    const auto starts = grid_starts(o.starts);
    const auto s = settings(o);
    json out = {{"energy", o.energy},
                {"device", o.device},
                {"seed", o.seed},
                {"starts", starts.count()},
                {"settings",
                 {{"temperature", o.temperature},
                  {"merge_alpha", o.merge_alpha},
                  {"barrier_alpha", o.barrier_alpha},
                  {"descent_step", s.descent.step},
                  {"merge_epsilon", s.merge.epsilon},
                  {"barrier_epsilon", s.barrier.epsilon}}}};

    auto t0 = std::chrono::steady_clock::now();
    const auto truth = ebm::landscape::map_landscape(gmm, starts.view(), s, ebm::philox(o.seed));
    std::vector<double> true_heights;
    out["true"] = describe(truth, true_heights);
    out["true"]["seconds"] = toy2d::detail::seconds_since(t0);
    if (!o.quiet)
        std::fprintf(stderr, "landscape: true gmm: %zu basins in %.1f s\n", truth.basins.size(),
                     toy2d::detail::seconds_since(t0));

    const ebm::eval::grid g{.dimension = 2, .resolution = 200, .extent = extent};
    std::vector<std::vector<double>> maps{ebm::eval::energy_on_grid(gmm, g)};
    std::vector<const ebm::landscape::energy_landscape*> mapped{&truth};
    std::vector<std::string> titles{"true gmm  U = -log q"};
    std::vector<std::string> short_titles{"true gmm: U - min U (clipped at 8)"};
    ebm::landscape::energy_landscape learned;
    if (o.energy == "learned-gmm") {
        toy2d::run_request r;
        r.regime = "convergent";
        r.iterations = o.iterations;
        r.seed = o.seed;
        r.tag = "landscape/convergent";
        r.quiet = o.quiet;
        r.kde_samples = 100;  // the run's own short-run sample is not used here
        r.stop = &stop_requested;
        const ebm::philox data_rng(o.seed + 7919);
        r.positives = [&gmm, data_rng](std::uint64_t t, ebm::batch_view positives) {
            gmm.sample(positives, data_rng, ebm::purpose::data_sample, t);
        };
        t0 = std::chrono::steady_clock::now();
        const auto trained =
            o.device == "cuda" ? train_cuda(r)
                               : toy2d::run(ebm::mlp(landscape_program::toy_sizes,
                                                     ebm::leaky_relu{landscape_program::toy_slope}, ebm::seed{o.seed}),
                                            r);
        out["training"] = {{"recipe", "anatomy convergent (toy): bank 10,000 from U[-1,1], L = 500, eps 0.125, SGD"},
                           {"iterations", o.iterations},
                           {"seconds", trained.seconds}};
        ebm::mlp net(landscape_program::toy_sizes, ebm::leaky_relu{landscape_program::toy_slope}, ebm::seed{o.seed});
        std::copy(trained.parameters.begin(), trained.parameters.end(), net.parameters().begin());
        const auto energy = ebm::scaled(net, landscape_program::toy_epsilon);
        t0 = std::chrono::steady_clock::now();
        learned = o.device == "cuda" ? map_cuda(trained.parameters, starts.view(), s, o.seed)
                                     : ebm::landscape::map_landscape(energy, starts.view(), s, ebm::philox(o.seed));
        std::vector<double> learned_heights;
        out["learned"] = describe(learned, learned_heights);
        out["learned"]["seconds"] = toy2d::detail::seconds_since(t0);
        out["comparison"] = {{"true_basins", truth.basins.size()},
                             {"learned_basins", learned.basins.size()},
                             {"true_mean_neighbour_height", mean(true_heights)},
                             {"learned_mean_neighbour_height", mean(learned_heights)},
                             {"learned_neighbour_pairs", learned_heights.size()}};
        if (!o.quiet)
            std::fprintf(stderr, "landscape: learned: %zu basins; neighbour barrier height %.3f (true %.3f)\n",
                         learned.basins.size(), mean(learned_heights), mean(true_heights));
        maps.push_back(ebm::eval::energy_on_grid(energy, g));
        mapped.push_back(&learned);
        titles.push_back("learned U = F / (#ge#u2#d/2), convergent ML");
        short_titles.push_back("learned: U - min U (clipped at 8)");
    }

    const auto panels = static_cast<ebm::index>(mapped.size());
    {
        ebm::io::figure fig(dir / "disconnectivity.png", 600 * panels, 500, panels, 1);
        for (std::size_t k = 0; k < mapped.size(); ++k)
            ebm::io::disconnectivity_panel(fig, mapped[k]->graph,
                                           titles[k] + ": " + std::to_string(mapped[k]->basins.size()) + " basins");
        fig.finish();
    }
    {
        ebm::io::figure fig(dir / "energy_map.png", 500 * panels, 500, panels, 1);
        for (std::size_t k = 0; k < maps.size(); ++k) {
            // Energies relative to the lowest, clipped at 8 (where the density is e^-8 of its peak).
            auto& m = maps[k];
            const double low = *std::min_element(m.begin(), m.end());
            for (double& v : m) v = std::min(v - low, 8.0);
            fig.image_panel(short_titles[k], m, g.resolution, g.extent, 0.0, 8.0);
        }
        fig.finish();
    }
    std::ofstream file(dir / "landscape.json");
    file << out.dump(2) << '\n';
    if (!file) throw ebm::runtime_error("could not write landscape.json");
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    CLI::App app{
        "Energy-landscape mapping (ADELM, Anatomy Sec. 4.4) of the gmm toy: the true energy and, with "
        "--energy learned-gmm, the energy learned by convergent ML; see docs/landscape.md"};
    options opt;
    auto* energy_option =
        app.add_option("--energy", opt.energy,
                       "gmm (the analytic mixture only) or learned-gmm (also train and map the toy MLP)")
            ->check(CLI::IsMember({"gmm", "learned-gmm"}))
            ->capture_default_str();
    app.add_option("--iterations", opt.iterations, "convergent ML iterations of learned-gmm")
        ->check(CLI::Range(2L, 10'000'000L))
        ->capture_default_str();
    app.add_option("--run", opt.run,
                   "a train_images output folder: map its model (newest checkpoint) instead of the toy");
    app.add_option("--images", opt.image.images, "--run: descent starts")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--image-start", opt.image.start, "--run: where descent starts: data images or uniform noise")
        ->check(CLI::IsMember({"data", "noise"}))
        ->capture_default_str();
    app.add_option("--descent-steps", opt.image.descent_steps, "--run: most descent steps")
        ->check(CLI::Range(1L, 10'000'000L))
        ->capture_default_str();
    app.add_option("--attraction-steps", opt.image.attraction_steps, "--run: steps of one attraction-diffusion trial")
        ->check(CLI::Range(1L, 10'000'000L))
        ->capture_default_str();
    app.add_option("--starts", opt.starts, "descent starts per axis (a grid over [-1.5, 1.5]^2)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    auto* temperature_option = app.add_option("--temperature", opt.temperature, "temperature T of attraction-diffusion")
                                   ->check(program::positive_number)
                                   ->capture_default_str();
    auto* merge_option =
        app.add_option("--merge-alpha", opt.merge_alpha, "magnet force that decides whether two minima share a basin")
            ->check(CLI::Range(0.0f, 1e6f))
            ->capture_default_str();
    auto* barrier_option =
        app.add_option("--barrier-alpha", opt.barrier_alpha, "magnet force of the barrier estimates between basins")
            ->check(CLI::Range(0.0f, 1e6f))
            ->capture_default_str();
    app.add_option("--seed", opt.seed, "seed of the network, data and chains")
        ->check(program::unsigned_integer)
        ->capture_default_str();
    app.add_option("--output", opt.output, "output folder (replaced only after a successful run)")
        ->capture_default_str();
    app.add_option("--threads", opt.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    app.add_flag("--quiet", opt.quiet, "no progress lines");
    program::add_device_option(app, opt.device);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (!opt.run.empty()) {
        if (energy_option->count() > 0) {
            std::cerr << "landscape: --energy " << opt.energy << " and --run '" << opt.run << "': give one of them\n";
            return 2;
        }
        // An image model's scale (see image_landscape.hpp): its own defaults unless given.
        if (temperature_option->count() == 0) opt.temperature = landscape_program::image_defaults.temperature;
        if (merge_option->count() == 0) opt.merge_alpha = landscape_program::image_defaults.merge_alpha;
        if (barrier_option->count() == 0) opt.barrier_alpha = landscape_program::image_defaults.barrier_alpha;
    }
#if defined(_OPENMP)
    if (opt.threads > 0) omp_set_num_threads(opt.threads);
#endif
    // Only an empty folder or an earlier landscape result (it has landscape.json) is ever replaced.
    return program::write_result_folder("landscape", opt.output, "landscape.json", opt.quiet,
                                        [&](const fs::path& temporary) {
                                            program::require_device("landscape", opt.device);
                                            std::signal(SIGINT, request_stop);
                                            std::signal(SIGTERM, request_stop);
                                            run(opt, temporary);
                                        });
}

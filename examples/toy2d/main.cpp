// toy2d: Anatomy Fig. 6 — convergent and non-convergent ML on the gmm and rings toys — and the short-run paper's
// 1D and 2D toys (Appendix 7.7, Figs. 8 and 9; --toy 1d, --toy 2d-short-run). Per toy and regime it writes a density panel (rows density / log-density; columns
// ground truth, learned p_theta ∝ exp(-U), KDE of 10,000 short-run samples), a pixel-exact raw panel, the d_t / r_t
// diagnostics with their correlations (Anatomy Fig. 4), the CSV log, and one metrics.json. Everything is written
// into a temporary sibling folder that replaces --output only when the whole run succeeded. --device cuda trains on
// the GPU (builds with the CUDA backend); evaluation and figures are the same. See docs/toy2d.md.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/eval/grid.hpp>
#include <ebm/eval/kde.hpp>
#include <ebm/io/diagnostics_figure.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/io/png.hpp>

#include "common/device.hpp"
#include "common/options.hpp"
#include "common/result_folder.hpp"
#include "toy2d_run.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

/// A training run on the GPU (toy2d_cuda.cu; in builds without the CUDA backend, --device cuda stops before).
toy2d::run_result train_cuda(ebm::index input, const toy2d::run_request& r);
#if !EBM_PROGRAM_CUDA
toy2d::run_result train_cuda(ebm::index, const toy2d::run_request&) {
    program::require_device_built("toy2d", "cuda");
    return {};
}
#endif

namespace {

// SIGINT / SIGTERM stop training at the next iteration; the temporary folder is then removed.
volatile std::sig_atomic_t stop_requested = 0;
void request_stop(int) { stop_requested = 1; }

// Default schedule of the quick run (a few minutes on 2 cores); --paper gives the papers' schedule.
constexpr long default_convergent_iterations = 4000;
constexpr long default_non_convergent_iterations = 10000;
constexpr long default_short_run_iterations = 3000;
constexpr long paper_convergent_iterations = 200'000;
constexpr long paper_non_convergent_iterations = 100'000;

struct options {
    std::string toy = "all";
    std::string regime = "both";
    long iterations = 0;  // 0: per-regime defaults
    long convergent_iterations = 0;
    long non_convergent_iterations = 0;
    long short_run_iterations = 0;
    std::uint64_t seed = 123;
    std::string output = "out/toy2d";
    bool paper = false;
    int threads = 0;  // 0: OpenMP's default
    int resolution = 200;
    long kde_samples = 10'000;
    bool quiet = false;
    long trace_every = 0;
    std::string device = "cpu";
};

// A float setting as the shortest double that prints like it (0.01f -> 0.01, not 0.009999999776).
double tidy(float v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.7g", static_cast<double>(v));
    return std::strtod(text, nullptr);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ebm::mlp toy_net(ebm::index input, std::uint64_t seed) {
    return ebm::mlp({input, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{seed});
}

/// The trained network on the CPU for evaluation: the toy MLP with the run's parameters (a GPU run's too: the CUDA
/// MLP has the CPU's layout).
ebm::mlp net_with(ebm::index input, std::uint64_t seed, const std::vector<float>& parameters) {
    ebm::mlp net = toy_net(input, seed);
    const std::span<float> p = net.parameters();
    if (p.size() != parameters.size()) throw ebm::runtime_error("toy2d: the trained network has another size");
    std::copy(parameters.begin(), parameters.end(), p.begin());
    return net;
}

/// A training run on --device (the CUDA one is toy2d_cuda.cu).
toy2d::run_result train_on(const options& opt, ebm::index input, const toy2d::run_request& r) {
    if (opt.device == "cuda") return train_cuda(input, r);
    return toy2d::run(toy_net(input, r.seed), r);
}

/// The request of a run: exact samples of `toy` each iteration (stream data_sample, step = iteration), and every
/// opt.trace_every iterations KL(q||p_theta) on the grid appended to `trace` as [iteration, KL].
template <class Toy, class EnergyOf>
toy2d::run_request request(const Toy& toy, const std::string& regime, long iterations, const std::string& tag,
                           const options& opt, const ebm::eval::grid& g, EnergyOf energy_of, json& trace) {
    toy2d::run_request r;
    r.regime = regime;
    r.iterations = iterations;
    r.seed = opt.seed;
    r.tag = tag;
    r.quiet = opt.quiet;
    r.kde_samples = opt.kde_samples;
    r.trace_every = opt.trace_every;
    r.stop = &stop_requested;
    const ebm::philox data_rng(opt.seed + 7919);
    r.positives = [&toy, data_rng](std::uint64_t t, ebm::batch_view positives) {
        toy.sample(positives, data_rng, ebm::purpose::data_sample, t);
    };
    if (opt.trace_every > 0) {
        auto q = std::make_shared<std::vector<double>>(ebm::eval::grid_density_from_energy(toy, g));
        r.trace = [q, &g, energy_of, &trace, tag, quiet = opt.quiet](long t, const std::vector<float>& parameters) {
            const auto u = ebm::eval::energy_on_grid(energy_of(parameters), g);
            const double kl = ebm::eval::kl_divergence(*q, ebm::eval::density_from_energies(u));
            trace.push_back({t, kl});
            if (!quiet) std::fprintf(stderr, "[%s] %ld  KL(q||p_theta)=%.4f\n", tag.c_str(), t, kl);
        };
    }
    return r;
}

struct grid_result {
    std::vector<double> q, p, kde, p_init;
    double kl_q_p = 0, kl_q_kde = 0, kl_q_p_init = 0, h_q = 0, h_p = 0, h_kde = 0, h_p_init = 0;
};

template <class Toy, class Energy>
grid_result evaluate(const Toy& toy, const Energy& learned, const std::vector<double>& p_init, const ebm::batch& samples,
                     const ebm::eval::grid& g, double bandwidth) {
    grid_result r;
    r.q = ebm::eval::grid_density_from_energy(toy, g);
    r.p = ebm::eval::grid_density_from_energy(learned, g);
    r.p_init = p_init;
    r.kde = ebm::eval::normalise_density(ebm::eval::gaussian_kde(samples.view(), bandwidth).on_grid(g));
    const double cell = g.cell_measure();
    r.kl_q_p = ebm::eval::kl_divergence(r.q, r.p);
    r.kl_q_kde = ebm::eval::kl_divergence(r.q, r.kde);
    r.kl_q_p_init = ebm::eval::kl_divergence(r.q, r.p_init);
    r.h_q = ebm::eval::grid_entropy(r.q, cell);
    r.h_p = ebm::eval::grid_entropy(r.p, cell);
    r.h_kde = ebm::eval::grid_entropy(r.kde, cell);
    r.h_p_init = ebm::eval::grid_entropy(r.p_init, cell);
    return r;
}

json metrics_json(const grid_result& r) {
    return {{"kl_q_p_theta", r.kl_q_p},          {"kl_q_kde", r.kl_q_kde},       {"kl_q_p_theta_at_init", r.kl_q_p_init},
            {"entropy_q", r.h_q},                {"entropy_p_theta", r.h_p},     {"entropy_kde", r.h_kde},
            {"entropy_p_theta_at_init", r.h_p_init}};
}

json training_json(const std::vector<ebm::iteration_record>& records, double seconds) {
    const std::size_t n = records.size();
    const std::size_t tail = std::min<std::size_t>(n, 1000);
    double d = 0, r = 0, step_seconds = 0;
    long diverged = 0;
    for (const auto& rec : records) step_seconds += rec.seconds;
    for (std::size_t k = n - tail; k < n; ++k) d += records[k].d, r += records[k].r;
    for (const auto& rec : records) diverged += rec.diverged ? 1 : 0;
    return {{"iterations", n},
            {"seconds_training", seconds},
            {"seconds_per_iteration", n > 0 ? step_seconds / static_cast<double>(n) : 0.0},
            {"mean_d_last_1000", tail > 0 ? d / static_cast<double>(tail) : 0.0},
            {"mean_r_last_1000", tail > 0 ? r / static_cast<double>(tail) : 0.0},
            {"skipped_updates", diverged}};
}

// The Fig. 6 panel: rows density and log-density; columns ground truth, learned p_theta, KDE of short-run samples.
void density_figures(const fs::path& dir, const std::string& stem, const std::string& title, const grid_result& r,
                     const ebm::eval::grid& g) {
    const double cell = g.cell_measure();
    const std::vector<double>* masses[3] = {&r.q, &r.p, &r.kde};
    const char* names[3] = {"true", "learned p#d#gh#u", "short-run KDE"};
    std::vector<std::vector<double>> dens, logs;
    for (const auto* m : masses) {
        dens.push_back(ebm::eval::to_density(*m, cell));
        logs.push_back(ebm::eval::to_log_density(*m, cell));
    }
    {
        ebm::io::figure fig(dir / (stem + "_density.png"), 1020, 700, 3, 2);
        for (int c = 0; c < 3; ++c)
            fig.image_panel((c == 0 ? title + ": " : std::string()) + names[c] + " density", dens[static_cast<std::size_t>(c)],
                            g.resolution, g.extent);
        for (int c = 0; c < 3; ++c)
            fig.image_panel(std::string(names[c]) + " log-density", logs[static_cast<std::size_t>(c)], g.resolution,
                            g.extent);
        fig.finish();
    }
    std::vector<ebm::io::image> panels;
    for (const auto& v : dens) panels.push_back(ebm::io::colour_field(v, g.resolution, g.resolution));
    for (const auto& v : logs) panels.push_back(ebm::io::colour_field(v, g.resolution, g.resolution));
    ebm::io::write_png(dir / (stem + "_density_raw.png"), ebm::io::compose(panels, 3));
}

struct toy_spec {
    std::string name;       // gmm | rings
    double extent;          // plot half-width
    double bandwidth;       // KDE bw_method of the authors' configs
    float init_scale;       // Gaussian init of the non-convergent regime
};

template <class Toy>
json run_2d(const Toy& toy, const toy_spec& spec, const std::string& regime, long iterations, const options& opt,
            const fs::path& dir) {
    const ebm::eval::grid g = ebm::eval::toy_grid(2, spec.extent, opt.resolution);
    const std::string tag = spec.name + " " + regime;
    const std::string stem = spec.name + "_" + (regime == "convergent" ? "convergent" : "non_convergent");
    const bool convergent = regime == "convergent";
    const ebm::convergent_settings cs;
    const ebm::non_convergent_settings ns;
    const float epsilon = convergent ? cs.epsilon : ns.epsilon;
    // The energy the recipes train, U = F / (eps^2/2), on the CPU for evaluation.
    auto energy_of = [&opt, epsilon](const std::vector<float>& parameters) {
        return ebm::scaled(net_with(2, opt.seed, parameters), epsilon);
    };
    const auto p_init = ebm::eval::grid_density_from_energy(ebm::scaled(toy_net(2, opt.seed), epsilon), g);
    json trace = json::array();
    toy2d::run_request req = request(toy, regime, iterations, tag, opt, g, energy_of, trace);
    req.init_scale = spec.init_scale;
    const toy2d::run_result run = train_on(opt, 2, req);

    const auto eval_start = std::chrono::steady_clock::now();
    const grid_result r = evaluate(toy, energy_of(run.parameters), p_init, run.samples, g, spec.bandwidth);
    density_figures(dir, stem, tag, r, g);
    ebm::io::diagnostics_figure(dir / (stem + "_diagnostics.png"), tag, run.records);
    ebm::write_csv(dir / (stem + ".csv"), run.records);
    json out = metrics_json(r);
    out.update(training_json(run.records, run.seconds));
    out["seconds_evaluation"] = seconds_since(eval_start);
    out["seed"] = opt.seed;
    out["device"] = opt.device;
    if (opt.trace_every > 0) out["kl_q_p_theta_trace"] = trace;
    const long paper = convergent ? paper_convergent_iterations : paper_non_convergent_iterations;
    json settings = {{"net", "mlp 2-32-64-64-64-1, LeakyReLU(0.05), PyTorch default init"},
                     {"batch_size", 100},
                     {"kde_bandwidth", spec.bandwidth},
                     {"kde_samples", opt.kde_samples},
                     {"grid", {{"resolution", g.resolution}, {"extent", g.extent}}},
                     {"paper_iterations", paper},
                     {"deviation_from_paper",
                      iterations == paper ? "none"
                                          : "iterations " + std::to_string(iterations) + " instead of the paper's " +
                                                std::to_string(paper) + " (quick default run; --paper for the full one)"},
                     {"energy", "U = F / (eps^2/2)"},
                     {"epsilon", tidy(epsilon)},
                     {"learning_rate", tidy(run.learning_rate)}};
    if (convergent)
        settings.update({{"regime", "convergent"},
                         {"init", "persistent bank of 10000 states from U[-1,1]^2, write-back"},
                         {"langevin_steps", cs.steps},
                         {"optimizer", "SGD"},
                         {"gamma0", tidy(cs.gamma0)}});
    else
        settings.update({{"regime", "non-convergent"},
                         {"init", "N(0, " + std::to_string(spec.init_scale) + "^2 I) each iteration"},
                         {"langevin_steps", ns.steps},
                         {"optimizer", "Adam"}});
    out["settings"] = std::move(settings);
    out["files"] = {stem + "_density.png", stem + "_density_raw.png", stem + "_diagnostics.png", stem + ".csv"};
    if (!opt.quiet)
        std::fprintf(stderr, "[%s] KL(q||p_theta)=%.4f  KL(q||KDE)=%.4f  H(q)=%.3f  H(p_theta)=%.3f\n", tag.c_str(),
                     r.kl_q_p, r.kl_q_kde, r.h_q, r.h_p);
    return out;
}

// The short-run paper's toys (Appendix 7.7, Figs. 8 and 9): an MLP dim-32-64-64-64-1 energy, uniform [-1,1]^dim
// initialisation each iteration, K = 100 decoupled Langevin steps (lambda 1, sigma 0.01), Adam 1e-4, data noise 0.03,
// batch 64 (make_short_run_trainer as given). In 1D the 3-mode mixture_1d; in 2D (`2d-short-run`) the gmm toy. The
// paper names neither toy: both are our choices.
template <class Toy>
json run_short_run(const Toy& toy, ebm::index dim, double extent, double bandwidth, const std::string& toy_text,
                   long iterations, const options& opt, const fs::path& dir) {
    const std::string name = dim == 1 ? "1d" : "2d";
    const std::string stem = name + "_short_run", tag = name + " short-run";
    const ebm::eval::grid g = ebm::eval::toy_grid(static_cast<int>(dim), extent, opt.resolution);
    const ebm::short_run_settings s;
    // p_theta at the sampler's temperature: exp(-U/T), T = sigma^2/(2 lambda), as the Anatomy code plots exp(-F/T)
    // with T = eps^2/2 for its step-1 Langevin on F.
    const float temperature =
        ebm::langevin_decoupled{.step_size_lambda = s.step_size_lambda, .noise_sigma = s.noise_sigma}.implied_temperature();
    auto energy_of = [&opt, temperature, dim](const std::vector<float>& parameters) {
        return ebm::tempered(net_with(dim, opt.seed, parameters), temperature);
    };
    const auto p_init = ebm::eval::grid_density_from_energy(ebm::tempered(toy_net(dim, opt.seed), temperature), g);
    json trace = json::array();
    const toy2d::run_result run = train_on(opt, dim, request(toy, "short-run", iterations, tag, opt, g, energy_of, trace));
    const auto& records = run.records;
    const double seconds = run.seconds;
    const auto eval_start = std::chrono::steady_clock::now();
    const grid_result r = evaluate(toy, energy_of(run.parameters), p_init, run.samples, g, bandwidth);

    json files = {stem + "_density.png", stem + "_diagnostics.png", stem + ".csv"};
    if (dim == 1) {
        std::vector<double> x;
        for (ebm::index i = 0; i < g.resolution; ++i) x.push_back(g.coordinate(i));
        const double cell = g.cell_measure();
        const ebm::io::series dens[3] = {{x, ebm::eval::to_density(r.q, cell), "ground truth", 0},
                                         {x, ebm::eval::to_density(r.p, cell), "learned EBM p#d#gh#u", 4},
                                         {x, ebm::eval::to_density(r.kde, cell), "KDE of short-run samples", 1, 2}};
        const ebm::io::series logs[3] = {{x, ebm::eval::to_log_density(r.q, cell), "ground truth", 0},
                                         {x, ebm::eval::to_log_density(r.p, cell), "learned EBM p#d#gh#u", 4},
                                         {x, ebm::eval::to_log_density(r.kde, cell), "KDE of short-run samples", 1, 2}};
        ebm::io::figure fig(dir / (stem + "_density.png"), 1200, 480, 2, 1);
        fig.line_panel("1D toy: density", "x", "density", dens);
        fig.line_panel("1D toy: log-density", "x", "log-density", logs, false, true, true);
        fig.finish();
    } else {
        density_figures(dir, stem, tag, r, g);
        files.push_back(stem + "_density_raw.png");
    }
    ebm::io::diagnostics_figure(dir / (stem + "_diagnostics.png"), tag, records);
    ebm::write_csv(dir / (stem + ".csv"), records);
    json out = metrics_json(r);
    out.update(training_json(records, seconds));
    out["seconds_evaluation"] = seconds_since(eval_start);
    out["seed"] = opt.seed;
    out["device"] = opt.device;
    out["settings"] = {{"toy", toy_text},
                       {"net", "mlp " + std::to_string(dim) + "-32-64-64-64-1, LeakyReLU(0.05), PyTorch default init"},
                       {"init", dim == 1 ? "U[-1,1] each iteration" : "U[-1,1]^2 each iteration"},
                       {"sampler", "x <- x - lambda dU/dx + sigma z"},
                       {"langevin_steps", s.steps},
                       {"lambda", tidy(s.step_size_lambda)},
                       {"sigma", tidy(s.noise_sigma)},
                       {"implied_temperature", tidy(temperature)},
                       {"p_theta", "exp(-U/T) normalised on the grid, T = implied temperature of the sampler"},
                       {"optimizer", "Adam"},
                       {"learning_rate", tidy(s.learning_rate)},
                       {"data_noise", tidy(s.data_noise)},
                       {"batch_size", s.batch_size},
                       {"kde_bandwidth", bandwidth},
                       {"kde_samples", opt.kde_samples},
                       {"grid", {{"resolution", g.resolution}, {"extent", g.extent}}}};
    if (opt.trace_every > 0) out["kl_q_p_theta_trace"] = trace;
    out["files"] = files;
    if (!opt.quiet)
        std::fprintf(stderr, "[%s] KL(q||p_theta)=%.4f  KL(q||KDE)=%.4f  H(q)=%.3f  H(p_theta)=%.3f\n", tag.c_str(),
                     r.kl_q_p, r.kl_q_kde, r.h_q, r.h_p);
    return out;
}

// Everything goes into `temporary`; returns the metrics document.
json run_all(const options& opt, const fs::path& temporary) {
    const bool all = opt.toy == "all";
    const bool convergent = opt.regime != "non-convergent";
    const bool non_convergent = opt.regime != "convergent";
    auto pick = [&](long specific, long fallback, long paper) {
        if (specific > 0) return specific;
        if (opt.iterations > 0) return opt.iterations;
        return opt.paper ? paper : fallback;
    };
    const long n_conv = pick(opt.convergent_iterations, default_convergent_iterations, paper_convergent_iterations);
    const long n_non = pick(opt.non_convergent_iterations, default_non_convergent_iterations, paper_non_convergent_iterations);
    const long n_1d = pick(opt.short_run_iterations, default_short_run_iterations, default_short_run_iterations);
    json metrics;
    metrics["program"] = "toy2d";
    metrics["threads"] = ebm::cpu::threads();
    metrics["device"] = opt.device;
    metrics["paper_schedule"] = opt.paper;
    const auto start = std::chrono::steady_clock::now();
    const toy_spec specs[2] = {{"gmm", ebm::toy::plot_extent("gmm"), 0.1, 1.0f},
                               {"rings", ebm::toy::plot_extent("rings"), 0.075, 2.0f}};
    for (const auto& spec : specs) {
        if (!all && opt.toy != spec.name) continue;
        auto run = [&](const auto& toy) {
            if (convergent) metrics[spec.name]["convergent"] = run_2d(toy, spec, "convergent", n_conv, opt, temporary);
            if (non_convergent)
                metrics[spec.name]["non-convergent"] = run_2d(toy, spec, "non-convergent", n_non, opt, temporary);
        };
        if (spec.name == "gmm")
            run(ebm::toy::gmm());
        else
            run(ebm::toy::rings());
    }
    if (all || opt.toy == "1d")
        metrics["1d"]["short-run"] = run_short_run(ebm::toy::mixture_1d(), 1, 1.0, 0.1,
                                                   "mixture_1d: weights 0.3/0.4/0.3, means -0.6/0/0.6, sd 0.1", n_1d,
                                                   opt, temporary);
    if (all || opt.toy == "2d-short-run")
        metrics["2d"]["short-run"] = run_short_run(ebm::toy::gmm(), 2, ebm::toy::plot_extent("gmm"), 0.1,
                                                   "gmm: 8 Gaussians on the unit circle, sd 0.15", n_1d, opt, temporary);
    metrics["seconds_total"] = seconds_since(start);
    std::ofstream file(temporary / "metrics.json");
    file << metrics.dump(2) << '\n';
    file.close();
    if (!file) throw ebm::runtime_error("writing metrics.json failed");
    return metrics;
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    options opt;
    CLI::App app{"toy2d: Anatomy Fig. 6 (gmm, rings; convergent / non-convergent ML) and the short-run 1D and 2D toys"};
    app.add_option("--toy", opt.toy, "toy to run")->check(CLI::IsMember({"gmm", "rings", "1d", "2d-short-run", "all"}))->capture_default_str();
    app.add_option("--regime", opt.regime, "learning regime of the 2D toys")
        ->check(CLI::IsMember({"convergent", "non-convergent", "both"}))
        ->capture_default_str();
    // At least 2: the diagnostics figure of every regime needs two iterations of d_t and r_t.
    const CLI::Range positive(2L, 100'000'000L);
    app.add_option("--iterations", opt.iterations, "training iterations for every regime (default: per regime)")->check(positive);
    app.add_option("--convergent-iterations", opt.convergent_iterations,
                   "iterations of convergent ML (default 4000; paper 200000)")->check(positive);
    app.add_option("--non-convergent-iterations", opt.non_convergent_iterations,
                   "iterations of non-convergent ML (default 10000; paper 100000)")->check(positive);
    app.add_option("--short-run-iterations", opt.short_run_iterations, "iterations of the 1D and 2D short-run toys (default 3000)")
        ->check(positive);
    app.add_option("--seed", opt.seed, "seed of the network initialisation, data and chains")
        ->check(program::unsigned_integer)
        ->capture_default_str();
    app.add_option("--output", opt.output, "output folder (replaced only after a successful run)")->capture_default_str();
    app.add_flag("--paper", opt.paper, "the papers' schedule: 200k convergent / 100k non-convergent iterations");
    app.add_option("--threads", opt.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    app.add_option("--resolution", opt.resolution, "grid points per axis")->check(CLI::Range(16, 2000))->capture_default_str();
    app.add_option("--kde-samples", opt.kde_samples, "short-run samples for the KDE")
        ->check(CLI::Range(100L, 1'000'000L))
        ->capture_default_str();
    app.add_flag("--quiet", opt.quiet, "no progress lines");
    app.add_option("--trace-every", opt.trace_every, "record KL(q||p_theta) every N iterations (0: off)")
        ->check(CLI::Range(0L, 100'000'000L));
    program::add_device_option(app, opt.device);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
#if defined(_OPENMP)
    if (opt.threads > 0) omp_set_num_threads(opt.threads);
#endif
    // Only an empty folder or an earlier toy2d result (it has metrics.json) is ever replaced.
    return program::write_result_folder("toy2d", opt.output, "metrics.json", false, [&](const fs::path& temporary) {
        program::require_device("toy2d", opt.device);
        std::signal(SIGINT, request_stop);
        std::signal(SIGTERM, request_stop);
        run_all(opt, temporary);
    });
}

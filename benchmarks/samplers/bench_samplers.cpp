// bench_samplers: how well sampler policies explore, per second and per gradient evaluation, on standard targets.
//
// Targets: gauss2 and gauss100 (zero-mean Gaussians with condition number 100, dense covariance), funnel10 (Neal's
// funnel), banana2, gmm (the Anatomy toy mixture, as the float isotropic_mixture), mlp (the toy MLP after convergent ML on gmm, trained here), and
// convnet (a train_images model, given with --convnet-run; sampled at its training temperature). Samplers: ula, mala
// (fixed step), mala_adapt (dual averaging toward 0.574 during warm-up), hmc5 and hmc20 (L = 5, 20; dual averaging
// toward 0.65 during warm-up).
//
// Every run: `chains` chains from the target's initial states (exact draws for the analytic targets, data draws for
// mlp, uniform noise for convnet), `warmup` steps (not timed; adaptation here), then draws x thin steps recording
// every thin-th state, timed; then --timing-repeats more timed runs of that phase from the post-warm-up states with
// fresh noise (seconds: the fastest of all, the run least disturbed by other work; the BlackJAX side times so too). The chains are ebm::markov_chain: a run of
// thin steps costs thin gradient evaluations per chain (L each for HMC). Reported per run: steps/s and gradient evaluations/s (per chain and in total), bulk and
// tail ESS (minimum over coordinates; Vehtari et al. 2021, as ArviZ), ESS per second and per 1,000 gradient
// evaluations (ULA and MALA: 1 per step, HMC: L per step), the largest split R-hat, the acceptance, and where the
// moments are known the bias of the mean (in units of the true sd) and of the variance (relative), the largest over
// coordinates. Outputs in --output: results.csv, results.md, ess_per_second.png, and for the BlackJAX comparison
// (benchmarks/samplers/blackjax_compare.py) runs.json and init_<target>.npy.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ebm/ebm.hpp>
#include <ebm/energy/sampling_targets.hpp>
#include <ebm/eval/mcmc_diagnostics.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_run.hpp"
#include "common/device.hpp"
#include "common/options.hpp"
#include "train_images/image_nets.hpp"

namespace fs = std::filesystem;

#if !EBM_PROGRAM_CUDA
bool bench::run_cuda(const std::string&, const sampler_choice&, const ebm::batch&, const settings&, const recorder&,
                     const std::vector<float>&, float, timed_run&) {
    program::require_device_built("bench_samplers", "cuda");
    return false;
}
#endif

namespace {

struct options {
    std::vector<std::string> targets = {"gauss2", "gauss100", "funnel10", "banana2", "gmm", "mlp"};
    std::vector<std::string> samplers = {"ula", "mala", "mala_adapt", "hmc5", "hmc20"};
    std::vector<ebm::index> chains = {64, 1024};  // chain counts: every target and sampler runs with each
    ebm::index warmup = 1000;
    ebm::index draws = 1000;
    ebm::index thin = 5;
    ebm::index timing_repeats = 2;
    ebm::index mlp_iterations = 2000;
    std::uint64_t seed = 1;
    std::string output = "build/bench_samplers";
    std::string convnet_run;
    std::string device = "cpu";
    int threads = 0;
    std::vector<float> mlp_parameters;  // the trained mlp's (set by bench_mlp) for its device twin
    float mlp_factor = 1.0f;            // U = factor * F of the trained mlp
};

// Known first two moments per coordinate (empty where unknown).
struct moments {
    std::vector<double> mean, variance;
};

struct run_result {
    std::string target, sampler;
    ebm::index chains = 0, draws = 0, thin = 0, leapfrog = 1, dimension = 0;
    double epsilon = 0, seconds = 0, acceptance = -1;
    bool diverged = false;  // a chain left the finite floats (unadjusted Langevin with too large a step)
    ebm::trace_summary summary;
    std::optional<double> mean_bias, variance_bias;

    [[nodiscard]] double steps() const { return static_cast<double>(draws * thin); }
    [[nodiscard]] double gradients() const { return steps() * static_cast<double>(leapfrog); }
};

// A timed run and the diagnostics of its draws.
run_result diagnose(const std::string& target, const bench::sampler_choice& choice, ebm::index chains,
                    const options& o, const bench::timed_run& t, const ebm::mcmc_trace& trace, const moments& known) {
    run_result r;
    r.target = target;
    r.sampler = choice.name;
    r.chains = chains;
    r.draws = o.draws;
    r.thin = o.thin;
    r.leapfrog = choice.leapfrog();
    r.dimension = trace.dimension();
    r.epsilon = t.epsilon;
    r.seconds = t.seconds;
    r.acceptance = t.acceptance;
    r.diverged = t.diverged;
    if (r.diverged) {  // no diagnostics of a diverged run: every figure is NaN and the tables say so
        const double nan = std::numeric_limits<double>::quiet_NaN();
        r.summary.ess_bulk_min = r.summary.ess_tail_min = r.summary.rhat_max = nan;
        return r;
    }
    r.summary = ebm::summarize(trace);
    if (!known.mean.empty()) {
        double mb = 0, vb = 0;
        for (ebm::index k = 0; k < r.dimension; ++k) {
            const auto i = static_cast<std::size_t>(k);
            mb = std::max(mb, std::abs(r.summary.mean[i] - known.mean[i]) / std::sqrt(known.variance[i]));
            vb = std::max(vb, std::abs(r.summary.variance[i] - known.variance[i]) / known.variance[i]);
        }
        r.mean_bias = mb;
        r.variance_bias = vb;
    }
    return r;
}

std::string number(double v, int digits = 4) {
    if (std::isnan(v)) return "nan";
    char text[64];
    std::snprintf(text, sizeof text, "%.*g", digits, v);
    return text;
}
std::string optional_number(const std::optional<double>& v) { return v ? number(*v) : std::string(); }

class report {
public:
    explicit report(const options& o) : o_(o) {
        fs::create_directories(o.output);
        runs_["threads"] = omp_get_max_threads();
        runs_["runs"] = nlohmann::json::array();
    }

    static std::string init_name(const std::string& target, ebm::index chains) {
        return "init_" + target + "_" + std::to_string(chains) + ".npy";
    }
    void initial_states(const std::string& target, const ebm::batch& init) {
        ebm::io::write_npy(fs::path(o_.output) / init_name(target, init.count()),
                           std::span<const float>(init.data(), static_cast<std::size_t>(init.view().size())),
                           {init.count(), init.dimension()});
    }

    void add(const run_result& r) {
        const auto& s = r.summary;
        if (r.diverged) std::printf("%-9s %-10s eps %-8s DIVERGED (a state became NaN/Inf)\n", r.target.c_str(),
                                    r.sampler.c_str(), number(r.epsilon).c_str());
        else std::printf("%-9s %-10s eps %-8s %9.0f steps/s  ESS bulk %8.1f tail %8.1f  ESS/s %9.1f  ESS/1k grad %7.2f  "
                    "R-hat %.3f  acc %s%s\n",
                    r.target.c_str(), r.sampler.c_str(), number(r.epsilon).c_str(), r.steps() / r.seconds,
                    s.ess_bulk_min, s.ess_tail_min, s.ess_bulk_min / r.seconds, 1000.0 * s.ess_bulk_min / (r.gradients() * r.chains),
                    s.rhat_max, r.acceptance < 0 ? "n/a" : number(r.acceptance, 3).c_str(),
                    r.mean_bias ? (", bias mean " + number(*r.mean_bias, 3) + " var " + number(*r.variance_bias, 3)).c_str() : "");
        std::fflush(stdout);
        results_.push_back(r);
        runs_["runs"].push_back({{"target", r.target}, {"sampler", r.sampler}, {"epsilon", r.epsilon},
                                 {"leapfrog", r.leapfrog}, {"chains", r.chains}, {"warmup", o_.warmup},
                                 {"draws", r.draws}, {"thin", r.thin}, {"init", init_name(r.target, r.chains)}});
    }

    void write() const {
        const fs::path dir(o_.output);
        {
            std::ofstream json(dir / "runs.json");
            json << runs_.dump(2) << '\n';
        }
        std::ofstream csv(dir / "results.csv");
        csv << "target,sampler,device,chains,draws,thin,steps,epsilon,leapfrog,seconds,steps_per_s,gradients_per_s,"
               "ess_bulk_min,ess_tail_min,ess_bulk_per_s,ess_tail_per_s,ess_bulk_per_1000_gradients,"
               "ess_tail_per_1000_gradients,rhat_max,acceptance,mean_bias_max,variance_bias_max\n";
        std::ofstream md(dir / "results.md");
        md << "| target | sampler | chains | eps | steps/s | ESS bulk | ESS tail | ESS bulk/s | ESS tail/s | ESS bulk / 1k grad | "
              "R-hat | acceptance | mean bias | var bias |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for (const auto& r : results_) {
            const auto& s = r.summary;
            const double total_gradients = r.gradients() * static_cast<double>(r.chains);
            csv << r.target << ',' << r.sampler << ',' << o_.device << ',' << r.chains << ',' << r.draws << ',' << r.thin << ','
                << r.draws * r.thin << ',' << number(r.epsilon, 8) << ',' << r.leapfrog << ',' << number(r.seconds, 8)
                << ',' << number(r.steps() / r.seconds, 8) << ',' << number(r.gradients() / r.seconds, 8) << ','
                << number(s.ess_bulk_min, 8) << ',' << number(s.ess_tail_min, 8) << ','
                << number(s.ess_bulk_min / r.seconds, 8) << ',' << number(s.ess_tail_min / r.seconds, 8) << ','
                << number(1000.0 * s.ess_bulk_min / total_gradients, 8) << ','
                << number(1000.0 * s.ess_tail_min / total_gradients, 8) << ',' << number(s.rhat_max, 8) << ','
                << (r.acceptance < 0 ? std::string() : number(r.acceptance, 6)) << ',' << optional_number(r.mean_bias)
                << ',' << optional_number(r.variance_bias) << '\n';
            if (r.diverged) {
                md << "| " << r.target << " | " << r.sampler << " | " << r.chains << " | " << number(r.epsilon, 3)
                   << " | diverged | | | | | | | | | |\n";
                continue;
            }
            md << "| " << r.target << " | " << r.sampler << " | " << r.chains << " | " << number(r.epsilon, 3) << " | "
               << number(r.steps() / r.seconds, 3) << " | " << number(s.ess_bulk_min, 4) << " | "
               << number(s.ess_tail_min, 4) << " | " << number(s.ess_bulk_min / r.seconds, 4) << " | "
               << number(s.ess_tail_min / r.seconds, 4) << " | " << number(1000.0 * s.ess_bulk_min / total_gradients, 3)
               << " | " << number(s.rhat_max, 4) << " | " << (r.acceptance < 0 ? std::string("—") : number(r.acceptance, 3))
               << " | " << (r.mean_bias ? number(*r.mean_bias, 2) : std::string("—")) << " | "
               << (r.variance_bias ? number(*r.variance_bias, 2) : std::string("—")) << " |\n";
        }
        plot(dir / "ess_per_second.png");
    }

private:
    // One panel per chain count: log10 of the bulk ESS per second, bars per sampler over the targets.
    void plot(const fs::path& path) const {
        std::vector<std::string> targets;
        for (const auto& r : results_)
            if (std::find(targets.begin(), targets.end(), r.target) == targets.end()) targets.push_back(r.target);
        std::string xlabel = "target:";
        for (std::size_t i = 0; i < targets.size(); ++i) xlabel += " " + std::to_string(i) + "=" + targets[i];
        const auto panels = static_cast<ebm::index>(std::min<std::size_t>(o_.chains.size(), 4));
        ebm::io::figure fig(path, 1200, 500 * panels, 1, panels);
        for (ebm::index p = 0; p < panels; ++p) {
            const ebm::index n = o_.chains[static_cast<std::size_t>(p)];
            std::vector<ebm::io::series> bars;
            for (std::size_t k = 0; k < o_.samplers.size() && k < 7; ++k) {
                ebm::io::series s;
                s.label = o_.samplers[k];
                s.colour = static_cast<int>(k);
                for (const auto& r : results_)
                    if (r.sampler == o_.samplers[k] && r.chains == n && r.summary.ess_bulk_min > 0) {
                        const auto at = std::find(targets.begin(), targets.end(), r.target) - targets.begin();
                        s.x.push_back(static_cast<double>(at));
                        s.y.push_back(std::log10(r.summary.ess_bulk_min / r.seconds));
                    }
                if (!s.x.empty()) bars.push_back(std::move(s));
            }
            if (bars.empty()) fig.empty_panel();
            else fig.bar_panel(std::to_string(n) + " chains: bulk ESS per second (log10, minimum over coordinates)",
                               xlabel, "log10 ESS/s", bars);
        }
        fig.finish();
    }

    const options& o_;
    nlohmann::json runs_;
    std::vector<run_result> results_;
};

// Every sampler with every chain count; `init` holds max_chains(o) initial states, a run of n chains takes the first
// n. run(choice, init, settings, record) -> bench::timed_run runs one sampler (on the chosen backend).
template <class Run>
void bench_each(report& out, const options& o, const std::string& target, const ebm::batch& init, const moments& known,
                std::optional<float> epsilon, Run&& run) {
    const bench::settings s{o.warmup, o.draws, o.thin, o.seed, o.timing_repeats};
    for (const ebm::index n : o.chains) {
        ebm::batch first(init.dimension(), n);
        std::copy(init.data(), init.data() + first.view().size(), first.data());
        out.initial_states(target, first);
        for (const auto& name : o.samplers) {
            const bench::sampler_choice choice{name, epsilon.value_or(bench::default_epsilon(target))};
            // Draws are appended as they come, draw after draw (what BlackJAX's scan stores); the trace's
            // coordinate-major layout is filled after the timed phase.
            const ebm::index per_draw = init.dimension() * n;
            std::vector<float> draws;
            draws.reserve(static_cast<std::size_t>(o.draws * per_draw));
            const bench::timed_run t =
                run(choice, first, s, [&](ebm::const_batch_view x) { draws.insert(draws.end(), x.data, x.data + x.size()); });
            ebm::mcmc_trace trace(init.dimension(), n, o.draws);
            for (std::size_t at = 0; at < draws.size(); at += static_cast<std::size_t>(per_draw))
                trace.record(ebm::const_batch_view(draws.data() + at, init.dimension(), n));
            out.add(diagnose(target, choice, n, o, t, trace, known));
        }
    }
}

/// bench_each on a host energy, or on the GPU's twin of the target (--device cuda).
template <class Energy>
void bench_target(report& out, const options& o, const std::string& target, const Energy& energy, const ebm::batch& init,
                  const moments& known, std::optional<float> epsilon = {}) {
    bench_each(out, o, target, init, known, epsilon,
               [&](const bench::sampler_choice& c, const ebm::batch& x, const bench::settings& s, const bench::recorder& r) {
                   bench::timed_run t;
                   if (o.device == "cuda") {
                       if (!bench::run_cuda(target, c, x, s, r, o.mlp_parameters, o.mlp_factor, t))
                           ebm::detail::fail("bench_samplers", "--device cuda: this target has no device energy", target);
                   } else {
                       t = bench::run_one(c, energy, x, s, r);
                   }
                   return t;
               });
}

ebm::index max_chains(const options& o) { return *std::max_element(o.chains.begin(), o.chains.end()); }

template <class Target>
void bench_analytic(report& out, const options& o, const std::string& name, const Target& target) {
    ebm::batch init(target.dimension(), max_chains(o));
    target.sample(init.view(), ebm::philox(ebm::seed{o.seed}), ebm::purpose::evaluation, 0);
    bench_target(out, o, name, target, init, moments{target.mean(), target.variance()});
}

// The toy MLP after convergent ML on gmm (the Anatomy recipe: K = 500, persistent bank, SGD), as the density it
// learned: the trainer's energy (F scaled by 2 / eps^2) at temperature 1.
void bench_mlp(report& out, const options& o) {
    const auto data = ebm::toy::gmm();
    ebm::convergent_settings s;
    s.random_seed = ebm::seed{o.seed};
    auto trainer = ebm::make_convergent_trainer(ebm::mlp({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{o.seed}), s);
    ebm::batch positives(2, s.batch_size);
    const auto start = std::chrono::steady_clock::now();
    for (ebm::index t = 0; t < o.mlp_iterations; ++t) {
        data.sample(positives.view(), ebm::philox(ebm::seed{o.seed + 1}), ebm::purpose::data_sample, static_cast<std::uint64_t>(t));
        trainer.step(positives.view());
    }
    std::printf("mlp: %lld convergent iterations on gmm in %.1f s\n", static_cast<long long>(o.mlp_iterations),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    ebm::batch init(2, max_chains(o));
    data.sample(init.view(), ebm::philox(ebm::seed{o.seed}), ebm::purpose::evaluation, 0);
    options with = o;  // the device twin needs the trained weights and the scale
    const auto p = trainer.energy().inner().parameters();
    with.mlp_parameters.assign(p.begin(), p.end());
    with.mlp_factor = trainer.energy().factor();
    bench_target(out, with, "mlp", trainer.energy(), init, moments{});
}

// A train_images model at its training temperature: the Anatomy form's energy at T = 1 with its eps; the decoupled
// form's F / T with T = sigma^2 / (2 lambda), whose Langevin step with eps = sigma is the training chain.
void bench_convnet(report& out, const options& o) {
    const auto latest = ebm::checkpoint_folder(o.convnet_run).latest();
    if (!latest) ebm::detail::fail("bench_samplers", "no checkpoint in --convnet-run", o.convnet_run);
    const ebm::checkpoint_info info = ebm::read_checkpoint_info(*latest);
    const ebm::train_config c = ebm::parse_config(info.config);
    ebm::with_trainer(c, image_run::make_net(c), [&](auto& trainer) -> int {
        ebm::load_checkpoint(*latest, trainer);
        const auto& energy = trainer.energy();
        ebm::batch init(energy.dimension(), max_chains(o));
        ebm::uniform_noise{c.init.low, c.init.high}.fill(init.view(), ebm::philox(ebm::seed{o.seed}), ebm::purpose::init_noise, 0);
        if (c.sampler.kind == "langevin") {
            bench_target(out, o, "convnet", energy, init, moments{}, c.sampler.epsilon);
        } else {
            const float temperature = c.sampler.noise * c.sampler.noise / (2.0f * c.sampler.step_size);
            bench_target(out, o, "convnet", ebm::tempered(energy, temperature), init, moments{}, c.sampler.noise);
        }
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_samplers: ESS per second and per gradient evaluation of sampler policies on standard targets"};
    options o;
    bool quick = false;
    app.add_option("--targets", o.targets, "targets: gauss2 gauss100 funnel10 banana2 gmm mlp convnet")
        ->check(CLI::IsMember({"gauss2", "gauss100", "funnel10", "banana2", "gmm", "mlp", "convnet"}))
        ->delimiter(',')->capture_default_str();
    app.add_option("--samplers", o.samplers, "samplers: ula mala mala_adapt hmc5 hmc20")
        ->check(CLI::IsMember({"ula", "mala", "mala_adapt", "hmc5", "hmc20"}))->delimiter(',')->capture_default_str();
    app.add_option("--chains", o.chains, "chain counts (each target and sampler runs with each)")
        ->check(CLI::Range(2, 100000))->delimiter(',')->capture_default_str();
    app.add_option("--warmup", o.warmup, "warm-up steps (adaptation), not timed")->check(CLI::Range(1, 1 << 30))->capture_default_str();
    app.add_option("--draws", o.draws, "recorded draws per chain")->check(CLI::Range(8, 1 << 24))->capture_default_str();
    app.add_option("--thin", o.thin, "steps per recorded draw")->check(CLI::Range(1, 1 << 20))->capture_default_str();
    app.add_option("--timing-repeats", o.timing_repeats,
                   "further timed runs of the recorded phase from the post-warm-up states (seconds: the fastest)")
        ->check(CLI::Range(0, 100))->capture_default_str();
    app.add_option("--mlp-iterations", o.mlp_iterations, "convergent ML iterations of the mlp target")
        ->check(CLI::Range(1, 1 << 30))->capture_default_str();
    app.add_option("--convnet-run", o.convnet_run, "a train_images output folder (the convnet target)");
    app.add_option("--seed", o.seed, "seed of the initial states and the chains")
        ->check(program::unsigned_integer)
        ->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    app.add_option("--output", o.output, "output folder")->capture_default_str();
    app.add_flag("--quick", quick, "small sizes for a smoke run (16 chains, warm-up 100, draws 40, thin 2, mlp 20)");
    program::add_device_option(app, o.device);
    CLI11_PARSE(app, argc, argv);
    if (quick) {
        o.chains = {16}, o.warmup = 100, o.draws = 40, o.thin = 2, o.timing_repeats = 1, o.mlp_iterations = 20;
    }
    if (o.threads > 0) omp_set_num_threads(o.threads);
    try {
        program::require_device("bench_samplers", o.device);
        if (std::find(o.targets.begin(), o.targets.end(), "convnet") != o.targets.end() && o.convnet_run.empty())
            ebm::detail::fail("bench_samplers", "the convnet target needs --convnet-run (a train_images folder)", "convnet");
        std::string counts;
        for (const ebm::index n : o.chains) counts += (counts.empty() ? "" : ",") + std::to_string(n);
        std::printf("bench_samplers: chains %s, warm-up %lld, %lld draws x thin %lld, %d threads, seed %llu\n",
                    counts.c_str(), static_cast<long long>(o.warmup), static_cast<long long>(o.draws),
                    static_cast<long long>(o.thin), omp_get_max_threads(), static_cast<unsigned long long>(o.seed));
        report out(o);
        for (const auto& t : o.targets) {
            if (o.device == "cuda" && t == "convnet") {
                std::printf("bench_samplers: convnet skipped on --device cuda (run it with --device cpu)\n");
                continue;
            }
            if (t == "gauss2") bench_analytic(out, o, t, ebm::gaussian_target<>(2, 100.0));
            if (t == "gauss100") bench_analytic(out, o, t, ebm::gaussian_target<>(100, 100.0));
            if (t == "funnel10") bench_analytic(out, o, t, ebm::funnel<>(10));
            if (t == "banana2") bench_analytic(out, o, t, ebm::banana<>());
            if (t == "gmm") bench_analytic(out, o, t, ebm::isotropic_mixture<>::ring(8, 1.0, 0.15));
            if (t == "mlp") bench_mlp(out, o);
            if (t == "convnet") bench_convnet(out, o);
        }
        out.write();
        std::printf("bench_samplers: wrote %s/{results.csv,results.md,ess_per_second.png,runs.json}\n", o.output.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_samplers: %s\n", e.what());
        return 1;
    }
    return 0;
}

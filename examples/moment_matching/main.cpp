// moment_matching: the short-run paper's moment-matching estimator (§4.1) on Fashion-MNIST. An energy linear in its
// parameters, U_θ(x) = ⟨θ, h(x)⟩ (ebm::feature_energy: the 1,024 fixed filter responses h of eval::image_features),
// is learned by Algorithm 1 with non-persistent short-run chains (uniform noise on [-1, 1], K decoupled Langevin
// steps, Adam; Gaussian noise of σ 0.03 on the positives, as the paper's code). Since ∂U/∂θ = h, learning stops
// where the K-step samples' feature means equal the (noisy) data's.
//
//   moment_matching [--iterations 3000] [--image-size 8] [--steps 40] [--step-size 0.05] [--noise 0.05]
//                   [--data-noise 0.03] [--batch 100] [--learning-rate 0.01] [--final-learning-rate 0.001] [--evaluate-every 100]
//                   [--draws 2000] [--seed 1] [--threads N] [--output out/moment_matching] [--quiet]
//
// Every --evaluate-every iterations, --draws fresh K-step samples at the current θ and --draws held-out test images
// give each feature's gap z_j = (mean_q − mean_data) / standard error (eval/moment_gap.hpp). At the end the same at
// the mean of the last half of the iterates (Polyak–Ruppert), with controls: the untrained chain (θ = 0) and the
// learned energy run K/2 and 2K steps. Writes gap.csv, moment_gap.png (max |z_j| and mean z_j² over training against
// the Bonferroni bound at α = 0.001), samples.png (64 K-step samples at the averaged θ) and metrics.json.
// Exit status: 0 done (whatever the gap), 1 failed, 2 bad --output; skipped (77) without dataset-fashion-mnist.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <ebm/ebm.hpp>
#include <ebm/energy/feature_energy.hpp>
#include <ebm/eval/moment_gap.hpp>
#include <ebm/io/atomic_file.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/io/png.hpp>
#include <ebm/optim/parameter_average.hpp>

#include "common/options.hpp"
#include "common/result_folder.hpp"
#include "train_images/image_run.hpp"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct options {
    ebm::index iterations = 3000, image_size = 8, steps = 40, batch = 100, evaluate_every = 100, draws = 2000;
    float step_size = 0.05f, noise = 0.05f, data_noise = 0.03f, learning_rate = 0.01f, final_learning_rate = 0.001f;
    std::uint64_t seed = 1;
    int threads = 0;
    std::string output = "out/moment_matching";
    bool quiet = false;
};

constexpr double alpha = 0.001;  // of the Bonferroni bound on max |z_j|

ebm::data::dataset fashion_mnist(bool train_split, ebm::index image_size) {
    ebm::train_config c;
    c.data.source = "fashion_mnist";
    c.data.train_split = train_split;
    c.data.image_size = image_size;
    c.data.channels = 1;
    c.data.fit = "resize";
    return image_run::load_data(c);
}

/// n K-step samples of `energy` from uniform noise (stream seed s).
ebm::batch short_run(const ebm::feature_energy& energy, const ebm::langevin_decoupled& policy, ebm::index n, std::uint64_t s) {
    ebm::batch x(energy.dimension(), n);
    ebm::uniform_noise{-1.0f, 1.0f}.fill(x, ebm::philox(ebm::seed{s}), ebm::purpose::user, 0);
    ebm::markov_chain chain(policy, energy, x.view(), ebm::philox(ebm::seed{s + 1}));
    (void)chain.run();
    return x;
}

ebm::eval::moment_gap_result gap(const ebm::feature_energy& energy, const ebm::langevin_decoupled& policy,
                                 const Eigen::MatrixXf& data, ebm::index n, std::uint64_t s) {
    const ebm::batch x = short_run(energy, policy, n, s);
    return ebm::eval::moment_gap(energy.features()(x.view(), energy.image_size()), data);
}

nlohmann::json summary(const ebm::eval::moment_gap_result& r) {
    return {{"max_abs_z", r.max_abs_z}, {"worst_feature", r.worst_feature}, {"mean_square_z", r.mean_square_z},
            {"max_abs_difference", r.max_abs_difference}};
}

void run(const options& o, const fs::path& folder) {
    const ebm::data::dataset train = fashion_mnist(true, o.image_size);
    const ebm::data::dataset test = fashion_mnist(false, o.image_size);
    if (test.size() < o.draws)
        throw ebm::error("moment_matching: --draws must be at most the test split's " + std::to_string(test.size()) + " images");
    const ebm::index d = o.image_size * o.image_size;
    // The held-out images with the same data noise as the positives: the moments learning matches are those of the
    // noisy data (without it, cells that are flat background in every image have features exactly 0, which no
    // noisy chain reaches, and θ grows without bound chasing them).
    ebm::batch noisy(d, o.draws);
    std::copy(test.images().data, test.images().data + d * o.draws, noisy.data());
    if (o.data_noise > 0) {
        std::vector<float> z(static_cast<std::size_t>(d));
        for (ebm::index i = 0; i < o.draws; ++i) {
            ebm::fill_normal(ebm::philox(ebm::seed{o.seed}), ebm::purpose::data_noise, static_cast<std::uint32_t>(i),
                             std::uint64_t{1} << 40, z.data(), d);
            for (ebm::index k = 0; k < d; ++k) noisy.chain(i)[k] += o.data_noise * z[static_cast<std::size_t>(k)];
        }
    }
    const Eigen::MatrixXf held_out = ebm::eval::image_features(1)(noisy.view(), o.image_size);

    // The rate falls exponentially from --learning-rate to --final-learning-rate over the run.
    const double decay = std::pow(static_cast<double>(o.final_learning_rate) / o.learning_rate, 1.0 / static_cast<double>(o.iterations));
    // Clamped to the data's box [-1, 1]: U is positively homogeneous in x (zero-mean filters, ReLU, means), so once θ
    // has grown a free chain can run off to infinity along a ray that lowers U.
    const ebm::langevin_decoupled policy{.step_size_lambda = o.step_size, .noise_sigma = o.noise, .steps = o.steps,
                                         .clamp = {-1.0f, 1.0f}};
    ebm::ml_trainer trainer(ebm::feature_energy(1, o.image_size), policy, ebm::uniform_noise{-1.0f, 1.0f},
                            ebm::adam{.learning_rate = o.learning_rate, .schedule = {.factor = decay, .floor = 0.0}},
                            ebm::trainer_options{.batch_size = o.batch, .data_noise = o.data_noise, .random_seed = ebm::seed{o.seed}});
    ebm::data::shuffled_batches batches(train, o.batch, ebm::seed{o.seed});
    ebm::batch positives(d, o.batch);
    ebm::parameter_average average(ebm::feature_energy::feature_count);
    const double bound = ebm::eval::moment_gap_bound(ebm::feature_energy::feature_count, alpha);

    std::ofstream csv(folder / "gap.csv");
    csv << "iteration,max_abs_z,mean_square_z,max_abs_difference\n";
    ebm::io::series max_z{.x = {}, .y = {}, .label = "max |z#dj#u| at #gh#dt#u", .colour = 1};
    ebm::io::series mean_z2{.x = {}, .y = {}, .label = "mean z#dj#u#u2#d at #gh#dt#u", .colour = 2};
    const auto evaluate = [&](ebm::index t) {
        const ebm::eval::moment_gap_result r = gap(trainer.energy(), policy, held_out, o.draws, o.seed * 1000 + 7);
        csv << t << ',' << r.max_abs_z << ',' << r.mean_square_z << ',' << r.max_abs_difference << '\n';
        max_z.x.push_back(static_cast<double>(t)), max_z.y.push_back(r.max_abs_z);
        mean_z2.x.push_back(static_cast<double>(t)), mean_z2.y.push_back(r.mean_square_z);
        if (!o.quiet) std::fprintf(stderr, "moment_matching: iteration %td: max |z| %.2f, mean z^2 %.2f\n", t, r.max_abs_z, r.mean_square_z);
    };

    evaluate(0);
    for (ebm::index t = 1; t <= o.iterations; ++t) {
        batches.batch(static_cast<std::uint64_t>(t - 1), positives.view());
        (void)trainer.step(positives.view());
        if (t > o.iterations / 2) average.add(trainer.energy().parameters());
        if (t % o.evaluate_every == 0 || t == o.iterations) evaluate(t);
    }
    csv.close();
    if (!csv) throw ebm::error("moment_matching: could not write gap.csv");

    ebm::feature_energy averaged = trainer.energy();
    average.write_mean(averaged.parameters());
    const std::uint64_t s = o.seed * 1000 + 100;
    const ebm::eval::moment_gap_result final_gap = gap(averaged, policy, held_out, o.draws, s);
    const ebm::eval::moment_gap_result untrained = gap(ebm::feature_energy(1, o.image_size), policy, held_out, o.draws, s + 2);
    ebm::langevin_decoupled half = policy, twice = policy;
    half.steps = std::max<ebm::index>(1, o.steps / 2);
    twice.steps = 2 * o.steps;
    const ebm::eval::moment_gap_result half_gap = gap(averaged, half, held_out, o.draws, s + 4);
    const ebm::eval::moment_gap_result twice_gap = gap(averaged, twice, held_out, o.draws, s + 6);

    {
        // log10 of both measures: they fall by two orders of magnitude in the first hundred iterations.
        const auto log10_of = [](ebm::io::series s) {
            for (double& y : s.y) y = std::log10(std::max(y, 1e-3));
            return s;
        };
        ebm::io::figure fig(folder / "moment_gap.png", 900, 520, 1, 1);
        const double t0 = 0, t1 = static_cast<double>(o.iterations);
        const ebm::io::series bound_line{.x = {t0, t1}, .y = {std::log10(bound), std::log10(bound)},
                                         .label = "Bonferroni bound on max |z#dj#u| (#ga = 0.001)", .colour = 4, .style = 2};
        const ebm::io::series floor_line{.x = {t0, t1}, .y = {0.0, 0.0}, .label = "E z#u2#d = 1 (matched)", .colour = 6, .style = 3};
        const ebm::io::series averaged_line{.x = {t1 / 2, t1}, .y = {std::log10(final_gap.max_abs_z), std::log10(final_gap.max_abs_z)},
                                            .label = "max |z#dj#u| at the mean of these iterates", .colour = 3};
        const std::vector<ebm::io::series> lines = {log10_of(max_z), log10_of(mean_z2), bound_line, floor_line, averaged_line};
        fig.line_panel("Moment gap of the K-step samples (" + std::to_string(o.draws) + " draws vs held-out images)",
                       "iteration t", "log#d10#u (gap / standard error)", lines, false, true);
        fig.finish();
    }
    ebm::io::write_png(folder / "samples.png",
                       image_run::grid(short_run(averaged, policy, 64, s + 8).view(), 1, o.image_size, 64));

    const nlohmann::json metrics = {
        {"program", "moment_matching"},
        {"data", "Fashion-MNIST, resized to " + std::to_string(o.image_size) + " px, [-1, 1]"},
        {"features", ebm::feature_energy::feature_count},
        {"iterations", o.iterations}, {"steps", o.steps}, {"step_size", o.step_size}, {"noise", o.noise}, {"data_noise", o.data_noise},
        {"batch", o.batch}, {"learning_rate", o.learning_rate}, {"final_learning_rate", o.final_learning_rate}, {"draws", o.draws}, {"seed", o.seed},
        {"bound", bound}, {"alpha", alpha},
        {"averaged_last_half", summary(final_gap)},
        {"final_iterate", {{"max_abs_z", max_z.y.back()}, {"mean_square_z", mean_z2.y.back()}}},
        {"controls", {{"untrained", summary(untrained)}, {"half_steps", summary(half_gap)}, {"double_steps", summary(twice_gap)}}},
        {"matched", final_gap.max_abs_z < bound}};
    ebm::io::write_file_atomically(folder / "metrics.json", metrics.dump(2) + "\n", "moment_matching");
    if (!o.quiet)
        std::fprintf(stderr, "moment_matching: averaged θ: max |z| %.2f (bound %.2f), mean z^2 %.2f; controls: untrained %.1f, "
                             "K/2 %.1f, 2K %.1f\n", final_gap.max_abs_z, bound, final_gap.mean_square_z, untrained.max_abs_z,
                     half_gap.max_abs_z, twice_gap.max_abs_z);
}

}  // namespace

int main(int argc, char** argv) {
    program::ignore_broken_pipes();
    options o;
    CLI::App app{"moment_matching: short-run learning of an energy linear in its parameters matches feature means (short-run paper §4.1)"};
    app.add_option("--iterations", o.iterations, "training iterations")->check(CLI::Range(2L, 10'000'000L))->capture_default_str();
    app.add_option("--image-size", o.image_size, "Fashion-MNIST resized to this side (a multiple of 8)")
        ->check(CLI::IsMember({8, 16, 24, 32}))->capture_default_str();
    app.add_option("--steps", o.steps, "Langevin steps K")->check(CLI::Range(2L, 100'000L))->capture_default_str();
    app.add_option("--step-size", o.step_size, "Langevin step lambda")->check(program::positive_number)->capture_default_str();
    app.add_option("--noise", o.noise, "Langevin noise sigma")->check(CLI::Range(0.0, 10.0))->capture_default_str();
    app.add_option("--data-noise", o.data_noise, "sigma of the Gaussian noise on positives and held-out images")
        ->check(CLI::Range(0.0, 1.0))->capture_default_str();
    app.add_option("--batch", o.batch, "batch size (positives and chains)")->check(CLI::Range(2L, 100'000L))->capture_default_str();
    app.add_option("--learning-rate", o.learning_rate, "Adam's first rate")->check(program::positive_number)->capture_default_str();
    app.add_option("--final-learning-rate", o.final_learning_rate, "Adam's last rate (exponential decay; at most --learning-rate)")
        ->check(program::positive_number)->capture_default_str();
    app.add_option("--evaluate-every", o.evaluate_every, "iterations between measurements of the gap")
        ->check(CLI::Range(1L, 10'000'000L))->capture_default_str();
    app.add_option("--draws", o.draws, "short-run samples and held-out images per measurement")
        ->check(CLI::Range(2L, 10'000L))->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the data order and the chains")->check(program::unsigned_integer)->capture_default_str();
    app.add_option("--threads", o.threads, "OpenMP threads (default: all)")->check(CLI::Range(1, 1024));
    app.add_option("--output", o.output, "output folder (replaced only after a successful run)")->capture_default_str();
    app.add_flag("--quiet", o.quiet, "no progress lines");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (o.final_learning_rate > o.learning_rate) {
        std::fprintf(stderr, "moment_matching: --final-learning-rate (%g) must be at most --learning-rate (%g)\n",
                     static_cast<double>(o.final_learning_rate), static_cast<double>(o.learning_rate));
        return 2;
    }
    if (!fs::exists(ebm::data::debian_fashion_mnist_folder / "train-images-idx3-ubyte.gz")) {
        std::printf("SKIPPED: moment_matching needs Debian's dataset-fashion-mnist (%s)\n",
                    ebm::data::debian_fashion_mnist_folder.c_str());
        return 77;
    }
#if defined(_OPENMP)
    if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
    // Only an empty folder or an earlier result (it has metrics.json) is ever replaced.
    return program::write_result_folder("moment_matching", o.output, "metrics.json", o.quiet,
                                        [&](const fs::path& temporary) { run(o, temporary); });
}

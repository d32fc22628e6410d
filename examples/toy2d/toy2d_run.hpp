#pragma once
// The training runs of toy2d for a toy MLP of either backend (main.cpp instantiates them with ebm::mlp, toy2d_cuda.cu
// with ebm::cuda_backend::mlp, whose initialisation and parameter layout are the CPU's): the papers' recipes
// (train/recipes.hpp), exact toy samples from the host each iteration, then the trainer's own sampler from the
// evaluation's initial states. What comes back is on the host (records, trained parameters, samples); main.cpp
// evaluates and draws it the same way for both backends.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ebm/backend/execution.hpp>
#include <ebm/error.hpp>
#include <ebm/train/recipes.hpp>

namespace toy2d {

struct run_request {
    std::string regime;  // "convergent", "non-convergent" (Anatomy Fig. 6) or "short-run" (1D toy)
    long iterations = 0;
    std::uint64_t seed = 123;
    std::string tag;
    bool quiet = false;
    float init_scale = 1.0f;      // Gaussian initialisation of the non-convergent regime
    ebm::index kde_samples = 10'000;
    long trace_every = 0;         // 0: no trace
    std::function<void(std::uint64_t t, ebm::batch_view positives)> positives;  // exact toy samples of iteration t
    std::function<void(long t, const std::vector<float>& parameters)> trace;    // every trace_every iterations
    const volatile std::sig_atomic_t* stop = nullptr;                           // set: stop with an error
};

struct run_result {
    std::vector<ebm::iteration_record> records;
    std::vector<float> parameters;  // after training
    ebm::batch samples;             // the trainer's sampler run from the evaluation's initial states
    double seconds = 0;             // training wall time
    float learning_rate = 0;        // the optimizer's (scaled) rate
};

namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class Trainer>
std::vector<ebm::iteration_record> train(Trainer& trainer, const run_request& r) {
    ebm::batch positives(trainer.energy().dimension(), trainer.options().batch_size);
    std::vector<ebm::iteration_record> records;
    records.reserve(static_cast<std::size_t>(r.iterations));
    const long report = std::max(1L, r.iterations / 10);
    const auto start = std::chrono::steady_clock::now();
    long diverged = 0;
    for (long t = 0; t < r.iterations; ++t) {
        if (r.stop != nullptr && *r.stop != 0) throw ebm::runtime_error("interrupted by a signal; nothing was written");
        r.positives(static_cast<std::uint64_t>(t), positives.view());
        records.push_back(trainer.step(positives.view()));
        diverged += records.back().diverged ? 1 : 0;
        if (r.trace_every > 0 && (t + 1) % r.trace_every == 0)
            r.trace(t + 1, ebm::to_host_vector(trainer.energy().parameters()));
        if (!r.quiet && ((t + 1) % report == 0 || t + 1 == r.iterations))
            std::fprintf(stderr, "[%s] %ld/%ld  d=%.4g  r=%.4g  %.2f ms/it\n", r.tag.c_str(), t + 1, r.iterations,
                         records.back().d, records.back().r,
                         1e3 * seconds_since(start) / static_cast<double>(t + 1));
    }
    if (diverged > r.iterations / 2)
        throw ebm::runtime_error(r.tag + ": training diverged (" + std::to_string(diverged) + " of " +
                                 std::to_string(r.iterations) + " updates skipped for non-finite values)");
    return records;
}

/// The trainer's own sampler from `init` for its L steps (no write-back), with a stream of its own; on the host.
template <class Trainer>
ebm::batch short_run(Trainer& trainer, const ebm::batch& init, std::uint64_t seed) {
    ebm::batch_in<typename Trainer::backend> x(init.dimension(), init.count());
    ebm::copy_from_host(init.view(), x.view());
    auto state = trainer.sampler().make_state(trainer.energy(), init.count());
    trainer.sampler().run(state, trainer.energy(), x.view(), ebm::philox(seed + 104'729), 0);
    ebm::batch samples(init.dimension(), init.count());
    ebm::copy_to_host(x.view(), samples.view());
    for (float v : samples.view().values())
        if (!std::isfinite(v)) throw ebm::runtime_error("short-run samples contain non-finite values");
    return samples;
}

/// Trains, then runs the sampler from make_init(trainer) (called after training).
template <class Trainer, class MakeInit>
run_result train_and_sample(Trainer& trainer, const run_request& r, MakeInit make_init) {
    run_result out;
    const auto start = std::chrono::steady_clock::now();
    out.records = train(trainer, r);
    out.seconds = seconds_since(start);
    out.parameters = ebm::to_host_vector(trainer.energy().parameters());
    out.samples = short_run(trainer, make_init(trainer), r.seed);
    out.learning_rate = trainer.optimizer().learning_rate;
    return out;
}

}  // namespace detail

/// Trains `net` with the recipe of r.regime and returns the host results (see the file comment).
template <class Net>
run_result run(Net net, const run_request& r) {
    const ebm::philox evaluation(r.seed + 15'485'863);
    if (r.regime == "convergent") {
        ebm::convergent_settings s;
        s.random_seed = ebm::seed{r.seed};
        auto trainer = ebm::make_convergent_trainer(std::move(net), s);
        // As the authors' code: kde_samples chains drawn from the persistent bank (cycling), L steps, no write-back.
        return detail::train_and_sample(trainer, r, [&](auto& t) {
            const ebm::basic_const_batch_view<ebm::memory_space_of_t<Net>> bank_view = t.initializer_state().bank();
            ebm::batch bank(bank_view.dimension, bank_view.count);
            ebm::copy_to_host(bank_view, bank.view());
            ebm::batch init(bank.dimension(), r.kde_samples);
            for (ebm::index i = 0; i < r.kde_samples; ++i)
                std::copy(bank.chain(i % bank.count()), bank.chain(i % bank.count()) + bank.dimension(), init.chain(i));
            return init;
        });
    }
    if (r.regime == "non-convergent") {
        ebm::non_convergent_settings s;
        s.init_scale = r.init_scale;
        s.random_seed = ebm::seed{r.seed};
        auto trainer = ebm::make_non_convergent_trainer(std::move(net), s);
        return detail::train_and_sample(trainer, r, [&](auto& t) {
            ebm::batch init(t.energy().dimension(), r.kde_samples);
            ebm::gaussian_noise{s.init_scale}.fill(init.view(), evaluation, ebm::purpose::evaluation, 0);
            return init;
        });
    }
    if (r.regime != "short-run") ebm::detail::fail("toy2d", "unknown regime", r.regime);
    ebm::short_run_settings s;
    s.random_seed = ebm::seed{r.seed};
    auto trainer = ebm::make_short_run_trainer(std::move(net), s);
    return detail::train_and_sample(trainer, r, [&](auto& t) {
        ebm::batch init(t.energy().dimension(), r.kde_samples);
        ebm::uniform_noise{-1.0f, 1.0f}.fill(init.view(), evaluation, ebm::purpose::evaluation, 0);
        return init;
    });
}

}  // namespace toy2d

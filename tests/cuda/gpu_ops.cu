// The CUDA side of test_cuda_gpu: runs the library on the device with host data in and out. The algorithms are the
// library's own (ebm::langevin, ebm::mala, ebm::adam, ebm::ml_trainer, the wrappers and recipes): only the energy's
// type says "device". Every entry has finished on the device when it returns.
#include "gpu_ops.hpp"

#include <ebm/backend/cuda/cuda.cuh>
#include <ebm/concepts/hessian_vector_energy.hpp>
#include <ebm/energy/sampling_targets.hpp>
#include <ebm/train/checkpoint.hpp>

#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace cb = ebm::cuda_backend;
using X = ebm::execution<ebm::cuda>;
using idx = ebm::index;

namespace gpu_ops {

int device_count() { return cb::device_count(); }

std::string device_name() {
    cudaDeviceProp p{};
    EBM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    return p.name;
}

std::string name_of(const model& m) {
    switch (m.type) {
        case architecture::mlp: return "mlp";
        case architecture::short_run: return "convnet::short_run(" + std::to_string(m.image_size) + ")";
        case architecture::vanilla: return "convnet::vanilla";
        case architecture::nonlocal: return "nonlocal_net";
        case architecture::composed: return "network";
    }
    return "?";
}

namespace {

std::span<const float> span_of(const std::vector<float>& v) { return {v.data(), v.size()}; }

/// A device batch holding the host states.
ebm::batch_in<ebm::cuda> device_batch(const std::vector<float>& host, idx dimension, idx count) {
    if (static_cast<idx>(host.size()) != dimension * count)
        throw std::invalid_argument("gpu_ops: the host batch has " + std::to_string(host.size()) + " values, not " +
                                    std::to_string(dimension * count));
    ebm::batch_in<ebm::cuda> x(dimension, count);
    ebm::copy_from_host(ebm::const_batch_view(host.data(), dimension, count), x.view());
    return x;
}
void to_host(ebm::const_device_batch_view from, std::vector<float>& host) {
    host.resize(static_cast<std::size_t>(from.size()));
    ebm::copy_to_host(from, ebm::batch_view{host.data(), from.dimension, from.count});
}
std::vector<float> to_host(const cb::device_buffer<float>& from) {
    std::vector<float> host(static_cast<std::size_t>(from.size()));
    from.download(host);
    return host;
}
template <class E>
std::vector<float> download_all(const E& energy) {
    std::vector<float> host(static_cast<std::size_t>(energy.parameter_count()));
    X::wait_all();
    energy.download_parameters(host);
    return host;
}

template <class E>
void upload_checked(E& energy, const model& m) {
    if (static_cast<idx>(m.parameters.size()) != energy.parameter_count())
        throw std::invalid_argument("gpu_ops: " + name_of(m) + " has " + std::to_string(energy.parameter_count()) +
                                    " parameters, the CPU network gave " + std::to_string(m.parameters.size()));
    energy.upload_parameters(span_of(m.parameters));
}

/// f(device energy) for the model's architecture; with `initialise`, the device's own init from `seed` instead of
/// the model's parameters.
template <class F>
auto with_energy(const model& m, F&& f, bool initialise = false, std::uint64_t seed = 0) {
    const ebm::seed s{seed};
    switch (m.type) {
        case architecture::short_run: {
            cb::convnet e = cb::convnet::short_run(m.image_size, m.n_f, 3, m.slope, false, s);
            e.set_compute_options(m.compute);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::vanilla: {
            cb::convnet e = cb::convnet::vanilla(3, m.n_f, m.slope, s);
            e.set_compute_options(m.compute);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::nonlocal: {
            cb::nonlocal_net e(3, m.n_f, m.slope, s);
            e.set_compute_options(m.compute);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::composed: {
            cb::network e(m.spec, s);
            e.set_compute_options(m.compute);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::mlp:
        default: {
            cb::mlp e(m.sizes, m.slope, s);
            e.set_compute_options(m.compute);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
    }
}

cb::mlp device_mlp(const model& m) {
    if (m.type != architecture::mlp) throw std::invalid_argument("gpu_ops: expected an mlp, got " + name_of(m));
    cb::mlp e(m.sizes, m.slope, span_of(m.parameters));
    e.set_compute_options(m.compute);
    return e;
}

/// f(energy): the model's energy, or the wrapper over the device MLP.
template <class F>
auto with_any_energy(const model& m, const wrapper* w, F&& f) {
    if (w == nullptr) return with_energy(m, std::forward<F>(f));
    switch (w->kind) {
        case wrapper_kind::tempered: {
            auto e = ebm::tempered(device_mlp(m), w->value);
            return f(e);
        }
        case wrapper_kind::magnetized: {
            auto e = ebm::magnetized(device_mlp(m), span_of(w->target), w->value);
            return f(e);
        }
        case wrapper_kind::scaled:
        default: {
            auto e = ebm::scaled(device_mlp(m), w->value);
            return f(e);
        }
    }
}

}  // namespace

std::vector<float> noise(std::uint64_t seed, std::uint32_t purpose, std::uint64_t step, idx dimension, idx count,
                         float scale) {
    cb::device_buffer<float> out(dimension * count);
    X::for_each(nullptr, count * ebm::kernels::blocks_per_chain(dimension),
                ebm::kernels::normal_fill{out.data(), dimension, ebm::philox(seed), static_cast<ebm::purpose>(purpose),
                                          0, {nullptr, step}, scale});
    X::wait_all();
    return to_host(out);
}

std::vector<float> initial_parameters(const model& m, std::uint64_t seed) {
    return with_energy(m, [](auto& e) { return download_all(e); }, true, seed);
}

void evaluate(const model& m, const std::vector<float>& x, idx count, const std::vector<float>& weights,
              std::vector<float>& u, std::vector<float>& g, std::vector<float>& grad, std::vector<float>& u_again,
              const wrapper* wrap) {
    with_any_energy(m, wrap, [&](auto& e) {
        auto ws = e.make_workspace(count);
        const auto lane = X::lane_of(ws);
        const idx d = e.dimension();
        auto xd = device_batch(x, d, count);
        ebm::batch_in<ebm::cuda> gd(d, count);
        cb::device_buffer<float> wd(span_of(weights)), ud(count), pd(span_of(grad));
        const ebm::const_device_batch_view xv = std::as_const(xd).view();
        const ebm::device_span<float> us(ud.data(), static_cast<std::size_t>(count));
        e.energy_and_gradient(xv, us, gd.view(), ws);
        X::synchronize(lane);
        u = to_host(ud);
        to_host(std::as_const(gd).view(), g);
        e.accumulate_parameter_gradient(xv, ebm::device_span<const float>(wd.data(), weights.size()),
                                        ebm::device_span<float>(pd.data(), grad.size()), us, ws);
        X::synchronize(lane);
        grad = to_host(pd);
        u_again = to_host(ud);
        return 0;
    });
}

ebm::sampler_stats langevin(const model& m, std::vector<float>& x, idx count, float epsilon, idx steps,
                            std::uint64_t seed, std::uint64_t first_step, bool graph) {
    return with_energy(m, [&](auto& e) {
        const ebm::langevin policy{.epsilon = epsilon, .steps = steps};
        auto st = policy.make_state(e, count);
        st.replay.enabled = graph;
        auto xd = device_batch(x, e.dimension(), count);
        const auto stats = policy.run(st, e, xd.view(), ebm::philox(seed), first_step);
        to_host(std::as_const(xd).view(), x);
        return stats;
    });
}

ebm::sampler_stats langevin_runs(const model& m, std::vector<float>& x, idx count, const ebm::langevin& policy,
                                 int runs, std::uint64_t seed, std::uint64_t first_step, std::vector<float>& u,
                                 std::vector<float>& g, bool* whole_chain, const wrapper* wrap) {
    return with_any_energy(m, wrap, [&](auto& e) {
        auto st = policy.make_state(e, count);
        auto xd = device_batch(x, e.dimension(), count);
        ebm::sampler_stats stats;
        for (int r = 0; r < runs; ++r) {
            st.current_cached = r > 0;
            stats = policy.run(st, e, xd.view(), ebm::philox(seed),
                               first_step + static_cast<std::uint64_t>(r * policy.steps));
        }
        if (whole_chain != nullptr) {
            if constexpr (requires { e.runs_langevin_chain(); })
                *whole_chain = e.runs_langevin_chain();
            else
                *whole_chain = false;
        }
        to_host(std::as_const(xd).view(), x);
        u.resize(static_cast<std::size_t>(count));
        g.resize(static_cast<std::size_t>(count * e.dimension()));
        X::download(st.lane(), u.data(), st.energies.data(), count);
        X::download(st.lane(), g.data(), st.gradient.data(), count * e.dimension());
        return stats;
    });
}

bool mlp_compiled_sizes(const model& m) {
    return with_energy(m, [](auto& e) {
        if constexpr (requires { e.compiled_sizes(); })
            return e.compiled_sizes();
        else
            return false;
    });
}

ebm::sampler_stats mala(const model& m, std::vector<float>& x, idx count, float epsilon, idx steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted) {
    return with_energy(m, [&](auto& e) {
        const ebm::mala policy{.epsilon = epsilon, .steps = steps};
        auto st = policy.make_state(e, count);
        auto xd = device_batch(x, e.dimension(), count);
        const auto stats = policy.run(st, e, xd.view(), ebm::philox(seed), first_step);
        to_host(std::as_const(xd).view(), x);
        accepted.resize(static_cast<std::size_t>(count));
        for (idx i = 0; i < count; ++i) accepted[static_cast<std::size_t>(i)] = st.chain_accepted(i);
        return stats;
    });
}

void target_on_device(const std::string& name, idx dimension, std::vector<float>& x, idx count, std::vector<float>& u,
                      std::vector<float>& g, std::vector<float>& hv, float epsilon, idx steps,
                      std::vector<std::int64_t>& accepted) {
    auto run = [&](const auto& e) {
        auto ws = e.make_workspace(count);
        auto xd = device_batch(x, dimension, count);
        ebm::batch_in<ebm::cuda> gd(dimension, count);
        cb::device_buffer<float> ud(count);
        e.energy_and_gradient(std::as_const(xd).view(), ebm::device_span<float>(ud.data(), static_cast<std::size_t>(count)),
                              gd.view(), ws);
        ebm::execution<ebm::cuda>::wait_all();
        to_host(std::as_const(gd).view(), g);
        u = to_host(ud);
        e.hessian_vector_product(std::as_const(xd).view(), std::as_const(xd).view(), gd.view(), ws);
        ebm::execution<ebm::cuda>::wait_all();
        to_host(std::as_const(gd).view(), hv);
        const ebm::hmc policy{.epsilon = epsilon, .leapfrog = 3, .steps = steps};
        auto st = policy.make_state(e, count);
        policy.run(st, e, xd.view(), ebm::philox(81), 0);
        to_host(std::as_const(xd).view(), x);
        accepted.resize(static_cast<std::size_t>(count));
        for (idx i = 0; i < count; ++i) accepted[static_cast<std::size_t>(i)] = st.chain_accepted(i);
    };
    if (name == "gauss") run(ebm::gaussian_target<ebm::cuda>(dimension, 100.0));
    else if (name == "funnel") run(ebm::funnel<ebm::cuda>(dimension));
    else if (name == "banana") run(ebm::banana<ebm::cuda>());
    else if (name == "gmm") run(ebm::isotropic_mixture<ebm::cuda>::ring(8, 1.0, 0.15));
    else ebm::detail::fail("gpu_ops::target_on_device", "name must be gauss, funnel, banana or gmm", name);
}

std::vector<float> network_hessian_vector(const model& m, const std::vector<float>& x, const std::vector<float>& v,
                                          idx count) {
    return with_energy(m, [&](auto& e) -> std::vector<float> {
        if constexpr (!ebm::hessian_vector_energy<std::remove_cvref_t<decltype(e)>>) {
            throw std::invalid_argument("gpu_ops::network_hessian_vector: " + name_of(m) +
                                        " has no Hessian-vector product on the device");
        } else {
            auto ws = e.make_workspace(count);
            auto xd = device_batch(x, e.dimension(), count);
            auto vd = device_batch(v, e.dimension(), count);
            ebm::batch_in<ebm::cuda> hv(e.dimension(), count);
            e.hessian_vector_product(std::as_const(xd).view(), std::as_const(vd).view(), hv.view(), ws);
            X::wait_all();
            std::vector<float> host;
            to_host(std::as_const(hv).view(), host);
            return host;
        }
    });
}

ebm::sampler_stats hmc(const model& m, std::vector<float>& x, idx count, float epsilon, idx leapfrog, idx steps,
                       std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted) {
    return with_energy(m, [&](auto& e) {
        const ebm::hmc policy{.epsilon = epsilon, .leapfrog = leapfrog, .steps = steps};
        auto st = policy.make_state(e, count);
        auto xd = device_batch(x, e.dimension(), count);
        const auto stats = policy.run(st, e, xd.view(), ebm::philox(seed), first_step);
        to_host(std::as_const(xd).view(), x);
        accepted.resize(static_cast<std::size_t>(count));
        for (idx i = 0; i < count; ++i) accepted[static_cast<std::size_t>(i)] = st.chain_accepted(i);
        return stats;
    });
}

adaptation_result mala_adapt(const model& m, std::vector<float>& x, idx count, float epsilon, idx warmup,
                             std::uint64_t seed, std::uint64_t first_step, bool graph, idx run_steps,
                             const wrapper* wrap) {
    return with_any_energy(m, wrap, [&](auto& e) {
        const ebm::mala policy{.epsilon = epsilon, .steps = run_steps > 0 ? run_steps : 1};
        auto st = policy.make_state(e, count);
        st.replay.enabled = graph;
        auto xd = device_batch(x, e.dimension(), count);
        const ebm::philox rng(seed);
        adaptation_result r;
        r.epsilon = policy.adapt(st, e, xd.view(), rng, first_step, warmup);
        for (const ebm::dual_averaging_record& rec : st.adaptation_records()) {
            r.acceptance.push_back(rec.acceptance);
            r.step.push_back(rec.epsilon);
            r.averaged_step.push_back(rec.epsilon_bar);
        }
        if (run_steps > 0) r.run = policy.run(st, e, xd.view(), rng, first_step + static_cast<std::uint64_t>(warmup));
        to_host(std::as_const(xd).view(), x);
        return r;
    });
}

std::vector<float> adam_steps(std::vector<float> parameters, const std::vector<float>& gradient, float learning_rate,
                              int steps) {
    const ebm::adam policy{.learning_rate = learning_rate};
    const auto n = parameters.size();
    cb::device_buffer<float> p(span_of(parameters)), g(span_of(gradient));
    auto st = policy.make_state(static_cast<idx>(n), ebm::cuda{});
    for (int t = 0; t < steps; ++t)
        policy.step(st, ebm::device_span<float>(p.data(), n), ebm::device_span<const float>(g.data(), n));
    X::wait_all();
    return to_host(p);
}

namespace {

/// Loads, iterates and saves as `run` says; reports the records, the final parameters and negatives and the
/// checkpoint bytes of the state after the load and at the end.
template <class Trainer>
training_result drive(Trainer& trainer, const std::vector<float>& positives, idx count, const training_run& run) {
    training_result r;
    if (!run.load_from.empty()) {
        ebm::load_checkpoint(run.load_from, trainer);
        r.loaded_state = ebm::checkpoint_bytes(trainer);
    }
    const auto maybe_save = [&](int done) {
        if (!run.save_to.empty() && done == run.save_after) ebm::save_checkpoint(run.save_to, trainer);
    };
    const idx d = trainer.energy().dimension();
    if (static_cast<idx>(positives.size()) != d * count)
        throw std::invalid_argument("gpu_ops::train: positives must hold count x dimension values");
    maybe_save(0);
    for (int t = 0; t < run.iterations; ++t) {
        r.records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, count)));
        maybe_save(t + 1);
    }
    r.parameters = download_all(trainer.energy());
    to_host(trainer.negatives(), r.negatives);
    r.final_state = ebm::checkpoint_bytes(trainer);
    return r;
}

}  // namespace

training_result train(const model& m, const std::vector<float>& positives, idx count, const training_setup& setup,
                      const training_run& run) {
    return with_energy(m, [&](auto& e) {
        return with_policies(setup, count, [&](auto sampler, auto initializer, auto optimizer, auto options) {
            ebm::ml_trainer trainer{e, sampler, initializer, optimizer, options};
            // The library's one trainer: on the GPU because the energy's memory is the device's.
            static_assert(std::is_same_v<typename decltype(trainer)::backend, ebm::cuda>);
            return drive(trainer, positives, count, run);
        });
    });
}

std::vector<ebm::iteration_record> run_recipe(const model& m, recipe kind, idx steps, idx batch_size,
                                              const std::vector<float>& positives, int iterations) {
    const auto iterate = [&](auto& trainer) {
        static_assert(std::is_same_v<typename std::remove_cvref_t<decltype(trainer)>::backend, ebm::cuda>);
        const idx d = trainer.energy().dimension();
        const idx n = static_cast<idx>(positives.size()) / d;
        std::vector<ebm::iteration_record> records;
        for (int t = 0; t < iterations; ++t)
            records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, n)));
        return records;
    };
    if (kind == recipe::convergent) {
        auto trainer = ebm::make_convergent_trainer(device_mlp(m), convergent_settings(steps, batch_size));
        return iterate(trainer);
    }
    auto trainer = ebm::make_short_run_trainer(device_mlp(m), short_run_settings(steps, batch_size));
    return iterate(trainer);
}

}  // namespace gpu_ops

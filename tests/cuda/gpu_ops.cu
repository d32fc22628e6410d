// The CUDA side of test_cuda_gpu: runs the backend on host data. Every entry synchronises before returning.
#include "gpu_ops.hpp"

#include <ebm/backend/cuda/cuda.cuh>
#include <ebm/init/noise.hpp>
#include <ebm/init/persistent_bank.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sampler/langevin.hpp>
#include <ebm/sampler/mala.hpp>
#include <ebm/train/ml_trainer.hpp>

#include <stdexcept>
#include <type_traits>
#include <utility>

namespace cb = ebm::cuda_backend;

namespace gpu_ops {

int device_count() { return cb::device_count(); }

std::string device_name() {
    cudaDeviceProp p{};
    EBM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    return p.name;
}

namespace {
cb::mlp device_network(const network& net) { return cb::mlp(net.sizes, net.slope, net.parameters); }
std::span<const float> span_of(const std::vector<float>& v) { return {v.data(), v.size()}; }
}  // namespace

std::vector<float> noise(std::uint64_t seed, std::uint32_t purpose, std::uint64_t step, ebm::index dimension,
                         ebm::index count, float scale) {
    cb::device_buffer<float> out(dimension * count);
    cb::launch_elements(count * cb::blocks_per_chain(dimension),
                        cb::normal_fill{out.data(), dimension, ebm::philox(seed), static_cast<ebm::purpose>(purpose), 0,
                                        {nullptr, step}, scale});
    EBM_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> host(static_cast<std::size_t>(dimension * count));
    out.download(host);
    return host;
}

void energy_and_gradient(const network& net, const std::vector<float>& x, ebm::index count, std::vector<float>& u,
                         std::vector<float>& g) {
    const cb::mlp energy = device_network(net);
    auto ws = energy.make_workspace(count);
    const ebm::index d = energy.dimension();
    cb::device_buffer<float> xd(span_of(x)), ud(count), gd(d * count);
    energy.energy_and_gradient(ebm::const_batch_view(xd.data(), d, count), std::span<float>(ud.data(), count),
                               ebm::batch_view{gd.data(), d, count}, ws);
    ws.work_stream.synchronize();
    u.resize(static_cast<std::size_t>(count));
    g.resize(static_cast<std::size_t>(d * count));
    ud.download(u);
    gd.download(g);
}

void parameter_gradient(const network& net, const std::vector<float>& x, ebm::index count,
                        const std::vector<float>& weights, std::vector<float>& grad, std::vector<float>& u) {
    const cb::mlp energy = device_network(net);
    auto ws = energy.make_workspace(count);
    const ebm::index d = energy.dimension();
    cb::device_buffer<float> xd(span_of(x)), wd(span_of(weights)), ud(count), gd(span_of(grad));
    energy.accumulate_parameter_gradient(ebm::const_batch_view(xd.data(), d, count),
                                         std::span<const float>(wd.data(), count),
                                         std::span<float>(gd.data(), grad.size()), std::span<float>(ud.data(), count), ws);
    ws.work_stream.synchronize();
    u.resize(static_cast<std::size_t>(count));
    ud.download(u);
    gd.download(grad);
}

ebm::sampler_stats langevin(const network& net, std::vector<float>& x, ebm::index count, float epsilon,
                            ebm::index steps, std::uint64_t seed, std::uint64_t first_step, bool graph) {
    const cb::mlp energy = device_network(net);
    auto st = cb::make_langevin_state(energy, count);
    st.use_graph = graph;
    cb::device_buffer<float> xd(span_of(x));
    const ebm::langevin policy{.epsilon = epsilon, .steps = steps};
    const auto stats = cb::run_langevin(policy, st, energy, ebm::batch_view{xd.data(), energy.dimension(), count},
                                        ebm::philox(seed), first_step);
    xd.download(x);
    return stats;
}

ebm::sampler_stats mala(const network& net, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted) {
    const cb::mlp energy = device_network(net);
    auto st = cb::make_mala_state(energy, count, epsilon);
    cb::device_buffer<float> xd(span_of(x));
    const ebm::mala policy{.epsilon = epsilon, .steps = steps};
    const auto stats = cb::run_mala(policy, st, energy, ebm::batch_view{xd.data(), energy.dimension(), count},
                                    ebm::philox(seed), first_step);
    xd.download(x);
    accepted = st.chain_accepted(count);
    return stats;
}

std::vector<float> adam_steps(std::vector<float> parameters, const std::vector<float>& gradient, float learning_rate,
                              int steps) {
    const ebm::adam policy{.learning_rate = learning_rate};
    cb::device_buffer<float> p(span_of(parameters)), g(span_of(gradient));
    auto st = cb::make_optimizer_state(policy, p.size());
    for (int t = 0; t < steps; ++t)
        cb::optimizer_step(policy, st, std::span<float>(p.data(), parameters.size()),
                           std::span<const float>(g.data(), gradient.size()));
    EBM_CUDA_CHECK(cudaDeviceSynchronize());
    p.download(parameters);
    return parameters;
}

std::vector<ebm::iteration_record> train(network& net, const std::vector<float>& positives, ebm::index count,
                                         float epsilon, ebm::index steps, float learning_rate, float data_noise,
                                         std::uint64_t seed, int iterations) {
    // The CPU trainer's type with a device energy: the backend switch is the energy's type alone.
    ebm::ml_trainer trainer{device_network(net), ebm::langevin{.epsilon = epsilon, .steps = steps},
                               ebm::uniform_noise{-1.0f, 1.0f}, ebm::sgd{.learning_rate = learning_rate},
                               ebm::trainer_options{.batch_size = count, .data_noise = data_noise,
                                                    .random_seed = ebm::seed{seed}}};
    static_assert(std::is_base_of_v<cb::device_trainer<std::remove_cvref_t<decltype(trainer.energy())>, ebm::langevin,
                                                       ebm::uniform_noise, ebm::sgd>,
                                    decltype(trainer)>);
    std::vector<ebm::iteration_record> records;
    const ebm::index d = net.sizes.front();
    for (int t = 0; t < iterations; ++t) records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, count)));
    trainer.energy().download_parameters(net.parameters);
    return records;
}


// ---- any architecture -------------------------------------------------------------------------------------------

std::string name_of(const model& m) {
    switch (m.type) {
        case architecture::mlp: return "mlp";
        case architecture::short_run: return "convnet::short_run(" + std::to_string(m.image_size) + ")";
        case architecture::vanilla: return "convnet::vanilla";
        case architecture::nonlocal: return "nonlocal_net";
    }
    return "?";
}

namespace {

template <class E>
void upload_checked(E& energy, const model& m) {
    if (static_cast<ebm::index>(m.parameters.size()) != energy.parameter_count())
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
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::vanilla: {
            cb::convnet e = cb::convnet::vanilla(3, m.n_f, m.slope, s);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::nonlocal: {
            cb::nonlocal_net e(3, m.n_f, m.slope, s);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
        case architecture::mlp:
        default: {
            cb::mlp e(m.sizes, m.slope, s);
            if (!initialise) upload_checked(e, m);
            return f(e);
        }
    }
}

template <class E>
std::vector<float> download_all(const E& energy) {
    std::vector<float> host(static_cast<std::size_t>(energy.parameter_count()));
    energy.download_parameters(host);
    return host;
}

}  // namespace

std::vector<float> initial_parameters(const model& m, std::uint64_t seed) {
    return with_energy(m, [](auto& e) { return download_all(e); }, true, seed);
}

void evaluate(const model& m, const std::vector<float>& x, ebm::index count, const std::vector<float>& weights,
              std::vector<float>& u, std::vector<float>& g, std::vector<float>& grad, std::vector<float>& u_again) {
    with_energy(m, [&](auto& e) {
        auto ws = e.make_workspace(count);
        const ebm::index d = e.dimension();
        cb::device_buffer<float> xd(span_of(x)), wd(span_of(weights)), ud(count), gd(d * count), pd(span_of(grad));
        const ebm::const_batch_view xv(xd.data(), d, count);
        e.energy_and_gradient(xv, std::span<float>(ud.data(), count), ebm::batch_view{gd.data(), d, count}, ws);
        EBM_CUDA_CHECK(cudaStreamSynchronize(ws.get_stream()));
        u.resize(static_cast<std::size_t>(count));
        g.resize(static_cast<std::size_t>(d * count));
        ud.download(u);
        gd.download(g);
        e.accumulate_parameter_gradient(xv, std::span<const float>(wd.data(), count),
                                        std::span<float>(pd.data(), grad.size()), std::span<float>(ud.data(), count), ws);
        EBM_CUDA_CHECK(cudaStreamSynchronize(ws.get_stream()));
        pd.download(grad);
        u_again.resize(static_cast<std::size_t>(count));
        ud.download(u_again);
        return 0;
    });
}

ebm::sampler_stats langevin(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                            std::uint64_t seed, std::uint64_t first_step, bool graph) {
    return with_energy(m, [&](auto& e) {
        auto st = cb::make_langevin_state(e, count);
        st.use_graph = graph;
        cb::device_buffer<float> xd(span_of(x));
        const ebm::langevin policy{.epsilon = epsilon, .steps = steps};
        const auto stats = cb::run_langevin(policy, st, e, ebm::batch_view{xd.data(), e.dimension(), count},
                                            ebm::philox(seed), first_step);
        xd.download(x);
        return stats;
    });
}

ebm::sampler_stats mala(const model& m, std::vector<float>& x, ebm::index count, float epsilon, ebm::index steps,
                        std::uint64_t seed, std::uint64_t first_step, std::vector<std::int64_t>& accepted) {
    return with_energy(m, [&](auto& e) {
        auto st = cb::make_mala_state(e, count, epsilon);
        cb::device_buffer<float> xd(span_of(x));
        const ebm::mala policy{.epsilon = epsilon, .steps = steps};
        const auto stats = cb::run_mala(policy, st, e, ebm::batch_view{xd.data(), e.dimension(), count},
                                        ebm::philox(seed), first_step);
        xd.download(x);
        accepted = st.chain_accepted(count);
        return stats;
    });
}

adaptation_result mala_adapt(const model& m, std::vector<float>& x, ebm::index count, float epsilon,
                             ebm::index warmup_steps, ebm::index chains_per_task, std::uint64_t seed,
                             std::uint64_t first_step, bool graph) {
    return with_energy(m, [&](auto& e) {
        auto st = cb::make_mala_state(e, count, epsilon);
        st.use_graph = graph;
        cb::device_buffer<float> xd(span_of(x));
        const ebm::mala policy{.epsilon = epsilon, .steps = 1, .chains_per_task = chains_per_task};
        adaptation_result r;
        r.epsilon = cb::adapt_mala(policy, st, e, ebm::batch_view{xd.data(), e.dimension(), count}, ebm::philox(seed),
                                   first_step, warmup_steps);
        xd.download(x);
        for (const cb::dual_averaging_record& rec : st.adaptation_records()) {
            r.acceptance.push_back(rec.acceptance);
            r.step.push_back(rec.epsilon);
            r.averaged_step.push_back(rec.epsilon_bar);
        }
        return r;
    });
}

namespace {

template <class Trainer>
std::vector<ebm::iteration_record> iterate(Trainer& trainer, const std::vector<float>& positives, ebm::index count,
                                           int iterations, std::vector<float>& parameters, std::vector<float>& negatives) {
    std::vector<ebm::iteration_record> records;
    const ebm::index d = trainer.energy().dimension();
    for (int t = 0; t < iterations; ++t)
        records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, count)));
    parameters = download_all(trainer.energy());
    const ebm::const_batch_view neg = trainer.negatives();
    negatives.resize(static_cast<std::size_t>(neg.size()));
    EBM_CUDA_CHECK(cudaMemcpy(negatives.data(), neg.data, negatives.size() * sizeof(float), cudaMemcpyDeviceToHost));
    return records;
}

}  // namespace

std::vector<ebm::iteration_record> train(model& m, const std::vector<float>& positives, ebm::index count,
                                         const training_setup& setup, std::vector<float>& negatives) {
    const ebm::trainer_options options{.batch_size = count, .data_noise = setup.data_noise,
                                       .random_seed = ebm::seed{setup.seed}};
    const ebm::langevin sampler{.epsilon = setup.epsilon, .steps = setup.steps};
    return with_energy(m, [&](auto& e) {
        if (setup.bank_and_adam) {
            ebm::ml_trainer trainer{e, sampler, ebm::persistent_bank<>{.size = count},
                                    ebm::adam{.learning_rate = setup.learning_rate, .epsilon = setup.adam_epsilon},
                                    options};
            return iterate(trainer, positives, count, setup.iterations, m.parameters, negatives);
        }
        ebm::ml_trainer trainer{e, sampler, ebm::uniform_noise{-1.0f, 1.0f},
                                ebm::sgd{.learning_rate = setup.learning_rate}, options};
        return iterate(trainer, positives, count, setup.iterations, m.parameters, negatives);
    });
}

}  // namespace gpu_ops

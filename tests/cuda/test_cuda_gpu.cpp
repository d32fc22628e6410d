// The CUDA backend against the CPU backend on the same weights, inputs and seeds. Needs a GPU: without one it prints
// why and exits with 77, which ctest (SKIP_RETURN_CODE 77) reports as "Skipped" -- never as passed.
//
// What is compared (tolerances: float cuBLAS/cuDNN vs Eigen/oneDNN 1e-4 relative to the largest reference value;
// the noise is bit-identical by design; decisions (MALA accept) must be equal):
//   noise            device kernel vs the same functor on the host: bit for bit; vs ebm::fill_normal: bit for bit
//                    once random/distributions.hpp uses kernels/portable_math.hpp (otherwise to 1e-5)
//   architectures    energies, dU/dx and the weighted parameter gradient (accumulated onto a non-zero gradient) of
//                    EVERY architecture vs its CPU class: MLP (cuBLAS vs Eigen), convnet::short_run at 32, 64 and
//                    128 px and convnet::vanilla (cuDNN vs oneDNN, when the build has oneDNN), nonlocal_net (cuDNN +
//                    cuBLAS vs Eigen; with non-zero output projections so that the attention path counts); the
//                    device's own initialisation vs the CPU's (same layout, streams and zeroed projections, 1e-6)
//   Langevin         one and ten steps (MLP), one step (short-run ConvNet, non-local net) from the same states and
//                    seed: states 1e-5 (1 step) / 1e-4 (10 steps) absolute, v_t and mean energy 1e-4; graph and
//                    no-graph runs bit-identical
//   MALA             one step (MLP, short-run ConvNet, non-local net): the same accept decision per chain, states 1e-5
//   adaptation       MALA warm-up with dual averaging on the device: the device's step sequence equals
//                    ebm::dual_averaging_state fed with the device's acceptances (1e-12 relative: exp/pow ulps); the
//                    averaged step after k = 1, 2, 5 and K steps vs ebm::mala::adapt on the CPU (1e-4 relative); graph
//                    and no-graph bit-identical; states after warm-up 1e-4
//   Adam             three device steps vs ebm::adam (the shared adam_update functor)
//   training         device trainer vs ebm::ml_trainer: (Langevin, uniform init, SGD) one iteration on the MLP;
//                    (Langevin, persistent bank of batch size, Adam) two iterations on the MLP, the short-run
//                    ConvNet and the non-local net (the second iteration starts from the bank the first wrote
//                    back): d_t, r_t 1e-4, negatives 1e-4, parameters 1e-5 (Adam with epsilon 1, whose first steps
//                    are smooth in the gradient, so that float differences stay float-sized)
#include <ebm/backend/cuda/functors.cuh>
#include <ebm/ebm.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <tuple>
#include <vector>

#include "gpu_ops.hpp"

namespace cb = ebm::cuda_backend;
using idx = ebm::index;

namespace {

int failures = 0;

void check(bool ok, const char* what, double value = 0) {
    std::printf("  [%s] %s (%g)\n", ok ? "ok" : "FAILED", what, value);
    if (!ok) ++failures;
}

double max_abs_difference(const std::vector<float>& a, const float* b) {
    double m = 0;
    for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, static_cast<double>(std::fabs(a[k] - b[k])));
    return m;
}
double max_relative_difference(const std::vector<float>& a, const float* b) {
    double scale = 1e-3;
    for (std::size_t k = 0; k < a.size(); ++k) scale = std::max(scale, static_cast<double>(std::fabs(b[k])));
    return max_abs_difference(a, b) / scale;
}

std::vector<float> states(idx dimension, idx count, std::uint64_t seed) {
    ebm::batch x(dimension, count);
    ebm::uniform_noise{-1.5f, 1.5f}.fill(x.view(), ebm::philox(seed), ebm::purpose::user, 0);
    return {x.data(), x.data() + x.view().size()};
}

/// Non-zero output projections (".W." tensors, zero at initialisation) so that the attention path of the
/// non-local blocks contributes to the energy and its gradients.
void perturb_projections(ebm::nonlocal_net& net) {
    const ebm::philox rng(ebm::seed{99});
    for (std::size_t t = 0; t < net.parameter_tensors().size(); ++t) {
        const ebm::parameter_tensor& tensor = net.parameter_tensors()[t];
        if (tensor.name.find(".W.") == std::string::npos) continue;
        ebm::fill_uniform(rng, ebm::purpose::user, static_cast<std::uint32_t>(t), 0,
                          net.parameters().data() + tensor.offset, tensor.count(), -0.3f, 0.3f);
    }
}

void compare_noise() {
    std::printf("noise\n");
    const idx d = 3072, n = 8;
    const auto gpu = gpu_ops::noise(7, static_cast<std::uint32_t>(ebm::purpose::langevin_noise), 5, d, n, 1.0f);
    std::vector<float> host(gpu.size()), cpu(gpu.size());
    cb::host_launch_elements(n * cb::blocks_per_chain(d), cb::normal_fill{host.data(), d, ebm::philox(7),
                                                                        ebm::purpose::langevin_noise, 0, {nullptr, 5}, 1.0f});
    for (idx i = 0; i < n; ++i)
        ebm::fill_normal(ebm::philox(7), ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 5,
                         cpu.data() + i * d, d);
    check(std::memcmp(gpu.data(), host.data(), gpu.size() * sizeof(float)) == 0,
          "GPU noise == the same functor on the host, bit for bit", 0);
    const bool bitwise = std::memcmp(gpu.data(), cpu.data(), gpu.size() * sizeof(float)) == 0;
    const double diff = max_abs_difference(gpu, cpu.data());
    std::printf("  GPU noise vs ebm::fill_normal: %s, max difference %g\n", bitwise ? "bit-identical" : "NOT bit-identical",
                diff);
    check(diff < 1e-5, "GPU noise vs ebm::fill_normal within 1e-5", diff);
}

void compare_mlp(const ebm::mlp& cpu_net, const gpu_ops::network& net) {
    std::printf("mlp energy, dU/dx, parameter gradient\n");
    const idx d = cpu_net.dimension(), n = 100;
    const auto x = states(d, n, 1);
    std::vector<float> u, g;
    gpu_ops::energy_and_gradient(net, x, n, u, g);
    auto ws = cpu_net.make_workspace(n);
    std::vector<float> cu(static_cast<std::size_t>(n)), cg(static_cast<std::size_t>(d * n));
    cpu_net.energy_and_gradient(ebm::const_batch_view(x.data(), d, n), cu, ebm::batch_view{cg.data(), d, n}, ws);
    check(max_relative_difference(u, cu.data()) < 1e-4, "energies", max_relative_difference(u, cu.data()));
    check(max_relative_difference(g, cg.data()) < 1e-4, "dU/dx", max_relative_difference(g, cg.data()));

    std::vector<float> weights(static_cast<std::size_t>(n));
    for (idx i = 0; i < n; ++i) weights[static_cast<std::size_t>(i)] = (i % 2 == 0 ? 1.0f : -0.5f) / static_cast<float>(n);
    std::vector<float> grad(static_cast<std::size_t>(cpu_net.parameter_count()), 0.25f), cgrad = grad, pu;
    gpu_ops::parameter_gradient(net, x, n, weights, grad, pu);
    cpu_net.accumulate_parameter_gradient(ebm::const_batch_view(x.data(), d, n), weights, cgrad, cu, ws);
    check(max_relative_difference(grad, cgrad.data()) < 1e-4, "weighted parameter gradient (accumulated onto 0.25)",
          max_relative_difference(grad, cgrad.data()));
}

template <class CpuEnergy>
gpu_ops::model model_of(const CpuEnergy& cpu, gpu_ops::architecture type, idx image_size, idx n_f, float slope) {
    gpu_ops::model m;
    m.type = type;
    m.image_size = image_size;
    m.n_f = n_f;
    m.slope = slope;
    m.parameters.assign(cpu.parameters().begin(), cpu.parameters().end());
    return m;
}

gpu_ops::model model_of(const ebm::mlp& cpu) {
    gpu_ops::model m;
    m.sizes = cpu.layer_sizes();
    m.slope = cpu.negative_slope();
    m.parameters.assign(cpu.parameters().begin(), cpu.parameters().end());
    return m;
}

/// Energies, dU/dx and the weighted parameter gradient of one architecture on the GPU vs its CPU class.
template <class CpuEnergy>
void compare_energy(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, std::uint64_t seed) {
    std::printf("%s: energy, dU/dx, weighted parameter gradient (%lld chains)\n", gpu_ops::name_of(m).c_str(),
                static_cast<long long>(n));
    const idx d = cpu.dimension();
    const auto x = states(d, n, seed);
    std::vector<float> weights(static_cast<std::size_t>(n));
    for (idx i = 0; i < n; ++i) weights[static_cast<std::size_t>(i)] = (i % 2 == 0 ? 1.0f : -0.5f) / static_cast<float>(n);
    const std::vector<float> start(static_cast<std::size_t>(cpu.parameter_count()), 0.25f);
    std::vector<float> u, g, grad = start, u_again;
    gpu_ops::evaluate(m, x, n, weights, u, g, grad, u_again);
    auto ws = cpu.make_workspace(n);
    std::vector<float> cu(static_cast<std::size_t>(n)), cg(static_cast<std::size_t>(d * n)), cgrad = start;
    cpu.energy_and_gradient(ebm::const_batch_view(x.data(), d, n), cu, ebm::batch_view{cg.data(), d, n}, ws);
    check(max_relative_difference(u, cu.data()) < 1e-4, "energies", max_relative_difference(u, cu.data()));
    check(max_relative_difference(g, cg.data()) < 1e-4, "dU/dx", max_relative_difference(g, cg.data()));
    cpu.accumulate_parameter_gradient(ebm::const_batch_view(x.data(), d, n), weights, cgrad, cu, ws);
    // Relative to the gradient itself, not to the 0.25 it was accumulated onto.
    for (std::size_t k = 0; k < grad.size(); ++k) {
        grad[k] -= 0.25f;
        cgrad[k] -= 0.25f;
    }
    check(max_relative_difference(grad, cgrad.data()) < 1e-4, "weighted parameter gradient (accumulated onto 0.25)",
          max_relative_difference(grad, cgrad.data()));
    check(max_relative_difference(u_again, cu.data()) < 1e-4, "energies of the parameter-gradient call",
          max_relative_difference(u_again, cu.data()));
}

/// The device network's own initialisation vs the CPU class's (layout, Philox streams, zeroed projections).
void compare_initialisation(const gpu_ops::model& m, const std::vector<float>& cpu_initial, std::uint64_t seed) {
    const auto gpu = gpu_ops::initial_parameters(m, seed);
    const bool same_size = gpu.size() == cpu_initial.size();
    check(same_size, "device init: same parameter count as the CPU class", static_cast<double>(gpu.size()));
    if (same_size)
        check(max_abs_difference(gpu, cpu_initial.data()) < 1e-6, "device init vs CPU init (same streams and layout)",
              max_abs_difference(gpu, cpu_initial.data()));
}

void compare_architectures(const ebm::mlp& cpu_mlp) {
    compare_energy(cpu_mlp, model_of(cpu_mlp), 100, 1);
#if EBM_HAVE_ONEDNN
    for (const auto& [size, n_f, n] : {std::tuple<idx, idx, idx>{32, 8, 6}, {64, 4, 4}, {128, 4, 2}}) {
        const ebm::convnet cpu = ebm::convnet::short_run(size, n_f, 3, 0.2f, {}, ebm::seed{5});
        const auto m = model_of(cpu, gpu_ops::architecture::short_run, size, n_f, 0.2f);
        compare_initialisation(m, m.parameters, 5);
        compare_energy(cpu, m, n, 6);
    }
    {
        const ebm::convnet cpu = ebm::convnet::vanilla(3, 8, 0.05f, {}, ebm::seed{7});
        const auto m = model_of(cpu, gpu_ops::architecture::vanilla, 32, 8, 0.05f);
        compare_initialisation(m, m.parameters, 7);
        compare_energy(cpu, m, 4, 8);
    }
#else
    std::printf("convnet::short_run / vanilla: skipped (this build has no oneDNN for the CPU reference)\n");
#endif
    ebm::nonlocal_net cpu(3, 8, 0.05f, ebm::seed{9});
    const auto m0 = model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f);
    compare_initialisation(m0, m0.parameters, 9);
    compare_energy(cpu, m0, 6, 10);  // identity blocks (zero output projections), as initialised
    perturb_projections(cpu);
    compare_energy(cpu, model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f), 6, 11);
}

/// One Langevin step (graph and no graph) and one MALA step of a ConvNet-type energy vs the CPU.
template <class CpuEnergy>
void compare_steps(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, float epsilon) {
    std::printf("%s: one Langevin step, one MALA step\n", gpu_ops::name_of(m).c_str());
    const idx d = cpu.dimension();
    const auto x0 = states(d, n, 12);
    auto gpu_graph = x0, gpu_plain = x0;
    const auto s_gpu = gpu_ops::langevin(m, gpu_graph, n, epsilon, 1, 77, 3, true);
    gpu_ops::langevin(m, gpu_plain, n, epsilon, 1, 77, 3, false);
    ebm::batch x(d, n);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::langevin policy{.epsilon = epsilon, .steps = 1};
    auto st = policy.make_state(cpu, n);
    const auto s_cpu = policy.run(st, cpu, x.view(), ebm::philox(77), 3);
    check(std::memcmp(gpu_graph.data(), gpu_plain.data(), x0.size() * sizeof(float)) == 0,
          "Langevin: CUDA graph run == direct run, bit for bit", 0);
    check(max_abs_difference(gpu_graph, x.data()) < 1e-5, "Langevin: states after 1 step vs CPU",
          max_abs_difference(gpu_graph, x.data()));
    check(std::fabs(s_gpu.mean_gradient_norm - s_cpu.mean_gradient_norm) < 1e-4 * (1 + s_cpu.mean_gradient_norm),
          "Langevin: mean gradient norm vs CPU", s_gpu.mean_gradient_norm - s_cpu.mean_gradient_norm);

    auto gpu_mala = x0;
    std::vector<std::int64_t> accepted;
    const auto sm_gpu = gpu_ops::mala(m, gpu_mala, n, epsilon, 1, 78, 4, accepted);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::mala mala_policy{.epsilon = epsilon, .steps = 1};
    auto mst = mala_policy.make_state(cpu, n);
    const auto sm_cpu = mala_policy.run(mst, cpu, x.view(), ebm::philox(78), 4);
    int same = 0;
    for (idx i = 0; i < n; ++i)
        same += accepted[static_cast<std::size_t>(i)] == mst.accepted[static_cast<std::size_t>(i)] ? 1 : 0;
    check(same == n, "MALA: per-chain accept decisions equal the CPU's", same);
    check(max_abs_difference(gpu_mala, x.data()) < 1e-5, "MALA: states after one step vs CPU",
          max_abs_difference(gpu_mala, x.data()));
    check(std::fabs(sm_gpu.acceptance - sm_cpu.acceptance) < 1e-12, "MALA: acceptance vs CPU",
          sm_gpu.acceptance - sm_cpu.acceptance);
}

void compare_convnet_steps() {
#if EBM_HAVE_ONEDNN
    const ebm::convnet cpu = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{13});
    compare_steps(cpu, model_of(cpu, gpu_ops::architecture::short_run, 32, 8, 0.2f), 4, 0.05f);
#endif
    ebm::nonlocal_net nonlocal(3, 8, 0.05f, ebm::seed{14});
    perturb_projections(nonlocal);
    compare_steps(nonlocal, model_of(nonlocal, gpu_ops::architecture::nonlocal, 32, 8, 0.05f), 4, 0.05f);
}

/// MALA step-size adaptation (dual averaging) on the device vs the CPU's.
template <class CpuEnergy>
void compare_adaptation(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, float epsilon, idx warmup,
                        idx chains_per_task) {
    std::printf("%s: MALA warm-up with step-size adaptation (%lld steps, %lld chains)\n", gpu_ops::name_of(m).c_str(),
                static_cast<long long>(warmup), static_cast<long long>(n));
    const idx d = cpu.dimension();
    const auto x0 = states(d, n, 15);
    auto gpu = x0, gpu_plain = x0;
    const auto r = gpu_ops::mala_adapt(m, gpu, n, epsilon, warmup, chains_per_task, 91, 0, true);
    const auto r_plain = gpu_ops::mala_adapt(m, gpu_plain, n, epsilon, warmup, chains_per_task, 91, 0, false);
    check(r.step.size() == static_cast<std::size_t>(warmup), "one device record per warm-up step",
          static_cast<double>(r.step.size()));
    check(std::memcmp(gpu.data(), gpu_plain.data(), gpu.size() * sizeof(float)) == 0 && r.epsilon == r_plain.epsilon,
          "adaptation: CUDA graph run == direct run, bit for bit", 0);
    // The device arithmetic: replay the device's acceptances through the CPU class.
    ebm::dual_averaging_state host({}, static_cast<double>(epsilon));
    double worst = 0;
    for (std::size_t l = 0; l < r.step.size(); ++l) {
        const double step = host.update(r.acceptance[l]);
        worst = std::max(worst, std::fabs(step - r.step[l]) / step);
        worst = std::max(worst, std::fabs(host.final_epsilon() - r.averaged_step[l]) / host.final_epsilon());
    }
    check(worst < 1e-12, "device dual averaging == ebm::dual_averaging_state on the device's acceptances", worst);
    // End to end: the averaged step after k steps vs ebm::mala::adapt with k warm-up steps on the CPU.
    const ebm::mala policy{.epsilon = epsilon, .steps = 1, .chains_per_task = chains_per_task};
    for (idx k : {idx{1}, idx{2}, idx{5}, warmup}) {
        if (k > warmup) continue;
        ebm::batch x(d, n);
        std::copy(x0.begin(), x0.end(), x.data());
        auto st = policy.make_state(cpu, n);
        const float cpu_eps = policy.adapt(st, cpu, x.view(), ebm::philox(91), 0, k);
        const double gpu_eps = static_cast<float>(r.averaged_step[static_cast<std::size_t>(k - 1)]);
        const std::string what = "averaged step after " + std::to_string(k) + " steps vs ebm::mala::adapt";
        check(std::fabs(gpu_eps - cpu_eps) < 1e-4 * cpu_eps, what.c_str(), gpu_eps - cpu_eps);
        if (k == warmup) {
            check(std::fabs(r.epsilon - cpu_eps) < 1e-4 * cpu_eps, "final step of the state vs the CPU's",
                  r.epsilon - cpu_eps);
            check(max_abs_difference(gpu, x.data()) < 1e-4, "states after the warm-up vs CPU",
                  max_abs_difference(gpu, x.data()));
        }
    }
}

/// Iterations of the device trainer vs ebm::ml_trainer with the same policies.
template <class CpuEnergy>
void compare_training_setup(const CpuEnergy& cpu, gpu_ops::model m, idx n, const gpu_ops::training_setup& setup) {
    std::printf("%s: %d training iteration(s), Langevin + %s\n", gpu_ops::name_of(m).c_str(), setup.iterations,
                setup.bank_and_adam ? "persistent bank + Adam" : "uniform init + SGD");
    const idx d = cpu.dimension();
    const auto positives = states(d, n, 16);
    std::vector<float> negatives;
    const auto records = gpu_ops::train(m, positives, n, setup, negatives);
    const ebm::trainer_options options{.batch_size = n, .data_noise = setup.data_noise,
                                       .random_seed = ebm::seed{setup.seed}};
    const ebm::langevin sampler{.epsilon = setup.epsilon, .steps = setup.steps};
    std::vector<ebm::iteration_record> cpu_records;
    std::vector<float> cpu_parameters, cpu_negatives;
    const auto run = [&](auto& trainer) {
        for (int t = 0; t < setup.iterations; ++t)
            cpu_records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, n)));
        cpu_parameters.assign(trainer.energy().parameters().begin(), trainer.energy().parameters().end());
        const auto neg = trainer.negatives();
        cpu_negatives.assign(neg.data, neg.data + neg.size());
    };
    if (setup.bank_and_adam) {
        ebm::ml_trainer trainer{cpu, sampler, ebm::persistent_bank<>{.size = n},
                                ebm::adam{.learning_rate = setup.learning_rate, .epsilon = setup.adam_epsilon}, options};
        run(trainer);
    } else {
        ebm::ml_trainer trainer{cpu, sampler, ebm::uniform_noise{-1.0f, 1.0f}, ebm::sgd{.learning_rate = setup.learning_rate},
                                options};
        run(trainer);
    }
    for (int t = 0; t < setup.iterations; ++t) {
        const auto& g = records[static_cast<std::size_t>(t)];
        const auto& c = cpu_records[static_cast<std::size_t>(t)];
        const std::string it = " (iteration " + std::to_string(t) + ")";
        check(std::fabs(g.d - c.d) < 1e-4 * (1 + std::fabs(c.d)), ("d_t vs CPU" + it).c_str(), g.d - c.d);
        check(std::fabs(g.r - c.r) < 1e-4 * (1 + c.r), ("r_t vs CPU" + it).c_str(), g.r - c.r);
        check(g.diverged == c.diverged, ("divergence flag vs CPU" + it).c_str(), g.diverged ? 1 : 0);
    }
    check(max_abs_difference(negatives, cpu_negatives.data()) < 1e-4, "negatives of the last iteration vs CPU",
          max_abs_difference(negatives, cpu_negatives.data()));
    check(max_abs_difference(m.parameters, cpu_parameters.data()) < 1e-5, "parameters after the updates vs CPU",
          max_abs_difference(m.parameters, cpu_parameters.data()));
}

void compare_langevin(const ebm::mlp& cpu_net, const gpu_ops::network& net) {
    std::printf("langevin\n");
    const idx d = cpu_net.dimension(), n = 100;
    for (idx steps : {1, 10}) {
        const auto x0 = states(d, n, 2);
        auto gpu_graph = x0, gpu_plain = x0;
        const auto s_graph = gpu_ops::langevin(net, gpu_graph, n, 0.125f, steps, 123, 40, true);
        const auto s_plain = gpu_ops::langevin(net, gpu_plain, n, 0.125f, steps, 123, 40, false);
        ebm::batch x(d, n);
        std::copy(x0.begin(), x0.end(), x.data());
        const ebm::langevin policy{.epsilon = 0.125f, .steps = steps};
        auto st = policy.make_state(cpu_net, n);
        const auto s_cpu = policy.run(st, cpu_net, x.view(), ebm::philox(123), 40);
        check(std::memcmp(gpu_graph.data(), gpu_plain.data(), x0.size() * sizeof(float)) == 0,
              "CUDA graph run == direct run, bit for bit", 0);
        const double diff = max_abs_difference(gpu_graph, x.data());
        check(diff < (steps == 1 ? 1e-5 : 1e-4), steps == 1 ? "states after 1 step vs CPU" : "states after 10 steps vs CPU",
              diff);
        check(std::fabs(s_graph.mean_gradient_norm - s_cpu.mean_gradient_norm) < 1e-4 * (1 + s_cpu.mean_gradient_norm),
              "mean gradient norm (v_t) vs CPU", s_graph.mean_gradient_norm - s_cpu.mean_gradient_norm);
        check(std::fabs(s_graph.mean_energy - s_cpu.mean_energy) < 1e-4 * (1 + std::fabs(s_cpu.mean_energy)),
              "mean energy vs CPU", s_graph.mean_energy - s_cpu.mean_energy);
        (void)s_plain;
    }
}

void compare_mala(const ebm::mlp& cpu_net, const gpu_ops::network& net) {
    std::printf("mala\n");
    const idx d = cpu_net.dimension(), n = 100;
    const auto x0 = states(d, n, 3);
    auto gpu = x0;
    std::vector<std::int64_t> accepted;
    const auto s_gpu = gpu_ops::mala(net, gpu, n, 0.3f, 1, 321, 7, accepted);
    ebm::batch x(d, n);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::mala policy{.epsilon = 0.3f, .steps = 1};
    auto st = policy.make_state(cpu_net, n);
    const auto s_cpu = policy.run(st, cpu_net, x.view(), ebm::philox(321), 7);
    int same = 0;
    for (idx i = 0; i < n; ++i)
        same += accepted[static_cast<std::size_t>(i)] == st.accepted[static_cast<std::size_t>(i)] ? 1 : 0;
    check(same == n, "per-chain accept decisions equal the CPU's", same);
    check(max_abs_difference(gpu, x.data()) < 1e-5, "states after one MALA step vs CPU", max_abs_difference(gpu, x.data()));
    check(std::fabs(s_gpu.acceptance - s_cpu.acceptance) < 1e-12, "acceptance vs CPU", s_gpu.acceptance - s_cpu.acceptance);
}

void compare_adam() {
    std::printf("adam\n");
    std::vector<float> p(1000), g(1000);
    for (std::size_t k = 0; k < p.size(); ++k) {
        p[k] = std::sin(0.1f * static_cast<float>(k));
        g[k] = std::cos(0.37f * static_cast<float>(k));
    }
    const auto gpu = gpu_ops::adam_steps(p, g, 1e-3f, 3);
    const ebm::adam policy{.learning_rate = 1e-3f};
    auto st = policy.make_state(static_cast<idx>(p.size()));
    for (int t = 0; t < 3; ++t) policy.step(st, p, g);
    check(max_abs_difference(gpu, p.data()) < 1e-6, "parameters after 3 Adam steps vs ebm::adam (same functor)",
          max_abs_difference(gpu, p.data()));
}

void compare_training(const ebm::mlp& cpu_net, gpu_ops::network net) {
    std::printf("training iteration\n");
    const idx d = cpu_net.dimension(), n = 100;
    const auto positives = states(d, n, 4);
    const auto records = gpu_ops::train(net, positives, n, 0.125f, 20, 1e-2f, 0.03f, 123, 1);
    ebm::ml_trainer trainer{cpu_net, ebm::langevin{.epsilon = 0.125f, .steps = 20}, ebm::uniform_noise{-1.0f, 1.0f},
                            ebm::sgd{.learning_rate = 1e-2f},
                            ebm::trainer_options{.batch_size = n, .data_noise = 0.03f, .random_seed = ebm::seed{123}}};
    const auto rec = trainer.step(ebm::const_batch_view(positives.data(), d, n));
    check(std::fabs(records[0].d - rec.d) < 1e-4 * (1 + std::fabs(rec.d)), "d_t vs CPU", records[0].d - rec.d);
    check(std::fabs(records[0].r - rec.r) < 1e-4 * (1 + rec.r), "r_t vs CPU", records[0].r - rec.r);
    const auto p = trainer.energy().parameters();
    // SGD (lr 0.01): the parameters differ by lr times the difference of the gradients.
    check(max_abs_difference(net.parameters, p.data()) < 1e-5, "parameters after one SGD step vs CPU",
          max_abs_difference(net.parameters, p.data()));

    // Persistent bank (of batch size: the second iteration draws what the first wrote back) + Adam.
    gpu_ops::training_setup setup;
    setup.bank_and_adam = true;
    setup.steps = 10;
    setup.learning_rate = 1e-3f;
    setup.adam_epsilon = 1.0f;
    setup.iterations = 2;
    compare_training_setup(cpu_net, model_of(cpu_net), n, setup);
}

void compare_image_training() {
    gpu_ops::training_setup setup;
    setup.bank_and_adam = true;
    setup.epsilon = 0.05f;
    setup.steps = 5;
    setup.learning_rate = 1e-3f;
    setup.adam_epsilon = 1.0f;
    setup.iterations = 2;
#if EBM_HAVE_ONEDNN
    const ebm::convnet cpu = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{17});
    compare_training_setup(cpu, model_of(cpu, gpu_ops::architecture::short_run, 32, 4, 0.2f), 4, setup);
#endif
    ebm::nonlocal_net nonlocal(3, 4, 0.05f, ebm::seed{18});
    perturb_projections(nonlocal);
    compare_training_setup(nonlocal, model_of(nonlocal, gpu_ops::architecture::nonlocal, 32, 4, 0.05f), 4, setup);
}

void compare_adaptations(const ebm::mlp& cpu_mlp) {
    compare_adaptation(cpu_mlp, model_of(cpu_mlp), 100, 0.3f, 20, 50);  // two CPU tasks: the summation groups
#if EBM_HAVE_ONEDNN
    const ebm::convnet cpu = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{19});
    compare_adaptation(cpu, model_of(cpu, gpu_ops::architecture::short_run, 32, 4, 0.2f), 4, 0.05f, 5, 50);
#endif
}

}  // namespace

int main() {
    if (gpu_ops::device_count() == 0) {
        std::printf("SKIPPED: no CUDA device (cudaGetDeviceCount reports none or fails); "
                    "run on a machine with a GPU (docs/cuda.md)\n");
        return 77;
    }
    try {
        std::printf("device: %s\n", gpu_ops::device_name().c_str());
        const ebm::mlp cpu_net({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{123});
        const gpu_ops::network net{cpu_net.layer_sizes(), cpu_net.negative_slope(),
                                   {cpu_net.parameters().begin(), cpu_net.parameters().end()}};
        compare_noise();
        compare_mlp(cpu_net, net);
        compare_architectures(cpu_net);
        compare_langevin(cpu_net, net);
        compare_mala(cpu_net, net);
        compare_convnet_steps();
        compare_adaptations(cpu_net);
        compare_adam();
        compare_training(cpu_net, net);
        compare_image_training();
    } catch (const std::exception& e) {
        std::printf("FAILED with exception: %s\n", e.what());
        return 1;
    }
    std::printf("%s (%d failed checks)\n", failures == 0 ? "PASSED" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}

// The CUDA backend against the CPU backend on the same weights, inputs and seeds (doctest). Needs a GPU: without one
// main prints why and exits with 77, which ctest (SKIP_RETURN_CODE 77) reports as "Skipped" -- never as passed.
//
// Tolerances: float cuBLAS/cuDNN against Eigen/oneDNN, 1e-4 relative to the largest reference value (different
// summation orders; the parity tests of the CPU nets with PyTorch stay below 6.4e-7); the noise is bit-identical by
// design (kernels/portable_math.hpp); MALA decisions must be equal; what runs twice on the device (CUDA graph or not,
// a resumed run) must be equal bit for bit. The seeds are fixed and printed with every failure (INFO).
//
//   noise          device normal_fill == the host functor == ebm::fill_normal, bit for bit
//   architectures  energies, dU/dx, weighted parameter gradient (accumulated onto 0.25), energies of the gradient
//                  call: MLP, convnet::short_run 32/64/128, convnet::vanilla, nonlocal_net with zero and random
//                  output projections (1e-4); the device's own initialisation vs the CPU class's (1e-6)
//   Langevin       MLP 1 and 10 steps (states 1e-5 / 1e-4, v_t and mean energy 1e-4); short-run ConvNet and
//                  non-local net 1 step (1e-5); CUDA graph == direct run, bit for bit
//   MALA           one step on the MLP, the short-run ConvNet and the non-local net: the same per-chain decisions,
//                  states 1e-5, acceptance exactly the CPU's
//   HMC            one step (L = 3) on the short-run ConvNet and the non-local net: the same decisions, states 1e-4
//   targets        gaussian_target (d 100), funnel, banana, isotropic_mixture as device chain_energy vs the CPU's: energies and dU/dx
//                  (1e-4), five HMC steps (L = 3) with at most 2 of 256 chains deciding differently
//   networks       cuda_backend::network (any composed network: convolutions, residual and non-local blocks, pools,
//                  Linear, every unit) vs ebm::network: device init (1e-6), energies, dU/dx, parameter gradient, Hessian-
//                  vector product (1e-4);
//                  one Langevin and one MALA step; two training iterations
//   adaptation     the device's dual averaging == ebm::dual_averaging_state fed with the device's own acceptances
//                  (1e-12 relative); graph == direct (bitwise); statistically, 2000 chains adapt to the CPU's step
//                  (10 %) and then accept 0.574 +- 0.05 on both backends
//   Adam           three device steps vs ebm::adam (1e-6)
//   training       ebm::ml_trainer on the device vs on the CPU: (Langevin, uniform, SGD) on the MLP; (Langevin,
//                  persistent bank, Adam) on the MLP, the short-run ConvNet, the non-local net (d_t, r_t 1e-4;
//                  negatives 1e-4; parameters 1e-5)
//   checkpoints    a device run resumed from ebm::save_checkpoint / ebm::load_checkpoint equals the uninterrupted
//                  run bit for bit; checkpoints move GPU -> CPU and CPU -> GPU unchanged (byte-identical state)
//   recipes        make_convergent_trainer / make_short_run_trainer (L = 10) with the device MLP vs the CPU
//                  recipes: d_t, r_t of two iterations (1e-4 relative)
//   wrappers       scaled, tempered, magnetized over the device MLP vs over the CPU MLP: energies, dU/dx,
//                  parameter gradient (1e-4)
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <ebm/ebm.hpp>
#include <ebm/energy/convnet.hpp>
#include <ebm/energy/convnet_nonlocal.hpp>
#include <ebm/train/checkpoint.hpp>

// Without oneDNN v3 the ConvNet header declares nothing and this test would lose its ConvNet references; CMake
// builds it only when EBM_HAVE_ONEDNN is ON, so getting here without it is a build-system error.
#if !EBM_HAVE_ONEDNN
#error "test_cuda_gpu: <ebm/energy/convnet.hpp> has no oneDNN v3 (EBM_HAVE_ONEDNN is 0); the ConvNets need it"
#endif
static_assert(ebm::learnable_energy<ebm::convnet> && ebm::learnable_energy<ebm::nonlocal_net>,
              "test_cuda_gpu: the CPU ConvNet references must be learnable energies");

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gpu_ops.hpp"

#include <ebm/energy/sampling_targets.hpp>

using idx = ebm::index;

namespace {

// ---- helpers ----------------------------------------------------------------------------------------------------

double max_abs_difference(const std::vector<float>& a, const float* b) {
    double m = 0;
    for (std::size_t k = 0; k < a.size(); ++k)
        m = std::max(m, std::fabs(static_cast<double>(a[k]) - static_cast<double>(b[k])));
    return m;
}
double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    return max_abs_difference(a, b.data());
}
/// Largest difference relative to the largest reference value (at least 1e-3).
double max_relative_difference(const std::vector<float>& a, const std::vector<float>& reference) {
    double scale = 1e-3;
    for (float r : reference) scale = std::max(scale, static_cast<double>(std::fabs(r)));
    return max_abs_difference(a, reference) / scale;
}
/// Number of elements whose bits differ (0: bit for bit equal); the sizes must agree.
template <class T>
std::size_t differing(const std::vector<T>& a, const std::vector<T>& b) {
    REQUIRE(a.size() == b.size());
    std::size_t n = 0;
    for (std::size_t k = 0; k < a.size(); ++k) n += std::memcmp(&a[k], &b[k], sizeof(T)) != 0 ? 1 : 0;
    return n;
}

std::vector<float> states(idx dimension, idx count, std::uint64_t seed) {
    ebm::batch x(dimension, count);
    ebm::uniform_noise{-1.5f, 1.5f}.fill(x.view(), ebm::philox(seed), ebm::purpose::user, 0);
    return {x.data(), x.data() + x.view().size()};
}
std::vector<float> alternating_weights(idx n) {
    std::vector<float> w(static_cast<std::size_t>(n));
    for (idx i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = (i % 2 == 0 ? 1.0f : -0.5f) / static_cast<float>(n);
    return w;
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

/// The Anatomy toy MLP at its seed-123 initialisation.
const ebm::mlp& toy_mlp() {
    static const ebm::mlp net({2, 32, 64, 64, 64, 1}, ebm::leaky_relu{0.05f}, ebm::seed{123});
    return net;
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
gpu_ops::model model_of(const ebm::network& cpu) {
    gpu_ops::model m;
    m.type = gpu_ops::architecture::composed;
    m.spec = cpu.spec();
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

/// A fresh folder for checkpoint files, removed at the end of the test.
class temporary_folder {
public:
    temporary_folder() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("ebm-test-cuda-gpu-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~temporary_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temporary_folder(const temporary_folder&) = delete;
    temporary_folder& operator=(const temporary_folder&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

/// "n and m bytes, first difference at byte k": what a failed byte-for-byte comparison prints.
std::string byte_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    std::size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    return std::to_string(a.size()) + " and " + std::to_string(b.size()) + " bytes, first difference at byte " +
           std::to_string(k);
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---- comparisons shared by several cases -------------------------------------------------------------------------

/// Energies, dU/dx and the weighted parameter gradient of one architecture on the GPU vs its CPU class.
template <class CpuEnergy>
void compare_energy(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, std::uint64_t seed,
                    const gpu_ops::wrapper* wrap = nullptr) {
    constexpr double tolerance = 1e-4;
    INFO(gpu_ops::name_of(m) << ", " << n << " chains, states from seed " << seed);
    const idx d = cpu.dimension();
    const auto x = states(d, n, seed);
    const auto weights = alternating_weights(n);
    const std::vector<float> start(static_cast<std::size_t>(cpu.parameter_count()), 0.25f);
    std::vector<float> u, g, grad = start, u_again;
    gpu_ops::evaluate(m, x, n, weights, u, g, grad, u_again, wrap);
    auto ws = cpu.make_workspace(n);
    std::vector<float> cu(static_cast<std::size_t>(n)), cg(static_cast<std::size_t>(d * n)), cgrad = start;
    cpu.energy_and_gradient(ebm::const_batch_view(x.data(), d, n), cu, ebm::batch_view{cg.data(), d, n}, ws);
    const double du = max_relative_difference(u, cu), dg = max_relative_difference(g, cg);
    CHECK_MESSAGE(du < tolerance, "energies: max |gpu - cpu| / max |cpu| = " << du);
    CHECK_MESSAGE(dg < tolerance, "dU/dx: max |gpu - cpu| / max |cpu| = " << dg);
    cpu.accumulate_parameter_gradient(ebm::const_batch_view(x.data(), d, n), weights, cgrad, cu, ws);
    // Relative to the gradient itself, not to the 0.25 it was accumulated onto.
    for (std::size_t k = 0; k < grad.size(); ++k) {
        grad[k] -= 0.25f;
        cgrad[k] -= 0.25f;
    }
    const double dp = max_relative_difference(grad, cgrad), du2 = max_relative_difference(u_again, cu);
    CHECK_MESSAGE(dp < tolerance, "weighted parameter gradient (onto 0.25): max |gpu - cpu| / max |cpu| = " << dp);
    CHECK_MESSAGE(du2 < tolerance, "energies of the parameter-gradient call: max |gpu - cpu| / max |cpu| = " << du2);
}

/// The device network's own initialisation vs the CPU class's (layout, Philox streams, zeroed projections).
void compare_initialisation(const gpu_ops::model& m, const std::vector<float>& cpu_initial, std::uint64_t seed) {
    INFO(gpu_ops::name_of(m) << ", init seed " << seed);
    const auto gpu = gpu_ops::initial_parameters(m, seed);
    REQUIRE_MESSAGE(gpu.size() == cpu_initial.size(),
                    "parameter count: gpu " << gpu.size() << ", cpu " << cpu_initial.size());
    const double diff = max_abs_difference(gpu, cpu_initial);
    CHECK_MESSAGE(diff < 1e-6, "device init vs CPU init: max |gpu - cpu| = " << diff);
}

/// One Langevin step (graph and no graph) and one MALA step of an energy vs the CPU.
template <class CpuEnergy>
void compare_steps(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, float epsilon) {
    INFO(gpu_ops::name_of(m) << ", " << n << " chains, eps " << epsilon
                             << ", states seed 12, Langevin seed 77 step 3, MALA seed 78 step 4");
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
    const std::size_t bits = differing(gpu_graph, gpu_plain);
    CHECK_MESSAGE(bits == 0, "Langevin: CUDA graph vs direct run: " << bits << " of " << x0.size() << " values differ");
    const std::vector<float> cpu_states(x.data(), x.data() + x0.size());
    const double diff = max_abs_difference(gpu_graph, cpu_states);
    CHECK_MESSAGE(diff < 1e-5, "Langevin: states after 1 step, max |gpu - cpu| = " << diff);
    const double dv = std::fabs(s_gpu.mean_gradient_norm - s_cpu.mean_gradient_norm);
    CHECK_MESSAGE(dv < 1e-4 * (1 + s_cpu.mean_gradient_norm), "Langevin: v_t gpu - cpu = " << dv);

    auto gpu_mala = x0;
    std::vector<std::int64_t> accepted;
    const auto sm_gpu = gpu_ops::mala(m, gpu_mala, n, epsilon, 1, 78, 4, accepted);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::mala mala_policy{.epsilon = epsilon, .steps = 1};
    auto mst = mala_policy.make_state(cpu, n);
    const auto sm_cpu = mala_policy.run(mst, cpu, x.view(), ebm::philox(78), 4);
    idx same = 0;
    for (idx i = 0; i < n; ++i) same += accepted[static_cast<std::size_t>(i)] == mst.chain_accepted(i) ? 1 : 0;
    CHECK_MESSAGE(same == n, "MALA: " << same << " of " << n << " per-chain decisions equal the CPU's");
    const std::vector<float> cpu_mala(x.data(), x.data() + x0.size());
    const double dm = max_abs_difference(gpu_mala, cpu_mala);
    CHECK_MESSAGE(dm < 1e-5, "MALA: states after one step, max |gpu - cpu| = " << dm);
    CHECK_MESSAGE(sm_gpu.acceptance == sm_cpu.acceptance,
                  "MALA: acceptance gpu " << sm_gpu.acceptance << ", cpu " << sm_cpu.acceptance);

    // HMC, 3 leapfrog steps: the same momenta, decisions and (up to rounding) trajectories as on the CPU.
    auto gpu_hmc = x0;
    const auto sh_gpu = gpu_ops::hmc(m, gpu_hmc, n, epsilon, 3, 1, 79, 5, accepted);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::hmc hmc_policy{.epsilon = epsilon, .leapfrog = 3, .steps = 1};
    auto hst = hmc_policy.make_state(cpu, n);
    const auto sh_cpu = hmc_policy.run(hst, cpu, x.view(), ebm::philox(79), 5);
    same = 0;
    for (idx i = 0; i < n; ++i) same += accepted[static_cast<std::size_t>(i)] == hst.chain_accepted(i) ? 1 : 0;
    CHECK_MESSAGE(same == n, "HMC: " << same << " of " << n << " per-chain decisions equal the CPU's");
    const std::vector<float> cpu_hmc(x.data(), x.data() + x0.size());
    const double dh = max_abs_difference(gpu_hmc, cpu_hmc);
    CHECK_MESSAGE(dh < 1e-4, "HMC: states after one step, max |gpu - cpu| = " << dh);
    CHECK_MESSAGE(sh_gpu.acceptance == sh_cpu.acceptance,
                  "HMC: acceptance gpu " << sh_gpu.acceptance << ", cpu " << sh_cpu.acceptance);
}

/// The CPU twin of gpu_ops::train: the same policies (gpu_ops::with_policies), loads, iterations and saves.
template <class CpuEnergy>
gpu_ops::training_result cpu_train(const CpuEnergy& cpu, const std::vector<float>& positives, idx count,
                                   const gpu_ops::training_setup& setup, const gpu_ops::training_run& run) {
    return gpu_ops::with_policies(setup, count, [&](auto sampler, auto initializer, auto optimizer, auto options) {
        ebm::ml_trainer trainer{cpu, sampler, initializer, optimizer, options};
        gpu_ops::training_result r;
        if (!run.load_from.empty()) {
            ebm::load_checkpoint(run.load_from, trainer);
            r.loaded_state = ebm::checkpoint_bytes(trainer);
        }
        const auto maybe_save = [&](int done) {
            if (!run.save_to.empty() && done == run.save_after) ebm::save_checkpoint(run.save_to, trainer);
        };
        const idx d = cpu.dimension();
        maybe_save(0);
        for (int t = 0; t < run.iterations; ++t) {
            r.records.push_back(trainer.step(ebm::const_batch_view(positives.data(), d, count)));
            maybe_save(t + 1);
        }
        const auto p = std::as_const(trainer).energy().parameters();
        r.parameters.assign(p.begin(), p.end());
        const auto neg = trainer.negatives();
        r.negatives.assign(neg.data, neg.data + neg.size());
        r.final_state = ebm::checkpoint_bytes(trainer);
        return r;
    });
}

/// One iteration's record on the GPU vs the CPU: d_t and r_t to 1e-4 (relative above 1), the same flags.
void compare_record(const ebm::iteration_record& g, const ebm::iteration_record& c) {
    INFO("iteration " << c.iteration);
    CHECK(g.iteration == c.iteration);
    CHECK_MESSAGE(std::fabs(g.d - c.d) < 1e-4 * (1 + std::fabs(c.d)), "d_t gpu " << g.d << ", cpu " << c.d);
    CHECK_MESSAGE(std::fabs(g.r - c.r) < 1e-4 * (1 + c.r), "r_t gpu " << g.r << ", cpu " << c.r);
    CHECK_MESSAGE(g.diverged == c.diverged, "divergence flag gpu " << g.diverged << ", cpu " << c.diverged);
}

/// Iterations of the device trainer vs ebm::ml_trainer with the same policies.
template <class CpuEnergy>
void compare_training(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, const gpu_ops::training_setup& setup,
                      int iterations) {
    INFO(gpu_ops::name_of(m) << ", " << n << " chains, " << iterations << " iteration(s), trainer seed "
                             << setup.seed << ", positives seed 16");
    const auto positives = states(cpu.dimension(), n, 16);
    const gpu_ops::training_run run{.iterations = iterations};
    const auto gpu = gpu_ops::train(m, positives, n, setup, run);
    const auto ref = cpu_train(cpu, positives, n, setup, run);
    REQUIRE(gpu.records.size() == ref.records.size());
    for (std::size_t t = 0; t < gpu.records.size(); ++t) compare_record(gpu.records[t], ref.records[t]);
    const double dn = max_abs_difference(gpu.negatives, ref.negatives);
    CHECK_MESSAGE(dn < 1e-4, "negatives of the last iteration: max |gpu - cpu| = " << dn);
    // SGD (lr 0.01) and Adam with epsilon 1 (smooth in the gradient on its first steps): the parameters differ by
    // the learning rate times the difference of the gradients.
    const double dp = max_abs_difference(gpu.parameters, ref.parameters);
    CHECK_MESSAGE(dp < 1e-5, "parameters after the updates: max |gpu - cpu| = " << dp);
}

}  // namespace

// ---- noise -------------------------------------------------------------------------------------------------------

TEST_CASE("noise: device normal_fill == the same functor on the host == ebm::fill_normal, bit for bit") {
    const idx d = 3072, n = 8;
    INFO("seed 7, stream langevin_noise, step 5, " << n << " chains of " << d);
    const auto gpu = gpu_ops::noise(7, static_cast<std::uint32_t>(ebm::purpose::langevin_noise), 5, d, n, 1.0f);
    std::vector<float> host(gpu.size()), cpu(gpu.size());
    const ebm::kernels::normal_fill fill{host.data(), d, ebm::philox(7), ebm::purpose::langevin_noise, 0, {nullptr, 5},
                                         1.0f};
    for (idx k = 0; k < n * ebm::kernels::blocks_per_chain(d); ++k) fill(k);
    for (idx i = 0; i < n; ++i)
        ebm::fill_normal(ebm::philox(7), ebm::purpose::langevin_noise, static_cast<std::uint32_t>(i), 5,
                         cpu.data() + i * d, d);
    const std::size_t vs_functor = differing(gpu, host), vs_fill_normal = differing(gpu, cpu);
    CHECK_MESSAGE(vs_functor == 0, vs_functor << " of " << gpu.size() << " values differ from the host functor's, max "
                                              << max_abs_difference(gpu, host));
    CHECK_MESSAGE(vs_fill_normal == 0, vs_fill_normal << " of " << gpu.size()
                                                      << " values differ from ebm::fill_normal's, max "
                                                      << max_abs_difference(gpu, cpu));
    const double diff = max_abs_difference(gpu, cpu);
    CHECK_MESSAGE(diff < 1e-5, "max |gpu - fill_normal| = " << diff);
}

// ---- benchmark targets -------------------------------------------------------------------------------------------

TEST_CASE("sampling targets on the device: energies, dU/dx and Hessian-vector products vs the CPU (same functor), one "
          "HMC run's decisions") {
    struct target_case {
        const char* name;
        idx dimension;
    };
    for (const target_case c : {target_case{"gauss", 100}, target_case{"funnel", 10}, target_case{"banana", 2},
                                target_case{"gmm", 2}}) {
        INFO("target " << c.name << ", dimension " << c.dimension);
        const idx n = 256;
        ebm::batch x(c.dimension, n);
        ebm::gaussian_noise{.scale = 1.0f}.fill(x, ebm::philox(3), ebm::purpose::user, 0);
        std::vector<float> xs(x.data(), x.data() + x.view().size()), u, g, hv;
        std::vector<std::int64_t> accepted;
        gpu_ops::target_on_device(c.name, c.dimension, xs, n, u, g, hv, 0.2f, 5, accepted);
        auto cpu_check = [&](const auto& e) {
            std::vector<float> cu(static_cast<std::size_t>(n));
            ebm::batch cg(c.dimension, n);
            auto ws = e.make_workspace(n);
            e.energy_and_gradient(x, cu, cg, ws);
            const std::vector<float> cgs(cg.data(), cg.data() + cg.view().size());
            CHECK_MESSAGE(max_abs_difference(u, cu) < 1e-4, "energies: max |gpu - cpu| = " << max_abs_difference(u, cu));
            CHECK_MESSAGE(max_abs_difference(g, cgs) < 1e-4, "dU/dx: max |gpu - cpu| = " << max_abs_difference(g, cgs));
            e.hessian_vector_product(x, x, cg, ws);  // along each chain's own state, as on the device
            const std::vector<float> chs(cg.data(), cg.data() + cg.view().size());
            CHECK_MESSAGE(max_abs_difference(hv, chs) < 1e-4, "Hv: max |gpu - cpu| = " << max_abs_difference(hv, chs));
            const ebm::hmc policy{.epsilon = 0.2f, .leapfrog = 3, .steps = 5};
            auto st = policy.make_state(e, n);
            policy.run(st, e, x, ebm::philox(81), 0);
            idx same = 0;
            for (idx i = 0; i < n; ++i) same += accepted[static_cast<std::size_t>(i)] == st.chain_accepted(i) ? 1 : 0;
            CHECK_MESSAGE(same >= n - 2, "HMC: " << same << " of " << n << " chains made the CPU's decisions");
        };
        if (std::string(c.name) == "gauss") cpu_check(ebm::gaussian_target<>(c.dimension, 100.0));
        else if (std::string(c.name) == "funnel") cpu_check(ebm::funnel<>(c.dimension));
        else if (std::string(c.name) == "banana") cpu_check(ebm::banana<>());
        else cpu_check(ebm::isotropic_mixture<>::ring(8, 1.0, 0.15));
    }
}

// ---- every architecture ------------------------------------------------------------------------------------------

TEST_CASE("MLP: device init, energies, dU/dx and weighted parameter gradient vs ebm::mlp (cuBLAS vs Eigen)") {
    const auto m = model_of(toy_mlp());
    compare_initialisation(m, m.parameters, 123);
    compare_energy(toy_mlp(), m, 100, 1);
    // Nine weight layers: beyond the one-kernel path (at most 8), so energies and dU/dx take cuBLAS layer by layer.
    const ebm::mlp deep({2, 16, 16, 16, 16, 16, 16, 16, 16, 1}, ebm::leaky_relu{0.05f}, ebm::seed{31});
    INFO("9 weight layers: the layer-by-layer cuBLAS path");
    compare_energy(deep, model_of(deep), 37, 2);
    // The per-chain kernels' cases: widths that are not multiples of 4 (every partial group of four columns), 70 rows
    // (a lane each), 37 and 19 rows (2 and 4 lanes a row), 5 rows (16 lanes), an input of 3 (flat rows not 16-byte
    // aligned: element-wise loads); 200 rows (two passes of the team).
    const ebm::mlp odd({3, 37, 70, 5, 19, 1}, ebm::leaky_relu{0.2f}, ebm::seed{8});
    const ebm::mlp tall({2, 200, 1}, ebm::leaky_relu{0.2f}, ebm::seed{9});
    {
        INFO("sizes 3-37-70-5-19-1: the per-chain kernels with odd widths");
        compare_energy(odd, model_of(odd), 45, 3);
    }
    INFO("sizes 2-200-1: a layer of more rows than a team has threads");
    compare_energy(tall, model_of(tall), 45, 4);
}

namespace {

/// (d2U/dx2) v of n chains on the device against the CPU network's, within 1e-4 of the largest (exact zero for
/// piecewise-linear nets, where the device product must be zero too).
template <class CpuEnergy>
void compare_hessian_vector(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, std::uint64_t seed) {
    INFO(gpu_ops::name_of(m) << ", Hv of " << n << " chains, states from seeds " << seed << " and " << seed + 1);
    const idx d = cpu.dimension();
    const auto x = states(d, n, seed), v = states(d, n, seed + 1);
    const auto hv = gpu_ops::network_hessian_vector(m, x, v, n);
    auto ws = cpu.make_workspace(n);
    ebm::batch hv_cpu(d, n);
    cpu.hessian_vector_product(ebm::const_batch_view(x.data(), d, n), ebm::const_batch_view(v.data(), d, n),
                               hv_cpu.view(), ws);
    const std::vector<float> reference(hv_cpu.data(), hv_cpu.data() + d * n);
    if (cpu.layout().piecewise_linear) {
        CHECK(std::all_of(hv.begin(), hv.end(), [](float h) { return h == 0.0f; }));
        CHECK(std::all_of(reference.begin(), reference.end(), [](float h) { return h == 0.0f; }));
        return;
    }
    CHECK(std::any_of(reference.begin(), reference.end(), [](float h) { return h != 0.0f; }));
    CHECK_MESSAGE(max_relative_difference(hv, reference) < 1e-4,
                  "Hv: max |gpu - cpu| relative to the largest = " << max_relative_difference(hv, reference));
}

/// Composed networks of every operation kind (backend/network_gemm.hpp on cuBLAS) against ebm::network.
std::vector<std::pair<const char*, ebm::network_spec>> composed_networks() {
    namespace l = ebm::layers;
    const auto conv = [](idx in, idx out, idx k, idx stride = 1, idx padding = 0) {
        return l::conv2d{.in_channels = in, .out_channels = out, .kernel_size = k, .stride = stride, .padding = padding};
    };
    return {
        {"residual blocks, SiLU, avg and max pools, Flatten + Linear",
         {.input = {3, 16, 16},
          .layers = {conv(3, 8, 3, 1, 1), l::silu(),
                     l::residual_block{.in_channels = 8, .out_channels = 16, .downsample = true},
                     l::residual_block{.in_channels = 16, .out_channels = 16,
                                       .activation = {ebm::kernels::activation_kind::gelu}},
                     l::max_pool2d{.kernel_size = 3, .stride = 2}, l::flatten{},
                     l::linear{.in_features = 16 * 3 * 3, .out_features = 8}, l::tanh(),
                     l::linear{.in_features = 8, .out_features = 1}}}},
        {"the toy MLP preset", ebm::mlp_network({2, 64, 64, 64, 1}, 0.2f)},
        {"short-run 32 px preset (n_f 8), negated", ebm::short_run_network(32, 8, 3, 0.2f, true)},
        {"the Anatomy non-local net (n_f 8)", ebm::nonlocal_network(3, 8)},
        {"ELU, Sigmoid, Softplus, a conv without bias",
         {.input = {1, 12, 12},
          .layers = {l::elu(0.5f), conv(1, 6, 5, 2, 2), l::sigmoid(),
                     l::conv2d{.in_channels = 6, .out_channels = 4, .kernel_size = 3, .bias = false},
                     l::softplus(2.0f, 5.0f), l::avg_pool2d{.kernel_size = 2}, conv(4, 1, 2)}}},
    };
}

}  // namespace

TEST_CASE("cuda_backend::network: device init, energies, dU/dx, parameter gradient, Hv vs ebm::network (every layer)") {
    std::uint64_t seed_value = 40;
    for (const auto& [name, spec] : composed_networks()) {
        INFO(name << ", init seed " << seed_value);
        ebm::network cpu(spec, ebm::seed{seed_value});
        const auto initial = model_of(cpu);
        compare_initialisation(initial, initial.parameters, seed_value);
        // random output projections of the non-local blocks (they start at zero)
        auto theta = cpu.parameters();
        ebm::fill_uniform(ebm::philox(seed_value + 1), ebm::purpose::user, 0, 0, theta.data(), cpu.parameter_count(),
                          -0.3f, 0.3f);
        for (const idx n : {idx{1}, idx{7}}) compare_energy(cpu, model_of(cpu), n, seed_value + 2);
        // (d2U/dx2) v: the tangent passes on the device against the CPU network's (exact zero for piecewise-linear nets)
        compare_hessian_vector(cpu, model_of(cpu), 5, seed_value + 3);
        ++seed_value;
    }
}

TEST_CASE("cuda_backend::network: Langevin and MALA steps, and two training iterations, vs the CPU") {
    ebm::network cpu(composed_networks().front().second, ebm::seed{51});
    compare_steps(cpu, model_of(cpu), 6, 0.05f);
    const gpu_ops::training_setup images{.kind = gpu_ops::policies::langevin_bank_adam, .epsilon = 0.05f, .steps = 5,
                                         .learning_rate = 1e-3f, .adam_epsilon = 1.0f, .seed = 123};
    compare_training(cpu, model_of(cpu), 4, images, 2);
}

TEST_CASE("convnet::short_run 32/64/128 px: device init, energies, dU/dx, parameter gradient (default engine vs oneDNN), Hv") {
    for (const auto& [size, n_f, n] : {std::tuple<idx, idx, idx>{32, 8, 6}, {64, 4, 4}, {128, 4, 2}}) {
        INFO("image size " << size << ", n_f " << n_f << ", init seed 5");
        const ebm::convnet cpu = ebm::convnet::short_run(size, n_f, 3, 0.2f, {}, ebm::seed{5});
        const auto m = model_of(cpu, gpu_ops::architecture::short_run, size, n_f, 0.2f);
        compare_initialisation(m, m.parameters, 5);
        compare_energy(cpu, m, n, 6);
        compare_hessian_vector(cpu, m, n, 16);  // the composed engine on the convnet's parameters: zero
    }
}

TEST_CASE("convnet::vanilla: device init, energies, dU/dx, parameter gradient (default engine vs oneDNN), Hv") {
    const ebm::convnet cpu = ebm::convnet::vanilla(3, 8, 0.05f, {}, ebm::seed{7});
    const auto m = model_of(cpu, gpu_ops::architecture::vanilla, 32, 8, 0.05f);
    compare_initialisation(m, m.parameters, 7);
    compare_energy(cpu, m, 4, 8);
    compare_hessian_vector(cpu, m, 4, 17);
}

/// TF32 against the CPU's FP32: energies within 2e-2 of the largest; dU/dx and the parameter gradient within 0.1 in
/// relative L2 norm (TF32 keeps 10 mantissa bits of each product's inputs; a layout or algorithm error gives ~1).
/// The measured errors are printed.
template <class CpuEnergy>
void compare_energy_tf32(const CpuEnergy& cpu, const gpu_ops::model& m, idx n, std::uint64_t seed) {
    INFO(gpu_ops::name_of(m) << " in TF32, " << n << " chains, states from seed " << seed);
    const idx d = cpu.dimension();
    const auto x = states(d, n, seed);
    const auto weights = alternating_weights(n);
    std::vector<float> u, g, grad(static_cast<std::size_t>(cpu.parameter_count()), 0.0f), u_again;
    gpu_ops::evaluate(m, x, n, weights, u, g, grad, u_again);
    auto ws = cpu.make_workspace(n);
    std::vector<float> cu(static_cast<std::size_t>(n)), cg(static_cast<std::size_t>(d * n));
    std::vector<float> cgrad(grad.size(), 0.0f);
    cpu.energy_and_gradient(ebm::const_batch_view(x.data(), d, n), cu, ebm::batch_view{cg.data(), d, n}, ws);
    cpu.accumulate_parameter_gradient(ebm::const_batch_view(x.data(), d, n), weights, cgrad, cu, ws);
    const auto l2 = [](const std::vector<float>& a, const std::vector<float>& b) {
        double e = 0, r = 0;
        for (std::size_t k = 0; k < a.size(); ++k) {
            e += (static_cast<double>(a[k]) - b[k]) * (static_cast<double>(a[k]) - b[k]);
            r += static_cast<double>(b[k]) * b[k];
        }
        return std::sqrt(e / std::max(r, 1e-300));
    };
    const double du = max_relative_difference(u, cu), dg = l2(g, cg), dp = l2(grad, cgrad);
    MESSAGE(gpu_ops::name_of(m) << " TF32 vs CPU FP32: energies max rel " << du << ", dU/dx rel L2 " << dg
                                << ", parameter gradient rel L2 " << dp);
    CHECK(du < 2e-2);
    CHECK(dg < 0.1);
    CHECK(dp < 0.1);
}

TEST_CASE("convnet engines: GEMM (default, also in chunks), cuDNN timed (deterministic or not) and heuristic, TF32") {
    namespace cb = ebm::cuda_backend;
    const ebm::convnet cpu = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{5});
    const ebm::convnet vanilla = ebm::convnet::vanilla(3, 8, 0.05f, {}, ebm::seed{7});
    struct variant {
        std::string name;
        cb::compute_options options;
    };
    std::vector<variant> variants;
    variants.push_back({"default (gemm)", {}});
    cb::compute_options chunked;
    chunked.gemm_column_floats = 5000;  // below one chain's 32x32 im2col matrix of the first layer: 1 chain a chunk
    variants.push_back({"gemm, chunks of one chain", chunked});
    for (bool deterministic : {true, false})
        for (bool search : {true, false}) {
            cb::compute_options o;
            o.convolutions = cb::convolution_engine::cudnn;
            o.deterministic = deterministic;
            o.search = search;
            variants.push_back({std::string("cudnn, deterministic ") + (deterministic ? "1" : "0") + ", search " +
                                    (search ? "1" : "0"),
                                o});
        }
    for (const variant& v : variants) {
        INFO(v.name);
        auto m = model_of(cpu, gpu_ops::architecture::short_run, 32, 8, 0.2f);
        m.compute = v.options;
        compare_energy(cpu, m, 6, 6);
        auto mv = model_of(vanilla, gpu_ops::architecture::vanilla, 32, 8, 0.05f);
        mv.compute = v.options;
        compare_energy(vanilla, mv, 4, 8);
    }
    for (auto engine : {cb::convolution_engine::cudnn, cb::convolution_engine::gemm}) {
        INFO("TF32, engine " << std::string(engine == cb::convolution_engine::gemm ? "gemm" : "cudnn"));
        auto m = model_of(ebm::convnet::short_run(32, 64, 3, 0.2f, {}, ebm::seed{5}), gpu_ops::architecture::short_run,
                          32, 64, 0.2f);
        m.compute.tf32 = true;
        m.compute.convolutions = engine;
        compare_energy_tf32(ebm::convnet::short_run(32, 64, 3, 0.2f, {}, ebm::seed{5}), m, 8, 6);
    }
}

TEST_CASE("the GEMM engine and deterministic cuDNN are bit-identical run to run (energies, dU/dx, parameter gradient)") {
    namespace cb = ebm::cuda_backend;
    const ebm::convnet cpu = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{5});
    for (auto engine : {cb::convolution_engine::gemm, cb::convolution_engine::cudnn}) {
        auto m = model_of(cpu, gpu_ops::architecture::short_run, 32, 8, 0.2f);
        m.compute.convolutions = engine;
        m.compute.search = false;  // the same algorithms in both runs (timing may pick others)
        INFO("engine " << std::string(engine == cb::convolution_engine::gemm ? "gemm" : "cudnn heuristic, deterministic")
                       << ", 64 chains, states seed 21");
        const idx n = 64, d = cpu.dimension();
        const auto x = states(d, n, 21);
        const auto weights = alternating_weights(n);
        std::vector<float> u1, g1, p1(static_cast<std::size_t>(cpu.parameter_count()), 0.25f), a1;
        std::vector<float> u2, g2, p2 = p1, a2;
        gpu_ops::evaluate(m, x, n, weights, u1, g1, p1, a1);
        gpu_ops::evaluate(m, x, n, weights, u2, g2, p2, a2);
        CHECK(max_abs_difference(u1, u2) == 0.0);
        CHECK(max_abs_difference(g1, g2) == 0.0);
        CHECK(max_abs_difference(p1, p2) == 0.0);
    }
}

TEST_CASE("nonlocal_net with cuDNN's timed algorithms and with TF32 vs oneDNN") {
    ebm::nonlocal_net cpu(3, 8, 0.05f, ebm::seed{9});
    perturb_projections(cpu);
    auto m = model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f);
    m.compute.search = true;
    compare_energy(cpu, m, 6, 11);
    m.compute.search = false;
    m.compute.tf32 = true;
    compare_energy_tf32(cpu, m, 6, 11);
}

TEST_CASE("nonlocal_net: device init, energies, dU/dx, parameter gradient, with zero and random output projections, Hv") {
    ebm::nonlocal_net cpu(3, 8, 0.05f, ebm::seed{9});
    const auto m0 = model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f);
    compare_initialisation(m0, m0.parameters, 9);
    compare_energy(cpu, m0, 6, 10);  // identity blocks (zero output projections), as initialised
    perturb_projections(cpu);        // projections seed 99: the attention path counts
    compare_energy(cpu, model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f), 6, 11);
    // the composed engine on the non-local net's parameters (nonzero: the attention's softmax has curvature)
    compare_hessian_vector(cpu, model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f), 6, 18);
}

// ---- samplers ----------------------------------------------------------------------------------------------------

TEST_CASE("MLP Langevin: 1 and 10 steps vs the CPU, CUDA graph run == direct run, bit for bit") {
    const ebm::mlp& cpu = toy_mlp();
    const auto m = model_of(cpu);
    const idx d = cpu.dimension(), n = 100;
    for (idx steps : {idx{1}, idx{10}}) {
        INFO(steps << " step(s), eps 0.125, states seed 2, sampler seed 123, first step 40");
        const auto x0 = states(d, n, 2);
        auto gpu_graph = x0, gpu_plain = x0;
        const auto s_graph = gpu_ops::langevin(m, gpu_graph, n, 0.125f, steps, 123, 40, true);
        const auto s_plain = gpu_ops::langevin(m, gpu_plain, n, 0.125f, steps, 123, 40, false);
        ebm::batch x(d, n);
        std::copy(x0.begin(), x0.end(), x.data());
        const ebm::langevin policy{.epsilon = 0.125f, .steps = steps};
        auto st = policy.make_state(cpu, n);
        const auto s_cpu = policy.run(st, cpu, x.view(), ebm::philox(123), 40);
        const std::size_t bits = differing(gpu_graph, gpu_plain);
        CHECK_MESSAGE(bits == 0, "CUDA graph vs direct run: " << bits << " of " << x0.size() << " values differ");
        CHECK_MESSAGE(s_graph.mean_gradient_norm == s_plain.mean_gradient_norm,
                      "v_t graph " << s_graph.mean_gradient_norm << ", direct " << s_plain.mean_gradient_norm);
        const std::vector<float> cpu_states(x.data(), x.data() + x0.size());
        const double diff = max_abs_difference(gpu_graph, cpu_states);
        CHECK_MESSAGE(diff < (steps == 1 ? 1e-5 : 1e-4), "states: max |gpu - cpu| = " << diff);
        const double dv = std::fabs(s_graph.mean_gradient_norm - s_cpu.mean_gradient_norm);
        CHECK_MESSAGE(dv < 1e-4 * (1 + s_cpu.mean_gradient_norm), "v_t: gpu - cpu = " << dv);
        const double de = std::fabs(s_graph.mean_energy - s_cpu.mean_energy);
        CHECK_MESSAGE(de < 1e-4 * (1 + std::fabs(s_cpu.mean_energy)), "mean energy: gpu - cpu = " << de);
    }
}

TEST_CASE("MLP whole-chain kernel == the chain step by step, bit for bit (noise on and off, clamp, cached, wrappers)") {
    struct variant {
        const char* name;
        ebm::langevin policy;
        int runs;
        const gpu_ops::wrapper* wrap = nullptr;
        bool whole = true;  // whether the whole-chain kernel can run it
        idx n = 100;        // chains (more chains than SMs put several in a block)
        const ebm::mlp* net = nullptr;  // the toy MLP when null
    };
    // Widths that are not multiples of 4, lanes sharing rows, unaligned flat rows, a layer of two passes (see the
    // energy test).
    const ebm::mlp odd({3, 37, 70, 5, 19, 1}, ebm::leaky_relu{0.2f}, ebm::seed{8});
    const ebm::mlp tall({2, 200, 1}, ebm::leaky_relu{0.2f}, ebm::seed{9});
    const gpu_ops::wrapper scaled{gpu_ops::wrapper_kind::scaled, 0.125f, {}};  // the convergent recipe's energy
    const gpu_ops::wrapper tempered{gpu_ops::wrapper_kind::tempered, 0.5f, {}};
    const gpu_ops::wrapper magnetized{gpu_ops::wrapper_kind::magnetized, 0.7f, {0.3f, -0.2f}};
    const variant variants[] = {
        {"eps 0.125, 1 step", {.epsilon = 0.125f, .steps = 1}, 1},
        {"eps 0.125, 500 steps (the convergent toy's K)", {.epsilon = 0.125f, .steps = 500}, 1},
        {"eps 0.125, 0 steps", {.epsilon = 0.125f, .steps = 0}, 1},
        {"eps 0.2, no noise (tau 0), 50 steps", {.epsilon = 0.2f, .steps = 50, .noise = false}, 1},
        {"eps 0.3, clamp [-0.5, 0.5], 40 steps", {.epsilon = 0.3f, .steps = 40, .clamp = {-0.5f, 0.5f}}, 1},
        {"eps 0.125, 3 runs of 20 steps from cached starts", {.epsilon = 0.125f, .steps = 20}, 3},
        {"scaled(mlp, eps 0.125), eps 0.125, 2 runs of 100 steps", {.epsilon = 0.125f, .steps = 100}, 2, &scaled},
        {"tempered(mlp, T 0.5), eps 0.1, 30 steps", {.epsilon = 0.1f, .steps = 30}, 1, &tempered},
        {"magnetized(mlp): not a whole-chain energy, 10 steps", {.epsilon = 0.1f, .steps = 10}, 1, &magnetized, false},
        {"eps 0.125, 2 runs of 60 steps, 1,001 chains (two a block, the last block one)",
         {.epsilon = 0.125f, .steps = 60}, 2, nullptr, true, 1001},
        {"3-37-70-5-19-1 MLP, eps 0.05, 2 runs of 40 steps", {.epsilon = 0.05f, .steps = 40}, 2, nullptr, true, 100, &odd},
        {"3-37-70-5-19-1 MLP, scaled, eps 0.05, 30 steps, 333 chains", {.epsilon = 0.05f, .steps = 30}, 1, &scaled, true,
         333, &odd},
        {"2-200-1 MLP, eps 0.05, 25 steps", {.epsilon = 0.05f, .steps = 25}, 1, nullptr, true, 100, &tall},
    };
    for (const variant& v : variants) {
        const ebm::mlp& cpu = v.net != nullptr ? *v.net : toy_mlp();
        auto whole = model_of(cpu), stepwise = model_of(cpu);
        stepwise.compute.whole_chain = false;
        const idx d = cpu.dimension(), n = v.n;
        INFO(std::string(v.name) << ", states seed 5, sampler seed 77, first step 12, " << n << " chains");
        const auto x0 = states(d, n, 5);
        auto x_whole = x0, x_step = x0;
        std::vector<float> u_whole, g_whole, u_step, g_step;
        bool used_whole = false, used_step = true;
        const auto s_whole =
            gpu_ops::langevin_runs(whole, x_whole, n, v.policy, v.runs, 77, 12, u_whole, g_whole, &used_whole, v.wrap);
        const auto s_step =
            gpu_ops::langevin_runs(stepwise, x_step, n, v.policy, v.runs, 77, 12, u_step, g_step, &used_step, v.wrap);
        CHECK(used_whole == v.whole);
        CHECK_FALSE(used_step);
        CHECK_MESSAGE(differing(x_whole, x_step) == 0, "states: " << differing(x_whole, x_step) << " values differ");
        CHECK_MESSAGE(differing(g_whole, g_step) == 0, "dU/dx: " << differing(g_whole, g_step) << " values differ");
        CHECK_MESSAGE(differing(u_whole, u_step) == 0, "energies: " << differing(u_whole, u_step) << " values differ");
        CHECK(s_whole.mean_energy == s_step.mean_energy);
        CHECK(s_whole.non_finite_chains == s_step.non_finite_chains);
        CHECK_MESSAGE(std::fabs(s_whole.mean_gradient_norm - s_step.mean_gradient_norm) <=
                          1e-9 * std::fabs(s_step.mean_gradient_norm),
                      "v_t whole " << s_whole.mean_gradient_norm << ", step by step " << s_step.mean_gradient_norm);
        if (v.policy.steps > 0)
            CHECK_MESSAGE(differing(x_whole, x0) > 0, "the chain must move");
        else
            CHECK(differing(x_whole, x0) == 0);
    }
    // The toy network runs the kernel compiled for its sizes, the others the kernel that reads them at run time: the
    // bit-for-bit comparisons above cover both against the same step-by-step kernel.
    CHECK(gpu_ops::mlp_compiled_sizes(model_of(toy_mlp())));
    CHECK_FALSE(gpu_ops::mlp_compiled_sizes(model_of(odd)));
}

TEST_CASE("MLP MALA: one step, the same per-chain decisions as the CPU") {
    const ebm::mlp& cpu = toy_mlp();
    const idx d = cpu.dimension(), n = 100;
    INFO("eps 0.3, states seed 3, sampler seed 321, first step 7");
    const auto x0 = states(d, n, 3);
    auto gpu = x0;
    std::vector<std::int64_t> accepted;
    const auto s_gpu = gpu_ops::mala(model_of(cpu), gpu, n, 0.3f, 1, 321, 7, accepted);
    ebm::batch x(d, n);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::mala policy{.epsilon = 0.3f, .steps = 1};
    auto st = policy.make_state(cpu, n);
    const auto s_cpu = policy.run(st, cpu, x.view(), ebm::philox(321), 7);
    idx same = 0;
    for (idx i = 0; i < n; ++i) same += accepted[static_cast<std::size_t>(i)] == st.chain_accepted(i) ? 1 : 0;
    CHECK_MESSAGE(same == n, same << " of " << n << " per-chain decisions equal the CPU's");
    const std::vector<float> cpu_states(x.data(), x.data() + x0.size());
    const double diff = max_abs_difference(gpu, cpu_states);
    CHECK_MESSAGE(diff < 1e-5, "states after one MALA step: max |gpu - cpu| = " << diff);
    CHECK_MESSAGE(s_gpu.acceptance == s_cpu.acceptance,
                  "acceptance gpu " << s_gpu.acceptance << ", cpu " << s_cpu.acceptance);
}

TEST_CASE("short-run ConvNet and non-local net: one Langevin step (graph == direct) and one MALA step vs the CPU") {
    SUBCASE("convnet::short_run(32), n_f 8, init seed 13") {
        const ebm::convnet cpu = ebm::convnet::short_run(32, 8, 3, 0.2f, {}, ebm::seed{13});
        compare_steps(cpu, model_of(cpu, gpu_ops::architecture::short_run, 32, 8, 0.2f), 4, 0.05f);
    }
    SUBCASE("nonlocal_net, n_f 8, init seed 14, projections seed 99") {
        ebm::nonlocal_net cpu(3, 8, 0.05f, ebm::seed{14});
        perturb_projections(cpu);
        compare_steps(cpu, model_of(cpu, gpu_ops::architecture::nonlocal, 32, 8, 0.05f), 4, 0.05f);
    }
}

// ---- MALA step-size adaptation -------------------------------------------------------------------------------------
// The warm-up cannot be compared with the CPU's end to end: the acceptance probabilities differ in float rounding
// (cuBLAS/cuDNN vs Eigen/oneDNN) and the dual averaging amplifies the difference step after step (seen on an H200).
// What is exact is compared exactly; the rest statistically.

namespace {

/// The device's update arithmetic (ebm::dual_averaging_state fed the device's own acceptances) and the graph.
void check_adaptation_arithmetic(const gpu_ops::model& m, idx dimension, idx n, float epsilon, idx warmup,
                                 const gpu_ops::wrapper* wrap = nullptr) {
    INFO(gpu_ops::name_of(m) << std::string(wrap != nullptr ? " (magnetized)" : "") << ", " << n << " chains, eps0 "
                             << epsilon << ", " << warmup << " warm-up steps, states seed 15, sampler seed 91");
    const auto x0 = states(dimension, n, 15);
    auto gpu = x0, gpu_plain = x0;
    const auto r = gpu_ops::mala_adapt(m, gpu, n, epsilon, warmup, 91, 0, true, 0, wrap);
    const auto r_plain = gpu_ops::mala_adapt(m, gpu_plain, n, epsilon, warmup, 91, 0, false, 0, wrap);
    REQUIRE_MESSAGE(r.step.size() == static_cast<std::size_t>(warmup), "device records: " << r.step.size());
    REQUIRE(r.acceptance.size() == r.step.size());
    REQUIRE(r.averaged_step.size() == r.step.size());

    const std::size_t bits = differing(gpu, gpu_plain);
    CHECK_MESSAGE(bits == 0, "states after the warm-up, graph vs direct: " << bits << " values differ");
    CHECK_MESSAGE(r.epsilon == r_plain.epsilon, "adapted step graph " << r.epsilon << ", direct " << r_plain.epsilon);
    CHECK_MESSAGE(differing(r.acceptance, r_plain.acceptance) == 0, "recorded acceptances differ, graph vs direct");
    CHECK_MESSAGE(differing(r.step, r_plain.step) == 0, "recorded steps differ, graph vs direct");
    CHECK_MESSAGE(differing(r.averaged_step, r_plain.averaged_step) == 0, "recorded averaged steps differ");

    // Same inputs, same double expressions with explicit fmas: only exp and pow may differ (libdevice vs glibc, an
    // ulp or two each), hence 1e-12 relative.
    ebm::dual_averaging_state host(ebm::dual_averaging{}, static_cast<double>(epsilon));
    double worst = 0;
    for (std::size_t l = 0; l < r.step.size(); ++l) {
        CHECK_MESSAGE((r.acceptance[l] >= 0.0 && r.acceptance[l] <= 1.0),
                      "acceptance of warm-up step " << l << " = " << r.acceptance[l]);
        const double step = host.update(r.acceptance[l]);
        worst = std::max(worst, std::fabs(step - r.step[l]) / step);
        worst = std::max(worst, std::fabs(host.final_epsilon() - r.averaged_step[l]) / host.final_epsilon());
    }
    CHECK_MESSAGE(worst < 1e-12, "device steps vs ebm::dual_averaging_state on the device's acceptances: max "
                                 "relative difference " << worst);
    const double final_step = static_cast<float>(host.final_epsilon());
    CHECK_MESSAGE(std::fabs(r.epsilon - final_step) <= 1e-6 * final_step,
                  "adapt returned " << r.epsilon << ", the host's averaged step is " << final_step);
}

/// x* = 0, alpha = 1: a proper, curved target over the toy MLP (see the statistical case below).
gpu_ops::wrapper toy_magnet() { return {gpu_ops::wrapper_kind::magnetized, 1.0f, {0.0f, 0.0f}}; }

}  // namespace

TEST_CASE("MALA adaptation on the device: dual averaging == ebm::dual_averaging_state, graph == direct") {
    SUBCASE("magnetized(mlp, 0, 1), 100 chains, 20 warm-up steps") {
        // The magnet keeps the acceptances inside (0, 1); on the bare MLP they stay at 1 and the step explodes.
        const gpu_ops::wrapper magnet = toy_magnet();
        check_adaptation_arithmetic(model_of(toy_mlp()), 2, 100, 0.3f, 20, &magnet);
    }
    SUBCASE("convnet::short_run(32), n_f 4, init seed 19, 4 chains, 5 warm-up steps") {
        const ebm::convnet cpu = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{19});
        check_adaptation_arithmetic(model_of(cpu, gpu_ops::architecture::short_run, 32, 4, 0.2f), cpu.dimension(), 4,
                                    0.05f, 5);
    }
}

TEST_CASE("MALA adaptation, statistically: 2000 chains adapt to the CPU's step and then accept 0.574 +- 0.05") {
    // The target: the toy MLP plus alpha ||x|| (magnetized, alpha 1, x* = 0). The MLP alone is piecewise linear and
    // nearly linear in 2D, and MALA is exact for a linear energy (acceptance 1 at any step): the adaptation would
    // drive the step to ~370 and the chains to infinity (measured on the CPU). The magnetic term makes exp(-U)
    // proper, with curvature ~1/||x||.
    // Numbers measured with the CPU half of this test: after 50 warm-up steps from eps0 = 0.3 the averaged step is
    // 2.31-2.34 over the sampler seeds 1..10 (spread 1.2 %; the same for eps0 0.1, 0.5, 1.0) and the following
    // 50-step run accepts 0.577-0.586. Another seed replaces all the noise, a far larger change than the device's
    // rounding, so the GPU run should land inside that spread: the 10 % bound on the step has a margin of 8x, the
    // 0.05 bound on the acceptance (about the change a 7 % step error makes: a(2.0) = 0.67, a(3.0) = 0.38) of 4x.
    // The sampling error of the run's acceptance (2000 chains x 50 steps) is about 0.002.
    const idx n = 2000, warmup = 50, run_steps = 50;
    const float eps0 = 0.3f;
    const std::uint64_t seed = 1;
    const gpu_ops::wrapper magnet = toy_magnet();
    const std::vector<float>& target = magnet.target;
    const float alpha = magnet.value;
    INFO(n << " chains from states seed 20, eps0 " << eps0 << ", " << warmup << " warm-up + " << run_steps
           << " steps, sampler seed " << seed << ", magnetized(mlp, 0, " << alpha << ")");
    const auto x0 = states(2, n, 20);

    auto gpu_x = x0;
    const auto gpu =
        gpu_ops::mala_adapt(model_of(toy_mlp()), gpu_x, n, eps0, warmup, seed, 0, true, run_steps, &magnet);

    const auto energy = ebm::magnetized(toy_mlp(), std::span<const float>(target), alpha);
    ebm::batch x(2, n);
    std::copy(x0.begin(), x0.end(), x.data());
    const ebm::mala policy{.epsilon = eps0, .steps = run_steps};
    auto st = policy.make_state(energy, n);
    const float cpu_eps = policy.adapt(st, energy, x.view(), ebm::philox(seed), 0, warmup);
    const auto cpu_run = policy.run(st, energy, x.view(), ebm::philox(seed), warmup);

    MESSAGE("adapted step gpu " << gpu.epsilon << ", cpu " << cpu_eps << "; acceptance afterwards gpu "
                                << gpu.run.acceptance << ", cpu " << cpu_run.acceptance);
    const double ratio = static_cast<double>(gpu.epsilon) / static_cast<double>(cpu_eps);
    CHECK_MESSAGE(std::fabs(ratio - 1.0) < 0.1, "eps_gpu / eps_cpu = " << ratio);
    CHECK_MESSAGE(std::fabs(cpu_run.acceptance - 0.574) < 0.05, "CPU acceptance with the adapted step "
                                                                     << cpu_run.acceptance);
    CHECK_MESSAGE(std::fabs(gpu.run.acceptance - 0.574) < 0.05, "GPU acceptance with the adapted step "
                                                                     << gpu.run.acceptance);
    CHECK_MESSAGE(gpu.run.non_finite_rejections == 0,
                  "non-finite proposals on the GPU: " << gpu.run.non_finite_rejections);
}

// ---- optimizer and trainer ---------------------------------------------------------------------------------------

TEST_CASE("Adam: three device steps == ebm::adam") {
    std::vector<float> p(1000), g(1000);
    for (std::size_t k = 0; k < p.size(); ++k) {
        p[k] = std::sin(0.1f * static_cast<float>(k));
        g[k] = std::cos(0.37f * static_cast<float>(k));
    }
    const auto gpu = gpu_ops::adam_steps(p, g, 1e-3f, 3);
    const ebm::adam policy{.learning_rate = 1e-3f};
    auto st = policy.make_state(static_cast<idx>(p.size()));
    for (int t = 0; t < 3; ++t) policy.step(st, std::span<float>(p), std::span<const float>(g));
    const double diff = max_abs_difference(gpu, p);
    CHECK_MESSAGE(diff < 1e-6, "parameters after 3 Adam steps: max |gpu - cpu| = " << diff);
}

TEST_CASE("training, MLP: Langevin + uniform init + SGD, one iteration vs the CPU trainer") {
    const gpu_ops::training_setup setup{.kind = gpu_ops::policies::langevin_uniform_sgd, .epsilon = 0.125f,
                                        .steps = 20, .learning_rate = 1e-2f, .data_noise = 0.03f, .seed = 123};
    compare_training(toy_mlp(), model_of(toy_mlp()), 100, setup, 1);
}

TEST_CASE("training: Langevin + persistent bank + Adam, two iterations: MLP, short-run ConvNet, non-local net") {
    // The bank has the batch's size, so the second iteration draws what the first wrote back; Adam's epsilon 1
    // keeps its first steps smooth in the gradient, so that float differences stay float-sized.
    SUBCASE("mlp, 100 chains") {
        const gpu_ops::training_setup setup{.kind = gpu_ops::policies::langevin_bank_adam, .epsilon = 0.125f,
                                            .steps = 10, .learning_rate = 1e-3f, .adam_epsilon = 1.0f, .seed = 123};
        compare_training(toy_mlp(), model_of(toy_mlp()), 100, setup, 2);
    }
    const gpu_ops::training_setup images{.kind = gpu_ops::policies::langevin_bank_adam, .epsilon = 0.05f, .steps = 5,
                                         .learning_rate = 1e-3f, .adam_epsilon = 1.0f, .seed = 123};
    SUBCASE("convnet::short_run(32), n_f 4, init seed 17, 4 chains") {
        const ebm::convnet cpu = ebm::convnet::short_run(32, 4, 3, 0.2f, {}, ebm::seed{17});
        compare_training(cpu, model_of(cpu, gpu_ops::architecture::short_run, 32, 4, 0.2f), 4, images, 2);
    }
    SUBCASE("nonlocal_net, n_f 4, init seed 18, projections seed 99, 4 chains") {
        ebm::nonlocal_net cpu(3, 4, 0.05f, ebm::seed{18});
        perturb_projections(cpu);
        compare_training(cpu, model_of(cpu, gpu_ops::architecture::nonlocal, 32, 4, 0.05f), 4, images, 2);
    }
}

// ---- checkpoints -------------------------------------------------------------------------------------------------

namespace {

/// The two trainer kinds the checkpoint cases run: every piece of state a checkpoint holds is in one of them (bank
/// and its slot order, Adam moments and steps; MALA's step size, SGD momentum and steps). Adam's epsilon 1 keeps the
/// update smooth in the gradient, so that the GPU and CPU parameters after one more iteration stay float-close.
std::vector<std::pair<const char*, gpu_ops::training_setup>> checkpoint_setups() {
    return {{"mlp, langevin, persistent_bank, adam",
             {.kind = gpu_ops::policies::langevin_bank_adam, .epsilon = 0.125f, .steps = 10, .learning_rate = 1e-3f,
              .adam_epsilon = 1.0f, .seed = 31}},
            {"mlp, mala, uniform_noise, sgd with momentum 0.9",
             {.kind = gpu_ops::policies::mala_uniform_sgd, .epsilon = 0.125f, .steps = 10, .learning_rate = 1e-2f,
              .momentum = 0.9f, .seed = 32}}};
}

}  // namespace

TEST_CASE("GPU trainer checkpoint/resume is bit-exact: k + m iterations == k, save, load into a fresh trainer, m") {
    const auto m = model_of(toy_mlp());
    const idx n = 100;
    const int k = 2, more = 2;
    const auto positives = states(2, n, 16);
    for (const auto& [name, setup] : checkpoint_setups()) {
        INFO(std::string(name) << ", trainer seed " << setup.seed << ", positives seed 16, k = " << k
                               << ", m = " << more);
        const temporary_folder folder;
        const std::string path = folder.file("resume.safetensors");
        const auto straight = gpu_ops::train(m, positives, n, setup, {.iterations = k + more});
        const auto first = gpu_ops::train(m, positives, n, setup, {.iterations = k, .save_to = path, .save_after = k});
        const auto resumed = gpu_ops::train(m, positives, n, setup, {.iterations = more, .load_from = path});

        const auto saved = file_bytes(path);
        CHECK_MESSAGE(saved == first.final_state, "the file holds the state the first trainer ended with: "
                                                      << byte_difference(saved, first.final_state));
        CHECK_MESSAGE(resumed.loaded_state == first.final_state,
                      "after load_checkpoint the fresh trainer's state equals the saved one, byte for byte: "
                          << byte_difference(resumed.loaded_state, first.final_state));
        const std::size_t dp = differing(resumed.parameters, straight.parameters);
        const std::size_t dn = differing(resumed.negatives, straight.negatives);
        CHECK_MESSAGE(dp == 0, dp << " of " << straight.parameters.size() << " parameters differ (max |resumed - "
                                  "straight| = " << max_abs_difference(resumed.parameters, straight.parameters) << ")");
        CHECK_MESSAGE(dn == 0, dn << " of " << straight.negatives.size() << " negatives differ (max |resumed - "
                                  "straight| = " << max_abs_difference(resumed.negatives, straight.negatives) << ")");
        CHECK_MESSAGE(resumed.final_state == straight.final_state,
                      "the whole trainer state (bank, optimizer, step size, counters) equals the uninterrupted run's: "
                          << byte_difference(resumed.final_state, straight.final_state));
        REQUIRE(resumed.records.size() == static_cast<std::size_t>(more));
        for (int j = 0; j < more; ++j) {
            const auto& a = straight.records[static_cast<std::size_t>(k + j)];
            const auto& c = resumed.records[static_cast<std::size_t>(j)];
            CHECK(c.iteration == a.iteration);
            CHECK_MESSAGE(c.d == a.d, "d_t resumed " << c.d << ", straight " << a.d);
            CHECK_MESSAGE(c.r == a.r, "r_t resumed " << c.r << ", straight " << a.r);
            CHECK_MESSAGE(c.acceptance == a.acceptance,
                          "acceptance resumed " << c.acceptance << ", straight " << a.acceptance);
        }
    }
}

TEST_CASE("checkpoints move between backends: GPU -> CPU and CPU -> GPU with the same policies") {
    const ebm::mlp& cpu = toy_mlp();
    const auto m = model_of(cpu);
    const idx n = 100;
    const int k = 2;
    const auto positives = states(2, n, 16);
    for (const auto& [name, setup] : checkpoint_setups()) {
        INFO(std::string(name) << ", trainer seed " << setup.seed << ", positives seed 16, saved after " << k
                               << " iterations");
        const temporary_folder folder;
        {  // written by the GPU trainer, loaded by the CPU trainer
            INFO("GPU -> CPU");
            const std::string path = folder.file("from_gpu.safetensors");
            const auto gpu =
                gpu_ops::train(m, positives, n, setup, {.iterations = k + 1, .save_to = path, .save_after = k});
            const ebm::checkpoint_info info = ebm::read_checkpoint_info(path);
            CHECK_MESSAGE(info.architecture == ebm::energy_architecture(cpu),
                          "architecture in the file '" << info.architecture << "', CPU energy '"
                                                       << ebm::energy_architecture(cpu) << "'");
            const auto ref = cpu_train(cpu, positives, n, setup, {.iterations = 1, .load_from = path});
            const auto saved = file_bytes(path);
            CHECK_MESSAGE(ref.loaded_state == saved,
                          "the CPU trainer's state after the load equals the GPU's checkpoint, byte for byte: "
                              << byte_difference(ref.loaded_state, saved));
            REQUIRE(ref.records.size() == 1);
            compare_record(gpu.records[static_cast<std::size_t>(k)], ref.records[0]);
            const double dp = max_abs_difference(gpu.parameters, ref.parameters);
            CHECK_MESSAGE(dp < 1e-5, "parameters one iteration after the load: max |gpu - cpu| = " << dp);
        }
        {  // written by the CPU trainer, loaded by the GPU trainer
            INFO("CPU -> GPU");
            const std::string path = folder.file("from_cpu.safetensors");
            const auto ref =
                cpu_train(cpu, positives, n, setup, {.iterations = k + 1, .save_to = path, .save_after = k});
            const auto gpu = gpu_ops::train(m, positives, n, setup, {.iterations = 1, .load_from = path});
            const auto saved = file_bytes(path);
            CHECK_MESSAGE(gpu.loaded_state == saved,
                          "the GPU trainer's state after the load equals the CPU's checkpoint, byte for byte: "
                              << byte_difference(gpu.loaded_state, saved));
            REQUIRE(gpu.records.size() == 1);
            compare_record(gpu.records[0], ref.records[static_cast<std::size_t>(k)]);
            const double dp = max_abs_difference(gpu.parameters, ref.parameters);
            CHECK_MESSAGE(dp < 1e-5, "parameters one iteration after the load: max |gpu - cpu| = " << dp);
        }
    }
}

// ---- recipes and wrappers ----------------------------------------------------------------------------------------

TEST_CASE("recipes on the GPU: make_convergent_trainer / make_short_run_trainer vs the CPU recipes, 2 iterations") {
    // The recipes' defaults except L = 10 sampler steps: the toy MLP is piecewise linear, and a state that lands
    // within rounding of a kink takes the other gradient on one backend, which moves r_t by up to ~1e-3. Measured on
    // the CPU with the parameters moved by 1, 4 and 16 ulps (300 trials each): L = 10 gave 0, 0 and 3 such
    // failures of a 1e-4 bound, L = 5 and L = 20 up to 94, and the defaults (L = 100, 500) fail at 1 ulp already.
    // The bound is therefore 3e-3: one kink event passes, a wrong recipe (step, scaling, rate) is off by far more.
    // d_t is relative to max(|d_t|, 1 % of the mean energies): a difference of two means, it carries their rounding.
    const auto m = model_of(toy_mlp());
    const idx steps = 10;
    for (const auto kind : {gpu_ops::recipe::convergent, gpu_ops::recipe::short_run}) {
        const bool convergent = kind == gpu_ops::recipe::convergent;
        const idx batch = convergent ? 100 : 64;
        INFO(std::string(convergent ? "make_convergent_trainer" : "make_short_run_trainer")
             << " (recipe seed), L = " << steps << ", batch " << batch << ", positives seed 16");
        const auto positives = states(2, batch, 16);
        const auto gpu = gpu_ops::run_recipe(m, kind, steps, batch, positives, 2);
        std::vector<ebm::iteration_record> ref;
        const auto iterate = [&](auto trainer) {
            for (int t = 0; t < 2; ++t) ref.push_back(trainer.step(ebm::const_batch_view(positives.data(), 2, batch)));
        };
        if (convergent)
            iterate(ebm::make_convergent_trainer(toy_mlp(), gpu_ops::convergent_settings(steps, batch)));
        else
            iterate(ebm::make_short_run_trainer(toy_mlp(), gpu_ops::short_run_settings(steps, batch)));
        REQUIRE(gpu.size() == ref.size());
        for (std::size_t t = 0; t < ref.size(); ++t) {
            const auto& g = gpu[t];
            const auto& c = ref[t];
            INFO("iteration " << t);
            const double d_scale =
                std::max(std::fabs(c.d), 1e-2 * std::max(std::fabs(c.positive_energy), std::fabs(c.negative_energy)));
            const double dd = std::fabs(g.d - c.d) / d_scale, dr = std::fabs(g.r - c.r) / std::fabs(c.r);
            CHECK_MESSAGE(dd < 3e-3, "d_t gpu " << g.d << ", cpu " << c.d << ": relative difference " << dd);
            CHECK_MESSAGE(dr < 3e-3, "r_t gpu " << g.r << ", cpu " << c.r << ": relative difference " << dr);
            CHECK(g.diverged == c.diverged);
        }
    }
}

TEST_CASE("wrappers on the GPU: scaled, tempered and magnetized over the device MLP vs the same over the CPU MLP") {
    const auto m = model_of(toy_mlp());
    const idx n = 100;
    SUBCASE("scaled(mlp, eps 0.125)") {
        const gpu_ops::wrapper w{gpu_ops::wrapper_kind::scaled, 0.125f, {}};
        compare_energy(ebm::scaled(toy_mlp(), 0.125f), m, n, 41, &w);
    }
    SUBCASE("tempered(mlp, T 0.5)") {
        const gpu_ops::wrapper w{gpu_ops::wrapper_kind::tempered, 0.5f, {}};
        compare_energy(ebm::tempered(toy_mlp(), 0.5f), m, n, 42, &w);
    }
    SUBCASE("magnetized(mlp, x* = (0.3, -0.2), alpha 0.7)") {
        const std::vector<float> target = {0.3f, -0.2f};
        const gpu_ops::wrapper w{gpu_ops::wrapper_kind::magnetized, 0.7f, target};
        compare_energy(ebm::magnetized(toy_mlp(), std::span<const float>(target), 0.7f), m, n, 43, &w);
    }
}

int main(int argc, char** argv) {
    if (gpu_ops::device_count() == 0) {
        std::printf("SKIPPED: no CUDA device (cudaGetDeviceCount reports none or fails); "
                    "run on a machine with a GPU (docs/cuda.md)\n");
        return 77;
    }
    std::printf("device: %s\n", gpu_ops::device_name().c_str());
    doctest::Context context(argc, argv);
    return context.run();
}

// network_energy: an energy composed from layers (the guide is docs/energies.md, "From layers").
//   1. The network of toy_energy.json — Linear(2, 64), SiLU, Linear(64, 64), SiLU, Linear(64, 1), as one would
//      write it in PyTorch — read from JSON, and the same network built in C++; both give the same parameter names
//      and energies.
//   2. ebm::check_gradients checks dU/dx, the weighted dU/dθ and the Hessian-vector product (SiLU is smooth, so the
//      Hessian is not zero) against central differences.
//   3. Algorithm 1 trains it (persistent Langevin chains, Adam) on the Anatomy 8-Gaussian mixture; the program
//      reports the fraction of model samples within 2 standard deviations (0.3) of a mode, before and after.
//   4. The weights are saved under PyTorch's state_dict names ("0.weight", "0.bias", "2.weight", ...), so that
//      nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1)) loads them with
//      load_state_dict(safetensors.torch.load_file(path)).
//   network_energy [toy_energy.json] [weights.safetensors]
// Exit status 1 when a check fails or training did not at least double the fraction on the modes; fixed seeds, so
// the printed figures repeat exactly.
#include <ebm/ebm.hpp>
#include <ebm/energy/network_json.hpp>
#include <ebm/eval/gradient_check.hpp>
#include <ebm/io/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <numbers>
#include <string>
#include <vector>

namespace {

/// The network of toy_energy.json, in C++.
ebm::network_spec toy_energy_in_cpp() {
    namespace l = ebm::layers;
    return {.input = {2},
            .layers = {l::linear{.in_features = 2, .out_features = 64}, l::silu(),
                       l::linear{.in_features = 64, .out_features = 64}, l::silu(),
                       l::linear{.in_features = 64, .out_features = 1}}};
}

/// Fraction of `samples` within 0.3 (two standard deviations) of one of the mixture's 8 modes.
double on_modes(const ebm::batch& samples) {
    ebm::index near = 0;
    for (ebm::index i = 0; i < samples.count(); ++i)
        for (int k = 0; k < 8; ++k) {
            const double a = 2.0 * std::numbers::pi * k / 8.0;
            const double dx = samples.chain(i)[0] - std::cos(a), dy = samples.chain(i)[1] - std::sin(a);
            if (dx * dx + dy * dy < 0.09) {
                ++near;
                break;
            }
        }
    return static_cast<double>(near) / static_cast<double>(samples.count());
}

/// 1,000 chains from U[−2, 2]², 200 Langevin steps (ε = 0.05) on the model.
ebm::batch model_samples(const ebm::network& energy) {
    ebm::batch x(2, 1000);
    ebm::uniform_noise{-2.0f, 2.0f}.fill(x, ebm::philox(ebm::seed{5}), ebm::purpose::user, 0);
    ebm::markov_chain chain(ebm::langevin{.epsilon = 0.05f, .steps = 200}, energy, x.view(), ebm::philox(ebm::seed{5}));
    (void)chain.run();
    return x;
}

int run(const std::string& description, const std::string& weights_file) {
    bool ok = true;
    // 1. From JSON and from C++.
    ebm::network net(ebm::load_network_spec(description), ebm::seed{1});
    const ebm::network same(toy_energy_in_cpp(), ebm::seed{1});
    std::printf("%s: %td parameters:", description.c_str(), net.parameter_count());
    for (const ebm::parameter_tensor& t : net.parameter_tensors()) std::printf(" %s", t.name.c_str());
    std::printf("\n");
    ebm::batch x(2, 6);
    ebm::uniform_noise{-2.0f, 2.0f}.fill(x, ebm::philox(ebm::seed{2}), ebm::purpose::user, 0);
    std::vector<float> u(6), u_same(6);
    auto ws = net.make_workspace(6), ws_same = same.make_workspace(6);
    net.energy(x, u, ws);
    same.energy(x, u_same, ws_same);
    const bool identical = std::memcmp(u.data(), u_same.data(), sizeof(float) * u.size()) == 0;
    std::printf("the JSON and the C++ description give the same energies: %s\n", identical ? "yes" : "NO");
    ok = ok && identical;

    // 2. The derivatives against central differences.
    const std::vector<float> weights = {0.5f, -0.25f, 1.0f, -0.75f, 0.3f, -0.1f};
    // The Hessian-vector product is checked against differences of the float gradients, whose rounding (terms of 64
    // units cancelling) is divided by the step: a step of 1e-2 keeps it below the tolerance (the worst relative error
    // falls from 0.045 at 1e-4 to 6e-4 at 1e-2 on this net), while the truncation error stays far below it.
    ebm::gradient_check_options options;
    options.hessian_step = 1e-2;
    const ebm::gradient_check_result check = ebm::check_gradients(net, x.view(), weights, options);
    std::printf("check_gradients (states seed 2, parameters seed 1):\n%s", check.report().c_str());
    ok = ok && check.passed();

    // 3. Training (Algorithm 1: persistent chains, Langevin, Adam) on the Anatomy 8-Gaussian mixture.
    const double before = on_modes(model_samples(net));
    const auto data = ebm::toy::gmm();
    ebm::ml_trainer trainer{net,
                            ebm::langevin{.epsilon = 0.05f, .steps = 50},
                            ebm::persistent_bank<ebm::uniform_noise>{.size = 1000, .init = {-2.0f, 2.0f}},
                            ebm::adam{.learning_rate = 0.005f},
                            ebm::trainer_options{.batch_size = 100, .random_seed = ebm::seed{6}}};
    ebm::batch positives(2, 100);
    for (int t = 0; t < 400; ++t) {
        data.sample(positives, trainer.rng(), ebm::purpose::data_sample, trainer.iteration());
        const ebm::iteration_record rec = trainer.step(positives);
        if (t % 100 == 99) std::printf("iteration %4d: d_t %+.4f\n", t + 1, rec.d);
    }
    const double after = on_modes(model_samples(trainer.energy()));
    std::printf("fraction of model samples within 0.3 of a mode: %.3f before training, %.3f after (data: %.3f)\n",
                before, after, 1.0 - std::exp(-0.09 / (2 * 0.15 * 0.15)));
    ok = ok && after > 2.0 * before;

    // 4. The weights under PyTorch's names.
    if (!weights_file.empty()) {
        ebm::io::save_parameters(trainer.energy(), weights_file);
        std::printf("weights -> %s\n", weights_file.c_str());
    }
    std::printf("%s\n", ok ? "all checks passed" : "FAILED");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc > 1 ? argv[1] : "toy_energy.json", argc > 2 ? argv[2] : "");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "network_energy: %s\n", e.what());
        return 1;
    }
}

// custom_energy: write your own energy by hand, check it, and use it with the library's samplers and trainer
// (the guide is docs/energies.md).
//   1. coupled_wells: an analytic energy with dU/dx and Hessian-vector products, checked by ebm::check_gradients and
//      sampled with MALA (with step-size adaptation) through ebm::markov_chain.
//   2. rbf_energy: a learnable energy linear in its parameters, U_θ(x) = Σ_j θ_j φ_j(x) + |x|²/8, with Gaussian
//      bumps φ_j on a 7 x 7 grid; checked (dU/dx, the weighted dU/dθ, the Hessian-vector product), then trained by
//      Algorithm 1 (persistent Langevin chains, Adam) on the Anatomy 8-Gaussian mixture. An energy linear in θ is
//      an exponential family, whose maximum-likelihood fit matches the model's feature means to the data's: the
//      program reports the largest gap |E_data φ_j − E_model φ_j| before and after training.
// Exit status 1 when a check fails or training did not shrink the moment gap to half; fixed seeds, so the printed
// figures repeat exactly.
#include <ebm/ebm.hpp>
#include <ebm/eval/gradient_check.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

namespace {

// ---- 1. An analytic energy --------------------------------------------------------------------------------------

/// U(x) = Σ_k (x_k² − 1)² / 4 + (c/2) Σ_k (x_{k+1} − x_k)²: a double well per coordinate, neighbours coupled.
struct coupled_wells {
    struct workspace {};  // nothing to keep between calls
    ebm::index d = 8;
    float coupling = 0.5f;

    [[nodiscard]] ebm::index dimension() const { return d; }
    [[nodiscard]] workspace make_workspace(ebm::index /*max_chains*/) const { return {}; }

    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), nullptr);
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), g.chain(i));
    }
    /// (d²U/dx²) v: (3 x_k² − 1) v_k on the diagonal, plus c times the chain graph's Laplacian applied to v.
    void hessian_vector_product(ebm::const_batch_view x, ebm::const_batch_view v, ebm::batch_view hv, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            const float *xi = x.chain(i), *vi = v.chain(i);
            float* out = hv.chain(i);
            for (ebm::index k = 0; k < d; ++k) {
                float laplacian = 0;
                if (k > 0) laplacian += vi[k] - vi[k - 1];
                if (k + 1 < d) laplacian += vi[k] - vi[k + 1];
                out[k] = (3.0f * xi[k] * xi[k] - 1.0f) * vi[k] + coupling * laplacian;
            }
        }
    }

private:
    float at(const float* x, float* g) const {
        float u = 0;
        for (ebm::index k = 0; k < d; ++k) {
            const float w = x[k] * x[k] - 1.0f;
            u += 0.25f * w * w;
            if (g != nullptr) g[k] = x[k] * w;
        }
        for (ebm::index k = 0; k + 1 < d; ++k) {
            const float step = x[k + 1] - x[k];
            u += 0.5f * coupling * step * step;
            if (g != nullptr) {
                g[k] -= coupling * step;
                g[k + 1] += coupling * step;
            }
        }
        return u;
    }
};
static_assert(ebm::check_hessian_vector_energy<coupled_wells>());  // one sentence per missing member

// ---- 2. A learnable energy ----------------------------------------------------------------------------------------

/// U_θ(x) = Σ_j θ_j φ_j(x) + |x|²/8, φ_j(x) = exp(−|x − c_j|² / (2 s²)), centres c_j on a 7 x 7 grid over
/// [−1.5, 1.5]², s = 0.35. The |x|²/8 term keeps exp(−U) normalisable whatever θ is.
class rbf_energy {
public:
    static constexpr int side = 7;
    static constexpr ebm::index features = side * side;
    static constexpr float width = 0.35f;

    struct workspace {};

    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    [[nodiscard]] ebm::index parameter_count() const { return features; }
    [[nodiscard]] std::span<float> parameters() { return theta_; }
    [[nodiscard]] std::span<const float> parameters() const { return theta_; }
    /// Names for reports and checkpoints (optional: check_gradients then checks each tensor on its own).
    [[nodiscard]] std::vector<ebm::parameter_tensor> parameter_tensors() const { return {{"theta", {features}, 0}}; }

    /// φ_j(x) for one state.
    [[nodiscard]] static float feature(ebm::index j, const float* x) {
        const float cx = centre(j % side), cy = centre(j / side);
        const float dx = x[0] - cx, dy = x[1] - cy;
        return std::exp(-(dx * dx + dy * dy) / (2.0f * width * width));
    }

    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), nullptr);
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) u[static_cast<std::size_t>(i)] = at(x.chain(i), g.chain(i));
    }
    /// grad += Σ_i w_i dU(x_i)/dθ = Σ_i w_i φ(x_i): the ML gradient when w = 1/n on data and −1/m on samples.
    void accumulate_parameter_gradient(ebm::const_batch_view x, std::span<const float> w, std::span<float> grad,
                                       std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            u[static_cast<std::size_t>(i)] = at(x.chain(i), nullptr);
            for (ebm::index j = 0; j < features; ++j)
                grad[static_cast<std::size_t>(j)] += w[static_cast<std::size_t>(i)] * feature(j, x.chain(i));
        }
    }
    /// d²U/dx² = I/4 + Σ_j θ_j φ_j(x) (r_j r_jᵀ / s⁴ − I / s²), r_j = x − c_j.
    void hessian_vector_product(ebm::const_batch_view x, ebm::const_batch_view v, ebm::batch_view hv, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i) {
            const float *xi = x.chain(i), *vi = v.chain(i);
            float h0 = 0.25f * vi[0], h1 = 0.25f * vi[1];
            for (ebm::index j = 0; j < features; ++j) {
                const float a = theta_[static_cast<std::size_t>(j)] * feature(j, xi);
                const float r0 = xi[0] - centre(j % side), r1 = xi[1] - centre(j / side);
                const float rv = (r0 * vi[0] + r1 * vi[1]) / (width * width);
                h0 += a * (r0 * rv - vi[0]) / (width * width);
                h1 += a * (r1 * rv - vi[1]) / (width * width);
            }
            hv.chain(i)[0] = h0;
            hv.chain(i)[1] = h1;
        }
    }

private:
    static float centre(ebm::index k) { return -1.5f + 3.0f * static_cast<float>(k) / (side - 1); }

    // U and, when asked, dU/dx = x/4 − Σ_j θ_j φ_j(x) (x − c_j) / s².
    float at(const float* x, float* g) const {
        float u = 0.125f * (x[0] * x[0] + x[1] * x[1]);
        float g0 = 0.25f * x[0], g1 = 0.25f * x[1];
        for (ebm::index j = 0; j < features; ++j) {
            const float a = theta_[static_cast<std::size_t>(j)] * feature(j, x);
            u += a;
            g0 -= a * (x[0] - centre(j % side)) / (width * width);
            g1 -= a * (x[1] - centre(j / side)) / (width * width);
        }
        if (g != nullptr) {
            g[0] = g0;
            g[1] = g1;
        }
        return u;
    }

    std::vector<float> theta_ = std::vector<float>(features, 0.0f);
};
static_assert(ebm::check_learnable_energy<rbf_energy>() && ebm::check_hessian_vector_energy<rbf_energy>());

/// Largest |mean φ_j(data) − mean φ_j(samples)| over the features.
double moment_gap(const ebm::batch& data, const ebm::batch& samples) {
    double gap = 0;
    for (ebm::index j = 0; j < rbf_energy::features; ++j) {
        double a = 0, b = 0;
        for (ebm::index i = 0; i < data.count(); ++i) a += rbf_energy::feature(j, data.chain(i));
        for (ebm::index i = 0; i < samples.count(); ++i) b += rbf_energy::feature(j, samples.chain(i));
        gap = std::max(gap, std::abs(a / static_cast<double>(data.count()) - b / static_cast<double>(samples.count())));
    }
    return gap;
}

/// 4,000 chains from U[−2, 2]², 1,000 Langevin steps: draws from the model (ε = 0.05, far below the bumps' widths).
ebm::batch model_samples(const rbf_energy& energy, std::uint64_t seed_value) {
    ebm::batch x(2, 4000);
    ebm::uniform_noise{-2.0f, 2.0f}.fill(x, ebm::philox(seed_value), ebm::purpose::user, 0);
    ebm::markov_chain chain(ebm::langevin{.epsilon = 0.05f, .steps = 1000}, energy, x.view(), ebm::philox(seed_value));
    (void)chain.run();
    return x;
}

}  // namespace

int main() {
    bool ok = true;
    const ebm::philox points(ebm::seed{1});

    // 1. The analytic energy: check, then sample.
    const coupled_wells wells;
    ebm::batch x(wells.dimension(), 6);
    ebm::uniform_noise{-1.5f, 1.5f}.fill(x, points, ebm::purpose::user, 0);
    const ebm::gradient_check_result wells_check = ebm::check_gradients(wells, x.view());
    std::printf("coupled_wells, check_gradients (seed 1):\n%s", wells_check.report().c_str());
    ok = ok && wells_check.passed();

    ebm::batch chains(wells.dimension(), 500);
    ebm::uniform_noise{-1.5f, 1.5f}.fill(chains, points, ebm::purpose::user, 1);
    ebm::markov_chain sampler(ebm::mala{.epsilon = 0.5f, .steps = 10}, wells, chains.view(), ebm::philox(ebm::seed{2}));
    const float epsilon = sampler.adapt(500);
    double acceptance = 0, energy = 0;
    for (int draw = 0; draw < 100; ++draw) {
        const ebm::sampler_stats s = sampler.run();
        acceptance += s.acceptance / 100.0;
        energy += s.mean_energy / 100.0;
    }
    std::printf("coupled_wells, MALA on 500 chains: adapted epsilon %.4f, acceptance %.3f, mean energy %.4f\n\n",
                epsilon, acceptance, energy);

    // 2. The learnable energy: check at random parameters, then train from θ = 0.
    rbf_energy model;
    ebm::fill_uniform(ebm::philox(ebm::seed{3}), ebm::purpose::user, 0, 0, model.parameters().data(),
                      model.parameter_count(), -1.0f, 1.0f);
    ebm::batch y(2, 6);
    ebm::uniform_noise{-2.0f, 2.0f}.fill(y, points, ebm::purpose::user, 2);
    const std::vector<float> weights = {0.5f, -0.25f, 1.0f, -0.75f, 0.3f, -0.1f};
    const ebm::gradient_check_result model_check = ebm::check_gradients(model, y.view(), weights);
    std::printf("rbf_energy, check_gradients (seed 1, parameters seed 3):\n%s", model_check.report().c_str());
    ok = ok && model_check.passed();
    std::fill(model.parameters().begin(), model.parameters().end(), 0.0f);

    const auto data_source = ebm::toy::gmm();
    ebm::batch data(2, 4000);
    data_source.sample(data, ebm::philox(ebm::seed{4}), ebm::purpose::data_sample, 0);
    const double gap_before = moment_gap(data, model_samples(model, 5));

    ebm::ml_trainer trainer{model,
                            ebm::langevin{.epsilon = 0.05f, .steps = 50},
                            ebm::persistent_bank<ebm::uniform_noise>{.size = 1000, .init = {-2.0f, 2.0f}},
                            ebm::adam{.learning_rate = 0.02f},
                            ebm::trainer_options{.batch_size = 100, .random_seed = ebm::seed{6}}};
    ebm::batch positives(2, 100);
    for (int t = 0; t < 2000; ++t) {
        data_source.sample(positives, trainer.rng(), ebm::purpose::data_sample, trainer.iteration());
        const ebm::iteration_record rec = trainer.step(positives);
        if (t % 400 == 399)
            std::printf("iteration %4d: d_t %+.4f (mean U of data minus mean U of samples)\n", t + 1, rec.d);
    }
    const double gap_after = moment_gap(data, model_samples(trainer.energy(), 5));
    std::printf("rbf_energy: largest feature-mean gap |E_data phi - E_model phi| %.4f before training, %.4f after\n",
                gap_before, gap_after);
    ok = ok && gap_after < 0.5 * gap_before;
    std::printf("%s\n", ok ? "all checks passed" : "FAILED");
    return ok ? 0 : 1;
}

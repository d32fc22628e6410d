#pragma once
// Small trainers on the Anatomy toy data for the checkpoint and resume tests.
#include <ebm/ebm.hpp>

#include <cstring>
#include <span>

namespace ebm_test {

inline ebm::mlp toy_net(std::uint64_t init_seed = 7) { return ebm::mlp({2, 16, 16, 1}, ebm::leaky_relu{0.05f}, ebm::seed{init_seed}); }

/// Anatomy convergent recipe: persistent bank + SGD on U = F/(eps^2/2).
inline auto convergent(ebm::mlp net = toy_net()) {
    return ebm::make_convergent_trainer(std::move(net), {.epsilon = 0.125f, .steps = 10, .gamma0 = 0.1f, .bank_size = 64,
                                                         .batch_size = 16, .random_seed = ebm::seed{123}});
}

/// Short-run recipe: uniform init every iteration + Adam + data noise.
inline auto short_run(ebm::mlp net = toy_net()) {
    return ebm::make_short_run_trainer(std::move(net), {.steps = 10, .learning_rate = 1e-3f, .data_noise = 0.03f,
                                                        .batch_size = 16, .random_seed = ebm::seed{1}});
}

/// The positives of iteration t: a pure function of t.
struct toy_data {
    ebm::gaussian_mixture target = ebm::toy::gmm();
    ebm::batch positives{2, 16};
    ebm::const_batch_view at(std::uint64_t t) {
        target.sample(positives.view(), ebm::philox(ebm::seed{99}), ebm::purpose::data_sample, t);
        return positives.view();
    }
};

template <class T>
bool same_bytes(std::span<const T> a, std::span<const T> b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}
template <class A, class B>
bool same_values(const A& a, const B& b) {
    using T = std::remove_cvref_t<decltype(*a.data())>;
    return same_bytes(std::span<const T>(a.data(), a.size()), std::span<const T>(b.data(), b.size()));
}

}  // namespace ebm_test

#pragma once
// What landscape's two translation units share: the toy MLP's shape, and the mapping settings of the gmm scale.
#include <ebm/landscape/adelm.hpp>

namespace landscape_program {

/// The toy MLP of toy2d (Anatomy Fig. 6): 2-32-64-64-64-1, LeakyReLU 0.05.
inline const std::vector<ebm::index> toy_sizes{2, 32, 64, 64, 64, 1};
inline constexpr float toy_slope = 0.05f;
inline constexpr float toy_epsilon = 0.125f;  // the convergent toy recipe's Langevin step: U = F / (eps^2 / 2)

}  // namespace landscape_program

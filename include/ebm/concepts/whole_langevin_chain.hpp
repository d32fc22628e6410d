#pragma once
// runs_whole_langevin_chain: an energy that can run a whole unadjusted Langevin chain itself, in one kernel
// (cuda::mlp; scaled_energy over one), when runs_langevin_chain() says it can for its settings. The samplers
// (sampler/langevin.hpp) then hand it the chain instead of evaluating it step by step; the states must be the same.
#include <concepts>

#include "../kernels/langevin.hpp"

namespace ebm {

template <class E>
concept runs_whole_langevin_chain = requires(const E& e, const kernels::langevin_chain& c, typename E::workspace& ws) {
    { e.runs_langevin_chain() } -> std::convertible_to<bool>;
    e.run_langevin_chain(c, ws);
};

}  // namespace ebm

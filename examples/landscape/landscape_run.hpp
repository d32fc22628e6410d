#pragma once
// What landscape's translation units share: the toy MLP's shape, and the JSON of a mapped landscape.
#include <cmath>
#include <ebm/landscape/adelm.hpp>
#include <nlohmann/json.hpp>
#include <vector>

namespace landscape_program {

/// The toy MLP of toy2d (Anatomy Fig. 6): 2-32-64-64-64-1, LeakyReLU 0.05.
inline const std::vector<ebm::index> toy_sizes{2, 32, 64, 64, 64, 1};
inline constexpr float toy_slope = 0.05f;
inline constexpr float toy_epsilon = 0.125f;  // the convergent toy recipe's Langevin step: U = F / (eps^2 / 2)

/// A landscape as JSON: the counts of the search, `basins` (one object per basin, made by the caller), the barrier
/// matrix (null where no chain crossed) and the disconnectivity tree.
inline nlohmann::ordered_json landscape_json(const ebm::landscape::energy_landscape& l, nlohmann::ordered_json basins) {
    using json = nlohmann::ordered_json;
    const auto n = static_cast<ebm::index>(l.basins.size());
    json barriers = json::array();
    for (ebm::index a = 0; a < n; ++a) {
        json row = json::array();
        for (ebm::index b = 0; b < n; ++b)
            row.push_back(std::isfinite(l.barrier(a, b)) ? json(l.barrier(a, b)) : json(nullptr));
        barriers.push_back(row);
    }
    json merges = json::array();
    for (const auto& m : l.graph.merges) merges.push_back({{"left", m.left}, {"right", m.right}, {"level", m.level}});
    return {{"minima_found", l.minima.size()},
            {"unconverged_starts", l.unconverged},
            {"attraction_attempts", l.attraction_attempts},
            {"attraction_acceptance", l.attraction_acceptance},
            {"basins", std::move(basins)},
            {"barriers", barriers},
            {"tree", {{"merges", merges}, {"roots", l.graph.roots}, {"leaf_order", l.graph.leaf_order}}}};
}

}  // namespace landscape_program

#pragma once
// A disconnectivity graph (landscape/disconnectivity.hpp) as one panel of an io::figure: each basin is a vertical
// line rising from its minimum's energy, two groups join by a horizontal bar at their barrier's level, and the
// joined group rises on from the bar's middle. Leaves are laid out in the graph's leaf_order (no crossings); trees
// that never join rise to a common top.
#include <algorithm>
#include <string>
#include <vector>

#include "../landscape/disconnectivity.hpp"
#include "plot.hpp"

namespace ebm::io {

inline void disconnectivity_panel(figure& fig, const landscape::disconnectivity_graph& g, const std::string& title,
                                  const std::string& ylabel = "energy U") {
    const index n = g.leaves();
    const auto nodes = static_cast<std::size_t>(n) + g.merges.size();
    std::vector<double> x(nodes, 0), parent_level(nodes, 0);
    for (std::size_t k = 0; k < g.leaf_order.size(); ++k)
        x[static_cast<std::size_t>(g.leaf_order[k])] = static_cast<double>(k);
    double low = g.minima.empty() ? 0 : *std::min_element(g.minima.begin(), g.minima.end());
    double high = low;
    for (std::size_t k = 0; k < nodes; ++k) high = std::max(high, g.level(static_cast<index>(k)));
    const double top = high + 0.1 * std::max(high - low, 1e-6);
    std::fill(parent_level.begin(), parent_level.end(), top);
    std::vector<series> lines;
    for (std::size_t k = 0; k < g.merges.size(); ++k) {
        const auto& m = g.merges[k];
        const auto id = static_cast<std::size_t>(n) + k;
        x[id] = 0.5 * (x[static_cast<std::size_t>(m.left)] + x[static_cast<std::size_t>(m.right)]);
        parent_level[static_cast<std::size_t>(m.left)] = parent_level[static_cast<std::size_t>(m.right)] = m.level;
        lines.push_back(
            {{x[static_cast<std::size_t>(m.left)], x[static_cast<std::size_t>(m.right)]}, {m.level, m.level}, "", 0});
    }
    for (std::size_t id = 0; id < nodes; ++id) {
        const double from = g.level(static_cast<index>(id));
        lines.push_back({{x[id], x[id]}, {from, parent_level[id]}, "", 0});
        if (id < static_cast<std::size_t>(n))  // a short tick marks each minimum
            lines.push_back({{x[id] - 0.2, x[id] + 0.2}, {from, from}, "", 1});
    }
    fig.line_panel(title, "basin (ordered by the tree)", ylabel, lines, false, false);
}

}  // namespace ebm::io

#pragma once
// The disconnectivity graph of an energy landscape (Becker & Karplus 1997; Anatomy Sec. 4.4, Fig. 7): the basins'
// minima as leaves, joined bottom-up at the barrier levels that connect them. Given each basin's minimum energy and
// a symmetric matrix of barrier levels (the lowest known energy of a path between two basins; +inf where none is
// known), two groups of basins merge at the lowest barrier between any of their members: single linkage, built as
// Kruskal's minimum spanning tree over the barriers. Groups with no finite barrier between them stay separate trees.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ebm::landscape {

/// Node ids: 0 .. n-1 are the basins (leaves); n + k is the node made by merges[k].
struct merge {
    index left = 0, right = 0;
    double level = 0;  // the barrier energy at which the two groups join
};

struct disconnectivity_graph {
    std::vector<double> minima;     // leaf energies
    std::vector<merge> merges;      // in increasing level
    std::vector<index> roots;       // nodes that merge no further (1 when every basin is connected), deepest first
    std::vector<index> leaf_order;  // leaves left to right, each subtree contiguous (for drawing)

    [[nodiscard]] index leaves() const { return static_cast<index>(minima.size()); }
    /// The level of node `id`: its minimum for a leaf, its merge level otherwise.
    [[nodiscard]] double level(index id) const {
        return id < leaves() ? minima[static_cast<std::size_t>(id)]
                             : merges[static_cast<std::size_t>(id - leaves())].level;
    }
    /// Children of an inner node.
    [[nodiscard]] const merge& children(index id) const { return merges[static_cast<std::size_t>(id - leaves())]; }
};

/// barriers: n x n, row-major, symmetric (the lower value of a pair is used when they differ); a level below a
/// basin's own minimum is raised to it (a barrier cannot be lower than the basins it separates).
inline disconnectivity_graph build_disconnectivity(std::span<const double> minima, std::span<const double> barriers) {
    const char* where = "landscape::build_disconnectivity";
    const auto n = static_cast<index>(minima.size());
    if (n == 0) ebm::detail::fail(where, "minima must not be empty", 0);
    if (static_cast<index>(barriers.size()) != n * n)
        ebm::detail::fail(where, "barriers must hold minima.size()^2 = " + ebm::detail::to_text(n * n) + " values",
                          barriers.size());
    for (double m : minima) ebm::detail::require_finite(where, "minima", m);
    for (double b : barriers)
        if (std::isnan(b) || b == -std::numeric_limits<double>::infinity())
            ebm::detail::fail(where, "barriers must be finite or +inf", b);

    struct edge {
        double level;
        index a, b;
    };
    std::vector<edge> edges;
    for (index a = 0; a < n; ++a)
        for (index b = a + 1; b < n; ++b) {
            const double l =
                std::min(barriers[static_cast<std::size_t>(a * n + b)], barriers[static_cast<std::size_t>(b * n + a)]);
            if (std::isfinite(l))
                edges.push_back(
                    {std::max({l, minima[static_cast<std::size_t>(a)], minima[static_cast<std::size_t>(b)]}), a, b});
        }
    std::stable_sort(edges.begin(), edges.end(), [](const edge& x, const edge& y) { return x.level < y.level; });

    disconnectivity_graph g;
    g.minima.assign(minima.begin(), minima.end());
    std::vector<index> parent(static_cast<std::size_t>(n)),
        node(static_cast<std::size_t>(n));  // union-find; group -> node
    std::iota(parent.begin(), parent.end(), index{0});
    std::iota(node.begin(), node.end(), index{0});
    auto find = [&](index v) {
        while (parent[static_cast<std::size_t>(v)] != v)
            v = parent[static_cast<std::size_t>(v)] =
                parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(v)])];
        return v;
    };
    for (const edge& e : edges) {
        const index ra = find(e.a), rb = find(e.b);
        if (ra == rb) continue;
        const index l = node[static_cast<std::size_t>(ra)], r = node[static_cast<std::size_t>(rb)];
        parent[static_cast<std::size_t>(rb)] = ra;
        g.merges.push_back({l, r, e.level});
        node[static_cast<std::size_t>(ra)] = n + static_cast<index>(g.merges.size()) - 1;
    }
    for (index v = 0; v < n; ++v)
        if (find(v) == v) g.roots.push_back(node[static_cast<std::size_t>(v)]);
    // Leaves in depth-first order, the child with the lower minimum first.
    std::vector<double> lowest(static_cast<std::size_t>(n) + g.merges.size());
    for (index v = 0; v < n; ++v) lowest[static_cast<std::size_t>(v)] = minima[static_cast<std::size_t>(v)];
    for (std::size_t k = 0; k < g.merges.size(); ++k)
        lowest[static_cast<std::size_t>(n) + k] = std::min(lowest[static_cast<std::size_t>(g.merges[k].left)],
                                                           lowest[static_cast<std::size_t>(g.merges[k].right)]);
    std::stable_sort(g.roots.begin(), g.roots.end(), [&](index a, index b) {
        return lowest[static_cast<std::size_t>(a)] < lowest[static_cast<std::size_t>(b)];
    });
    std::vector<index> stack(g.roots.rbegin(), g.roots.rend());
    while (!stack.empty()) {
        const index id = stack.back();
        stack.pop_back();
        if (id < n) {
            g.leaf_order.push_back(id);
            continue;
        }
        const merge& m = g.children(id);
        const bool left_first = lowest[static_cast<std::size_t>(m.left)] <= lowest[static_cast<std::size_t>(m.right)];
        stack.push_back(left_first ? m.right : m.left);
        stack.push_back(left_first ? m.left : m.right);
    }
    return g;
}

}  // namespace ebm::landscape

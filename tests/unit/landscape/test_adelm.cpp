// Energy-landscape mapping (ADELM) on the analytic gmm toy, whose landscape is known: 8 minima at the component
// means, and between neighbours a saddle on the chord's midpoint. The barriers are checked against a second,
// independent method: the watershed of U on a fine grid (union-find over cells in increasing energy; two modes'
// barrier is the level at which their sublevel sets first connect), itself checked against the saddle's closed form.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ebm/energy/toy.hpp>
#include <ebm/landscape/adelm.hpp>
#include <numbers>
#include <numeric>
#include <span>
#include <vector>

#include "../../statistical/seed.hpp"
#include "../common/expect_error.hpp"

namespace {

std::vector<std::array<double, 2>> gmm_means() {
    std::vector<std::array<double, 2>> m;
    for (int k = 0; k < 8; ++k)
        m.push_back({std::cos(2 * std::numbers::pi * k / 8), std::sin(2 * std::numbers::pi * k / 8)});
    return m;
}

// Starts on a 12 x 12 grid over [-1.5, 1.5]^2, shifted off the origin (a critical point of the symmetric mixture).
ebm::batch grid_starts(int side = 12) {
    ebm::batch x(2, side * side);
    for (int i = 0; i < side; ++i)
        for (int j = 0; j < side; ++j) {
            x.chain(i * side + j)[0] = static_cast<float>(-1.5 + 3.0 * (i + 0.5) / side + 0.01);
            x.chain(i * side + j)[1] = static_cast<float>(-1.5 + 3.0 * (j + 0.5) / side + 0.02);
        }
    return x;
}

int nearest_mean(const std::vector<float>& x, double* distance = nullptr) {
    const auto means = gmm_means();
    int best = 0;
    double d = 1e300;
    for (int k = 0; k < 8; ++k) {
        const double e = std::hypot(x[0] - means[k][0], x[1] - means[k][1]);
        if (e < d) d = e, best = k;
    }
    if (distance) *distance = d;
    return best;
}

// The watershed barrier between the basins of mode 0 and mode 1 on an n x n grid over [-1.6, 1.6]^2.
double watershed_barrier(const ebm::gaussian_mixture& gmm, int n) {
    const double extent = 1.6, h = 2 * extent / (n - 1);
    ebm::batch x(2, static_cast<ebm::index>(n) * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            x.chain(i * n + j)[0] = static_cast<float>(-extent + i * h);
            x.chain(i * n + j)[1] = static_cast<float>(-extent + j * h);
        }
    std::vector<float> u(static_cast<std::size_t>(n) * n);
    auto ws = gmm.make_workspace(x.count());
    gmm.energy(x.view(), u, ws);
    std::vector<int> order(u.size()), parent(u.size(), -1);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return u[a] < u[b]; });
    auto find = [&](int v) {
        while (parent[v] != v) v = parent[v] = parent[parent[v]];
        return v;
    };
    auto cell = [&](double px, double py) {
        return static_cast<int>(std::lround((px + extent) / h)) * n + static_cast<int>(std::lround((py + extent) / h));
    };
    const auto means = gmm_means();
    const int a = cell(means[0][0], means[0][1]), b = cell(means[1][0], means[1][1]);
    for (int c : order) {
        parent[c] = c;
        const int i = c / n, j = c % n;
        const int nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
        for (const auto& q : nb) {
            if (q[0] < 0 || q[0] >= n || q[1] < 0 || q[1] >= n) continue;
            const int d = q[0] * n + q[1];
            if (parent[d] >= 0) parent[find(d)] = find(c);
        }
        if (parent[a] >= 0 && parent[b] >= 0 && find(a) == find(b)) return u[c];
    }
    return INFINITY;
}

// A piecewise-linear energy, U(x) = |x0 - 0.3| + 2 |x1 + 0.2|: its minimum is a kink where the gradient never
// vanishes, as at the minima of a (leaky-)ReLU network.
struct l1_cone {
    struct workspace {};
    [[nodiscard]] ebm::index dimension() const { return 2; }
    [[nodiscard]] workspace make_workspace(ebm::index) const { return {}; }
    void energy(ebm::const_batch_view x, std::span<float> u, workspace&) const {
        for (ebm::index i = 0; i < x.count; ++i)
            u[static_cast<std::size_t>(i)] = std::abs(x.chain(i)[0] - 0.3f) + 2 * std::abs(x.chain(i)[1] + 0.2f);
    }
    void energy_and_gradient(ebm::const_batch_view x, std::span<float> u, ebm::batch_view g, workspace& ws) const {
        energy(x, u, ws);
        for (ebm::index i = 0; i < x.count; ++i) {
            g.chain(i)[0] = x.chain(i)[0] >= 0.3f ? 1.0f : -1.0f;
            g.chain(i)[1] = x.chain(i)[1] >= -0.2f ? 2.0f : -2.0f;
        }
    }
};

ebm::landscape::adelm_settings gmm_settings() {
    ebm::landscape::adelm_settings s;
    s.descent = {.step = 0.005f, .max_steps = 20'000, .check_every = 250, .gradient_tolerance = 1e-3f};
    s.merge = {.temperature = 0.1f, .alpha = 20.0f, .epsilon = 0.02f, .max_steps = 1'000, .reach = 0.05f, .chains = 8};
    s.barrier = {
        .temperature = 0.1f, .alpha = 100.0f, .epsilon = 0.01f, .max_steps = 2'000, .reach = 0.05f, .chains = 16};
    return s;
}

}  // namespace

TEST_CASE("descend: every start of a grid ends at one of the gmm's 8 component means") {
    const auto gmm = ebm::toy::gmm();
    const auto starts = grid_starts();
    const auto minima = ebm::landscape::descend(gmm, starts.view(), gmm_settings().descent);
    REQUIRE(minima.size() == static_cast<std::size_t>(starts.count()));
    std::vector<int> hits(8, 0);
    for (const auto& m : minima) {
        CHECK(m.converged);
        double d = 0;
        ++hits[nearest_mean(m.state, &d)];
        // ||dU/dx|| < 1e-3 with curvature 1/0.15^2 = 44.4 at a mode: within 2.3e-5 of the minimum, which lies within
        // 1e-5 of the mean (the other components' pull is below e^-13); 1e-3 leaves room for float rounding.
        CHECK(d < 1e-3);
        CHECK(m.energy == doctest::Approx(0.1230742).epsilon(1e-5));  // -log(1 / (8 * 2 pi 0.15^2)) at a mean
    }
    for (int k = 0; k < 8; ++k) CHECK(hits[k] > 0);
}

TEST_CASE(
    "descend: a piecewise-linear energy converges by the energy criterion, and step decay closes in on the kink") {
    const ebm::index n = 16;
    ebm::batch starts(2, n);
    for (ebm::index i = 0; i < n; ++i) {
        starts.chain(i)[0] = -1.0f + 0.13f * static_cast<float>(i);
        starts.chain(i)[1] = 0.9f - 0.11f * static_cast<float>(i);
    }
    ebm::landscape::descent d{.step = 0.01f, .max_steps = 5'000, .check_every = 100, .gradient_tolerance = 1e-3f};
    // The gradient criterion alone never fires: ||dU/dx|| = sqrt(5) everywhere.
    for (const auto& m : ebm::landscape::descend(l1_cone{}, starts.view(), d)) {
        CHECK_FALSE(m.converged);
        CHECK(m.steps == d.max_steps);
    }
    // The energy criterion stops once descent bounces around the kink: within one step (h ||g|| = 0.022) of it.
    d.energy_tolerance = 1e-6f;
    for (const auto& m : ebm::landscape::descend(l1_cone{}, starts.view(), d)) {
        CHECK(m.converged);
        CHECK(m.steps < d.max_steps);
        CHECK(std::hypot(m.state[0] - 0.3, m.state[1] + 0.2) <= 0.025);
    }
    // With the step shrinking by 0.5 per check, the bounce shrinks with it.
    d.step_decay = 0.5f;
    for (const auto& m : ebm::landscape::descend(l1_cone{}, starts.view(), d)) {
        CHECK(m.converged);
        CHECK(std::hypot(m.state[0] - 0.3, m.state[1] + 0.2) <= 1e-4);
        CHECK(m.energy <= 3e-4f);
    }
}

TEST_CASE("the grid watershed agrees with the gmm's saddle in closed form") {
    // The saddle between modes 0 and 1 is the chord's midpoint, r = cos(pi/8) at angle pi/8; U there (double).
    const auto gmm = ebm::toy::gmm();
    ebm::batch s(2, 1);
    s.chain(0)[0] = static_cast<float>(std::cos(std::numbers::pi / 8) * std::cos(std::numbers::pi / 8));
    s.chain(0)[1] = static_cast<float>(std::cos(std::numbers::pi / 8) * std::sin(std::numbers::pi / 8));
    std::vector<float> u(1);
    auto ws = gmm.make_workspace(1);
    gmm.energy(s.view(), u, ws);
    CHECK(u[0] == doctest::Approx(2.6843006).epsilon(1e-5));
    // A 4-connected grid path crosses the ridge at most h / 2 off the saddle: U rises by at most curvature x (h/2)^2
    // / 2.
    CHECK(watershed_barrier(gmm, 641) == doctest::Approx(u[0]).epsilon(2e-3));
}

TEST_CASE("map_landscape(gmm): 8 basins at the means, and neighbour barriers at the saddle") {
    const auto gmm = ebm::toy::gmm();
    const auto starts = grid_starts();
    EBM_TEST_SEED_VAR(seed, 20261127);
    const auto settings = gmm_settings();
    const auto l = ebm::landscape::map_landscape(gmm, starts.view(), settings, ebm::philox(seed));
    const double saddle = watershed_barrier(gmm, 641);
    // The estimate is the highest U among the states a chain visits, so it can miss the saddle by the step that
    // straddles the ridge: a step of length delta crosses within delta / 2 of it, where U lies at most
    // kappa (delta / 2)^2 / 2 below, kappa = 245 the curvature of -U along the chord at the saddle
    // (1/s^2 - (d/s^2)^2, d = sin(pi/8), s = 0.15). delta <= drift + 4 sd of noise = h alpha + 4 eps (dU/dx = 0 at
    // the saddle), h = eps^2 / 2 on U/T + alpha ||x - x*||.
    const auto& ad = settings.barrier;
    const double delta = 0.5 * ad.epsilon * ad.epsilon * ad.alpha + 4.0 * ad.epsilon;
    const double undershoot = 245.0 * delta * delta / 8.0;
    // Above: the path passes the ridge away from the saddle by a thermal fluctuation of the stable direction, of
    // mean T/2 in U; the best of 16 trials exceeding 3 T is improbable (each trial's crossing excess is at most
    // Exp(1) x T / 2 in a quadratic well: P(all 16 > 3T) ~ e^-96).
    const double overshoot = 3.0 * ad.temperature;
    MESSAGE("saddle " << saddle << ", allowed [" << saddle - undershoot << ", " << saddle + overshoot << "]");
    CHECK(l.unconverged == 0);
    REQUIRE(l.basins.size() == 8);
    std::vector<int> mode_of(8);
    std::vector<int> seen(8, 0);
    for (int b = 0; b < 8; ++b) {
        double d = 0;
        mode_of[b] = nearest_mean(l.basins[b].representative, &d);
        CHECK(d < 1e-3);
        ++seen[mode_of[b]];
    }
    for (int k = 0; k < 8; ++k) CHECK(seen[k] == 1);
    for (int a = 0; a < 8; ++a)
        for (int b = 0; b < 8; ++b) {
            if (a == b) continue;
            const int gap = (mode_of[a] - mode_of[b] + 8) % 8;
            if (gap == 1 || gap == 7) {
                CHECK(l.barrier(a, b) >= saddle - undershoot);
                CHECK(l.barrier(a, b) <= saddle + overshoot);
            }
        }
    CHECK(l.graph.merges.size() == 7);
    CHECK(l.graph.roots.size() == 1);
    MESSAGE("attraction-diffusion: " << l.attraction_attempts << " runs, acceptance " << l.attraction_acceptance);
    CHECK(l.attraction_attempts >= 2 * 28);  // at least both directions of every pair of the 8 basins
    CHECK(l.attraction_acceptance > 0.5);
    CHECK(l.attraction_acceptance < 1.0);
}

TEST_CASE("map_landscape(gmm): the magnet sets the resolution (negative controls)") {
    const auto gmm = ebm::toy::gmm();
    ebm::batch starts(2, 8);  // one start near each mode
    const auto means = gmm_means();
    for (int k = 0; k < 8; ++k) {
        starts.chain(k)[0] = static_cast<float>(0.9 * means[k][0]);
        starts.chain(k)[1] = static_cast<float>(0.9 * means[k][1] + 0.05);
    }
    EBM_TEST_SEED_VAR(seed, 7);
    SUBCASE("a magnet stronger than the barrier's slope (25.6 / 0.38 = 67 on U/T) merges every mode into one basin") {
        auto s = gmm_settings();
        s.merge.alpha = 200.0f;
        const auto l = ebm::landscape::map_landscape(gmm, starts.view(), s, ebm::philox(seed));
        CHECK(l.minima.size() == 8);
        CHECK(l.basins.size() == 1);
        CHECK(l.basins[0].minima.size() == 8);
        CHECK(l.graph.merges.empty());
    }
    SUBCASE("without a magnet no chain crosses: 8 basins, no finite barrier, 8 separate trees") {
        auto s = gmm_settings();
        s.merge.alpha = 0.0f;
        s.barrier.alpha = 0.0f;
        s.barrier.max_steps = 500;
        const auto l = ebm::landscape::map_landscape(gmm, starts.view(), s, ebm::philox(seed));
        REQUIRE(l.basins.size() == 8);
        for (int a = 0; a < 8; ++a)
            for (int b = 0; b < 8; ++b)
                if (a != b) CHECK(std::isinf(l.barrier(a, b)));
        CHECK(l.graph.merges.empty());
        CHECK(l.graph.roots.size() == 8);
        CHECK(l.graph.leaf_order.size() == 8);
    }
}

TEST_CASE("map_landscape(gmm): an adapted attraction step from a far too large one finds the same 8 basins") {
    const auto gmm = ebm::toy::gmm();
    const auto starts = grid_starts(6);
    EBM_TEST_SEED_VAR(seed, 3);
    auto s = gmm_settings();
    s.merge.epsilon = s.barrier.epsilon = 1.0f;  // MALA accepts almost nothing at this step and T = 0.1
    s.barrier.temperature = 0.05f;               // a second temperature: adapted separately
    s.adapt_steps = 400;
    const auto l = ebm::landscape::map_landscape(gmm, starts.view(), s, ebm::philox(seed));
    MESSAGE("adapted steps " << l.merge_epsilon << " (T 0.1), " << l.barrier_epsilon << " (T 0.05); acceptance "
                             << l.attraction_acceptance);
    CHECK(l.basins.size() == 8);
    // The curvature of U/T at a mode is 44.4 / T: MALA's step scales like sqrt(T / 44.4), so 0.047 sqrt(T / 0.1)
    // within a factor of 3 either way.
    CHECK(l.merge_epsilon > 0.016f);
    CHECK(l.merge_epsilon < 0.15f);
    CHECK(l.barrier_epsilon < l.merge_epsilon);
    CHECK(l.attraction_acceptance > 0.3);
    auto fixed = s;
    fixed.adapt_steps = 0;
    const auto unadapted = ebm::landscape::map_landscape(gmm, starts.view(), fixed, ebm::philox(seed));
    CHECK(unadapted.merge_epsilon == 1.0f);
    CHECK(unadapted.attraction_acceptance < 0.05);
}

TEST_CASE("attract: reaches a neighbouring mode only with a strong enough magnet, and the same noise twice") {
    const auto gmm = ebm::toy::gmm();
    const auto means = gmm_means();
    const std::vector<float> a{static_cast<float>(means[0][0]), static_cast<float>(means[0][1])};
    const std::vector<float> b{static_cast<float>(means[1][0]), static_cast<float>(means[1][1])};
    auto ad = gmm_settings().barrier;
    const ebm::philox rng(11);
    const auto r1 = ebm::landscape::attract(gmm, a, b, ad, rng, 3);
    const auto r2 = ebm::landscape::attract(gmm, a, b, ad, rng, 3);
    CHECK(r1.reached);
    CHECK(r1.success_fraction == 1.0);
    CHECK(r1.barrier == r2.barrier);  // attempt 3 twice: the same noise, the same paths
    CHECK(r1.steps == r2.steps);
    CHECK(r1.acceptance > 0.5);
    const auto r3 = ebm::landscape::attract(gmm, a, b, ad, rng, 4);
    CHECK(r3.barrier != r1.barrier);  // another attempt, other noise
    // Unadjusted Langevin crosses too (acceptance reported as 1); inside a box that excludes x* no chain reaches it.
    auto ula = ad;
    ula.adjusted = false;
    const auto unadjusted = ebm::landscape::attract(gmm, a, b, ula, rng, 5);
    CHECK(unadjusted.reached);
    CHECK(unadjusted.acceptance == 1.0);
    CHECK(unadjusted.barrier == doctest::Approx(r1.barrier).epsilon(0.05));
    for (bool adjusted : {true, false}) {
        auto boxed = ad;
        boxed.adjusted = adjusted;
        boxed.clamp = {-1.0f, 0.5f};  // mode 1 is at (0.707, 0.707)
        boxed.max_steps = 300;
        CHECK_FALSE(ebm::landscape::attract(gmm, a, b, boxed, rng, 6).reached);
    }
    ad.alpha = 20.0f;
    ad.max_steps = 500;
    const auto weak = ebm::landscape::attract(gmm, a, b, ad, rng, 0);
    CHECK_FALSE(weak.reached);
    CHECK(std::isinf(weak.barrier));
    CHECK(weak.steps == ad.max_steps);
    // From x* itself: reached at step 0, the barrier is U there.
    const auto home = ebm::landscape::attract(gmm, b, b, ad, rng, 1);
    CHECK(home.reached);
    CHECK(home.steps == 0);
    CHECK(home.barrier == doctest::Approx(0.1230742).epsilon(1e-5));
}

TEST_CASE("build_disconnectivity: single linkage over the barriers, leaves in depth-first order") {
    const double inf = INFINITY;
    // Basins 0..3 with minima 0, 1, 0.5, 2; barriers 0-2 at 2, 1-3 at 2.5, 0-1 at 3, the others unknown.
    const std::vector<double> minima{0, 1, 0.5, 2};
    std::vector<double> barriers{0,   3,   2,   inf,  //
                                 3,   1,   inf, 2.5,  //
                                 2,   inf, 0.5, inf,  //
                                 inf, 2.5, inf, 2};
    auto g = ebm::landscape::build_disconnectivity(minima, barriers);
    REQUIRE(g.merges.size() == 3);
    CHECK(g.merges[0].left == 0);
    CHECK(g.merges[0].right == 2);
    CHECK(g.merges[0].level == 2);
    CHECK(g.merges[1].left == 1);
    CHECK(g.merges[1].right == 3);
    CHECK(g.merges[1].level == 2.5);
    CHECK(g.merges[2].left == 4);
    CHECK(g.merges[2].right == 5);
    CHECK(g.merges[2].level == 3);
    CHECK(g.roots == std::vector<ebm::index>{6});
    CHECK(g.leaf_order == std::vector<ebm::index>{0, 2, 1, 3});
    CHECK(g.level(6) == 3);
    // A barrier below a basin's minimum is raised to it; an asymmetric pair uses its lower value.
    barriers[0 * 4 + 2] = -1;
    barriers[1 * 4 + 0] = 2.75;
    g = ebm::landscape::build_disconnectivity(minima, barriers);
    CHECK(g.merges[0].level == 0.5);
    CHECK(g.merges[2].level == 2.75);
    // Without the 0-1 barrier: two trees, the deeper first.
    barriers[0 * 4 + 1] = barriers[1 * 4 + 0] = inf;
    g = ebm::landscape::build_disconnectivity(minima, barriers);
    CHECK(g.roots == std::vector<ebm::index>{4, 5});
    CHECK(g.leaf_order == std::vector<ebm::index>{0, 2, 1, 3});
}

TEST_CASE("landscape entry points reject bad input, naming function, argument and value") {
    const auto gmm = ebm::toy::gmm();
    const std::vector<double> minima{0, 1};
    EBM_CHECK_ERROR(ebm::landscape::build_disconnectivity(minima, std::vector<double>(3, 1.0)),
                    "landscape::build_disconnectivity", "barriers must hold", "(got 3)");
    EBM_CHECK_ERROR(ebm::landscape::build_disconnectivity(minima, std::vector<double>{0, NAN, NAN, 1}),
                    "landscape::build_disconnectivity", "barriers must be finite or +inf");
    EBM_CHECK_ERROR(ebm::landscape::build_disconnectivity({}, {}), "landscape::build_disconnectivity",
                    "minima must not be empty");
    const std::vector<float> p{1, 0}, q{0, 1}, three{0, 0, 0};
    ebm::landscape::attraction_diffusion ad;
    ad.temperature = 0;
    EBM_CHECK_ERROR(ebm::landscape::attract(gmm, p, q, ad, ebm::philox(1), 0), "landscape::attract",
                    "attraction.temperature", "(got 0)");
    ad = {};
    ad.reach = -1;
    EBM_CHECK_ERROR(ebm::landscape::attract(gmm, p, q, ad, ebm::philox(1), 0), "landscape::attract", "attraction.reach",
                    "(got -1)");
    EBM_CHECK_ERROR(ebm::landscape::attract(gmm, three, q, {}, ebm::philox(1), 0), "landscape::attract",
                    "from must have", "(got 3)");
    EBM_CHECK_ERROR(ebm::landscape::attract(gmm, p, std::vector<float>{NAN, 0}, {}, ebm::philox(1), 0),
                    "landscape::attract", "to");
    ebm::batch x(2, 2);
    EBM_CHECK_ERROR(ebm::landscape::descend(gmm, x.view(), {.step = 0}), "landscape::descend", "descent.step",
                    "(got 0)");
    ebm::batch x3(3, 2);
    EBM_CHECK_ERROR(ebm::landscape::descend(gmm, x3.view(), {}), "landscape::descend", "starts dimension", "(got 3)");
    x.chain(1)[0] = INFINITY;
    EBM_CHECK_ERROR(ebm::landscape::descend(gmm, x.view(), {}), "landscape::descend", "starts must be finite");
    ebm::landscape::adelm_settings s;
    s.same_state_distance = 0;
    EBM_CHECK_ERROR(ebm::landscape::map_landscape(gmm, x.view(), s, ebm::philox(1)), "landscape::map_landscape",
                    "same_state_distance", "(got 0)");
}

#pragma once
// landscape --run DIR: ADELM of a train_images model (either backend). The mapped energy is the model's own
// log-density, E = U / T_train with T_train the temperature its training chain sampled at (1 for the Anatomy form,
// sigma^2 / (2 lambda) for the decoupled one: ebm::mala_at_training_temperature). Descent starts at --images data
// images (or uniform noise) and moves with the training chain's drift, h = eps^2 / 2 on E (eps the training step:
// epsilon, or sigma), inside the data box [-1, 1] (a minimum of a non-convergent model may lie on its edge:
// saturated pixels). Attraction-diffusion runs unadjusted Langevin on E / T + alpha ||x - x*|| with step eps sqrt(T),
// projected onto the box; success is an RMS pixel distance of 0.05 to x*. Writes basins.png (the basins'
// representatives, lowest energy first) with basins.npy (N x C x H x W), disconnectivity.png and landscape.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ebm/eval/steady_state.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/io/disconnectivity_figure.hpp>
#include <ebm/io/npy.hpp>
#include <ebm/io/png.hpp>
#include <ebm/landscape/adelm.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "landscape_run.hpp"
#include "train_images/image_run.hpp"

namespace landscape_program {

struct image_options {
    std::string start = "data";  // data | noise
    ebm::index images = 32;
    float temperature = 1.0f;
    float merge_alpha = 0;
    float barrier_alpha = 0;
    ebm::index descent_steps = 2'000;
    ebm::index attraction_steps = 500;
    std::uint64_t seed = 123;
    bool quiet = false;
};

/// The defaults of --run (the toy's are for U of order 1 over distances of order 1). E = U / T_train of a short-run
/// Fashion-MNIST model spans 1.3e5 between its basins' minima, 16 to 43 apart (RMS pixel difference 0.5 to 1.35):
/// a magnet of 3e3 per unit distance joins its minima into 10 basins (1e4 joins nearly all of them into one), and
/// 1e5 crosses between any two basins (docs/landscape.md).
inline const image_options image_defaults{.temperature = 1.0f, .merge_alpha = 3e3f, .barrier_alpha = 1e5f};

/// The settings of an image model whose training chain moved with step eps on E (see the file comment).
inline ebm::landscape::adelm_settings image_settings(const image_options& o, float eps, ebm::index dimension) {
    const float rms = std::sqrt(static_cast<float>(dimension));  // distance of an RMS pixel difference of 1
    ebm::landscape::adelm_settings s;
    s.descent = {.step = 0.5f * eps * eps,
                 .max_steps = o.descent_steps,
                 .check_every = 50,
                 .gradient_tolerance = 1e-6f,
                 .energy_tolerance = 1e-6f,
                 .step_decay = 0.9f,
                 .clamp = {-1.0f, 1.0f}};
    // Unadjusted Langevin projected onto the data box, at the training chain's step scaled to T: at T = 1 and
    // alpha = 0 this is the chain the model was trained with. (MALA would reject every proposal from a state with
    // saturated pixels: its box rejects, and the noise pushes half of them out.)
    const float step = eps * std::sqrt(o.temperature);
    s.merge = {.temperature = o.temperature,
               .alpha = o.merge_alpha,
               .epsilon = step,
               .max_steps = o.attraction_steps,
               .reach = 0.05f * rms,
               .chains = 4,
               .adjusted = false,
               .clamp = {-1.0f, 1.0f}};
    s.barrier = s.merge;
    s.barrier.alpha = o.barrier_alpha;
    s.same_state_distance = 0.01f * rms;
    return s;
}

/// Loads the checkpoint into a trainer around `net`, maps E = U / T_train, writes the pictures into `dir` and
/// returns the JSON description.
template <class Net>
nlohmann::ordered_json map_image_model(const image_options& o, const std::filesystem::path& checkpoint,
                                       const ebm::train_config& c, Net net, const std::filesystem::path& dir) {
    using json = nlohmann::ordered_json;
    return ebm::with_trainer(c, std::move(net), [&](auto& trainer) -> json {
        ebm::load_checkpoint(checkpoint, trainer);
        const auto training = ebm::mala_at_training_temperature(c);
        const auto energy = ebm::tempered(trainer.energy(), training.temperature);
        const ebm::index dim = energy.dimension();
        ebm::batch starts(dim, o.images);
        if (o.start == "data") {
            const auto data = image_run::load_data(c);
            if (data.size() < o.images)
                ebm::detail::fail(
                    "landscape", "--images exceeds the data set's size " + ebm::detail::to_text(data.size()), o.images);
            std::copy(data.images().chain(0), data.images().chain(0) + dim * o.images, starts.chain(0));
        } else {
            ebm::uniform_noise{c.init.low, c.init.high}.fill(starts.view(), ebm::philox(o.seed),
                                                             ebm::purpose::init_noise, 0);
        }
        const auto s = image_settings(o, training.epsilon, dim);
        if (!o.quiet)
            std::fprintf(stderr,
                         "landscape: %s, E = U / %.6g, %lld starts from %s, descent h %.3g, AD T %.3g eps %.3g\n",
                         checkpoint.string().c_str(), training.temperature, static_cast<long long>(o.images),
                         o.start.c_str(), s.descent.step, o.temperature, s.merge.epsilon);
        const auto l = ebm::landscape::map_landscape(energy, starts.view(), s, ebm::philox(o.seed));

        ebm::batch reps(dim, std::max<ebm::index>(1, static_cast<ebm::index>(l.basins.size())));
        for (std::size_t b = 0; b < l.basins.size(); ++b)
            std::copy(l.basins[b].representative.begin(), l.basins[b].representative.end(),
                      reps.chain(static_cast<ebm::index>(b)));
        if (!l.basins.empty()) {
            ebm::io::write_png(dir / "basins.png",
                               image_run::grid(reps.view(), c.data.channels, c.data.image_size, reps.count()));
            ebm::io::write_npy(dir / "basins.npy", reps.view().values(),
                               {reps.count(), c.data.channels, c.data.image_size, c.data.image_size});
        }
        if (!l.basins.empty()) {
            ebm::io::figure fig(dir / "disconnectivity.png", 700, 500, 1, 1);
            ebm::io::disconnectivity_panel(fig, l.graph, std::to_string(l.basins.size()) + " basins",
                                           "E = U / T#dtrain#u");
            fig.finish();
        }
        json basins = json::array();
        for (const auto& b : l.basins) {
            ebm::const_batch_view one{b.representative.data(), dim, 1};
            basins.push_back({{"energy", b.energy},
                              {"minima", b.minima.size()},
                              {"saturated_fraction", ebm::eval::saturated_fraction(one)}});
        }
        json out = {{"checkpoint", checkpoint.string()},
                    {"training_temperature", training.temperature},
                    {"start", o.start},
                    {"starts", o.images},
                    {"starts_saturated_fraction", ebm::eval::saturated_fraction(starts.view())},
                    {"settings",
                     {{"temperature", o.temperature},
                      {"merge_alpha", o.merge_alpha},
                      {"barrier_alpha", o.barrier_alpha},
                      {"descent_step", s.descent.step},
                      {"attraction_epsilon", l.merge_epsilon},
                      {"reach", s.merge.reach}}}};
        out.update(landscape_json(l, basins));
        return out;
    });
}

}  // namespace landscape_program

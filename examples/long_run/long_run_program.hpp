#pragma once
// The long_run program's run for a network of either backend (main.cpp instantiates it with the CPU network,
// long_run_cuda.cu with the GPU one): the trained model from a checkpoint, the chains' start (noise, the short run,
// data or the persistent bank), then the long chain of long_run.hpp.
#include <ebm/backend/execution.hpp>
#include <ebm/init/noise.hpp>
#include <ebm/train/checkpoint.hpp>
#include <ebm/train/config.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "long_run.hpp"

namespace image_run {

struct long_program_options {
    std::string run, checkpoint, output, device = "cpu";
    long long chains = 64;
    unsigned long long seed = 2024;
    int threads = 0;
    bool quiet = false;
    long_run_options chain;  // chain.output is the folder being written
};

/// The chains' start in x (Philox steps from 0): returns the step the long run begins at.
template <class Trainer, class View>
std::uint64_t start_chains(const long_program_options& o, const ebm::train_config& c, Trainer& trainer, View x,
                           const ebm::philox& rng, const std::optional<ebm::data::dataset>& data) {
    const std::string& start = o.chain.start;
    if (start == "noise" || start == "short_run") {  // the model's p0: U[low, high]
        ebm::uniform_noise{c.init.low, c.init.high}.fill(x, rng, ebm::purpose::init_noise, 0);
        if (start == "noise") return 0;
        const ebm::sampler_stats stats = run_training_chain(c, trainer.energy(), x, rng, 0, c.sampler.steps);
        std::printf("long_run: started from %lld short runs of K = %lld steps, mean energy %.6g\n",
                    static_cast<long long>(x.count), static_cast<long long>(c.sampler.steps), stats.mean_energy);
        return static_cast<std::uint64_t>(c.sampler.steps);
    }
    if (start == "data") {
        copy_data_start<typename Trainer::backend>("long_run", "--start", *data, x);
        return 0;
    }
    // bank: the persistent chains as training left them, the first `chains` slots
    if constexpr (requires { trainer.initializer_state().bank(); }) {
        const auto bank = std::as_const(trainer.initializer_state()).bank();
        if (bank.count < x.count)
            ebm::detail::fail("long_run", "--start bank needs --chains <= the bank's " + std::to_string(bank.count) +
                                              " states", x.count);
        ebm::batch host(bank.dimension, x.count);
        ebm::copy_to_host(bank.chains(0, x.count), host.view());
        ebm::copy_from_host(std::as_const(host).view(), x);
        return 0;
    } else {
        ebm::detail::fail("long_run", "--start bank needs a model trained with init.kind persistent_bank",
                          c.init.kind);
    }
}

/// Loads the checkpoint at `path` (written for configuration `c`) into a trainer around `net` and runs the chain,
/// writing into `folder`.
template <class Net>
void run_long(const long_program_options& o, const std::filesystem::path& path, const ebm::checkpoint_info& info,
              const ebm::train_config& c, Net net, const std::filesystem::path& folder) {
    ebm::with_trainer(c, std::move(net), [&](auto& trainer) {
        using trainer_type = std::remove_reference_t<decltype(trainer)>;
        ebm::load_checkpoint(path, trainer);
        std::printf("long_run: %s (iteration %llu), %lld chains from %s, %lld steps of %s on %s\n",
                    path.string().c_str(), static_cast<unsigned long long>(info.iteration), o.chains,
                    o.chain.start.c_str(), o.chain.steps, o.chain.sampler.c_str(), o.device.c_str());
        std::optional<ebm::data::dataset> data;
        if (o.chain.compare > 0 || o.chain.start == "data") data.emplace(load_data(c));
        const ebm::philox rng(ebm::seed{o.seed});
        ebm::batch_in<typename trainer_type::backend> x(trainer.energy().dimension(), static_cast<ebm::index>(o.chains));
        const std::uint64_t first = start_chains(o, c, trainer, x.view(), rng, data);
        trainer_type::execution_type::wait_all();  // the start is in place before the chains' own stream reads it
        long_run_options chain = o.chain;
        chain.output = folder;
        save_states(folder, static_cast<ebm::index>(chain.grid), c, "start", x.view());
        run_long_chain("long_run", chain, c, trainer, x.view(), rng, first, data ? &*data : nullptr);
    });
}

}  // namespace image_run

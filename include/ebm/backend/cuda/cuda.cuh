#pragma once
// Umbrella header of the CUDA backend (target ebm::cuda; include from .cu files compiled by nvcc): the execution
// that runs the library's algorithms on the GPU (execution.cuh) and the device energies, with the library's
// samplers, initializers, optimizers, energy wrappers and ml_trainer (written once, for both backends); this
// folder holds only what is specific to the GPU: storage, launches, reductions, graphs, cuBLAS/cuDNN energies.
#include "../../energy/magnetized.hpp"
#include "../../energy/scaled.hpp"
#include "../../init/data.hpp"
#include "../../init/noise.hpp"
#include "../../init/persistent_bank.hpp"
#include "../../optim/adam.hpp"
#include "../../optim/sgd.hpp"
#include "../../sampler/langevin.hpp"
#include "../../sampler/hmc.hpp"
#include "../../sampler/mala.hpp"
#include "../../train/ml_trainer.hpp"
#include "../../train/recipes.hpp"
#include "check.cuh"
#include "convnet.cuh"
#include "convnet_nonlocal.cuh"
#include "cuda_tag.hpp"
#include "execution.cuh"
#include "launch.cuh"
#include "memory.cuh"
#include "mlp.cuh"
#include "network.cuh"
#include "reductions.cuh"

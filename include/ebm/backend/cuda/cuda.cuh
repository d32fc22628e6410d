#pragma once
// Umbrella header of the CUDA backend (target ebm::cuda; include from .cu files compiled by nvcc). The CPU
// library (ebm/ebm.hpp) never includes this; code that only names the backend type can include cuda_tag.hpp.
#include "check.cuh"
#include "convnet.cuh"
#include "convnet_nonlocal.cuh"
#include "cuda_tag.hpp"
#include "functors.cuh"
#include "init.cuh"
#include "launch.cuh"
#include "memory.cuh"
#include "mlp.cuh"
#include "optim.cuh"
#include "reductions.cuh"
#include "sampler.cuh"
#include "trainer.cuh"

#!/usr/bin/env bash
# Configures and builds the release preset (tests, examples, benchmarks) after installing what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
# EBM_CUDA_ARCHITECTURES (e.g. 90) narrows the CUDA targets (default: the preset's 80 and 90); scripts/test.sh
# compiles for one, which checks the same code in half the nvcc time.
cmake --preset release ${EBM_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES="$EBM_CUDA_ARCHITECTURES"} >/dev/null
cmake --build --preset release -j "$(nproc)"

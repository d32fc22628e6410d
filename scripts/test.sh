#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every test with ctest (the fuzz corpora
# are replayed there too); then the suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (scripts/test_sanitizers.sh, the `debug` preset without CUDA: about 36 minutes on 2 cores, build included); then
# every file reader fuzzed for 10 s (scripts/fuzz.sh, clang with libFuzzer). CI allows 90 minutes for all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test run needs oneDNN: a failed download is an error here, not a silent skip of the ConvNet tests.
# The CUDA code is compiled (not run: no GPU here) for sm_90 only, the H100/H200 it runs on; the cuda preset builds
# both 80 and 90.
EBM_ONEDNN_REQUIRED=1 EBM_CUDA_ARCHITECTURES=90 scripts/build.sh --with-torch --with-fuzz
ctest --preset release -j "$(nproc)"
scripts/test_sanitizers.sh
scripts/fuzz.sh --seconds 10

#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test run needs oneDNN: a failed download is an error here, not a silent skip of the ConvNet tests.
EBM_ONEDNN_REQUIRED=1 scripts/build.sh --with-torch
ctest --preset release -j "$(nproc)"

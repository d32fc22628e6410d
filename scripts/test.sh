#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --with-torch
ctest --preset release -j "$(nproc)"

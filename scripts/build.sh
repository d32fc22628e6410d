#!/usr/bin/env bash
# Configures and builds the release preset (tests, examples, benchmarks) after installing what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

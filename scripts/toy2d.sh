#!/usr/bin/env bash
# The main job: reproduce Anatomy Fig. 6 (gmm and rings, convergent and non-convergent ML) and the short-run
# paper's 1D toy with default settings. Pictures, CSV logs and metrics.json land in out/toy2d (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
out="${1:-out/toy2d}"
mkdir -p "$(dirname "$out")"
build/release/examples/toy2d/toy2d --output "$out"
echo "toy2d: results in $out"

#!/usr/bin/env bash
# The image demonstration of docs/fashion_mnist.md: short-run ML learning on Fashion-MNIST (32x32, n_f 32, K 50;
# examples/train_images/fashion_mnist_demo.json), then 10,000 short-run samples from noise scored against the
# 10,000 held-out test images (Frechet and kernel distance in the fixed feature space of docs/scores.md), with the
# two calibration points (training images: the floor; uniform noise: the ceiling). Everything lands in $1
# (default out/fashion_mnist). About 55 minutes on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
out="${1:-out/fashion_mnist}"
bin=build/release/examples
threads="${EBM_THREADS:-2}"
mkdir -p "$out"
if compgen -G "$out/run/checkpoint-*.safetensors" > /dev/null; then
  "$bin/train_images/train_images" --resume --output "$out/run" --threads "$threads"
else
  "$bin/train_images/train_images" --config examples/train_images/fashion_mnist_demo.json --output "$out/run" \
    --threads "$threads"
fi
"$bin/sample_images/sample_images" --run "$out/run" --chains 10000 --grid 100 --seed 2024 --output "$out/samples" \
  --threads "$threads"
"$bin/score_images/score_images" --samples "$out/samples/short_run.npy" --json "$out/score.json"
"$bin/score_images/score_images" --baseline train --json "$out/score_train.json"
"$bin/score_images/score_images" --baseline noise --json "$out/score_noise.json"
awk -F, 'NR > 1 { s += $9 } END { printf "fashion_mnist_demo: %d iterations, %.1f min of training\n", NR - 1, s / 60 }' \
  "$out/run/diagnostics.csv"
echo "fashion_mnist_demo: results in $out"

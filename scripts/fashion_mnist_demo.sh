#!/usr/bin/env bash
# The image demonstration of docs/fashion_mnist.md: short-run ML learning on Fashion-MNIST, then 10,000 short-run
# samples from noise scored against the 10,000 held-out test images (Frechet and kernel distance in the fixed
# feature space of docs/scores.md), with the two calibration points (training images: the floor; uniform noise: the
# ceiling).
#
#   scripts/fashion_mnist_demo.sh [OUT] [--device cpu|cuda]
#
# cpu (default): 32x32, n_f 32, K 50, 1250 iterations (examples/train_images/fashion_mnist_demo.json), about 55
#   minutes on 2 idle cores; results in OUT (default out/fashion_mnist).
# cuda: the short-run paper's full recipe (n_f 64, K 100, batch 64, 32x32 padding;
#   examples/train_images/fashion_mnist_demo_gpu.json) for as many iterations as the GPU does in 5 minutes
#   (EBM_GPU_MINUTES), sampled on the GPU; results in OUT (default out/fashion_mnist_gpu). It prints its scores next
#   to the CPU demo's.
set -euo pipefail
cd "$(dirname "$0")/.."
out=""
device=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:?--device needs cpu or cuda}"; shift 2 ;;
    --device=*) device="${1#--device=}"; shift ;;
    -*) echo "fashion_mnist_demo.sh: unknown option '$1'" >&2; exit 2 ;;
    *) out="$1"; shift ;;
  esac
done
case "$device" in
  cpu) config=examples/train_images/fashion_mnist_demo.json; out="${out:-out/fashion_mnist}"; limit=() ;;
  cuda) config=examples/train_images/fashion_mnist_demo_gpu.json; out="${out:-out/fashion_mnist_gpu}"
        limit=(--time-limit "${EBM_GPU_MINUTES:-5}") ;;
  *) echo "fashion_mnist_demo.sh: --device must be cpu or cuda (got '$device')" >&2; exit 2 ;;
esac
scripts/build.sh
bin=build/release/examples
threads="${EBM_THREADS:-2}"
mkdir -p "$out"
if compgen -G "$out/run/checkpoint-*.safetensors" > /dev/null; then
  "$bin/train_images/train_images" --resume --output "$out/run" --threads "$threads" --device "$device" "${limit[@]}"
else
  "$bin/train_images/train_images" --config "$config" --output "$out/run" --threads "$threads" --device "$device" \
    "${limit[@]}"
fi
"$bin/sample_images/sample_images" --run "$out/run" --chains 10000 --grid 100 --seed 2024 --output "$out/samples" \
  --threads "$threads" --device "$device"
"$bin/score_images/score_images" --samples "$out/samples/short_run.npy" --json "$out/score.json"
"$bin/score_images/score_images" --baseline train --json "$out/score_train.json"
"$bin/score_images/score_images" --baseline noise --json "$out/score_noise.json"
awk -F, 'NR > 1 { s += $9 } END { printf "fashion_mnist_demo: %d iterations, %.1f min of training\n", NR - 1, s / 60 }' \
  "$out/run/diagnostics.csv"
python3 - "$out" "$device" <<'PY'
import json, sys
out, device = sys.argv[1], sys.argv[2]
score = {k: json.load(open(f"{out}/{f}")) for k, f in
         [("samples", "score.json"), ("train", "score_train.json"), ("noise", "score_noise.json")]}
def fd(s): return s["fd"]
def kid(s): return s["kid"]
print(f"fashion_mnist_demo ({device}): FD {fd(score['samples']):.3g}, KID {kid(score['samples']):.3g}"
      f"  (training images {fd(score['train']):.3g}, noise {fd(score['noise']):.3g})")
print("CPU demo for comparison (docs/fashion_mnist.md): n_f 32, K 50, 1250 iterations in 30 min on 2 cores: "
      "FD 0.95, KID 6.1e-4")
PY
echo "fashion_mnist_demo: results in $out"

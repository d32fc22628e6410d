#!/usr/bin/env bash
# Convergent ML learning on Fashion-MNIST (Anatomy Sec. 3, the convergent recipe) and the long-run comparison with a
# short-run (non-convergent) model: do long-run samples of the learned density look like data or oversaturate?
#
#   scripts/fashion_mnist_convergent.sh [OUT] [--device cpu|cuda] [--short-run RUN_DIR]
#
# 1. Trains examples/train_images/fashion_mnist_convergent.json: the authors' VanillaNet (n_f 32, LeakyReLU 0.05), a
#    persistent bank of 10,000 chains from U[-1, 1], K = 500 Langevin steps of eps = 0.015 on U = F/(eps^2/2), SGD with
#    gamma = (eps^2/2) gamma0 annealed 0.05 -> 0.0005 over 100k iterations, data noise 2 eps, batch 100. It trains for
#    EBM_MINUTES minutes (default 5 on cuda, 60 on cpu; the paper's 100k iterations take hours even on a GPU: run
#    again to resume where it stopped).
# 2. The short-run model: RUN_DIR (a train_images run, e.g. out/fashion_mnist/run of scripts/fashion_mnist_demo.sh),
#    or, without --short-run, the short-run paper's recipe (examples/train_images/fashion_mnist_demo_gpu.json on cuda,
#    fashion_mnist_demo.json on cpu) trained for EBM_SHORT_RUN_MINUTES (default 2 on cuda, 30 on cpu).
# 3. Long runs (examples/long_run) of EBM_LONG_RUN_STEPS steps (default 100,000 on cuda, 2,000 on cpu) of each
#    model's own training chain (ULA at its training temperature), 64 chains from noise, and for the convergent model
#    also from its bank; traced every 1/20 of the run against 1,000 data images (mean energy, saturated fraction,
#    FD on the fixed feature map), grids at 1/100, 1/10 and at the end.
# 4. OUT/comparison.md and .json: the table of the final measures.
# EBM_BIN: a folder holding train_images and long_run already built (then nothing is built here).
set -euo pipefail
cd "$(dirname "$0")/.."
out=""
device=cpu
short_run=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:?--device needs cpu or cuda}"; shift 2 ;;
    --device=*) device="${1#--device=}"; shift ;;
    --short-run) short_run="${2:?--short-run needs a train_images run folder}"; shift 2 ;;
    -*) echo "fashion_mnist_convergent.sh: unknown option '$1'" >&2; exit 2 ;;
    *) out="$1"; shift ;;
  esac
done
case "$device" in
  cpu) minutes="${EBM_MINUTES:-60}"; short_minutes="${EBM_SHORT_RUN_MINUTES:-30}"; steps="${EBM_LONG_RUN_STEPS:-2000}"
       short_config=examples/train_images/fashion_mnist_demo.json ;;
  cuda) minutes="${EBM_MINUTES:-5}"; short_minutes="${EBM_SHORT_RUN_MINUTES:-2}"; steps="${EBM_LONG_RUN_STEPS:-100000}"
        short_config=examples/train_images/fashion_mnist_demo_gpu.json ;;
  *) echo "fashion_mnist_convergent.sh: --device must be cpu or cuda (got '$device')" >&2; exit 2 ;;
esac
out="${out:-out/fashion_mnist_convergent_$device}"
if [ -n "${EBM_BIN:-}" ]; then
  train="$EBM_BIN/train_images"; long_run="$EBM_BIN/long_run"
else
  scripts/build.sh
  train=build/release/examples/train_images/train_images; long_run=build/release/examples/long_run/long_run
fi
threads="${EBM_THREADS:-$(nproc)}"
mkdir -p "$out"

# train DIR CONFIG MINUTES: trains, or resumes where an earlier call stopped.
train() {
  if compgen -G "$1/checkpoint-*.safetensors" > /dev/null; then
    "$train" --resume --output "$1" --threads "$threads" --device "$device" --time-limit "$3"
  else
    "$train" --config "$2" --output "$1" --threads "$threads" --device "$device" --time-limit "$3"
  fi
}
train "$out/convergent" examples/train_images/fashion_mnist_convergent.json "$minutes"
if [ -z "$short_run" ]; then
  short_run="$out/short_run"
  train "$short_run" "$short_config" "$short_minutes"
fi

trace=$(( steps / 20 > 0 ? steps / 20 : 1 ))
grid_at="$(( steps / 100 > 0 ? steps / 100 : 1 )),$(( steps / 10 > 0 ? steps / 10 : 1 ))"
chains() {  # chains MODEL START NAME
  "$long_run" --run "$1" --start "$2" --chains 64 --steps "$steps" --trace-every "$trace" --grids-at "$grid_at" \
              --compare 1000 --seed 2024 --threads "$threads" --device "$device" --output "$out/long_run_$3"
}
chains "$out/convergent" noise convergent_noise
chains "$out/convergent" bank convergent_bank
chains "$short_run" noise short_run_noise

python3 - "$out" "$steps" <<'PY'
import json, sys
out, steps = sys.argv[1], int(sys.argv[2])
rows = []
for name, label in [("convergent_noise", "convergent, from noise"), ("convergent_bank", "convergent, from its bank"),
                    ("short_run_noise", "short-run (non-convergent), from noise")]:
    s = json.load(open(f"{out}/long_run_{name}/long_run.json"))
    rows.append({"run": name, "label": label, **s})
data = rows[0]["data"]
lines = [f"Long runs of {steps} steps (the training chain, 64 chains), against {data['images']} data images",
         "", "| model, start | mean U (data's) | saturated fraction (data {:.3f}) | FD |".format(data["saturated_fraction"]),
         "|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['label']} | {r['mean_energy']:.4g} ({r['data']['mean_energy']:.4g}) | "
                 f"{r['saturated_fraction']:.3f} | {r['fd']:.3g} |")
text = "\n".join(lines) + "\n"
open(f"{out}/comparison.md", "w").write(text)
json.dump(rows, open(f"{out}/comparison.json", "w"), indent=2)
print(text)
PY
echo "fashion_mnist_convergent: results in $out"

#!/usr/bin/env bash
# Compares ebm's samplers with BlackJAX on the analytic targets of bench_samplers: ESS per second and ESS per
# gradient, ratio ebm / BlackJAX. Reads bench_samplers' output folder (runs.json, init_*.npy, results.csv) and writes
# blackjax.csv, blackjax_replicates.csv and comparison.md into the same folder.
#   scripts/compare_blackjax.sh [DIR]   (default build/bench_samplers; further arguments go to the Python script,
#                                        e.g. --replicates 5 --seed 1)
# The BlackJAX environment (pinned in benchmarks/samplers/requirements-blackjax.txt) is a virtualenv under
# build/venv-blackjax, created on the first run.
set -euo pipefail
if [[ $# -ge 1 ]]; then
  dir="$(realpath -m -- "$1")"  # relative to the caller's folder
  shift
else
  dir=build/bench_samplers      # relative to the repository root
fi
cd "$(dirname "$0")/.."
venv=build/venv-blackjax
requirements=benchmarks/samplers/requirements-blackjax.txt

if [[ ! -f "$dir/runs.json" ]]; then
  echo "compare_blackjax: $dir/runs.json not found: run bench_samplers first (it writes runs.json, init_*.npy" \
       "and results.csv into its output folder), or pass that folder as the first argument" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "compare_blackjax: creating the virtualenv $venv"
  python3 -m venv "$venv" || { echo "compare_blackjax: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; rm -rf "$venv"; exit 1; }
fi
stamp="$venv/.requirements-blackjax.txt"
if ! cmp -s "$requirements" "$stamp"; then
  echo "compare_blackjax: installing $requirements into $venv"
  "$venv/bin/python" -m pip install --quiet -r "$requirements" \
    || { echo "compare_blackjax: pip install -r $requirements failed" >&2; exit 1; }
  cp "$requirements" "$stamp"
fi
echo "compare_blackjax: BlackJAX on $dir"
"$venv/bin/python" benchmarks/samplers/blackjax_compare.py --ebm "$dir" --output "$dir" "$@"
echo "compare_blackjax: results in $dir/comparison.md and $dir/blackjax.csv"

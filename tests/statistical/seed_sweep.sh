#!/usr/bin/env bash
# Runs every statistical test case under EBM_TEST_SEED=1..N (default 20) and counts failures per test case.
# Usage: tests/statistical/seed_sweep.sh <path to test_statistical> [N]
set -u
binary=${1:?path to the test_statistical program}
count=${2:-20}
mapfile -t cases < <("$binary" --list-test-cases --no-version | grep -v '^\[doctest\]' | grep -v '^=*$' | grep -v '^$')
declare -A failures
for seed in $(seq 1 "$count"); do
  for name in "${cases[@]}"; do
    # doctest filters are wildcards: escape the characters it treats specially.
    filter=$(printf '%s' "$name" | sed 's/[][*?,\\]/?/g')
    if ! EBM_TEST_SEED=$seed "$binary" --test-case="$filter" --no-version > /dev/null 2>&1; then
      failures[$name]=$(( ${failures[$name]:-0} + 1 ))
      echo "seed $seed: FAILED $name"
    fi
  done
done
echo "failures over $count seeds:"
for name in "${cases[@]}"; do echo "  ${failures[$name]:-0}  $name"; done

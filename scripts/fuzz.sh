#!/usr/bin/env bash
# Fuzzes every file reader with libFuzzer (clang, AddressSanitizer + UndefinedBehaviorSanitizer): configures and
# builds preset `fuzz` (build/fuzz, the harnesses of tests/fuzz only), then runs each harness on its corpus
# tests/fuzz/corpus/<reader>/ for a bounded budget. Fails (exit 1) on any crash, sanitizer report, uncaught
# exception, invariant violation, timeout (> 10 s for one input) or allocation beyond 2 GB; the offending inputs are
# kept in build/fuzz/findings/<reader>/. New inputs go to build/fuzz/new-corpus/<reader>/, never into the source tree
# (docs/testing.md, "Fuzzing", says how to merge them in).
# Usage: scripts/fuzz.sh [--seconds S | --runs N] [reader...]   (default: --seconds 60, every reader)
#   --seconds S   each harness fuzzes for S seconds          --runs N   each harness runs N inputs
# Needs clang with libFuzzer: scripts/setup.sh --with-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=(-max_total_time=60)
readers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || { echo "scripts/fuzz.sh: --seconds needs a value" >&2; exit 2; }
               budget=(-max_total_time="$2"); shift 2 ;;
    --runs)    [ $# -ge 2 ] || { echo "scripts/fuzz.sh: --runs needs a value" >&2; exit 2; }
               budget=(-runs="$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*)        echo "scripts/fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    *)         readers+=("$1"); shift ;;
  esac
done
if [ ${#readers[@]} -eq 0 ]; then
  for dir in tests/fuzz/corpus/*/; do readers+=("$(basename "$dir")"); done
fi
if ! command -v clang++ >/dev/null; then
  echo "scripts/fuzz.sh: clang++ not found; run scripts/setup.sh --with-fuzz" >&2
  exit 2
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

build=build/fuzz
# Scratch files of the harnesses: in memory when /dev/shm is there (each input is written to a file).
scratch=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/ebm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=()
for reader in "${readers[@]}"; do
  binary=$build/fuzz_$reader
  corpus=tests/fuzz/corpus/$reader
  [ -x "$binary" ] || { echo "scripts/fuzz.sh: no harness $binary for '$reader'" >&2; exit 2; }
  [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "scripts/fuzz.sh: corpus $corpus is missing or empty" >&2; exit 2; }
  mkdir -p "$build/new-corpus/$reader" "$build/findings/$reader"
  dict=()
  [ -f "tests/fuzz/dict/$reader.dict" ] && dict=(-dict="tests/fuzz/dict/$reader.dict")
  log=$build/findings/$reader/fuzz.log
  echo "== fuzz $reader (${budget[*]})"
  if TMPDIR=$scratch "$binary" "${budget[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1 \
       "${dict[@]}" -artifact_prefix="$build/findings/$reader/" "$build/new-corpus/$reader" "$corpus" >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" | tr '\n' ' '; echo
  else
    echo "FAILED: fuzz_$reader found a problem (log: $log); the input:" >&2
    for input in "$build/findings/$reader"/{crash,leak,timeout,oom}-*; do
      if [ -e "$input" ]; then echo "  $input" >&2; fi
    done
    grep -E 'ERROR|SUMMARY|invariant|runtime error|terminate' "$log" | head -5 >&2 || true
    failed+=("$reader")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "scripts/fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/fuzz.sh: no findings in ${readers[*]}"

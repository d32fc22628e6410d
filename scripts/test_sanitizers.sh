#!/usr/bin/env bash
# The test suite under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer: configures and
# builds the `debug` preset (build/debug: -O1 -g1, -fsanitize=address,undefined,float-cast-overflow,
# -fno-sanitize-recover=all, _GLIBCXX_ASSERTIONS; no CUDA) with tests, examples and benchmarks, then runs every ctest
# entry but those excluded below (each with its reason, printed).
# Any sanitizer report aborts the program under test, so it fails its ctest entry. scripts/test.sh runs this after
# the release suite (CI: .ci/run). Usage: scripts/test_sanitizers.sh [--quick] [extra ctest arguments, e.g. -R x]
#   --quick   only the unit suites of randomness, samplers, initializers, optimizers, data readers, configuration,
#             checkpoints (safetensors, atomic writes, resume), MCMC diagnostics and the fuzz-corpus replays (about
#             6 minutes to build instead of 30: for a quick check while working; CI runs the whole suite).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
quick_targets=(test_random test_optim test_init test_sampler test_data test_train_config test_checkpoint
               test_mcmc_diagnostics ebm_fuzz_harnesses)
quick_tests='^(test_random|test_optim|test_init|test_sampler|test_data|test_train_config|test_checkpoint|test_mcmc_diagnostics):|^fuzz_replay[.]'

stage_start=$(date +%s)
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# Idempotent: returns at once when scripts/test.sh has just installed everything.
EBM_ONEDNN_REQUIRED=1 scripts/setup.sh --with-torch

# halt_on_error / abort_on_error: the first report ends the program with a non-zero status (ctest: Failed).
# detect_leaks: LeakSanitizer at exit; tests/sanitizers/lsan.supp lists the leaks that are not ebm's (each explained).
# protect_shadow_gap=0: the CUDA driver maps memory where ASan would otherwise protect its shadow gap (only matters
# for a debug build configured with -DEBM_ENABLE_CUDA=ON, run on a machine with a GPU). Options given by the caller come last and win.
# The same options apply while building: doctest_discover_tests runs each test program to list its cases.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:protect_shadow_gap=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:report_error_type=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
echo "test_sanitizers: ASAN_OPTIONS=$ASAN_OPTIONS"
echo "test_sanitizers: UBSAN_OPTIONS=$UBSAN_OPTIONS"
echo "test_sanitizers: LSAN_OPTIONS=$LSAN_OPTIONS"

# Excluded ctest entries (a regular expression for ctest -E), each with its reason; empty: the whole suite runs.
# score_images:smoke scores Fashion-MNIST images in Eigen at -O1 with ASan (about 280 s, the slowest entry); the code it
# runs is eval/'s feature map, Fréchet distance and KID, which test_scores runs here under the sanitizers, and the
# program itself runs in the release suite.
exclude="^score_images:smoke$"
exclude_reasons=("score_images:smoke (its library code runs here in test_scores; the program runs in the release suite)")
for reason in "${exclude_reasons[@]}"; do echo "test_sanitizers: EXCLUDED: $reason"; done

build_start=$(date +%s)
cmake --preset debug >/dev/null
if [ "$quick" = 1 ]; then
  echo "test_sanitizers: --quick: ${quick_targets[*]}"
  cmake --build --preset debug -j "$(nproc)" --target "${quick_targets[@]}"
  set -- -R "$quick_tests" "$@"
else
  cmake --build --preset debug -j "$(nproc)"
fi
echo "test_sanitizers: debug (sanitizer) build took $(elapsed "$build_start")"

# --timeout: the default limit for entries without their own TIMEOUT (the sanitizers make programs several times
# slower; entries with their own limit get a sanitizer-build one in their CMakeLists.txt).
test_start=$(date +%s)
status=0
ctest --preset debug -j "$(nproc)" --timeout 1800 ${exclude:+-E "$exclude"} "$@" || status=$?
echo "test_sanitizers: ctest under the sanitizers took $(elapsed "$test_start")"
echo "test_sanitizers: whole sanitizer stage took $(elapsed "$stage_start")"
exit "$status"

#!/usr/bin/env bash
# One pass of the GPU comparison, ebm (bench_cuda_langevin) against PyTorch (torch_langevin_cuda.py), for a machine
# where bench_cuda_langevin, torch_langevin_cuda.py, compare_cuda.py and this script sit side by side (e.g. .gpu/).
#
# Usage:  bash run_gpu_bench.sh OUTDIR
# Env:    EBM_BENCH_ARGS   extra arguments for bench_cuda_langevin (e.g. --benchmark_filter=convnet)
#         PYTHON           the Python with a CUDA PyTorch (default python3)
#         EBM_TIMEOUT      seconds for bench_cuda_langevin (default 300)
#         TORCH_TIMEOUT    seconds for each of the two all-workload PyTorch runs (default 60)
# Writes OUTDIR/ebm.json, OUTDIR/torch.csv, OUTDIR/*.log, OUTDIR/table.md, OUTDIR/merged.csv and prints the table.
# Each step runs under `timeout`, so one that fails or hangs does not stop the others.
set -u

if [ $# -lt 1 ]; then
    echo "usage: bash $0 OUTDIR" >&2
    exit 2
fi
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
EBM_TIMEOUT=${EBM_TIMEOUT:-300}
TORCH_TIMEOUT=${TORCH_TIMEOUT:-60}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
TORCH_CSV=$OUT/torch.csv
rm -f "$OUT/ebm.json" "$TORCH_CSV" "$OUT/table.md" "$OUT/merged.csv"  # torch.csv is appended to: start clean

BIN=$HERE/bench_cuda_langevin
[ -x "$BIN" ] || BIN=./bench_cuda_langevin

run() {  # run SECONDS LOGNAME command...: print, run under timeout, log, report the exit status
    local secs=$1 log=$2
    shift 2
    echo
    echo "=== [$(date +%H:%M:%S)] timeout ${secs}s: $*"
    local t0=$SECONDS
    timeout -k 10 "$secs" "$@" 2>&1 | tee -a "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    echo "=== exit $rc after $((SECONDS - t0)) s$([ "$rc" = 124 ] && echo ' (timed out)')"
    return 0
}

start=$SECONDS
echo "run_gpu_bench.sh: outputs in $OUT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit \
    --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1

# 1. ebm
if [ -x "$BIN" ]; then
    # shellcheck disable=SC2086  # EBM_BENCH_ARGS is a list of arguments
    run "$EBM_TIMEOUT" ebm.log "$BIN" --benchmark_out="$OUT/ebm.json" --benchmark_out_format=json \
        --benchmark_min_time=0.3 ${EBM_BENCH_ARGS:-}
else
    echo "run_gpu_bench.sh: no bench_cuda_langevin next to this script or in $(pwd); ebm part skipped"
fi

# 2. PyTorch: fp32 and tf32 graph mode (all workloads), fp32 deterministic convnet, fp32 eager convnet batch 64.
TORCH="$HERE/torch_langevin_cuda.py"
run "$TORCH_TIMEOUT" torch.log "$PY" "$TORCH" --workload all --batches 64,256,1024 --repeats 3 --csv "$TORCH_CSV"
run "$TORCH_TIMEOUT" torch.log "$PY" "$TORCH" --workload all --batches 64,256,1024 --repeats 3 --tf32 \
    --csv "$TORCH_CSV"
run 40 torch.log "$PY" "$TORCH" --workload convnet --batches 64,256,1024 --repeats 3 --deterministic \
    --csv "$TORCH_CSV"
run 25 torch.log "$PY" "$TORCH" --workload convnet --batches 64 --repeats 3 --eager --no-graph --csv "$TORCH_CSV"

# 3. The comparison
run 60 compare.log "$PY" "$HERE/compare_cuda.py" --ebm-json "$OUT/ebm.json" --torch-csv "$TORCH_CSV" \
    --out-md "$OUT/table.md" --out-csv "$OUT/merged.csv"
echo
echo "run_gpu_bench.sh: done in $((SECONDS - start)) s; $OUT/table.md, $OUT/merged.csv"
exit 0

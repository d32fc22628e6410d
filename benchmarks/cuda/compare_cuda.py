#!/usr/bin/env python3
"""Compare ebm's bench_cuda_langevin (Google Benchmark JSON) with torch_langevin_cuda.py (CSV): Markdown tables.

Inputs
  --ebm-json   the output of  bench_cuda_langevin --benchmark_out=ebm.json --benchmark_out_format=json.
               Each entry's "label" holds space-separated key=value pairs, e.g.
                 workload=convnet batch=64 precision=fp32 engine=gemm deterministic=1 graph=1
               and items_per_second is Langevin steps/s of the whole batch (iterations/s for workload=train).
               Entries without a label, with "error_occurred" or of run_type "aggregate" are skipped; entries with
               the same label (e.g. --benchmark_repetitions) are merged, keeping the best items_per_second.
  --torch-csv  rows appended by torch_langevin_cuda.py --csv (impl,workload,batch,precision,mode,deterministic,
               steps_per_s,tflops,us_per_step); duplicates are merged keeping the best steps_per_s.

Output
  Table 1, one row per ebm entry: workload, batch, precision, engine, deterministic, graph, ebm steps/s, the torch
  graph-mode steps/s of the same (workload, batch, precision) with deterministic=0 (for train, a "graph-chain"
  row stands in when the whole iteration could not be captured; marked "(chain)"), ebm/torch, and for the convnet
  TFLOP/s = steps/s x 2 x forward FLOPs per chain x batch (forward + backward-data; the forward FLOPs of the
  short-run convnet, 32x32x3 n_f 64, are computed here from the architecture: 2 x out_elements x in_channels x k x k
  per convolution, about 205 MFLOP) and its fraction of --fp32-peak (default 67 TFLOP/s, H100 SXM FP32) or, for
  precision tf32, --tf32-peak (default 495, dense TF32); the last column is torch's deterministic=1 graph rate.
  Table 2: the torch rows alone (mode, deterministic). Missing counterparts print as "—".
  --out-md writes both tables, --out-csv the merged rows of table 1; the tables are also printed.

Usage:  python3 compare_cuda.py --ebm-json ebm.json --torch-csv torch.csv [--out-md table.md] [--out-csv merged.csv]
            [--fp32-peak 67] [--tf32-peak 495]
"""
import argparse
import csv
import json
import sys

DASH = "—"
WORKLOAD_ORDER = {"convnet": 0, "nonlocal": 1, "mlp": 2, "train": 3}
# The short-run paper's ConvNet on 32x32x3 with n_f 64: (in_channels, out_channels, kernel, stride, padding).
SHORT_RUN_CONVS = [(3, 64, 3, 1, 1), (64, 128, 4, 2, 1), (128, 256, 4, 2, 1), (256, 512, 4, 2, 1), (512, 1, 4, 1, 0)]


def conv_forward_flops(convs=SHORT_RUN_CONVS, size=32):
    """Forward FLOPs per chain: 2 x out_elements x in_channels x k x k per convolution (about 205 MFLOP)."""
    h = w = size
    flops = 0.0
    for cin, cout, k, s, p in convs:
        h = (h + 2 * p - k) // s + 1
        w = (w + 2 * p - k) // s + 1
        flops += 2.0 * cout * h * w * cin * k * k
    return flops


CONVNET_FLOPS = conv_forward_flops()


def warn(msg):
    print(f"compare_cuda.py: {msg}", file=sys.stderr)


def parse_label(label):
    out = {}
    for tok in label.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def to_int(v, default=None):
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return default


def to_float(v, default=None):
    try:
        return float(str(v).strip())
    except (TypeError, ValueError):
        return default


def read_ebm(path):
    """{(workload, batch, precision, engine, deterministic, graph): (items_per_second, name)} from the JSON."""
    rows = {}
    if not path:
        return rows
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        warn(f"cannot read ebm JSON {path}: {e}")
        return rows
    for b in data.get("benchmarks", []):
        if b.get("error_occurred") or b.get("run_type") == "aggregate":
            continue
        label = b.get("label")
        if not label:
            continue
        kv = parse_label(label)
        ips = to_float(b.get("items_per_second"))
        if "workload" not in kv or ips is None:
            warn(f"skipping {b.get('name')!r}: no workload in label or no items_per_second")
            continue
        key = (kv["workload"], to_int(kv.get("batch"), 0), kv.get("precision", "fp32").lower(),
               kv.get("engine", "?"), to_int(kv.get("deterministic"), 0), to_int(kv.get("graph"), 1))
        if key not in rows or ips > rows[key][0]:
            rows[key] = (ips, b.get("name", ""))
    return rows


def read_torch(path):
    """{(workload, batch, precision, mode, deterministic): (steps_per_s, us_per_step)} from the CSV."""
    rows = {}
    if not path:
        return rows
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                if r.get("impl") == "impl":  # a repeated header
                    continue
                rate = to_float(r.get("steps_per_s"))
                if rate is None or not r.get("workload"):
                    continue
                key = (r["workload"], to_int(r.get("batch"), 0), (r.get("precision") or "fp32").lower(),
                       r.get("mode") or "graph", to_int(r.get("deterministic"), 0))
                if key not in rows or rate > rows[key][0]:
                    rows[key] = (rate, to_float(r.get("us_per_step")))
    except OSError as e:
        warn(f"cannot read torch CSV {path}: {e}")
    return rows


def fmt(v, digits=None):
    if v is None:
        return DASH
    if digits is not None:
        return f"{v:.{digits}f}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def tflops_of(workload, batch, rate):
    if workload != "convnet" or rate is None or not batch:
        return None
    return rate * 2.0 * CONVNET_FLOPS * batch * 1e-12


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def sort_key(k):
    return (WORKLOAD_ORDER.get(k[0], 99), k[0], k[1], k[2]) + tuple(str(x) for x in k[3:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ebm-json", default="", help="Google Benchmark JSON of bench_cuda_langevin")
    p.add_argument("--torch-csv", default="", help="CSV written by torch_langevin_cuda.py --csv")
    p.add_argument("--out-md", default="", help="write the Markdown tables here")
    p.add_argument("--out-csv", default="", help="write the merged rows (table 1) here")
    p.add_argument("--fp32-peak", type=float, default=67.0, help="FP32 peak in TFLOP/s (H100 SXM: 67)")
    p.add_argument("--tf32-peak", type=float, default=495.0, help="dense TF32 peak in TFLOP/s (H100 SXM: 495)")
    args = p.parse_args()

    ebm = read_ebm(args.ebm_json)
    torch_rows = read_torch(args.torch_csv)
    if not ebm and not torch_rows:
        warn("no usable rows in either input")

    def peak(precision):
        return args.tf32_peak if precision == "tf32" else args.fp32_peak

    def torch_graph(workload, batch, precision, det):
        for mode in ("graph", "graph-chain"):
            hit = torch_rows.get((workload, batch, precision, mode, det))
            if hit:
                return hit[0], mode
        return None, None

    table1, merged = [], []
    for key in sorted(ebm, key=sort_key):
        workload, batch, precision, engine, det, graph = key
        rate, name = ebm[key]
        t_rate, t_mode = torch_graph(workload, batch, precision, 0)
        t_det, t_det_mode = torch_graph(workload, batch, precision, 1)
        ratio = rate / t_rate if t_rate else None
        tf = tflops_of(workload, batch, rate)
        frac = tf / peak(precision) if tf is not None and peak(precision) > 0 else None
        t_cell = fmt(t_rate) + (" (chain)" if t_mode == "graph-chain" else "")
        table1.append([workload, batch, precision, engine, det, graph, fmt(rate), t_cell,
                       DASH if ratio is None else f"{ratio:.2f}x", fmt(tf, 2) if tf is not None else DASH,
                       DASH if frac is None else f"{100 * frac:.1f}%", fmt(t_det)])
        merged.append({"workload": workload, "batch": batch, "precision": precision, "engine": engine,
                       "deterministic": det, "graph": graph, "ebm_steps_per_s": f"{rate:.4f}",
                       "torch_steps_per_s": "" if t_rate is None else f"{t_rate:.4f}", "torch_mode": t_mode or "",
                       "ratio": "" if ratio is None else f"{ratio:.4f}",
                       "tflops": "" if tf is None else f"{tf:.4f}", "peak_fraction": "" if frac is None else f"{frac:.4f}",
                       "torch_det_steps_per_s": "" if t_det is None else f"{t_det:.4f}", "ebm_name": name})

    table2 = []
    for key in sorted(torch_rows, key=sort_key):
        workload, batch, precision, mode, det = key
        rate, us = torch_rows[key]
        tf = tflops_of(workload, batch, rate)
        frac = tf / peak(precision) if tf is not None and peak(precision) > 0 else None
        table2.append([workload, batch, precision, mode, det, fmt(rate), fmt(us, 1) if us is not None else DASH,
                       fmt(tf, 2) if tf is not None else DASH, DASH if frac is None else f"{100 * frac:.1f}%"])

    out = ["## ebm vs PyTorch (Langevin steps/s of the whole batch; train: iterations/s)", ""]
    if table1:
        out.append(md_table(["workload", "batch", "precision", "engine", "det", "graph", "ebm steps/s",
                             "torch graph steps/s (det=0)", "ebm/torch", "TFLOP/s", "% peak",
                             "torch graph det=1"], table1))
    else:
        out.append("(no ebm rows" + (f" in {args.ebm_json}" if args.ebm_json else "") + ")")
    out += ["", f"TFLOP/s: convnet only, steps/s x 2 x {CONVNET_FLOPS / 1e6:.1f} MFLOP x batch (forward + "
                f"backward-data); peak {args.fp32_peak:g} TFLOP/s FP32, {args.tf32_peak:g} TFLOP/s TF32. "
                "(chain): torch could capture only the Langevin chain of the training iteration.",
            "", "## PyTorch alone", ""]
    if table2:
        out.append(md_table(["workload", "batch", "precision", "mode", "det", "steps/s", "us/step (train: us/iter)",
                             "TFLOP/s", "% peak"], table2))
    else:
        out.append("(no torch rows" + (f" in {args.torch_csv}" if args.torch_csv else "") + ")")
    text = "\n".join(out) + "\n"
    print(text, end="")

    if args.out_md:
        with open(args.out_md, "w", encoding="utf-8") as f:
            f.write(text)
    if args.out_csv:
        cols = ["workload", "batch", "precision", "engine", "deterministic", "graph", "ebm_steps_per_s",
                "torch_steps_per_s", "torch_mode", "ratio", "tflops", "peak_fraction", "torch_det_steps_per_s",
                "ebm_name"]
        with open(args.out_csv, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(merged)
    return 0 if (ebm or torch_rows) else 1


if __name__ == "__main__":
    sys.exit(main())

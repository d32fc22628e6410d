#!/usr/bin/env python3
"""PyTorch reference for benchmarks/cuda/bench_cuda_langevin: Langevin steps/s on a CUDA GPU.

The same workloads as the ebm benchmark (x <- x - lambda dU/dx + sigma z, U = net(x), chains from U[-1, 1]):
  convnet   short-run ConvNet (32x32x3, n_f 64, LeakyReLU 0.2), lambda 1, sigma 0.01, batches --batches
            (default 64,256,1024), 100 steps per timed run (20 at batch >= 1024); 205 MFLOP forward per chain,
            so 2 x 205 MFLOP x batch per step (forward + backward-data; 26.2 GFLOP per step at batch 64)
  nonlocal  the Anatomy paper's non-local net (32x32x3, n_f 32, LeakyReLU 0.05), batch 100, 100 steps
  mlp       Anatomy toy MLP 2-32-64-64-64-1 (LeakyReLU 0.05), lambda 0.0078125, sigma 0.125, batch 100, 500 steps
  train     one short-run training iteration with the convnet at batch 64: x0 ~ U[-1, 1], K = 100 Langevin steps
            (no parameter gradient), loss mean U(x_pos) - mean U(x_neg) with x_pos a fixed batch of "data" in
            [-1, 1] plus N(0, 0.03^2) noise, its parameter gradient and an Adam step (lr 1e-4, betas 0.5, 0.999)

Each chain is captured in a CUDA graph (warm-up on a side stream; parameters requires_grad False while sampling)
and replayed; with --eager it is also run kernel by kernel (--no-graph: eager only). The train iteration is captured
whole (sampling + gradient + Adam(capturable=True) step) when that works, else only its chain is captured and the
update runs eagerly (CSV mode "graph-chain"); --train-capture forces one of the two. Strict FP32 by default (TF32 off
for cuDNN and cuBLAS), --tf32 allows TF32; cudnn.benchmark is on, --deterministic also sets cudnn.deterministic.
Timing: best of --repeats runs after a warm-up, torch.cuda.synchronize around time.perf_counter.

Prints one line per measurement (steps/s of the whole batch, us per step, TFLOP/s for the convnet) and, with --csv,
appends rows (header written when the file is new):
  impl,workload,batch,precision,mode,deterministic,steps_per_s,tflops,us_per_step
impl torch; precision fp32|tf32; mode graph|eager (train: graph, graph-chain or eager); deterministic 0|1; for train
steps_per_s holds iterations/s and us_per_step the microseconds per iteration; tflops is empty except for convnet.

Usage:  python3 torch_langevin_cuda.py [--workload convnet,nonlocal,mlp,train|all] [--batches 64,256,1024]
            [--tf32] [--deterministic] [--eager] [--no-graph] [--repeats 3] [--steps N] [--csv torch.csv]
            [--train-capture auto|full|chain] [--device cuda|cpu]
--device cpu is a debug switch (tiny step counts, eager only, the non-convnet workloads at the smallest batch):
  /usr/bin/python3 torch_langevin_cuda.py --device cpu --workload all --batches 2 --repeats 1 --csv /tmp/t.csv
Needs a CUDA build of PyTorch and a GPU for real numbers (Debian's python3-torch is CPU-only); exits 0 with a note
otherwise.
"""
import argparse
import os
import sys
import time
import traceback

WORKLOADS = ("convnet", "nonlocal", "mlp", "train")
CSV_COLUMNS = "impl,workload,batch,precision,mode,deterministic,steps_per_s,tflops,us_per_step"


# ---------------------------------------------------------------------------------------------------------- networks
def short_run_net(torch, n_f=64, slope=0.2):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, n_f, 3, 1, 1), nn.LeakyReLU(slope),
        nn.Conv2d(n_f, 2 * n_f, 4, 2, 1), nn.LeakyReLU(slope),
        nn.Conv2d(2 * n_f, 4 * n_f, 4, 2, 1), nn.LeakyReLU(slope),
        nn.Conv2d(4 * n_f, 8 * n_f, 4, 2, 1), nn.LeakyReLU(slope),
        nn.Conv2d(8 * n_f, 1, 4, 1, 0))


def toy_mlp(torch, slope=0.05):
    nn = torch.nn
    sizes = [2, 32, 64, 64, 64, 1]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


def nonlocal_net(torch, n_c=3, n_f=32, leak=0.05):
    """The Anatomy code's NonlocalNet: the class the ConvNet parity tests use (tests/convnet/torch_reference.py, found
    next to this script when packed for a GPU machine, else in the repository), with the output projections zeroed
    as the C++ nonlocal_net initialises them."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.join(here, "..", "..", "tests", "convnet")):
        if os.path.exists(os.path.join(folder, "torch_reference.py")):
            sys.path.insert(0, folder)
            break
    import torch_reference  # noqa: E402  (after torch: it exits with 77 when torch is missing)
    net = torch_reference.Nonlocal(n_c, n_f, leak)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch_reference.NonLocalBlock):
                torch.nn.init.zeros_(module.W.weight)
                torch.nn.init.zeros_(module.W.bias)
    return net


def conv_forward_flops(net, shape, torch):
    """2 x multiply-adds of one forward pass per chain of a Sequential of Conv2d layers (activations not counted):
    2 * out_elements * in_channels * k * k per convolution (about 205 MFLOP for the short-run net)."""
    _, h, w = shape
    flops = 0.0
    for m in net:
        if isinstance(m, torch.nn.Conv2d):
            h = (h + 2 * m.padding[0] - m.dilation[0] * (m.kernel_size[0] - 1) - 1) // m.stride[0] + 1
            w = (w + 2 * m.padding[1] - m.dilation[1] * (m.kernel_size[1] - 1) - 1) // m.stride[1] + 1
            flops += 2.0 * m.out_channels * h * w * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    return flops


# ------------------------------------------------------------------------------------------------------ the sampler
def langevin_steps(torch, net, x, steps, lam, sigma):
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        u = net(x).sum()
        (g,) = torch.autograd.grad(u, x)
        x = x - lam * g + sigma * torch.randn_like(x)
    return x.detach()


def set_requires_grad(net, flag):
    for p in net.parameters():
        p.requires_grad_(flag)


# ------------------------------------------------------------------------------------------------------ the harness
class Bench:
    def __init__(self, torch, args):
        self.torch = torch
        self.args = args
        self.cuda = args.device == "cuda"
        self.device = torch.device(args.device)
        self.precision = "tf32" if args.tf32 else "fp32"
        self.det = int(args.deterministic)
        self.csv = None
        if args.csv:
            new = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
            self.csv = open(args.csv, "a", encoding="utf-8")
            if new:
                self.csv.write(CSV_COLUMNS + "\n")
                self.csv.flush()

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def best_time(self, once, repeats):
        """One untimed call (warm-up), then the best wall time of `repeats` calls."""
        once()
        self.sync()
        best = float("inf")
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            once()
            self.sync()
            best = min(best, time.perf_counter() - start)
        return best

    def capture(self, warm, body):
        """Warm-up on a side stream (cuDNN benchmark, lazy state), then capture body() in a CUDA graph."""
        torch = self.torch
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            warm()
        torch.cuda.current_stream().wait_stream(stream)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = body()
        torch.cuda.synchronize()
        return graph, out

    def release(self):
        """Free what a finished (or failed) measurement left behind; never raises."""
        if self.cuda:
            try:
                self.torch.cuda.synchronize()
                self.torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                print(f"note: cleanup after a measurement failed: {e}", flush=True)

    def report(self, workload, batch, mode, rate, us, tflops=None, gflop_per_step=None, unit="steps/s", note=""):
        extra = ""
        if tflops is not None:
            extra = f", {tflops:6.2f} TFLOP/s ({gflop_per_step:.1f} GFLOP/step)"
        per = "us/iter" if unit == "iter/s" else "us/step"
        print(f"{workload:8s} batch {batch:5d} {self.precision} {mode:11s} det={self.det} : {rate:10.1f} {unit} "
              f"({us:9.1f} {per}){extra}{note}", flush=True)
        if self.csv:
            tf = "" if tflops is None else f"{tflops:.4f}"
            self.csv.write(f"torch,{workload},{batch},{self.precision},{mode},{self.det},{rate:.4f},{tf},{us:.3f}\n")
            self.csv.flush()

    def modes(self):
        out = []
        if self.cuda and not self.args.no_graph:
            out.append("graph")
        if self.args.eager or self.args.no_graph or not self.cuda:
            out.append("eager")
        return out


def run_chain(b, workload, net, shape, batch, steps, lam, sigma, flops_per_chain=None):
    """Langevin steps/s of `batch` chains, K = steps per timed run, in each selected mode."""
    torch = b.torch
    set_requires_grad(net, False)  # sampling needs dU/dx only
    x0 = torch.rand(batch, *shape, device=b.device) * 2 - 1
    flops_per_step = None if flops_per_chain is None else 2.0 * flops_per_chain * batch  # forward + backward-data
    for mode in b.modes():
        try:
            if mode == "graph":
                static_x = x0.clone()
                graph, static_out = b.capture(
                    lambda: [langevin_steps(torch, net, static_x, 2, lam, sigma) for _ in range(2)],
                    lambda: langevin_steps(torch, net, static_x, steps, lam, sigma))

                def once():
                    static_x.copy_(x0)
                    graph.replay()
                    return static_out
            else:
                def once():
                    return langevin_steps(torch, net, x0, steps, lam, sigma)
            best = b.best_time(once, b.args.repeats)
            rate = steps / best
            tflops = None if flops_per_step is None else flops_per_step * rate * 1e-12
            b.report(workload, batch, mode, rate, best / steps * 1e6, tflops,
                     None if flops_per_step is None else flops_per_step * 1e-9)
        except Exception:  # noqa: BLE001 - one failing measurement must not stop the others
            print(f"{workload} batch {batch} {mode}: FAILED", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
        finally:
            once = graph = static_x = static_out = None  # noqa: F841 - drop the graph and its memory pool
            b.release()


def run_train(b, batch, steps):
    """Iterations/s of the short-run training loop (sampling + parameter gradient + Adam step)."""
    torch = b.torch
    net = short_run_net(torch).to(b.device)
    data = torch.rand(batch, 3, 32, 32, device=b.device) * 2 - 1  # a fixed random "data" batch in [-1, 1]
    lam, sigma, data_noise = 1.0, 0.01, 0.03

    def make_adam(capturable):
        kw = {"lr": 1e-4, "betas": (0.5, 0.999)}
        if capturable:
            kw["capturable"] = True
        return torch.optim.Adam(net.parameters(), **kw)

    def sample(k):
        set_requires_grad(net, False)
        x = torch.rand_like(data) * 2 - 1
        return langevin_steps(torch, net, x, k, lam, sigma)

    def update(opt, x_neg):
        set_requires_grad(net, True)
        opt.zero_grad(set_to_none=True)
        x_pos = data + data_noise * torch.randn_like(data)
        loss = net(x_pos).mean() - net(x_neg).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    def iteration(opt, k):
        return update(opt, sample(k))

    def measure(mode, once, note=""):
        best = b.best_time(once, b.args.repeats)
        b.report("train", batch, mode, 1.0 / best, best * 1e6, unit="iter/s", note=note)

    modes = b.modes()
    if "graph" in modes:
        how = b.args.train_capture
        done = False
        if how in ("auto", "full"):
            graph = opt = None
            try:
                opt = make_adam(True)
                graph, _ = b.capture(lambda: [iteration(opt, 2) for _ in range(3)], lambda: iteration(opt, steps))
                print("train: captured the whole iteration (chain + gradient + Adam(capturable=True) step) "
                      "in one CUDA graph", flush=True)
                measure("graph", graph.replay, f", K={steps}")
                done = True
            except Exception:  # noqa: BLE001
                print("train: capture of the whole iteration FAILED" +
                      ("; falling back to capturing the chain only" if how == "auto" else ""), flush=True)
                traceback.print_exc()
                sys.stdout.flush()
            finally:
                graph = opt = None
                set_requires_grad(net, True)
                b.release()
        if not done and how in ("auto", "chain"):
            graph = static_neg = opt = None
            try:
                opt = make_adam(False)
                graph, static_neg = b.capture(lambda: [update(opt, sample(2)) for _ in range(2)],
                                              lambda: sample(steps))
                print("train: captured the chain only; the gradient and the Adam step run eagerly", flush=True)

                def once():
                    graph.replay()
                    return update(opt, static_neg)
                measure("graph-chain", once, f", K={steps}")
            except Exception:  # noqa: BLE001
                print("train: capture of the chain FAILED", flush=True)
                traceback.print_exc()
                sys.stdout.flush()
            finally:
                graph = static_neg = opt = once = None  # noqa: F841
                set_requires_grad(net, True)
                b.release()
    if "eager" in modes:
        try:
            opt = make_adam(False)
            measure("eager", lambda: iteration(opt, steps), f", K={steps}")
        except Exception:  # noqa: BLE001
            print("train eager: FAILED", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
        finally:
            opt = None
            b.release()


# ----------------------------------------------------------------------------------------------------- precision
def set_precision(torch, tf32, deterministic):
    """TF32 on or off for cuDNN and cuBLAS. PyTorch 2.9+ has per-backend fp32_precision knobs ("ieee" / "tf32") and
    refuses a mix of those and the legacy allow_tf32 flags, so only the new ones are touched where they exist."""
    value = "tf32" if tf32 else "ieee"

    def has(obj, attr):  # torch.backends.cuda.matmul raises AssertionError (not AttributeError) on unknown names
        try:
            getattr(obj, attr)
            return True
        except Exception:  # noqa: BLE001
            return False

    new_api = []
    for owner, name in ((getattr(torch.backends, "cuda", None), "matmul"),
                        (torch.backends, "cudnn"),
                        (getattr(torch.backends, "cudnn", None), "conv"),
                        (getattr(torch.backends, "cudnn", None), "rnn")):
        obj = getattr(owner, name) if owner is not None and has(owner, name) else None
        if obj is not None and has(obj, "fp32_precision"):
            try:
                obj.fp32_precision = value
                new_api.append(name)
            except Exception as e:  # noqa: BLE001
                print(f"note: could not set {name}.fp32_precision = {value!r}: {e}")
    if "matmul" not in new_api:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    if "conv" not in new_api:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = bool(deterministic)
    if new_api:
        return "fp32_precision=" + value + " (" + ",".join(new_api) + ")"
    return f"allow_tf32={int(tf32)} (legacy flags)"


# ---------------------------------------------------------------------------------------------------------- main
def parse_list(text, allowed=None):
    items = [s.strip() for s in text.split(",") if s.strip()]
    if allowed is not None:
        if "all" in items:
            return list(allowed)
        bad = [s for s in items if s not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown workload(s) {bad}; choose from {list(allowed)} or all")
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="all", help="comma list of convnet,nonlocal,mlp,train, or all")
    parser.add_argument("--batches", default="64,256,1024", help="convnet batch sizes (comma list)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores (default: strict FP32)")
    parser.add_argument("--deterministic", action="store_true", help="torch.backends.cudnn.deterministic = True")
    parser.add_argument("--eager", action="store_true", help="also measure eagerly (kernel by kernel)")
    parser.add_argument("--no-graph", action="store_true", help="skip the CUDA-graph measurements (eager only)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the best is reported")
    parser.add_argument("--steps", type=int, default=0, help="override the Langevin steps per timed run (all)")
    parser.add_argument("--train-capture", choices=["auto", "full", "chain"], default="auto",
                        help="train: capture the whole iteration, only the chain, or try whole then chain")
    parser.add_argument("--csv", default="", help="append machine-readable rows to this file")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: debug only, eager, tiny")
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    try:
        workloads = parse_list(args.workload, WORKLOADS)
        batches = [int(s) for s in parse_list(args.batches)]
    except (argparse.ArgumentTypeError, ValueError) as e:
        parser.error(str(e))
    if not batches or min(batches) < 1:
        parser.error("--batches needs positive integers")
    try:
        import torch
    except ImportError:
        print("torch_langevin_cuda.py: PyTorch is not installed; nothing to measure")
        return 0
    cpu = args.device == "cpu"
    if not cpu and not torch.cuda.is_available():
        print("torch_langevin_cuda.py: no CUDA device (or a CPU-only PyTorch); nothing to measure")
        return 0
    knobs = set_precision(torch, args.tf32, args.deterministic)
    torch.manual_seed(args.seed)
    b = Bench(torch, args)
    name = "CPU (debug)" if cpu else torch.cuda.get_device_name(0)
    print(f"device: {name}, torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}, "
          f"precision={b.precision} [{knobs}], cudnn.benchmark=1, cudnn.deterministic={b.det}, "
          f"modes={','.join(b.modes())}, repeats={args.repeats}", flush=True)

    def steps_for(default):
        if args.steps > 0:
            return args.steps
        return 2 if cpu else default

    small = min(batches) if cpu else None  # cpu debug: every workload at the smallest batch
    start = time.perf_counter()
    for w in workloads:
        if w == "convnet":
            for batch in batches:
                net = short_run_net(torch).to(b.device)
                flops = conv_forward_flops(net, (3, 32, 32), torch)
                run_chain(b, "convnet", net, (3, 32, 32), batch, steps_for(20 if batch >= 1024 else 100),
                          1.0, 0.01, flops)
                del net
        elif w == "nonlocal":
            net = nonlocal_net(torch, 3, 32, 0.05).to(b.device)
            run_chain(b, "nonlocal", net, (3, 32, 32), small or 100, steps_for(100), 1.0, 0.01)
            del net
        elif w == "mlp":
            net = toy_mlp(torch).to(b.device)
            run_chain(b, "mlp", net, (2,), small or 100, steps_for(500), 0.0078125, 0.125)
            del net
        elif w == "train":
            run_train(b, small or 64, steps_for(100))
    print(f"total {time.perf_counter() - start:.1f} s", flush=True)
    if b.csv:
        b.csv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

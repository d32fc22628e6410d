#!/usr/bin/env python3
"""PyTorch reference for benchmarks/cuda/bench_cuda_langevin: Langevin steps/s on a CUDA GPU.

The same two workloads as the ebm benchmark:
  convnet  short-run ConvNet (32x32x3, n_f 64, LeakyReLU 0.2), batch 64, steps of the short-run code:
           x <- x - lambda dU/dx + sigma z (lambda 1, sigma 0.01), 100 steps per chain, 26.2 GFLOP per step
  mlp      Anatomy toy MLP 2-32-64-64-64-1 (LeakyReLU 0.05), batch 100, 500 steps per chain

Each in eager mode and, with --graph, captured in a CUDA graph (torch.cuda.graphs), FP32 (TF32 off) or with
--tf32. Prints steps/s (whole batch) and the achieved TFLOP/s for the ConvNet.

Usage:  python3 torch_langevin_cuda.py [--workload convnet|mlp|all] [--graph] [--tf32] [--repeats 5]
Needs a CUDA build of PyTorch and a GPU (Debian's python3-torch is CPU-only); exits 0 with a note otherwise.
"""
import argparse
import sys
import time


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


def forward_flops(net, shape, torch):
    """2 x multiply-adds of one forward pass per chain (convolutions and linear layers)."""
    flops = 0.0
    x = torch.zeros(1, *shape, device="cuda")
    for m in net:
        y = m(x)
        if isinstance(m, torch.nn.Conv2d):
            flops += 2.0 * y.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            flops += 2.0 * m.in_features * m.out_features
        x = y
    return flops


def langevin_steps(torch, net, x, steps, lam, sigma):
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        u = net(x).sum()
        (g,) = torch.autograd.grad(u, x)
        x = x - lam * g + sigma * torch.randn_like(x)
    return x.detach()


def run(torch, name, net, shape, batch, steps, lam, sigma, graph, repeats):
    x0 = torch.rand(batch, *shape, device="cuda") * 2 - 1
    for p in net.parameters():
        p.requires_grad_(False)  # sampling needs dU/dx only
    if graph:
        static_x = x0.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up on a side stream, as torch.cuda.graphs requires
                langevin_steps(torch, net, static_x, 2, lam, sigma)
        torch.cuda.current_stream().wait_stream(stream)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static_out = langevin_steps(torch, net, static_x, steps, lam, sigma)

        def once():
            static_x.copy_(x0)
            g.replay()
            return static_out
    else:
        def once():
            return langevin_steps(torch, net, x0, steps, lam, sigma)

    once()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    rate = steps / best
    flops = 2.0 * forward_flops(net, shape, torch) * batch  # forward + backward-data
    extra = f", {flops * rate * 1e-12:.2f} TFLOP/s ({flops * 1e-9:.1f} GFLOP/step)" if name == "convnet" else ""
    print(f"{name:8s} graph={int(graph)} : {rate:9.1f} Langevin steps/s ({best / steps * 1e6:8.1f} us/step){extra}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=["convnet", "mlp", "all"], default="all")
    parser.add_argument("--graph", action="store_true", help="capture the K-step chain in a CUDA graph")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores (default: strict FP32)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_langevin_cuda.py: PyTorch is not installed; nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("torch_langevin_cuda.py: no CUDA device (or a CPU-only PyTorch); nothing to measure")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(123)
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, tf32={int(args.tf32)}")
    if args.workload in ("convnet", "all"):
        run(torch, "convnet", short_run_net(torch).cuda(), (3, 32, 32), 64, 100, 1.0, 0.01, args.graph, args.repeats)
    if args.workload in ("mlp", "all"):
        run(torch, "mlp", toy_mlp(torch).cuda(), (2,), 100, 500, 0.0078125, 0.125, args.graph, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The seed configuration's Langevin loop in PyTorch (short-run code's sample_q): steps per second.

  x <- x - lambda * dU/dx + sigma * z,  U = net(x), 32x32x3 inputs, n_f 64, batch 64, LeakyReLU 0.2.
Prints one line: "torch <version> threads <n> steps_per_second <wall> cpu_steps_per_second <cpu>". Usage:
  /usr/bin/python3 benchmarks/convnet/torch_langevin.py [--threads 2] [--steps 20] [--repeats 3]
"""
import argparse
import time

import torch as t
import torch.nn as nn


def net(n_c=3, n_f=64, leak=0.2):
    return nn.Sequential(
        nn.Conv2d(n_c, n_f, 3, 1, 1), nn.LeakyReLU(leak),
        nn.Conv2d(n_f, 2 * n_f, 4, 2, 1), nn.LeakyReLU(leak),
        nn.Conv2d(2 * n_f, 4 * n_f, 4, 2, 1), nn.LeakyReLU(leak),
        nn.Conv2d(4 * n_f, 8 * n_f, 4, 2, 1), nn.LeakyReLU(leak),
        nn.Conv2d(8 * n_f, 1, 4, 1, 0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n_f", type=int, default=64)
    args = p.parse_args()
    t.set_num_threads(args.threads)
    t.manual_seed(1)
    f = net(n_f=args.n_f)
    for q in f.parameters():
        q.requires_grad_(False)  # sampling needs no parameter gradients
    x = t.empty(args.batch, 3, 32, 32).uniform_(-1, 1)

    def run(steps):
        nonlocal x
        x_k = x.clone().requires_grad_(True)
        for _ in range(steps):
            g = t.autograd.grad(f(x_k).sum(), [x_k])[0]
            x_k.data += -g + 1e-2 * t.randn_like(x_k)
        return x_k

    run(2)  # warm-up
    best, best_cpu = 0.0, 0.0
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run(args.steps)
        best = max(best, args.steps / (time.perf_counter() - start))
        best_cpu = max(best_cpu, args.steps / (time.process_time() - start_cpu))
    # cpu_steps_per_second: steps per second of process CPU time (all threads); with one thread it is what the
    # wall-clock rate would be on an idle machine, so it is the comparison that survives other load.
    print(f"torch {t.__version__} threads {args.threads} steps_per_second {best:.3f} cpu_steps_per_second {best_cpu:.3f}")


if __name__ == "__main__":
    main()

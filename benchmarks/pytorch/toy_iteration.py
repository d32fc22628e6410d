#!/usr/bin/env python3
"""One training iteration of the Anatomy toy experiments in PyTorch, timed: the reference for bench_toy.

Follows the authors' train_toy.py (ebm-anatomy): ToyNet = 1x1 convolutions 2-32-64-64-64-1 with LeakyReLU(0.05)
on (batch, 2, 1, 1) tensors, batch 100, Langevin on the rescaled energy x <- x - f'(x) + eps * z with
f'(x) = grad of f(x).sum(), r_t accumulated as the mean gradient norm, then
loss = (f(x+).mean() - f(x-).mean()) / (eps^2 / 2), SGD or Adam step.
  convergent:      persistent bank of 10,000 states from U[-1, 1]^2, L = 500, eps = 0.125, SGD lr 0.1 * eps^2/2
  non-convergent:  N(0, 1) initial states every iteration, L = 100, eps = 0.01, Adam lr 1e-4
Positives are drawn from the 8-component gmm (sd 0.15 around the unit circle) each iteration, as the authors do.

Prints seconds per iteration (median over repeats of timed blocks). Example:
  /usr/bin/python3 benchmarks/pytorch/toy_iteration.py --threads 2 --regime both --json
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn


class ToyNet(nn.Module):
    """The authors' toy energy network: 1x1 convolutions (faster than nn.Linear in Debian's torch 1.13 build)."""

    def __init__(self, dim=2, n_f=32, leak=0.05):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(dim, n_f, 1, 1, 0), nn.LeakyReLU(leak),
            nn.Conv2d(n_f, n_f * 2, 1, 1, 0), nn.LeakyReLU(leak),
            nn.Conv2d(n_f * 2, n_f * 2, 1, 1, 0), nn.LeakyReLU(leak),
            nn.Conv2d(n_f * 2, n_f * 2, 1, 1, 0), nn.LeakyReLU(leak),
            nn.Conv2d(n_f * 2, 1, 1, 1, 0))

    def forward(self, x):
        return self.f(x).squeeze()


def sample_gmm(n, rng):
    """The 8-component toy mixture, means (cos 2 pi k/8, sin 2 pi k/8), sd 0.15, as (n, 2, 1, 1)."""
    k = rng.integers(0, 8, size=n)
    angle = 2 * math.pi * k / 8
    x = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.15 * rng.standard_normal((n, 2))
    return torch.tensor(x, dtype=torch.float32).view(n, 2, 1, 1)


class Regime:
    def __init__(self, name, batch=100, bank=10000):
        self.name = name
        self.batch = batch
        self.f = ToyNet()
        if name == 'convergent':
            self.L, self.eps = 500, 0.125
            self.optim = torch.optim.SGD(self.f.parameters(), lr=0.1 * self.eps ** 2 / 2)
            self.bank = 2 * torch.rand(bank, 2, 1, 1) - 1
        else:
            self.L, self.eps = 100, 0.01
            self.optim = torch.optim.Adam(self.f.parameters(), lr=1e-4)
            self.bank = None
        self.rng = np.random.default_rng(123)

    def sample_s_t(self):
        if self.bank is not None:
            rand_inds = torch.randperm(self.bank.shape[0])[0:self.batch]
            x0 = self.bank[rand_inds]
        else:
            x0 = torch.randn(self.batch, 2, 1, 1)
        x = torch.autograd.Variable(x0.clone(), requires_grad=True)
        r_s_t = torch.zeros(1)
        for _ in range(self.L):
            f_prime = torch.autograd.grad(self.f(x).sum(), [x])[0]
            x.data += -f_prime + self.eps * torch.randn_like(x)
            r_s_t += f_prime.view(f_prime.shape[0], -1).norm(dim=1).mean()
        if self.bank is not None:
            self.bank[rand_inds] = x.detach()
        return x.detach(), r_s_t.squeeze() / self.L

    def iteration(self):
        x_q = sample_gmm(self.batch, self.rng)
        x_s_t, r_s_t = self.sample_s_t()
        en_diff = self.f(x_q).mean() - self.f(x_s_t).mean()
        loss = en_diff / (self.eps ** 2 / 2)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        return float(en_diff.detach()), float(r_s_t.detach())


def time_regime(name, iterations, repeats, warmup):
    regime = Regime(name)
    for _ in range(warmup):
        regime.iteration()
    blocks, cpu_blocks = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(iterations):
            regime.iteration()
        blocks.append((time.perf_counter() - start) / iterations)
        cpu_blocks.append((time.process_time() - cpu_start) / iterations)
    # cpu_seconds_per_iteration: CPU time of all the process's threads; with 1 thread it is the work itself, which a
    # machine shared with other busy processes disturbs less than the wall-clock time.
    return {'regime': name, 'steps': regime.L, 'seconds_per_iteration': statistics.median(blocks),
            'min_seconds_per_iteration': min(blocks), 'blocks': blocks,
            'cpu_seconds_per_iteration': statistics.median(cpu_blocks)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--regime', choices=['convergent', 'non-convergent', 'both'], default='both')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--iterations', type=int, default=0, help='iterations per timed block (default 5 / 20)')
    parser.add_argument('--repeats', type=int, default=3, help='timed blocks; the median is reported')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--json', action='store_true', help='print one JSON object instead of text')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(123)
    regimes = ['convergent', 'non-convergent'] if args.regime == 'both' else [args.regime]
    results = []
    for name in regimes:
        iterations = args.iterations or (5 if name == 'convergent' else 20)
        results.append(time_regime(name, iterations, args.repeats, args.warmup))
    info = {'torch': torch.__version__, 'python': sys.version.split()[0], 'threads': torch.get_num_threads(),
            'results': results}
    if args.json:
        print(json.dumps(info))
    else:
        print(f"PyTorch {info['torch']} (Python {info['python']}), {info['threads']} threads")
        for r in results:
            print(f"  {r['regime']:15s} L={r['steps']:3d}  {r['seconds_per_iteration']:.4f} s/iteration "
                  f"(min {r['min_seconds_per_iteration']:.4f}; CPU {r['cpu_seconds_per_iteration']:.4f} s)")


if __name__ == '__main__':
    main()

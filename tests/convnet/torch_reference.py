#!/usr/bin/python3
"""PyTorch reference for ebm's ConvNet energies (run by tests/convnet with Debian's /usr/bin/python3).

Builds the same network as the C++ side (short-run paper nets, the Anatomy VanillaNet and NonlocalNet), loads the
weights the C++ test wrote (weights.safetensors, PyTorch state_dict names), and writes what PyTorch computes:

  eval      x.npy, w.npy          -> u.npy (U = sign * net(x)), gx.npy (dU/dx), grad.safetensors (sum_i w_i dU_i/dtheta)
            [v.npy]               -> hv.npy ((d2U/dx2) v per chain, by double backward)
  langevin  x.npy, z.npy          -> x_out.npy after K steps x <- x - lambda dU/dx + sigma z_k  (z: K x N x C x H x W)
  train     pos.npy, x.npy, z.npy -> x_out.npy (negatives), weights_out.safetensors after one SGD step on
                                     mean U(pos) - mean U(neg), d.npy = [mean U(pos) - mean U(neg)]

Exit code 77 when torch cannot be imported (ctest reports the test as skipped).
"""
import argparse
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch as t
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print(f"SKIPPED: cannot import torch/numpy with {sys.executable}: {e}")
    sys.exit(77)


def read_safetensors(path, prefix=""):
    """The tensors whose names start with prefix (all by default; each must be F32), the prefix removed."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__" or not name.startswith(prefix):
            continue
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        out[name[len(prefix):]] = t.from_numpy(np.frombuffer(data[8 + n + b:8 + n + end], dtype="<f4").copy().reshape(e["shape"]))
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, v in tensors.items():
        a = np.ascontiguousarray(v.detach().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class ShortRun(nn.Module):
    """The short-run paper's F (Tables 4-6); with n_f 32 and leak 0.05 at 32 px it is the Anatomy VanillaNet."""

    def __init__(self, n_c, n_f, leak, size):
        super().__init__()
        layers = [nn.Conv2d(n_c, n_f, 3, 1, 1), nn.LeakyReLU(leak)]
        c = n_f
        for out in [2 * n_f, 4 * n_f, 8 * n_f] + [8 * n_f] * {32: 0, 64: 1, 128: 2}[size]:
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.LeakyReLU(leak)]
            c = out
        layers += [nn.Conv2d(c, 1, 4, 1, 0)]
        self.f = nn.Sequential(*layers)

    def forward(self, x):
        return self.f(x).reshape(x.shape[0])


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block with sub-sampled g and phi (Wang et al. 2018), as in the Anatomy code."""

    def __init__(self, c):
        super().__init__()
        self.inter = max(1, c // 2)
        self.g = nn.Sequential(nn.Conv2d(c, self.inter, 1), nn.MaxPool2d(2))
        self.W = nn.Conv2d(self.inter, c, 1)
        self.theta = nn.Conv2d(c, self.inter, 1)
        self.phi = nn.Sequential(nn.Conv2d(c, self.inter, 1), nn.MaxPool2d(2))

    def forward(self, x):
        n = x.shape[0]
        g = self.g(x).reshape(n, self.inter, -1).permute(0, 2, 1)
        th = self.theta(x).reshape(n, self.inter, -1).permute(0, 2, 1)
        ph = self.phi(x).reshape(n, self.inter, -1)
        attention = F.softmax(th @ ph, dim=-1)
        y = (attention @ g).permute(0, 2, 1).reshape(n, self.inter, *x.shape[2:])
        return self.W(y) + x


class Nonlocal(nn.Module):
    def __init__(self, n_c, n_f, leak):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(n_c, n_f, 3, 1, 1), nn.LeakyReLU(leak), nn.MaxPool2d(2),
            NonLocalBlock(n_f), nn.Conv2d(n_f, 2 * n_f, 3, 1, 1), nn.LeakyReLU(leak), nn.MaxPool2d(2),
            NonLocalBlock(2 * n_f), nn.Conv2d(2 * n_f, 4 * n_f, 3, 1, 1), nn.LeakyReLU(leak), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Linear(4 * n_f * 16, 8 * n_f), nn.LeakyReLU(leak), nn.Linear(8 * n_f, 1))

    def forward(self, x):
        return self.fc(self.convs(x).reshape(x.shape[0], -1)).reshape(x.shape[0])


def build(args):
    if args.arch in ("short_run", "vanilla"):
        net = ShortRun(args.channels, args.n_f, args.slope, args.size)
    elif args.arch == "nonlocal":
        net = Nonlocal(args.channels, args.n_f, args.slope)
    else:
        raise SystemExit(f"unknown arch {args.arch}")
    state = read_safetensors(f"{args.dir}/weights.safetensors")
    net.load_state_dict(state, strict=True)
    return net


def load(path):
    return t.from_numpy(np.load(path).astype(np.float32))


def save(path, v):
    np.save(path, np.ascontiguousarray(v.detach().numpy().astype(np.float32)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--task", choices=["eval", "langevin", "train"], default="eval")
    p.add_argument("--arch", required=True)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n_f", type=int, required=True)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--slope", type=float, required=True)
    p.add_argument("--sign", type=float, default=1.0)
    p.add_argument("--step", type=float, default=1.0)
    p.add_argument("--sigma", type=float, default=0.01)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args()
    t.set_num_threads(1)
    net = build(args)
    U = lambda x: args.sign * net(x)  # noqa: E731
    d = args.dir
    if args.task == "eval":
        x = load(f"{d}/x.npy").requires_grad_(True)
        w = load(f"{d}/w.npy")
        u = U(x)
        (gx,) = t.autograd.grad(u.sum(), [x], retain_graph=True)
        net.zero_grad()
        (w * u).sum().backward()
        save(f"{d}/u.npy", u)
        save(f"{d}/gx.npy", gx)
        if os.path.exists(f"{d}/v.npy"):  # Hessian-vector products by double backward: d(gx . v)/dx
            v = load(f"{d}/v.npy")
            (gx2,) = t.autograd.grad(U(x).sum(), [x], create_graph=True)
            (hv,) = t.autograd.grad((gx2 * v).sum(), [x], allow_unused=True)
            save(f"{d}/hv.npy", t.zeros_like(x) if hv is None else hv)
        write_safetensors(f"{d}/grad.safetensors", {k: v.grad for k, v in net.named_parameters()})
    elif args.task == "langevin":
        x = load(f"{d}/x.npy")
        z = load(f"{d}/z.npy")
        for k in range(z.shape[0]):
            x = x.detach().requires_grad_(True)
            (g,) = t.autograd.grad(U(x).sum(), [x])
            x = x.detach() - args.step * g + args.sigma * z[k]
        save(f"{d}/x_out.npy", x)
    else:
        pos = load(f"{d}/pos.npy")
        x = load(f"{d}/x.npy")
        z = load(f"{d}/z.npy")
        for k in range(z.shape[0]):
            x = x.detach().requires_grad_(True)
            (g,) = t.autograd.grad(U(x).sum(), [x])
            x = x.detach() - args.step * g + args.sigma * z[k]
        optim = t.optim.SGD(net.parameters(), lr=args.lr)
        optim.zero_grad()
        loss = U(pos).mean() - U(x.detach()).mean()
        loss.backward()
        optim.step()
        save(f"{d}/x_out.npy", x)
        save(f"{d}/d.npy", loss.detach().reshape(1))
        write_safetensors(f"{d}/weights_out.safetensors", dict(net.named_parameters()))


if __name__ == "__main__":
    main()

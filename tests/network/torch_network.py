#!/usr/bin/python3
"""PyTorch reference for ebm's composed networks (ebm::network), run by tests/network and examples' smoke tests.

Builds the nn.Module that a network description (the JSON of include/ebm/energy/network_json.hpp) transcribes:
an nn.Sequential of PyTorch's own modules (named by index, or by "name" through an OrderedDict), with the residual
block below, so that its state_dict names are the ones ebm gives its parameters.

  eval  --arch A.json --dir D [--double]
        D/weights.safetensors, x.npy, w.npy [, v.npy] -> u.npy (U = sign * net(x)), gx.npy (dU/dx),
        grad.safetensors (sum_i w_i dU_i/dtheta) [, hv.npy ((d2U/dx2) v per chain, by double backward)]
        --double computes in float64 (the reference for tolerances near float rounding).
  init  --arch A.json --seed S --out W.safetensors
        PyTorch's own initialisation of the module, written with safetensors.torch.save_file(model.state_dict())
        when the safetensors package is importable (otherwise exit 77).
  energies --arch A.json --weights W.safetensors --input x.npy --out u.npy
        loads weights (a file from ebm or a train_images checkpoint, whose tensors carry "energy.") with
        model.load_state_dict(strict=True) and writes the energies.

Exit code 77 when torch cannot be imported (ctest reports the test as skipped).
"""
import argparse
import collections
import json
import os
import sys

# The safetensors reader/writer and the Anatomy code's non-local block are the ConvNet reference's (which exits 77
# without torch).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "convnet"))
import torch_reference  # noqa: E402
from torch_reference import F, nn, np, read_safetensors, t, write_safetensors  # noqa: E402


class ResidualBlock(nn.Module):
    """IGEBM/JEM-style pre-activation residual block without normalisation (ebm::layers::residual_block)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, activation=None, downsample=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, 1, kernel_size // 2)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.act = activation if activation is not None else nn.LeakyReLU(0.2)
        self.downsample = downsample

    def forward(self, x):
        h = self.conv2(self.act(self.conv1(self.act(x))))
        y = h + (self.skip(x) if self.skip is not None else x)
        return F.avg_pool2d(y, 2) if self.downsample else y


class NonLocalBlock(torch_reference.NonLocalBlock):
    """The Anatomy code's non-local block (ebm::layers::nonlocal_block), its output projection W starting at zero."""

    def __init__(self, c):
        super().__init__(c)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)


def activation(j):
    kind = j["type"]
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(j.get("negative_slope", 0.01))
    if kind == "ELU":
        return nn.ELU(j.get("alpha", 1.0))
    if kind == "SiLU":
        return nn.SiLU()
    if kind == "GELU":
        return nn.GELU()
    if kind == "Tanh":
        return nn.Tanh()
    if kind == "Sigmoid":
        return nn.Sigmoid()
    if kind == "Softplus":
        return nn.Softplus(j.get("beta", 1.0), j.get("threshold", 20.0))
    return None


def pair(v):
    return v[0] if isinstance(v, list) else v


def module(j):
    a = activation(j)
    if a is not None:
        return a
    kind = j["type"]
    if kind == "Conv2d":
        return nn.Conv2d(j["in_channels"], j["out_channels"], pair(j["kernel_size"]), pair(j.get("stride", 1)),
                         pair(j.get("padding", 0)), bias=j.get("bias", True))
    if kind == "Linear":
        return nn.Linear(j["in_features"], j["out_features"], bias=j.get("bias", True))
    if kind == "AvgPool2d":
        return nn.AvgPool2d(pair(j["kernel_size"]), pair(j.get("stride") or j["kernel_size"]))
    if kind == "MaxPool2d":
        return nn.MaxPool2d(pair(j["kernel_size"]), pair(j.get("stride") or j["kernel_size"]))
    if kind == "Flatten":
        return nn.Flatten()
    if kind == "ResidualBlock":
        return ResidualBlock(j["in_channels"], j["out_channels"], j.get("kernel_size", 3),
                             activation(j["activation"]) if "activation" in j else None, j.get("downsample", False))
    if kind == "NonLocalBlock":
        return NonLocalBlock(j["channels"])
    if kind == "Sequential":
        return sequential(j["layers"])
    raise ValueError(f"unknown layer type {kind}")


def sequential(layers):
    return nn.Sequential(collections.OrderedDict(
        (j.get("name", str(i)), module(j)) for i, j in enumerate(layers)))


class Energy(nn.Module):
    """U(x) = sign * net(x), one value per chain; the state_dict is the net's (no prefix)."""

    def __init__(self, spec):
        super().__init__()
        self.net = sequential(spec["layers"])
        self.sign = -1.0 if spec.get("negate", False) else 1.0
        self.input = spec["input"]

    def forward(self, x):
        return self.sign * self.net(x.reshape([x.shape[0]] + list(self.input))).reshape(x.shape[0])

    def named_tensors(self):
        return self.net.state_dict()

    def load(self, tensors):
        self.net.load_state_dict(tensors, strict=True)


def load_weights(path):
    """A plain state_dict file, or a train_images checkpoint, whose energy's tensors carry "energy."."""
    tensors = read_safetensors(path, "energy.")
    return tensors if tensors else read_safetensors(path)


def task_eval(a, model):
    d = a.dir
    dtype = t.float64 if a.double else t.float32
    model.load(load_weights(os.path.join(d, "weights.safetensors")))
    model = model.to(dtype)
    x = t.from_numpy(np.load(os.path.join(d, "x.npy"))).to(dtype).requires_grad_(True)
    w = t.from_numpy(np.load(os.path.join(d, "w.npy"))).to(dtype)
    u = model(x)
    gx, = t.autograd.grad(u.sum(), x, create_graph=True)
    np.save(os.path.join(d, "u.npy"), u.detach().float().numpy())
    np.save(os.path.join(d, "gx.npy"), gx.detach().float().numpy())
    v_path = os.path.join(d, "v.npy")
    if os.path.exists(v_path):
        v = t.from_numpy(np.load(v_path)).to(dtype)
        if gx.requires_grad:
            hv, = t.autograd.grad((gx * v).sum(), x, allow_unused=True)
        else:
            hv = None
        if hv is None:  # the gradient does not depend on x (piecewise-linear net): the product is zero
            hv = t.zeros_like(x)
        np.save(os.path.join(d, "hv.npy"), hv.detach().float().numpy())
    model.zero_grad()
    (w * model(x.detach())).sum().backward()
    write_safetensors(os.path.join(d, "grad.safetensors"),
                      collections.OrderedDict((n, p.grad) for n, p in model.net.named_parameters()))


def task_init(a, model):
    # scripts/install_safetensors.sh puts the package in build/python (Debian has none).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python"))
    try:
        from safetensors.torch import save_file
    except Exception as e:  # noqa: BLE001
        print(f"SKIPPED: cannot import safetensors.torch: {e}")
        sys.exit(77)
    t.manual_seed(a.seed)
    fresh = Energy(model.spec)
    save_file(fresh.net.state_dict(), a.out)


def task_energies(a, model):
    model.load(load_weights(a.weights))
    x = t.from_numpy(np.load(a.input)).float()
    with t.no_grad():
        np.save(a.out, model(x).numpy())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["eval", "init", "energies"])
    p.add_argument("--arch", required=True)
    p.add_argument("--dir")
    p.add_argument("--double", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    p.add_argument("--weights")
    p.add_argument("--input")
    a = p.parse_args()
    with open(a.arch) as f:
        spec = json.load(f)
    model = Energy(spec)
    model.spec = spec
    {"eval": task_eval, "init": task_init, "energies": task_energies}[a.task](a, model)


if __name__ == "__main__":
    main()

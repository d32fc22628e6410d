#!/usr/bin/python3
"""PyTorch side of the checkpoint interop test (examples/train_images/pytorch_checkpoint.cmake).

  load     --checkpoint C --dir D: builds the PyTorch module the checkpoint's configuration describes, loads the
           checkpoint's "energy.*" tensors into it with load_state_dict(strict=True), and writes
             D/x.npy                   16 states, uniform in [-1, 1], torch seed 7
             D/u_checkpoint.npy        U(x) = net(x) in float64
             D/torch_weights.safetensors   the module's state_dict after p <- -0.75 p + 0.01 (as PyTorch saves it)
             D/u_torch.npy             U(x) of those weights, in float64
  compare  --dir D: ebm's energies (u_ebm_checkpoint.npy, u_ebm_torch.npy, from evaluate_energy) against PyTorch's;
           exit 1 if any differs by more than 1e-6 relative to the batch's largest |U|.

Exit code 77 when torch cannot be imported (ctest reports the test as skipped).
"""
import argparse
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import ShortRun, np, t, write_safetensors  # noqa: E402 (exits 77 without torch)

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U32": "<u4", "U64": "<u8"}


def read_all(path):
    """Every tensor (as numpy arrays) and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + b:8 + n + end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return tensors, meta


def module_of(config):
    model, data = config["model"], config["data"]
    if model["architecture"] not in ("convnet", "vanilla"):  # train_images: convnet is the short-run paper's net
        raise SystemExit(f"unsupported architecture {model['architecture']}")
    size = 32 if model["architecture"] == "vanilla" else data["image_size"]
    return ShortRun(data["channels"], model["features"], model["negative_slope"], size), data["channels"], size


def load(args):
    tensors, meta = read_all(args.checkpoint)
    assert meta["format"] == "ebm.checkpoint.v2", meta["format"]
    net, channels, size = module_of(json.loads(meta["config"]))
    state = {k[len("energy."):]: t.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith("energy.")}
    net.load_state_dict(state, strict=True)
    net = net.double()
    g = t.Generator().manual_seed(7)
    x = t.rand(16, channels, size, size, generator=g, dtype=t.float64) * 2 - 1
    d = args.dir
    np.save(f"{d}/x.npy", x.numpy().astype(np.float32))
    x = t.from_numpy(np.load(f"{d}/x.npy").astype(np.float64))  # the float32 states ebm reads
    with t.no_grad():
        np.save(f"{d}/u_checkpoint.npy", net(x).numpy())
        for p in net.parameters():
            p.mul_(-0.75).add_(0.01)
        write_safetensors(f"{d}/torch_weights.safetensors", {k: v.float() for k, v in net.state_dict().items()})
        net.load_state_dict({k: v.float().double() for k, v in net.state_dict().items()})  # the float32 weights saved
        np.save(f"{d}/u_torch.npy", net(x).numpy())


def compare(args):
    d, worst = args.dir, 0.0
    for ours, theirs in (("u_ebm_checkpoint", "u_checkpoint"), ("u_ebm_torch", "u_torch")):
        a, b = np.load(f"{d}/{ours}.npy").astype(np.float64), np.load(f"{d}/{theirs}.npy")
        assert a.shape == b.shape, (ours, a.shape, b.shape)
        err = np.max(np.abs(a - b)) / np.max(np.abs(b))
        print(f"{ours} vs PyTorch {theirs}: max relative difference {err:.3g} (|U| up to {np.max(np.abs(b)):.3g})")
        worst = max(worst, err)
    if worst > 1e-6:
        print("FAILED: energies differ by more than 1e-6")
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["load", "compare"])
    p.add_argument("--checkpoint")
    p.add_argument("--dir", required=True)
    args = p.parse_args()
    t.set_num_threads(1)
    (load if args.task == "load" else compare)(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PyTorch values embedded in tests/unit/optim/test_adam.cpp and test_sgd.cpp, re-derived with torch (1.13,
float32): three steps of torch.optim.Adam(lr=0.01) and of torch.optim.SGD(lr=0.1, momentum=0.9) from the same start
and gradients as the tests, the parameters after each step.

  optim_reference.py adam|sgd                  prints the values as C++ hex-float literals
  optim_reference.py adam|sgd --check FILE     compares them with the array `torch` embedded in FILE (relative 2e-7,
                                               about 1.7 float32 ulps: the tests' own tolerance against these values);
                                               exit 1 on a mismatch, 77 (ctest: Skipped) without torch
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_check  # noqa: E402

START = [1.0, -2.0, 0.5, 3.0]
GRADIENTS = [[0.1, 0.2, -0.3, 0.0], [-0.5, 0.25, 1.0, 2.0], [0.3, -0.1, 0.05, -1.0]]


def compute(which):
    torch = torch_check.require_torch()
    p = torch.nn.Parameter(torch.tensor(START, dtype=torch.float32))
    if which == "adam":
        opt = torch.optim.Adam([p], lr=0.01)
    elif which == "sgd":
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    else:
        raise SystemExit(f"unknown optimizer {which!r}: adam or sgd")
    after = []
    for g in GRADIENTS:
        p.grad = torch.tensor(g, dtype=torch.float32)  # the float32 rounding of the C++ literals 0.1f, ...
        opt.step()
        after.append(p.detach().tolist())
    return after


def main():
    if len(sys.argv) not in (2, 4):
        raise SystemExit(__doc__)
    after = compute(sys.argv[1])
    if len(sys.argv) == 4 and sys.argv[2] == "--check":
        flat = [v for step in after for v in step]
        sys.exit(0 if torch_check.compare(f"{sys.argv[1]} parameters after steps 1-3", flat,
                                          torch_check.embedded(sys.argv[3], "torch"), 2e-7, 0) else 1)
    rows = ",\n".join("    {" + ", ".join(torch_check.hexf(v) for v in step) + "}" for step in after)
    print("const std::vector<std::vector<float>> torch = {\n" + rows + "};")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PyTorch values embedded in tests/unit/energy/test_mlp_pytorch.cpp, re-derived with torch (1.13, float32).

A {2, 4, 4, 1} net with LeakyReLU(0.05): nn.Sequential(Linear, LeakyReLU, Linear, LeakyReLU, Linear), loaded from
the flat parameter vector in state_dict order (0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias). The parameters
are arbitrary fixed values (listed below; the test embeds the same list); the inputs are 3 chains of dimension 2.
torch.autograd gives U, dU/dx of sum U, and d(sum_i w_i U_i)/dtheta.

  mlp_reference.py                 prints the values as C++ hex-float literals
  mlp_reference.py --check FILE    compares them with the arrays embedded in FILE (relative 1e-6 + absolute 1e-7:
                                   float32 rounding differences of torch's kernels between machines); exit 1 on a
                                   mismatch, 77 (ctest: Skipped) when torch cannot be imported
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_check  # noqa: E402

PARAMETERS = """
    -0x1.b2a87cp-3f, 0x1.baa790p-3f, -0x1.2d41d4p-1f, -0x1.5c13e2p-1f,
    0x1.07d970p-3f, 0x1.13f474p-2f, 0x1.0eabb8p-2f, 0x1.62caa2p-1f,
    0x1.30fd5ap-1f, 0x1.67c13ep-1f, 0x1.e3d11cp-2f, 0x1.cec44cp-2f,
    0x1.333d94p-2f, -0x1.f27f00p-8f, 0x1.f44430p-4f, 0x1.d660f0p-4f,
    0x1.3c7ad0p-4f, -0x1.e167b4p-2f, -0x1.ac346cp-2f, -0x1.8eb454p-2f,
    0x1.5e33fcp-2f, 0x1.a446a4p-2f, -0x1.9cc4b8p-3f, -0x1.bcaab8p-3f,
    0x1.928600p-9f, -0x1.868278p-3f, -0x1.c1e6b0p-4f, 0x1.bc2a98p-3f,
    -0x1.683314p-2f, 0x1.402924p-2f, -0x1.c91164p-2f, 0x1.5d20f8p-3f,
    -0x1.b8cce4p-2f, 0x1.9810a4p-2f, -0x1.2d059cp-2f, -0x1.bc98f8p-3f,
    -0x1.a21660p-5f,
"""
X = [0.5, -1.25, -0.75, 0.375, 1.5, 1.0]  # chain i = X[2i], X[2i+1]
W = [0.5, -0.25, 0.75]


def compute():
    torch = torch_check.require_torch()
    params = torch_check.floats_in(PARAMETERS)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.LeakyReLU(0.05), torch.nn.Linear(4, 4),
                              torch.nn.LeakyReLU(0.05), torch.nn.Linear(4, 1))
    flat = torch.tensor(params, dtype=torch.float32)
    offset = 0
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.copy_(flat[offset:offset + tensor.numel()].view_as(tensor))
            offset += tensor.numel()
    assert offset == len(params)
    x = torch.tensor(X, dtype=torch.float32).view(3, 2).requires_grad_(True)
    u = net(x).view(-1)
    (dx,) = torch.autograd.grad(u.sum(), x)
    net.zero_grad()
    u2 = net(x.detach()).view(-1)
    (u2 * torch.tensor(W)).sum().backward()
    dtheta = torch.cat([p.grad.view(-1) for p in net.parameters()])
    return {"parameters": params, "energies": u.tolist(), "state_gradient": dx.view(-1).tolist(),
            "parameter_gradient": dtheta.tolist()}


def main():
    values = compute()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        ok = torch_check.compare("parameters", values["parameters"], torch_check.embedded(sys.argv[2], "parameters"), 0, 0)
        for name in ("energies", "state_gradient", "parameter_gradient"):
            ok &= torch_check.compare(name, values[name], torch_check.embedded(sys.argv[2], name), 1e-6, 1e-7)
        sys.exit(0 if ok else 1)
    for name, v in values.items():
        print(f"const std::vector<float> {name} = {{{', '.join(torch_check.hexf(t) for t in v)}}};")


if __name__ == "__main__":
    main()

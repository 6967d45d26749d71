"""compile_probe.py - torch.compile's Triton kernels under xmig (tests/torch).

A few compiled functions whose generated Triton kernels are loaded with
cuModuleLoadData and launched with cuLaunchKernelEx through libcuda.so.1:
pointwise fusion, a reduction, softmax, and a compiled layer's forward and
backward. Integer-valued inputs keep every result exact, so the lines
printed (float.hex of sums) are the same natively and under xmig on one GPU
model and one Triton. Run it with --rounds N --sleep-ms M to leave time for
a move: the kernels already loaded must go on working in the next proxy.

    python3 compile_probe.py [--rounds N (1)] [--sleep-ms M (0)]
"""
import argparse
import time

import torch


def exact(t):
    """A tensor's sum as exact float hex (its values are small integers)."""
    return float(t.double().sum().item()).hex()


@torch.compile(fullgraph=True)
def pointwise(x, y):
    return torch.relu(x * 3 - y) + (x % 5) * y


@torch.compile(fullgraph=True)
def rowsum(x):
    return x.sum(dim=1) + x.amax(dim=1)


@torch.compile(fullgraph=True)
def softmax_argmax(x):
    return torch.softmax(x, dim=-1).argmax(dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sleep-ms", type=int, default=0)
    o = ap.parse_args()

    torch.manual_seed(0)
    dev = "cuda"
    x = torch.randint(-8, 9, (512, 384), device=dev).float()
    y = torch.randint(-8, 9, (512, 384), device=dev).float()
    lin = torch.nn.Linear(384, 64, bias=True).to(dev)
    with torch.no_grad():
        lin.weight.copy_(torch.randint(-2, 3, lin.weight.shape, device=dev).float())
        lin.bias.copy_(torch.randint(-2, 3, lin.bias.shape, device=dev).float())
    layer = torch.compile(lambda t: torch.nn.functional.gelu(lin(t), approximate="none").sum())

    for r in range(o.rounds):
        p = pointwise(x + r, y)
        s = rowsum(x - r)
        a = softmax_argmax(x * (r + 1))
        xr = (x / 8).requires_grad_(False)
        lin.zero_grad()
        out = layer(xr)
        out.backward()
        torch.cuda.synchronize()
        print(f"round {r}: pointwise {exact(p)} rowsum {exact(s)} argmax {int(a.sum().item())}"
              f" layer {float(out.item()).hex()} grad {float(lin.weight.grad.double().abs().sum().item()).hex()}",
              flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    # The same computations eagerly: compiled and eager agree where exact.
    ok = torch.equal(pointwise(x, y), torch.relu(x * 3 - y) + (x % 5) * y) and \
        torch.equal(rowsum(x), x.sum(dim=1) + x.amax(dim=1))
    print("compiled equals eager:", ok)
    print("PASS compile_probe" if ok else "FAIL compile_probe")


if __name__ == "__main__":
    main()

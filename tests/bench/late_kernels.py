"""late_kernels.py - a job that first uses a family of kernels mid-run.

An MLP trained with SGD, step after step (its losses and a checksum of its
parameters on stdout, the same natively and moved). From the first step
after the file --go-file appears, each step also runs ops the training never
used: a sort, top-k, a scan, bincount, unique, scatter-add, argmax, layer
norm, GELU and softmax on a fresh tensor. Their kernels sit in fat binaries
of libtorch_cuda that are loaded at that first use, which is what a move
prepared before it and frozen after it has to load too. Each step checks
those results against the CPU (exactly for the integer ones), and the run
fails loudly on a mismatch (stderr says how many steps were checked).

  late_kernels.py --go-file F [--steps N (400)] [--sleep-ms MS (10)]
"""
import argparse
import os
import sys
import time

import torch


def late_ops(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randint(0, 1 << 20, (1 << 15,), generator=g)
    f = torch.randn(64, 256, generator=g)
    d, df = x.cuda(), f.cuda()
    w = torch.randint(0, 100, (1 << 15,), generator=g)
    got = [
        torch.sort(d).values,
        torch.topk(d, 16).values,
        torch.cumsum(d, 0),
        torch.bincount(d % 1000, minlength=1000),
        torch.unique(d % 5000),
        torch.zeros(4096, dtype=torch.long, device="cuda").scatter_add_(0, d % 4096, w.cuda()),
        torch.argmax(d.view(256, -1), dim=1),
    ]
    want = [
        torch.sort(x).values,
        torch.topk(x, 16).values,
        torch.cumsum(x, 0),
        torch.bincount(x % 1000, minlength=1000),
        torch.unique(x % 5000),
        torch.zeros(4096, dtype=torch.long).scatter_add_(0, x % 4096, w),
        torch.argmax(x.view(256, -1), dim=1),
    ]
    for k, (a, b) in enumerate(zip(got, want)):
        if not torch.equal(a.cpu(), b):
            sys.exit("late_kernels: step %d: integer op %d differs from the CPU's" % (step, k))
    ln = torch.nn.functional.layer_norm(df, (256,))
    ge = torch.nn.functional.gelu(df)
    sm = torch.softmax(df, dim=1)
    for name, a, b in (("layer_norm", ln, torch.nn.functional.layer_norm(f, (256,))),
                       ("gelu", ge, torch.nn.functional.gelu(f)),
                       ("softmax", sm, torch.softmax(f, dim=1))):
        if not torch.allclose(a.cpu(), b, rtol=1e-4, atol=1e-5):
            sys.exit("late_kernels: step %d: %s differs from the CPU's" % (step, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go-file", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--sleep-ms", type=int, default=10)
    a = ap.parse_args()

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 10)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xs = torch.randn(64, 512, device="cuda")
    ys = torch.randint(0, 10, (64,), device="cuda")
    late_from, checked = None, 0
    for step in range(a.steps):
        if late_from is None and os.path.exists(a.go_file):
            late_from = step
            print("late kernels in use from step %d" % step, file=sys.stderr, flush=True)
        loss = torch.nn.functional.cross_entropy(model(xs), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print("step %d loss %.6f" % (step, loss.item()), flush=True)
        if late_from is not None:
            late_ops(step)
            checked += 1
        time.sleep(a.sleep_ms / 1000)
    total = sum(p.double().sum().item() for p in model.parameters())
    print("checksum %.9e" % total)
    print("late kernels checked in %d steps" % checked, file=sys.stderr)
    print("PASS late_kernels")


if __name__ == "__main__":
    main()

"""sdpa_cudnn.py - F.scaled_dot_product_attention through cuDNN (tests/torch).

Forces PyTorch's cuDNN attention (torch.nn.attention.sdpa_kernel with
SDPBackend.CUDNN_ATTENTION only, so PyTorch fails rather than falls back),
in bf16, causal, forward and backward. PyTorch builds the cuDNN graph once
through its cuDNN frontend, which reaches libcudnn.so.9 only through the
backend API (descriptors, attributes, heuristics, plans), caches the plans
and executes them every step: under xmig all of that is forwarded to the
proxy, and the plans must survive a move. Each step updates q, k and v by
their gradients (plain SGD), so every step depends on the one before. It
prints, per step, a hash of the output's and of each gradient's bytes; the
last line is PASS. Nothing else goes to stdout.

    python3 sdpa_cudnn.py [--steps N (20)] [--sleep-ms N (0)]
                          [--pause-at K --pause-file F]

--pause-at K with --pause-file F: before step K, say so on stderr and wait
until F exists, so the job can be moved (or snapshotted) at a known point:
    xmig run --job sd -- python3 sdpa_cudnn.py --pause-at 10 --pause-file /tmp/go &
    (wait for "paused" on stderr) xmig migrate --job sd --to gpu1; touch /tmp/go
"""
import argparse
import hashlib
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def digest(t):
    b = t.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes()
    return hashlib.sha256(b).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--pause-at", type=int, default=-1)
    ap.add_argument("--pause-file")
    o = ap.parse_args()
    if (o.pause_at >= 0) != bool(o.pause_file):
        ap.error("--pause-at and --pause-file go together")

    torch.manual_seed(0)
    dev = "cuda"
    batch, heads, seq, dim = 2, 8, 512, 64
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(batch, heads, seq, dim, generator=gen).to(dev, torch.bfloat16)
               for _ in range(3))
    dout = torch.randn(batch, heads, seq, dim, generator=gen).to(dev, torch.bfloat16)
    lr = 0.05
    for step in range(o.steps):
        if step == o.pause_at:
            print("paused before step %d: waiting for %s" % (step, o.pause_file),
                  file=sys.stderr, flush=True)
            while not os.path.exists(o.pause_file):
                time.sleep(0.05)
        q.requires_grad_(True)
        k.requires_grad_(True)
        v.requires_grad_(True)
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(dout)
        print("step %d out %s dq %s dk %s dv %s" % (step, digest(out), digest(q.grad),
                                                    digest(k.grad), digest(v.grad)),
              flush=True)
        with torch.no_grad():
            q = (q - lr * q.grad).detach()
            k = (k - lr * k.grad).detach()
            v = (v - lr * v.grad).detach()
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    torch.cuda.synchronize()
    print("PASS sdpa_cudnn")


if __name__ == "__main__":
    main()

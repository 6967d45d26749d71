"""train_gpt.py - a small GPT trained with AdamW to move about (tests/torch).

Six pre-norm transformer blocks (width 512, 8 heads, causal
scaled_dot_product_attention), bf16 autocast, AdamW, on fixed synthetic
token data, seeded and with deterministic algorithms: on one GPU model and
one set of libraries it prints the same losses (as exact float hex) and the
same final parameter checksum on every run, natively or under xmig,
whatever happened to the process in between. Step times go to stderr (for
the benchmark), never to stdout.

    python3 train_gpt.py [--steps N (300)] [--batch N (16)] [--seq N (256)]
                         [--compile [--compile-mode M]] [--sleep-ms N (0)] [--times FILE]
                         [--ddp]   (torch.distributed, nccl backend; run
                                    under torchrun or with world size 1)
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, seq, width=512, layers=6, heads=8):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(seq, width)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.head(self.ln(self.blocks(self.tok(idx) + self.pos(pos))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--compile-mode", default=None,
                    help="torch.compile's mode (reduce-overhead: CUDA graph trees)")
    ap.add_argument("--ddp", action="store_true")
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--times", help="write one line per step here ({rank}: the rank's "
                    "number): its time and when it ended (CLOCK_MONOTONIC), seconds")
    o = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # bit-identical reruns: deterministic kernels, and cuBLAS's fixed workspace
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(0)
    dev = "cuda"
    model = GPT(o.vocab, o.seq).to(dev)
    if o.ddp:
        import torch.distributed as dist
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        dist.init_process_group("nccl", rank=int(os.environ.get("RANK", 0)),
                                world_size=int(os.environ.get("WORLD_SIZE", 1)))
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, foreach=True)
    step_fn = model
    if o.compile:
        step_fn = torch.compile(model, mode=o.compile_mode)
    gen = torch.Generator().manual_seed(1)
    n = 8 * o.batch
    data = torch.randint(0, o.vocab, (n, o.seq + 1), generator=gen).to(dev)

    times, ends = [], []
    for step in range(o.steps):
        t0 = time.perf_counter()
        lo = (step * o.batch) % n
        chunk = data[lo:lo + o.batch]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = step_fn(chunk[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, o.vocab), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()          # synchronises: the step is done
        times.append(time.perf_counter() - t0)
        ends.append(time.monotonic())
        if step % 25 == 0 or step == o.steps - 1:
            print("step %d loss %s" % (step, value.hex()), flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    total = sum(p.detach().double().sum().item() for p in model.parameters())
    print("params checksum %s" % total.hex())
    print("PASS train_gpt", flush=True)
    if o.ddp:
        torch.distributed.destroy_process_group()
    if o.times:
        with open(o.times.replace("{rank}", os.environ.get("RANK", "0")), "w") as f:
            f.write("".join("%.9f %.6f\n" % te for te in zip(times, ends)))
    times = sorted(times[10:]) or times
    print("median step %.3f ms" % (1000 * times[len(times) // 2]), file=sys.stderr)


if __name__ == "__main__":
    main()

"""train_mlp.py - a small PyTorch training run to move about (tests/torch).

A multi-layer perceptron trained with SGD and momentum (or AdamW) on fixed synthetic
data, seeded, with TF32 off: on one GPU model and one cuBLAS it prints the
same losses (as exact float hex) and the same final parameter checksum on
every run, natively or under xmig, whatever happened to the process in
between. Step times go to stderr (for the benchmark), never to stdout.

    python3 train_mlp.py [--steps N (300)] [--sleep-ms N (0)] [--width N (1024)]
                         [--batch N (256)] [--optim sgd|adamw (sgd)] [--times FILE] [--ddp]
                         [--pinned-batches]

--ddp wraps the model in DistributedDataParallel (nccl backend; RANK and
WORLD_SIZE from the environment, default 0 and 1): every step all-reduces
the gradients through NCCL.

--pinned-batches keeps the data on the host in pinned memory and copies
each batch to the GPU asynchronously (non_blocking), as a data loader with
pin_memory does; with PYTORCH_CUDA_ALLOC_CONF=pinned_use_cuda_host_register:True
PyTorch pins it with cudaHostRegister.
"""
import argparse
import os
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--optim", choices=("sgd", "adamw"), default="sgd")
    ap.add_argument("--times", help="write one step time (seconds) per line here")
    ap.add_argument("--ddp", action="store_true")
    ap.add_argument("--pinned-batches", action="store_true")
    o = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    dev = "cuda"
    w = o.width
    model = torch.nn.Sequential(
        torch.nn.Linear(256, w), torch.nn.ReLU(),
        torch.nn.Linear(w, w), torch.nn.ReLU(),
        torch.nn.Linear(w, 10)).to(dev)
    if o.ddp:
        import torch.distributed as dist
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29518")
        dist.init_process_group("nccl", rank=int(os.environ.get("RANK", 0)),
                                world_size=int(os.environ.get("WORLD_SIZE", 1)))
        model = torch.nn.parallel.DistributedDataParallel(model)
    if o.optim == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    n = 16 * o.batch
    x = torch.randn(n, 256, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    if o.pinned_batches:
        x, y = x.pin_memory(), y.pin_memory()
        assert x.is_pinned() and y.is_pinned()
    else:
        x, y = x.to(dev), y.to(dev)

    times = []
    for step in range(o.steps):
        t0 = time.perf_counter()
        lo = (step * o.batch) % n
        xb, yb = x[lo:lo + o.batch], y[lo:lo + o.batch]
        if o.pinned_batches:
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()          # synchronises: the step is done
        times.append(time.perf_counter() - t0)
        if step % 25 == 0 or step == o.steps - 1:
            print("step %d loss %s" % (step, value.hex()), flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    total = sum(p.detach().double().sum().item() for p in model.parameters())
    print("params checksum %s" % total.hex())
    print("PASS train_mlp", flush=True)
    if o.ddp:
        torch.distributed.destroy_process_group()
    if o.times:
        with open(o.times, "w") as f:
            f.write("".join("%.9f\n" % t for t in times))
    times = sorted(times[10:]) or times
    print("median step %.3f ms" % (1000 * times[len(times) // 2]), file=sys.stderr)


if __name__ == "__main__":
    main()

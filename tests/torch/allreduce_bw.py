"""allreduce_bw.py - all-reduce bus bandwidth, torch.distributed (nccl), one
rank per process (tests/gpu/multigpu.sh starts them natively and under xmig).

For each size from --min-mib to --max-mib (doubling): --warmup calls, then
--iters timed calls (synchronised once at the end); rank 0 prints
"allreduce BYTES busbw GB/s" with NCCL's bus bandwidth convention,
algbw * 2 (n-1) / n. The reduced values are checked: every element must be
the sum of the ranks' fills.

    RANK=r WORLD_SIZE=n MASTER_ADDR=... MASTER_PORT=... python3 allreduce_bw.py
"""
import argparse
import os
import time

import torch
import torch.distributed as dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-mib", type=int, default=8)
    ap.add_argument("--max-mib", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    o = ap.parse_args()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group("nccl", rank=rank, world_size=world)
    mib = o.min_mib
    while mib <= o.max_mib:
        n = mib * (1 << 20) // 4
        x = torch.full((n,), float(rank + 1), device="cuda")
        for _ in range(o.warmup):
            dist.all_reduce(x)
        x.fill_(float(rank + 1))
        dist.all_reduce(x)
        want = world * (world + 1) / 2
        ok = bool((x == want).all().item())
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(o.iters):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / o.iters
        algbw = n * 4 / dt / 1e9
        if rank == 0:
            print("allreduce %d busbw %.2f GB/s %s" % (n * 4, algbw * 2 * (world - 1) / world,
                                                       "ok" if ok else "WRONG"), flush=True)
        mib *= 2
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

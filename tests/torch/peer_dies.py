"""peer_dies.py - a DDP-style job one of whose ranks dies (tests/gpu/multigpu.sh,
part 8).

Every rank all-reduces a 4 MiB tensor each step and checks the sum; rank
--victim kills itself (SIGKILL) after --die-at steps. The others then wait
in their next all-reduce for a peer that never comes, until PyTorch's NCCL
watchdog gives up after --timeout-s: with TORCH_NCCL_ASYNC_ERROR_HANDLING=3
(PyTorch's default) it ends the process at once, with 1 it aborts the
communicators first (ncclCommAbort, from its own thread, while the
kernel waits). Each rank prints a line per 10 steps and "waiting" when
its peer is gone; the exit is the watchdog's. Under xmig the survivor
must end as it does natively, and its proxy with it.

    RANK=r WORLD_SIZE=n python3 peer_dies.py [--die-at N (30)] [--victim R (1)]
                                             [--timeout-s S (10)]
"""
import argparse
import datetime
import os
import signal
import sys

import torch
import torch.distributed as dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--die-at", type=int, default=30)
    ap.add_argument("--victim", type=int, default=1)
    ap.add_argument("--timeout-s", type=int, default=10)
    o = ap.parse_args()
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29519")
    dist.init_process_group("nccl", rank=rank, world_size=world,
                            device_id=torch.device("cuda", 0),
                            timeout=datetime.timedelta(seconds=o.timeout_s))
    t = torch.empty(1 << 20, device="cuda")
    want = sum(r + 1 for r in range(world))
    step = 0
    while True:
        if rank == o.victim and step == o.die_at:
            print(f"rank {rank}: dying at step {step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if step == o.die_at:
            print(f"rank {rank}: waiting for the dead peer at step {step}", flush=True)
        t.fill_(rank + 1)
        dist.all_reduce(t)
        got = t[0].item()
        if got != want:
            print(f"rank {rank}: step {step}: sum {got}, want {want}", flush=True)
            sys.exit(1)
        if step % 10 == 0:
            print(f"rank {rank}: step {step} ok", flush=True)
        step += 1


if __name__ == "__main__":
    main()

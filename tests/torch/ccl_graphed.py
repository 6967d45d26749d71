"""ccl_graphed.py - an all-reduce captured into a CUDA graph on some ranks
(tests/gpu/multigpu.sh, part 5).

Every rank fills a 4 MiB tensor with (rank + 1) * (step + 1) and all-reduces
it, checking the sum each step; the ranks named by --graph-ranks captured
their all-reduce once with torch.cuda.graph and replay it, the others call
it. Under xmig the job's ranks move: the cut counts each replay as the
all-reduce it holds, and after the re-link every rank holding the graph
captures it again on the new communicator at its next replay. The job must
print what it prints natively.

    RANK=r WORLD_SIZE=n python3 ccl_graphed.py [--steps N (200)] [--sleep-ms N (20)]
                                                [--graph-ranks LIST (0)] [--times FILE]

--times FILE: each step's time (seconds, the sleep left out), one per line
({rank} in FILE: the rank's number); a move shows as the steps it held up.
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--sleep-ms", type=int, default=20)
    ap.add_argument("--graph-ranks", default="0")
    ap.add_argument("--times")
    o = ap.parse_args()
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29519")
    dist.init_process_group("nccl", rank=rank, world_size=world,
                            device_id=torch.device("cuda", 0))
    graphed = str(rank) in o.graph_ranks.split(",")
    t = torch.ones(1 << 20, device="cuda")
    dist.all_reduce(t)   # every rank: the communicator made, before any capture
    torch.cuda.synchronize()
    if graphed:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            dist.all_reduce(t)
    ranks_sum = world * (world + 1) // 2
    times = []
    for step in range(o.steps):
        t0 = time.perf_counter()
        t.fill_(float((rank + 1) * (step + 1)))
        if graphed:
            graph.replay()
        else:
            dist.all_reduce(t)
        lo, hi = t.min().item(), t.max().item()
        times.append(time.perf_counter() - t0)
        if lo != hi or lo != ranks_sum * (step + 1):
            print("FAIL step %d: sum %g..%g, not %d" % (step, lo, hi, ranks_sum * (step + 1)),
                  flush=True)
            sys.exit(1)
        if step % 20 == 0 or step == o.steps - 1:
            print("step %d sum %g%s" % (step, lo, " (graph)" if graphed else ""), flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    print("PASS ccl_graphed", flush=True)
    if o.times:
        with open(o.times.replace("{rank}", str(rank)), "w") as f:
            f.write("".join("%.9f\n" % s for s in times))
    # The graph goes first: since NCCL 2.26 a communicator's destroy waits for
    # every graph holding its work, so the other order hangs, natively too
    # (NVIDIA's CUDA graph guide, "Process Hang").
    if graphed:
        graph.reset()
        del graph
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

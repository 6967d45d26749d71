"""cuda_core_job.py - a job written with cuda.core (NVIDIA's Python CUDA
library) to move about (tests/torch/run.sh cudacore).

Its kernels are compiled at start by NVRTC (Program), loaded through the
driver's library API (ObjectCode, Kernel) and launched by cuda.core's
launch(); its state lives in stream-ordered device memory (the device's
memory resource), a scratch buffer is allocated and freed every step, and
host copies go through pinned memory (LegacyPinnedMemoryResource). Each step
mixes the state on the GPU, the same mix is done on the CPU with NumPy,
and the two must agree exactly; the step's checksum is printed. With
--graph, one of the two kernels of a step runs from a graph built by
stream capture (GraphBuilder), instantiated once, launched every step;
where GraphBuilder has callback(), the graph also calls a Python function
after the kernel (a host node: cuLaunchHostFunc on the capturing stream),
which must have run once per launch when the step is checked.
The same arguments print the same lines on every run, natively or under
xmig, whatever happened to the process in between.

    python3 cuda_core_job.py [--steps N (200)] [--sleep-ms N (0)]
                             [--n N (1048576)] [--graph]
"""
import argparse
import ctypes
import hashlib
import sys
import time

import numpy as np
from cuda.core import (Device, LaunchConfig, LegacyPinnedMemoryResource, Program,
                       ProgramOptions, launch)

SOURCE = r"""
extern "C" __global__ void mix(const unsigned *a, unsigned *b, unsigned n, unsigned k)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        b[i] = a[i] * 1664525u + 1013904223u + k;
}
extern "C" __global__ void fold(unsigned *a, const unsigned *b, unsigned n)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        a[i] = b[i] ^ (b[(i + 1) % n] >> 3);
}
"""
BLOCK = 256


def host_view(buf, n):
    """The pinned buffer as n uint32s (its host address is its handle)."""
    return np.frombuffer((ctypes.c_uint32 * n).from_address(int(buf.handle)), dtype=np.uint32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--graph", action="store_true")
    o = ap.parse_args()
    n, nbytes = o.n, o.n * 4

    dev = Device(0)
    dev.set_current()
    stream = dev.create_stream()
    prog = Program(SOURCE, "c++", options=ProgramOptions(arch="sm_%s" % dev.arch))
    code = prog.compile("cubin")
    # (the same NVRTC gives the same cubin, natively or under xmig)
    print("cubin sha256 %s" % hashlib.sha256(bytes(code.code)).hexdigest()[:16], flush=True)
    mix, fold = code.get_kernel("mix"), code.get_kernel("fold")
    cfg = LaunchConfig(grid=(n + BLOCK - 1) // BLOCK, block=BLOCK)

    pinned = LegacyPinnedMemoryResource().allocate(nbytes)
    host = host_view(pinned, n)
    want = (np.arange(n, dtype=np.uint64) * 2654435761 % (1 << 32)).astype(np.uint32)
    host[:] = want
    state = dev.allocate(nbytes, stream=stream)
    state.copy_from(pinned, stream=stream)

    graph = None
    callbacks = []   # (the graph's host node: the step of each launch)
    k = -1
    if o.graph:
        # fold(state, scratch) from a fixed scratch buffer, captured once
        gscratch = dev.allocate(nbytes, stream=stream)
        stream.sync()
        gb = dev.create_graph_builder().begin_building()
        launch(gb, cfg, fold, state, gscratch, np.uint32(n))
        if hasattr(gb, "callback"):
            gb.callback(lambda: callbacks.append(k))
        graph = gb.end_building().complete()
        graph.upload(stream)

    for k in range(o.steps):
        scratch = gscratch if graph else dev.allocate(nbytes, stream=stream)
        launch(stream, cfg, mix, state, scratch, np.uint32(n), np.uint32(k))
        if graph:
            graph.launch(stream)
        else:
            launch(stream, cfg, fold, state, scratch, np.uint32(n))
            scratch.close(stream)   # freed in stream order
        state.copy_to(pinned, stream=stream)
        stream.sync()
        b = want * np.uint32(1664525) + np.uint32(1013904223) + np.uint32(k)
        want = b ^ (np.roll(b, -1) >> np.uint32(3))
        if graph and hasattr(gb, "callback") and callbacks != list(range(k + 1)):
            print("FAIL step %d: the graph's host node ran %d times, the last at step %s" %
                  (k, len(callbacks), callbacks[-1:]), flush=True)
            return 1
        if not np.array_equal(host, want):
            bad = int(np.flatnonzero(host != want)[0])
            print("FAIL step %d: element %d is %08x, want %08x" % (k, bad, host[bad], want[bad]),
                  flush=True)
            return 1
        print("step %d sum %016x" % (k, int(host.astype(np.uint64).sum())), flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)

    if graph:
        print("graph host node calls %d" % len(callbacks), flush=True)
        graph.close()
        gscratch.close(stream)
    state.close(stream)
    stream.sync()
    pinned.close()
    print("PASS cuda_core_job", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

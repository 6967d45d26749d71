"""train_graphed.py - a training step captured once as a CUDA graph and
replayed every step (tests/torch): torch.cuda.graph around the forward
pass, the backward pass and the optimizer's step, the way PyTorch's
documentation does whole-network capture.

The MLP of train_mlp.py (cuBLAS), or with --model conv a small
convolutional network (cuDNN's convolutions, deterministic algorithms),
AdamW with capturable=True, fixed synthetic data copied into the graph's
static input before each replay, TF32 off: it prints the same losses (as
exact float hex) and the same final parameter checksum on every run,
natively or under xmig, moved or not. --eager runs the same step without
the graph. --ddp all-reduces the gradients through NCCL (RANK and
WORLD_SIZE from the environment, world size 1 by default) inside the step,
so inside the graph.

    python3 train_graphed.py [--steps N (300)] [--sleep-ms N (0)] [--width N (1024)]
                             [--batch N (256)] [--model mlp|conv] [--eager] [--ddp]
"""
import argparse
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--model", choices=("mlp", "conv"), default="mlp")
    ap.add_argument("--eager", action="store_true")
    ap.add_argument("--ddp", action="store_true")
    o = ap.parse_args()
    world = 1
    if o.ddp:
        import torch.distributed as dist
        world = int(os.environ.get("WORLD_SIZE", 1))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29531")
        dist.init_process_group("nccl", rank=int(os.environ.get("RANK", 0)), world_size=world,
                                device_id=torch.device("cuda", 0))

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(0)
    dev = "cuda"
    w = o.width
    if o.model == "mlp":
        model = torch.nn.Sequential(
            torch.nn.Linear(256, w), torch.nn.ReLU(),
            torch.nn.Linear(w, w), torch.nn.ReLU(),
            torch.nn.Linear(w, 10))
        shape = (256,)
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 64, 3, padding=1, stride=2), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(64, 10))
        shape = (3, 32, 32)
    model = model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, capturable=True)
    gen = torch.Generator().manual_seed(1)
    n = 16 * o.batch
    x = torch.randn(n, *shape, generator=gen).to(dev)
    y = torch.randint(0, 10, (n,), generator=gen).to(dev)
    static_x = x[:o.batch].clone()
    static_y = y[:o.batch].clone()

    def step_fn():
        loss = torch.nn.functional.cross_entropy(model(static_x), static_y)
        loss.backward()
        if o.ddp:
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad.div_(world)
        opt.step()
        return loss

    # warm-up on a side stream (as the documentation does), then the capture
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step_fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    if not o.eager:
        with torch.cuda.graph(graph):
            static_loss = step_fn()

    for step in range(o.steps):
        lo = (step * o.batch) % n
        static_x.copy_(x[lo:lo + o.batch])
        static_y.copy_(y[lo:lo + o.batch])
        if o.eager:
            opt.zero_grad(set_to_none=True)
            static_loss = step_fn()
        else:
            graph.replay()
        if step % 25 == 0 or step == o.steps - 1:
            print("step %d loss %s" % (step, static_loss.item().hex()), flush=True)
        if o.sleep_ms:
            time.sleep(o.sleep_ms / 1000)
    total = sum(p.detach().double().sum().item() for p in model.parameters())
    print("params checksum %s" % total.hex())
    print("PASS train_graphed", flush=True)
    if o.ddp:
        # the graph (holding NCCL work) before the communicator: see ccl_graphed.py
        if not o.eager:
            graph.reset()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

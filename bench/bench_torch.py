"""bench_torch.py: PyTorch's training speed and peak memory on the protocol's plain model,
the counterpart of bench/bench_train.lua (same model, init, optimizer, synthetic batch, step).

    /usr/bin/python3 bench/bench_torch.py [--depth 8] [--norm bn] [--batch 128] [--threads 2]
        [--warmup-steps 3] [--warmup-seconds 0.5] [--seconds 3] [--min-steps 5] [--seed 1]

The model is tests/torch/plain_ref.py's plain(depth, 'relu', norm, 'cna', 10) with every conv
and linear weight and bias uniform in +-1/sqrt(fan_in) (PyTorch's default init is the same
bound; set explicitly here). SGD(lr 0.05*B/128, momentum 0.9, weight_decay 5e-4), softmax
cross-entropy on one fixed N(0,1) batch with uniform labels. A step: zero_grad, forward, loss,
backward, optimizer step. torch.set_num_threads(threads) (intra-op; oneDNN convolutions).

Prints one line (parsed by bench/run.sh); ips is the batch size over the median step time,
ips_mean the overall rate, as in bench_train.lua:
    RESULT fw=torch depth=8 norm=bn batch=128 threads=2 steps=N seconds=S ips=X ips_mean=X2 step_ms=Y
           rss_mb=Z base_rss_mb=W loss0=L0 loss=L torch=1.13.1
rss_mb is the peak resident set (VmHWM, the same as ru_maxrss), base_rss_mb the resident set
after importing torch, before the model exists."""
import argparse
import math
import os
import statistics
import sys
import time


def status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--norm", default="bn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup-steps", type=int, default=3)
    ap.add_argument("--warmup-seconds", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--min-steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torch"))
    from plain_ref import plain

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    base_rss = status_kb("VmRSS")
    model = plain(a.depth, "relu", a.norm, "cna", 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                m.weight.uniform_(-bound, bound)
                m.bias.uniform_(-bound, bound)
    model.train()
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05 * a.batch / 128, momentum=0.9, weight_decay=5e-4)
    crit = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    loss0 = step()
    t0, n = time.perf_counter(), 1
    while n < a.warmup_steps or time.perf_counter() - t0 < a.warmup_seconds:
        step()
        n += 1
    t0, n, times = time.perf_counter(), 0, []
    while True:
        s0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - s0)
        n += 1
        if n >= a.min_steps and time.perf_counter() - t0 >= a.seconds:
            break
    secs = time.perf_counter() - t0
    med = statistics.median(times)
    rss = status_kb("VmHWM")
    print(f"RESULT fw=torch depth={a.depth} norm={a.norm} batch={a.batch} threads={torch.get_num_threads()} "
          f"steps={n} seconds={secs:.3f} ips={a.batch / med:.2f} ips_mean={n * a.batch / secs:.2f} "
          f"step_ms={1e3 * med:.3f} "
          f"rss_mb={rss / 1024:.1f} base_rss_mb={base_rss / 1024:.1f} loss0={loss0:.4f} loss={loss:.4f} "
          f"torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()

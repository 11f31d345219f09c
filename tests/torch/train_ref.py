"""train_ref.py: a PyTorch trainer that follows ../shared/PROTOCOL.md word for word, so
normlab's training results (lua/normlab/train.lua) can be checked against another framework.

    /usr/bin/python3 tests/torch/train_ref.py --data /work/shared/data [--dataset cifar10|cifar100]
        [--depth 8] [--act relu] [--norm bn|gn|none] [--order cna|can] [--batch 128] [--epochs 15]
        [--lr 0.05] [--momentum 0.9] [--weight-decay 5e-4] [--groups 32] [--seed 1] [--threads 1]
        [--subset N] [--test-subset N] [--classes N]

ROOT (--data) holds cifar-10-batches-bin/ (data_batch_1..5.bin, test_batch.bin) or
cifar-100-binary/ (train.bin, test.bin; fine labels). The model is plain_ref.plain(); every
conv/linear weight and bias is uniform in +-1/sqrt(fan_in), norm scale 1 and shift 0.
SGD (PyTorch form) with lr0 = lr*B/128, cosine per step: lr(t) = lr0/2 (1 + cos(pi t/T)).

stderr: one line per epoch (loss, train acc, test acc, lr, seconds) and the per-block mean
L2 norm of each conv weight's gradient (loss gradient only, before the optimizer adds weight
decay; averaged over the epoch's steps, as normlab's grad_norms).
stdout: one JSON line {"framework": "torch", config..., "per_epoch": [...], "final_test_acc",
"wall_time"}.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plain_ref import plain  # noqa: E402

# The protocol's fixed per-channel constants (official training-set statistics).
STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
         "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


def read_bin(paths, label_bytes, label_index):
    """Records of label_bytes label bytes + 3072 planar pixel bytes -> (uint8 N,3,32,32, int64 N)."""
    raw = b"".join(open(p, "rb").read() for p in paths)
    rec = 3072 + label_bytes
    t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, rec)
    return t[:, label_bytes:].reshape(-1, 3, 32, 32).clone(), t[:, label_index].long().clone()


def load(dataset, root, split):
    if dataset == "cifar10":
        d = os.path.join(root, "cifar-10-batches-bin")
        files = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
        return read_bin([os.path.join(d, f) for f in files], 1, 0)
    d = os.path.join(root, "cifar-100-binary")
    return read_bin([os.path.join(d, f"{split}.bin")], 2, 1)  # byte 1: the fine label


def normalize(x, dataset):
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in STATS[dataset])
    return (x.float() / 255 - mean) / std


def augment(x, gen, pad=4):
    """Zero-pad (normalized space), random 32x32 crop, left-right flip p=1/2; whole batch at once."""
    n = x.shape[0]
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    ar = torch.arange(32)
    rows = oy[:, None] + ar                                  # (n, 32)
    cols = ox[:, None] + torch.where(flip[:, None], 31 - ar, ar)  # flipped: read columns right to left
    return xp[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]


def build(a):
    torch.manual_seed(a.seed)  # the seed fixes the initialization
    model = plain(a.depth, a.act, a.norm, a.order, a.classes)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = 1 / math.sqrt(m.weight[0].numel())  # fan_in = cin*kh*kw or in_features
                m.weight.uniform_(-bound, bound)
                m.bias.uniform_(-bound, bound)
            elif isinstance(m, nn.GroupNorm):
                # plain_ref's GroupNorm has 32 groups; --groups overrides (same eps, affine)
                m.num_groups = a.groups
                nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
    return model


@torch.no_grad()
def evaluate(model, x, y, bs=250):
    model.eval()  # BatchNorm uses its running statistics
    correct = sum((model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item() for i in range(0, len(x), bs))
    model.train()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("NORMLAB_DATA", "data"))
    ap.add_argument("--dataset", choices=["cifar10", "cifar100"], default="cifar10")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--act", choices=["relu", "sigmoid", "leakyrelu", "tanh"], default="relu")
    ap.add_argument("--norm", choices=["bn", "gn", "none"], default="bn")
    ap.add_argument("--order", choices=["cna", "can"], default="cna")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=0.05, help="learning rate at batch 128 (scaled by B/128)")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--groups", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--subset", type=int, help="train on the first N training images")
    ap.add_argument("--test-subset", type=int, help="test on the first N test images")
    ap.add_argument("--classes", type=int, help="class count (default: 10 or 100 from --dataset)")
    a = ap.parse_args()
    a.classes = a.classes or (10 if a.dataset == "cifar10" else 100)
    torch.set_num_threads(a.threads)

    xtr, ytr = load(a.dataset, a.data, "train")
    xte, yte = load(a.dataset, a.data, "test")
    xtr, ytr = xtr[:a.subset], ytr[:a.subset]          # [:None] keeps everything
    xte, yte = xte[:a.test_subset], yte[:a.test_subset]
    xtr, xte = normalize(xtr, a.dataset), normalize(xte, a.dataset)

    model = build(a)
    model.train()
    gen = torch.Generator().manual_seed(a.seed)        # data order and augmentation
    B, n = a.batch, len(xtr)
    nb = n // B                                        # the last partial batch is dropped
    if nb < 1:
        sys.exit(f"train_ref: {n} training images give no full batch of {B}")
    lr0 = a.lr * B / 128
    T = a.epochs * nb
    lr_at = lambda t: 0.5 * lr0 * (1 + math.cos(math.pi * t / T))  # noqa: E731
    opt = torch.optim.SGD(model.parameters(), lr=lr0, momentum=a.momentum, weight_decay=a.weight_decay)
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]  # one per block

    per_epoch, t, t_start = [], 0, time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        e_start = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        gsum = torch.zeros(len(convs), dtype=torch.float64)
        for i in range(nb):
            idx = order[i * B:(i + 1) * B]
            x, y = augment(xtr[idx], gen), ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(t)                     # set before the step, t = 0 .. T-1
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            if not math.isfinite(loss.item()):
                sys.exit(f"train_ref: diverged at epoch {epoch}, step {i + 1}: loss {loss.item()}")
            loss.backward()
            # gradient of the loss alone: SGD adds weight decay inside step()
            gsum += torch.tensor([w.grad.norm().item() for w in convs], dtype=torch.float64)
            opt.step()
            loss_sum += loss.item() * B
            correct += (out.argmax(1) == y).sum().item()  # training mode, training batches (as normlab)
            seen += B
            t += 1
        test_acc = evaluate(model, xte, yte)
        e = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen,
             "test_acc": test_acc, "lr": lr_at(t - 1), "seconds": round(time.perf_counter() - e_start, 2),
             "grad_norms": (gsum / nb).tolist()}
        per_epoch.append(e)
        print(f"epoch {epoch}/{a.epochs}  loss {e['train_loss']:.4f}  train {e['train_acc']:.2f}%  "
              f"test {test_acc:.2f}%  lr {e['lr']:.4g}  {e['seconds']:.1f}s\n"
              f"  grad norms: {' '.join(f'{g:.4g}' for g in e['grad_norms'])}", file=sys.stderr, flush=True)

    cfg = {k: getattr(a, k) for k in ("dataset", "depth", "act", "norm", "order", "batch", "epochs", "lr",
                                      "momentum", "weight_decay", "groups", "seed", "threads", "subset",
                                      "test_subset", "classes")}
    print(json.dumps({"framework": "torch", "torch": torch.__version__, **cfg, "lr0": lr0,
                      "steps_per_epoch": nb, "total_steps": T, "per_epoch": per_epoch,
                      "final_test_acc": per_epoch[-1]["test_acc"],
                      "wall_time": round(time.perf_counter() - t_start, 2)}), flush=True)


if __name__ == "__main__":
    main()

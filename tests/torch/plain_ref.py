"""PyTorch reference for the protocol model (tests/lua/test_torch_model.lua).

Reads IN (normlab checkpoint: the model's weights as normlab initialised them,
a batch for the gradient check and `steps` training batches), builds the same
plain model in PyTorch, and writes OUT with the logits, loss and every
parameter gradient for the first batch, then the losses of `steps` SGD steps
(momentum 0.9, weight decay 5e-4, per-step cosine learning rate)."""
import math
import sys

import torch
import torch.nn as nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import nlckpt  # noqa: E402


def plain(depth, act, norm, order, classes):
    stages = [(3 * b) // depth for b in range(depth)]
    layers, cin = [], 3
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
            "leakyrelu": lambda: nn.LeakyReLU(0.01)}
    for b, s in enumerate(stages):
        w = 32 * 2 ** s
        layers.append(nn.Conv2d(cin, w, 3, stride=1, padding=1, bias=True))
        n = {"bn": lambda: nn.BatchNorm2d(w, eps=1e-5, momentum=0.1),
             "gn": lambda: nn.GroupNorm(32, w, eps=1e-5), "none": lambda: None}[norm]()
        a = acts[act]()
        block = [n, a] if order == "cna" else [a, n]
        layers += [m for m in block if m is not None]
        if (b == depth - 1 or stages[b + 1] != s) and s != stages[-1]:
            layers.append(nn.MaxPool2d(2, stride=2))
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def main(inp, out):
    torch.set_num_threads(1)
    d = nlckpt.load(inp)
    cfg = d["meta.config"].split(",")
    depth, act, norm, order, classes, steps = int(cfg[0]), cfg[1], cfg[2], cfg[3], int(cfg[4]), int(cfg[5])
    model = plain(depth, act, norm, order, classes)
    # normlab's Sequential has no Flatten after global pooling: its Linear is one index earlier
    nl_index = {}
    j = 0
    for i, m in enumerate(model):
        if isinstance(m, nn.Flatten):
            continue
        j += 1
        nl_index[i] = j
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            i, field = name.split(".")
            if field == "num_batches_tracked":
                continue
            p.copy_(torch.from_numpy(d[f"model.{nl_index[int(i)]}.{field}"]))
    x = torch.from_numpy(d["x"]).requires_grad_(True)
    y = torch.from_numpy(d["y"]).long()
    model.train()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    res = [("logits", logits.detach().numpy().copy()), ("loss", loss.item()), ("grad_x", x.grad.numpy().copy())]
    for name, p in model.named_parameters():
        i, field = name.split(".")
        res.append((f"grad.{nl_index[int(i)]}.{field}", p.grad.numpy().copy()))

    # SGD steps from the same starting weights (restore the pre-gradcheck state)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            i, field = name.split(".")
            if field != "num_batches_tracked":
                p.copy_(torch.from_numpy(d[f"model.{nl_index[int(i)]}.{field}"]))
    batch = d["bx.1"].shape[0]
    lr0 = 0.05 * batch / 128
    opt = torch.optim.SGD(model.parameters(), lr=lr0, momentum=0.9, weight_decay=5e-4)
    for t in range(steps):
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr0 * (1 + math.cos(math.pi * t / steps))
        opt.zero_grad()
        bx = torch.from_numpy(d[f"bx.{t + 1}"])
        by = torch.from_numpy(d[f"by.{t + 1}"]).long()
        l = nn.functional.cross_entropy(model(bx), by)
        l.backward()
        opt.step()
        res.append((f"step_loss.{t + 1}", l.item()))
    nlckpt.save(out, res)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

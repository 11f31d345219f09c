"""PyTorch reference for normlab's normalization, loss and optimizer families
(tests/lua/test_norm_torch.lua).

Usage: norm_ref.py IN OUT. IN is a normlab checkpoint (tests/torch/nlckpt.py) holding the
inputs the Lua test generated; OUT receives what torch computes from them:

  bn.*    BatchNorm2d(3): three train steps (outputs, running stats after each), the
          gradients of the third, then an eval forward/backward; bn1.* the same for batch 1
  gnG.*   GroupNorm(G, 6) for G = 1, 3, 6: output and gradients
  xent.*  F.cross_entropy (mean): loss and d loss / d logits
  sgd.*   torch.optim.SGD(momentum 0.9, weight_decay 5e-4), per-step cosine lr, 5 steps
  adam.*, adamd.*  torch.optim.Adam with custom and default hyper-parameters, 5 steps
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import nlckpt  # noqa: E402


def t(d, name, grad=False):
    x = torch.from_numpy(d[name]).clone()
    return x.requires_grad_(grad)


def batchnorm(d, p, out):
    """Three train steps, backward on the third, then eval forward/backward."""
    c = d[p + ".weight"].shape[0]
    bn = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(t(d, p + ".weight"))
        bn.bias.copy_(t(d, p + ".bias"))
    bn.train()
    steps = int(d[p + ".steps"])
    for s in range(1, steps + 1):
        x = t(d, f"{p}.x.{s}", grad=True)
        y = bn(x)
        out += [(f"{p}.y.{s}", y.detach().numpy()),
                (f"{p}.running_mean.{s}", bn.running_mean.numpy().copy()),
                (f"{p}.running_var.{s}", bn.running_var.numpy().copy())]
        if s == steps:
            y.backward(t(d, p + ".gy"))
            out += [(p + ".gx", x.grad.numpy()), (p + ".gw", bn.weight.grad.numpy().copy()),
                    (p + ".gb", bn.bias.grad.numpy().copy())]
    bn.eval()
    bn.weight.grad, bn.bias.grad = None, None
    xe = t(d, p + ".xe", grad=True)
    ye = bn(xe)
    ye.backward(t(d, p + ".gye"))
    out += [(p + ".ye", ye.detach().numpy()), (p + ".gxe", xe.grad.numpy()),
            (p + ".gwe", bn.weight.grad.numpy()), (p + ".gbe", bn.bias.grad.numpy())]


def groupnorm(d, groups, out):
    x = t(d, "gn.x", grad=True)
    gn = nn.GroupNorm(groups, x.shape[1], eps=1e-5)
    with torch.no_grad():
        gn.weight.copy_(t(d, "gn.weight"))
        gn.bias.copy_(t(d, "gn.bias"))
    y = gn(x)
    y.backward(t(d, "gn.gy"))
    p = f"gn{groups}"
    out += [(p + ".y", y.detach().numpy()), (p + ".gx", x.grad.numpy()),
            (p + ".gw", gn.weight.grad.numpy()), (p + ".gb", gn.bias.grad.numpy())]


def xent(d, out):
    z = t(d, "xent.z", grad=True)
    y = t(d, "xent.labels").long()
    loss = F.cross_entropy(z, y)
    loss.backward()
    out += [("xent.loss", float(loss.item())), ("xent.grad", z.grad.numpy())]


def optimizer(d, p, make, lr_at, out):
    """Runs `steps` steps of make(params) with the stored gradients."""
    n = int(d[p + ".nparams"])
    steps = int(d[p + ".steps"])
    params = [nn.Parameter(t(d, f"{p}.w{i}")) for i in range(1, n + 1)]
    opt = make(params)
    for s in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(s - 1)
        for i, w in enumerate(params, 1):
            w.grad = t(d, f"{p}.g{i}.{s}")
        opt.step()
        out += [(f"{p}.w{i}.{s}", w.detach().numpy().copy()) for i, w in enumerate(params, 1)]


def main(inp, outp):
    torch.set_num_threads(1)
    d = nlckpt.load(inp)
    out = []
    batchnorm(d, "bn", out)
    batchnorm(d, "bn1", out)
    for g in (1, 3, 6):
        groupnorm(d, g, out)
    xent(d, out)
    steps = int(d["sgd.steps"])
    lr0 = float(d["sgd.lr0"])
    optimizer(d, "sgd", lambda ps: torch.optim.SGD(ps, lr=lr0, momentum=0.9, weight_decay=5e-4),
              lambda s: 0.5 * lr0 * (1 + math.cos(math.pi * s / steps)), out)
    optimizer(d, "adam", lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6,
                                                    weight_decay=1e-2),
              lambda s: 1e-2, out)
    optimizer(d, "adamd", lambda ps: torch.optim.Adam(ps), lambda s: 1e-3, out)
    out.append(("torch.version", torch.__version__))
    nlckpt.save(outp, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

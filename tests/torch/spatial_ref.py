"""PyTorch reference for normlab's spatial/dense layers (tests/lua/test_torch_spatial.lua).

usage: spatial_ref.py IN OUT

IN is a normlab checkpoint (tests/torch/nlckpt.py) holding, for every case K:
  K.meta  "conv2d,stride,pad" | "linear" | "maxpool2d,k,stride,pad" | "gap"
          | "relu" | "leakyrelu,slope" | "sigmoid" | "tanh"
  K.x     the input;  K.gy  the gradient of the loss w.r.t. the output
  K.w, K.b  weight and bias for conv2d / linear (K.b absent: no bias)
OUT gets K.y (forward in float32) and K.gx, K.gw, K.gb (backward of sum(y * gy))."""
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import nlckpt  # noqa: E402


def run_case(d, k):
    meta = d[k + ".meta"].split(",")
    op = meta[0]
    t = lambda name: torch.tensor(d[k + "." + name], dtype=torch.float32, requires_grad=True)  # noqa: E731
    x = t("x")
    w = t("w") if k + ".w" in d else None
    b = t("b") if k + ".b" in d else None
    if op == "conv2d":
        y = F.conv2d(x, w, b, stride=int(meta[1]), padding=int(meta[2]))
    elif op == "linear":
        y = F.linear(x, w, b)
    elif op == "maxpool2d":
        y = F.max_pool2d(x, int(meta[1]), stride=int(meta[2]), padding=int(meta[3]))
    elif op == "gap":
        y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    elif op == "relu":
        y = F.relu(x)
    elif op == "leakyrelu":
        y = F.leaky_relu(x, float(meta[1]))
    elif op == "sigmoid":
        y = torch.sigmoid(x)
    elif op == "tanh":
        y = torch.tanh(x)
    else:
        raise ValueError(f"{k}: unknown op {op}")
    gy = torch.tensor(d[k + ".gy"], dtype=torch.float32)
    (y * gy).sum().backward()
    out = [(k + ".y", y.detach().numpy()), (k + ".gx", x.grad.numpy())]
    if w is not None:
        out.append((k + ".gw", w.grad.numpy()))
    if b is not None:
        out.append((k + ".gb", b.grad.numpy()))
    return out


def main(inp, outp):
    torch.set_num_threads(1)
    d = nlckpt.load(inp)
    cases = [name[:-5] for name in d if name.endswith(".meta")]
    out = []
    for k in cases:
        out += run_case(d, k)
    nlckpt.save(outp, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

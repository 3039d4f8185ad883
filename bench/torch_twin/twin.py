"""The PyTorch twin of bench/torch_twin/twin.hgl: trains the same network from the same initial
weights on the same batches, and compares the loss of every step with Hourglass's metrics.jsonl.

    python twin.py RUN_DIR [--data-dir DIR] [--tolerance 1e-4]

RUN_DIR holds `init.safetensors` and `metrics.jsonl` of `hgc run twin.hgl train --shuffle false`.
Prints a table of per-step losses and their relative difference; exits 1 above the tolerance.
"""
import argparse
import gzip
import json
import pathlib
import struct
import sys

import numpy as np
import torch


def load_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "F32", info
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=np.float32).reshape(info["shape"]).copy()
    return out


def load_images(data_dir, limit):
    with gzip.open(pathlib.Path(data_dir) / "train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)[: limit * rows * cols]
    return (pixels.astype(np.float32) / 255.0).reshape(-1, rows * cols)


class Twin(torch.nn.Module):
    """Linear layers keep Hourglass's [in, out] weight layout, so y = x @ w + b."""

    def __init__(self, w):
        super().__init__()
        self.p = torch.nn.ParameterDict({k.replace(".", "_"): torch.nn.Parameter(torch.tensor(v)) for k, v in w.items()})

    def lin(self, x, name):
        return x @ self.p[f"{name}_w"] + self.p[f"{name}_b"]

    def forward(self, x):
        h = torch.tanh(self.lin(x, "encoder_h1"))
        z = self.lin(h, "encoder_e")
        d = torch.tanh(self.lin(z, "decoder_d1"))
        logits = self.lin(d, "decoder_logits")
        bce = torch.clamp(logits, min=0) - logits * x + torch.log1p(torch.exp(-torch.abs(logits)))
        return bce.sum(dim=-1).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    run = pathlib.Path(args.run_dir)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Twin(load_safetensors(run / "init.safetensors"))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    x_all = torch.tensor(load_images(args.data_dir, args.batch * args.steps))
    ours = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    worst = 0.0
    print(f"{'step':>4} {'hourglass':>12} {'pytorch':>12} {'rel diff':>10}")
    for step in range(args.steps):
        xb = x_all[step * args.batch : (step + 1) * args.batch]
        opt.zero_grad()
        loss = model(xb)
        loss.backward()
        opt.step()
        theirs = loss.item()
        mine = ours[step]["loss"]
        rel = abs(mine - theirs) / max(abs(theirs), 1e-12)
        worst = max(worst, rel)
        print(f"{step:>4} {mine:>12.6f} {theirs:>12.6f} {rel:>10.2e}")
    print(f"max relative difference over {args.steps} steps: {worst:.3e} (tolerance {args.tolerance:.0e})")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()

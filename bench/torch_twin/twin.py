"""PyTorch twins of the models in bench/torch_twin: each trains the same network from the same
initial weights on the same batches as `hgc run FILE train --shuffle false`, and compares the
loss (and learning rate) of every step with Hourglass's metrics.jsonl.

    python twin.py OUT_DIR [TWIN ...] [--data-dir DIR] [--tolerance 1e-4]

OUT_DIR/<twin>/ holds what run.sh left there: `init.safetensors` and `metrics.jsonl` of the
Hourglass run, and `plan.json` with its steps, batch and seed. The twins (default: all):

| twin       | spec            | what it exercises |
| ---------- | --------------- | ----------------- |
| `mlp_sgd`  | twin.hgl        | tanh MLP autoencoder, SGD with momentum |
| `mlp_adam` | twin_adam.hgl   | the same network, Adam, cosine schedule with warmup, gradient-norm clipping |
| `conv`     | twin_conv.hgl   | conv2d (strided), max pooling, flatten, transposed convolutions; Nesterov SGD with weight decay |
| `vae`      | twin_vae.hgl    | Gaussian bottleneck with reparameterisation noise from Hourglass's Philox stream (philox.py) |
| `bn`       | twin_bn.hgl     | BatchNorm2d and BatchNorm1d (torch's own): running statistics, then the test loss with them |
| `vqvae`    | examples/vqvae  | the example as shipped: strided convolutions, `VectorQuantizer` (argmin, straight-through, codebook and commitment loss), transposed convolutions |
| `sae`      | examples/sae    | the example as shipped: an Mlp encoder, `TopK`, a linear decoder |
| `sae_auxk` | twin_auxk.hgl   | examples/sae_auxk at 256 features: `Initial` (buffers holding the first batch's mean and the decoder's first directions), `TopKAux` (a buffer counting idle examples per latent, the dead ones' top pre-activations) and `aux_loss`; the buffers compared after training |
| `gan`      | twin_gan.hgl    | two players, alternating: the critic steps after the autoencoder, on its new reconstructions; VQGAN's adaptive weight (`grad` in the loss); both losses compared |

Each optimizer's settings mirror the `train` block of its spec. Prints one table per twin and
the largest relative loss difference; exits 1 if any twin is above the tolerance. Twins with
buffers (batch-norm running statistics) also compare them with the run's final.safetensors
and the test loss of eval mode with the run's eval.json.
"""
import argparse
import gzip
import json
import math
import pathlib
import struct
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import philox


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
    """The first `limit` Fashion-MNIST training images as [limit, 784] floats in [0, 1]."""
    with gzip.open(pathlib.Path(data_dir) / "train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)[: limit * rows * cols]
    return (pixels.astype(np.float32) / 255.0).reshape(-1, rows * cols)


def bce_with_logits(logits, x):
    """std.loss.bce_with_logits: relu(l) - l*t + softplus(-|l|)."""
    return torch.relu(logits) - logits * x + F.softplus(-torch.abs(logits))


class Twin(torch.nn.Module):
    """Parameters under Hourglass's names (dots become underscores). Linear layers keep the
    [in, out] weight layout, so y = x @ w + b; convolution weights are laid out as torch's."""

    def __init__(self, weights):
        super().__init__()
        self.p = torch.nn.ParameterDict(
            {k.replace(".", "_"): torch.nn.Parameter(torch.tensor(v)) for k, v in weights.items()}
        )

    def lin(self, x, name):
        return x @ self.p[f"{name}_w"] + self.p[f"{name}_b"]

    def bias(self, name):
        return self.p[f"{name}_b"].reshape(-1, 1, 1)


class Mlp(Twin):
    """twin.hgl and twin_adam.hgl."""

    def forward(self, x, step):
        h = torch.tanh(self.lin(x, "encoder_h1"))
        z = self.lin(h, "encoder_e")
        d = torch.tanh(self.lin(z, "decoder_d1"))
        logits = self.lin(d, "decoder_logits")
        return bce_with_logits(logits, x).sum(dim=-1).mean()


class Conv(Twin):
    """twin_conv.hgl."""

    def forward(self, x, step):
        x = x.reshape(-1, 1, 28, 28)
        c1 = F.conv2d(x, self.p["encoder_c1_w"], stride=2, padding=1) + self.bias("encoder_c1")
        p1 = F.max_pool2d(torch.relu(c1), 2)
        z = self.lin(torch.flatten(p1, 1), "encoder_e")
        ch = p1.shape[1]
        grid = torch.relu(self.lin(z, "decoder_expand")).reshape(-1, ch, 7, 7)
        d1 = F.conv_transpose2d(grid, self.p["decoder_d1_w"], stride=2, padding=1) + self.bias("decoder_d1")
        logits = F.conv_transpose2d(torch.relu(d1), self.p["decoder_logits_w"], stride=2, padding=1)
        logits = logits + self.bias("decoder_logits")
        return bce_with_logits(logits, x).sum(dim=(1, 2, 3)).mean()


class Vae(Twin):
    """twin_vae.hgl: eps of train step `step` is elements offset.. of the Philox draw site
    (seed, step, site 0), site 0 being the model's only random op; the offset is
    first_example * latent, and a train step's first example is 0."""

    seed = 0
    site = 0
    first_example = 0

    def forward(self, x, step):
        h = torch.tanh(self.lin(x, "encoder_h1"))
        mu = self.lin(h, "encoder_mu")
        logvar = self.lin(h, "encoder_logvar")
        offset = self.first_example * mu.shape[1]
        eps = philox.normal(self.seed, step, self.site, mu.numel(), offset=offset)
        eps = torch.tensor(eps.astype(np.float32)).reshape(mu.shape)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = -0.5 * (1.0 + logvar - mu * mu - torch.exp(logvar)).sum(dim=-1)
        d = torch.tanh(self.lin(z, "decoder_d1"))
        logits = self.lin(d, "decoder_logits")
        return (bce_with_logits(logits, x).sum(dim=-1) + kl).mean()


class Bn(Twin):
    """twin_bn.hgl, with torch.nn.BatchNorm2d/1d (momentum 0.1, eps 1e-5) holding the running
    statistics; their affine weights are Hourglass's `weight` and `bias` parameters."""

    def __init__(self, weights):
        stats = {k: v for k, v in weights.items() if k.endswith(("running_mean", "running_var"))}
        super().__init__({k: v for k, v in weights.items() if k not in stats})
        self.n1 = torch.nn.BatchNorm2d(4)
        self.n2 = torch.nn.BatchNorm1d(32)
        for layer, name in [(self.n1, "encoder.n1"), (self.n2, "encoder.n2")]:
            layer.weight = self.p[name.replace(".", "_") + "_weight"]
            layer.bias = self.p[name.replace(".", "_") + "_bias"]
            layer.running_mean.copy_(torch.tensor(stats[f"{name}.running_mean"]))
            layer.running_var.copy_(torch.tensor(stats[f"{name}.running_var"]))

    def buffers_by_name(self):
        return {
            f"encoder.{n}.{s}": getattr(layer, s) for n, layer in [("n1", self.n1), ("n2", self.n2)]
            for s in ("running_mean", "running_var")
        }

    def forward(self, x, step):
        c1 = F.conv2d(x.reshape(-1, 1, 28, 28), self.p["encoder_c1_w"], stride=2, padding=1)
        h1 = torch.flatten(torch.relu(self.n1(c1)), 1) @ self.p["encoder_h1_w"]
        z = self.lin(torch.tanh(self.n2(h1)), "encoder_e")
        logits = self.lin(torch.tanh(self.lin(z, "decoder_d1")), "decoder_logits")
        return bce_with_logits(logits, x).sum(dim=-1).mean()


class VqVae(Twin):
    """examples/vqvae/vqvae.hgl at its defaults (64 codes of 16, 16 channels)."""

    def conv(self, x, name, **kw):
        return F.conv2d(x, self.p[f"{name}_w"], **kw) + self.bias(name)

    def conv_t(self, x, name, **kw):
        return F.conv_transpose2d(x, self.p[f"{name}_w"], **kw) + self.bias(name)

    def forward(self, x, step):
        x = x.reshape(-1, 1, 28, 28)
        c1 = self.conv(x, "encoder_c1", stride=2, padding=1)
        c2 = self.conv(torch.relu(c1), "encoder_c2", stride=2, padding=1)
        e = self.conv(torch.relu(c2), "encoder_e").permute(0, 2, 3, 1)
        book = self.p["bottleneck_q_book"]
        d = (e * e).sum(dim=-1, keepdim=True) - 2.0 * (e @ book.t()) + (book * book).sum(dim=-1)
        q = F.embedding(torch.argmin(d, dim=-1), book)
        vq = ((q.detach() - e) ** 2).mean() * 0.25 + ((q - e.detach()) ** 2).mean()
        z = e + (q - e).detach()
        d1 = self.conv_t(z.permute(0, 3, 1, 2), "decoder_d1", stride=2, padding=1)
        x_hat = torch.sigmoid(self.conv_t(torch.relu(d1), "decoder_logits", stride=2, padding=1))
        return ((x_hat - x) ** 2).mean() + vq


class Sae(Twin):
    """examples/sae/sae.hgl at its defaults (256 features, k = 16, hidden 128)."""

    def forward(self, x, step):
        pre = torch.relu(self.lin(torch.relu(self.lin(x, "encoder_pre_0")), "encoder_pre_1"))
        top = torch.topk(pre, 16, dim=-1)
        z = torch.zeros_like(pre).scatter_add(-1, top.indices, top.values)
        return ((self.lin(z, "decoder_recon") - x) ** 2).mean()


class SaeAuxK(Twin):
    """twin_auxk.hgl: top-k of (x - bias) @ (enc0 + w_enc)^T + b_enc, relu, unit-norm decoder
    rows; `Initial`'s buffers hold the first batch's mean (the pre-bias's base) and the decoder's
    first directions (the encoder's base); AuxK: a latent idle for `dead_after` examples is
    dead, and the decoded `k_aux` largest of the dead latents' pre-activations fit the residual
    (weight 1/32)."""

    BUFFERS = ["encoder.mean0.value", "encoder.mean0.ready", "encoder.enc0.value", "encoder.enc0.ready",
               "bottleneck.t.idle"]

    def __init__(self, weights, k=8, k_aux=32, dead_after=64):
        held = {name: weights.pop(name) for name in self.BUFFERS}
        super().__init__(weights)
        self.k, self.k_aux, self.dead_after = k, k_aux, dead_after
        self.held = {name: torch.tensor(v) for name, v in held.items()}

    def buffers_by_name(self):
        return self.held

    def initial(self, name, v):
        """std.nn.Initial: `v` at the first training step, held from then on."""
        value, ready = self.held[f"{name}.value"], self.held[f"{name}.ready"]
        now = value if ready.item() > 0.5 else v.detach()
        if self.training:
            value.copy_(now)
            ready.fill_(1.0)
        return now

    def forward(self, x, step):
        w = self.p["encoder_w_dec"]
        dirs = w * torch.rsqrt((w * w).sum(dim=-1, keepdim=True))
        mean0 = self.initial("encoder.mean0", x.mean(dim=0).reshape(1, -1))
        bias = mean0.reshape(-1) + self.p["encoder_pre_bias"]
        enc0 = self.initial("encoder.enc0", dirs)
        pre = (x - bias) @ (enc0 + self.p["encoder_w_enc"]).t() + self.p["encoder_b_enc"]
        top = torch.topk(pre, self.k, dim=-1)
        z = torch.zeros_like(pre).scatter_add(-1, top.indices, top.values)
        idle = self.held["bottleneck.t.idle"]
        dead = idle >= self.dead_after
        if self.training:
            fired = (z > 0).any(dim=0)
            idle.copy_(torch.where(fired, torch.zeros_like(idle), idle + len(x)))
        x_hat = torch.relu(z) @ dirs + bias
        masked = torch.where(dead, pre, pre.detach() * 0.0 - 1e30)
        extra = torch.topk(masked, self.k_aux, dim=-1)
        values = torch.where(extra.values > -1e29, extra.values, torch.zeros_like(extra.values))
        aux = torch.zeros_like(pre).scatter_add(-1, extra.indices, values)
        aux_loss = ((aux @ dirs - (x - x_hat).detach()) ** 2).mean()
        return ((x_hat - x) ** 2).mean() + aux_loss / 32.0


class Gan(Twin):
    """twin_gan.hgl: an autoencoder and a critic (`critic_*` parameters) with their own losses."""

    def losses(self, x):
        e = self.lin(torch.tanh(self.lin(x, "encoder_h1")), "encoder_e")
        logits = self.lin(torch.tanh(self.lin(e, "decoder_d1")), "decoder_out")
        both = torch.cat([x, torch.sigmoid(logits)], dim=0)
        scores = self.lin(torch.tanh(self.lin(both, "critic_h")), "critic_score").reshape(2, -1)
        real, fake = scores[0], scores[1]
        rec = bce_with_logits(logits, x).sum(dim=-1).mean()
        adv = F.softplus(-fake).mean()
        # VQGAN's adaptive weight (taming-transformers' calculate_adaptive_weight).
        last = self.p["decoder_out_w"]
        g_rec = torch.autograd.grad(rec, last, retain_graph=True)[0]
        g_adv = torch.autograd.grad(adv, last, retain_graph=True)[0]
        weight = torch.clamp(torch.norm(g_rec) / (torch.norm(g_adv) + 1e-4), 0.0, 1e4).detach()
        loss = rec + 0.1 * weight * adv
        critic_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
        return loss, critic_loss


def run_players(name, spec, model, ours, x_all, batch):
    """Two-player training as Hourglass's `players = alternating`: the autoencoder steps on the
    gradient of its loss, then the critic on the gradient of its loss evaluated again with the
    autoencoder's new parameters. Both step losses (before the updates) are compared."""
    critic = [p for n, p in model.p.items() if n.startswith("critic_")]
    ids = {id(p) for p in critic}
    main = [p for p in model.parameters() if id(p) not in ids]
    opt, critic_opt = spec["optimizer"](main), spec["critic_optimizer"](critic)
    worst = 0.0
    print(f"{'step':>4} {'hourglass':>12} {'pytorch':>12} {'critic hg':>12} {'critic pt':>12} {'rel diff':>10}")
    for step in range(len(ours)):
        xb = x_all[step * batch : (step + 1) * batch]
        loss, critic_loss = model.losses(xb)
        for p, g in zip(main, torch.autograd.grad(loss, main)):
            p.grad = g
        opt.step()
        _, again = model.losses(xb)
        for p, g in zip(critic, torch.autograd.grad(again, critic)):
            p.grad = g
        critic_opt.step()
        pairs = [(ours[step]["loss"], loss.item()), (ours[step]["critic_loss"], critic_loss.item())]
        rel = max(abs(m - t) / max(abs(t), 1e-12) for m, t in pairs)
        worst = max(worst, rel)
        print(f"{step:>4} {pairs[0][0]:>12.6f} {pairs[0][1]:>12.6f} {pairs[1][0]:>12.6f} {pairs[1][1]:>12.6f} {rel:>10.2e}")
    return worst


def cosine_with_warmup(opt, warmup, total):
    """Hourglass's `cosine(warmup)` from PyTorch's schedulers: base_lr * (step + 1) / warmup
    while step < warmup, then cosine annealing to 0 at step `total`."""
    sched = torch.optim.lr_scheduler
    decay = sched.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=0.0)
    if warmup == 0:
        return decay
    warm = sched.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0, total_iters=max(warmup - 1, 1))
    return sched.SequentialLR(opt, [warm, decay], milestones=[warmup])


# The train blocks of the specs, in PyTorch (lr is the base learning rate).
TWINS = {
    "mlp_sgd": dict(
        model=Mlp,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
    ),
    "mlp_adam": dict(
        model=Mlp,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.003, foreach=False),
        schedule=lambda opt, total: cosine_with_warmup(opt, 5, total),
        clip_grad_norm=20.0,
    ),
    "conv": dict(
        model=Conv,
        optimizer=lambda ps: torch.optim.SGD(
            ps, lr=0.002, momentum=0.9, nesterov=True, weight_decay=1e-4, foreach=False
        ),
    ),
    "vae": dict(
        model=Vae,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=0.002, foreach=False),
    ),
    "vqvae": dict(
        model=VqVae,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
    ),
    "sae": dict(
        model=Sae,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
    ),
    "sae_auxk": dict(
        model=SaeAuxK,
        optimizer=lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
    ),
    "gan": dict(
        model=Gan,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
        critic_optimizer=lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False),
    ),
    "bn": dict(
        model=Bn,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, foreach=False),
    ),
}


def load_test_images(data_dir):
    with gzip.open(pathlib.Path(data_dir) / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    return (np.frombuffer(raw[16:], dtype=np.uint8).astype(np.float32) / 255.0).reshape(-1, 784)


def compare_buffers(name, model, run, data_dir, tolerance):
    """For a twin with buffers: the running statistics after training against the run's
    final.safetensors, and the eval-mode test loss against its eval.json. Returns the largest
    relative difference."""
    final = load_safetensors(run / "final.safetensors")
    worst = 0.0
    for key, theirs in model.buffers_by_name().items():
        theirs = theirs.detach().numpy()
        rel = float(np.abs(final[key] - theirs).max() / max(np.abs(theirs).max(), 1e-12))
        print(f"{name}: buffer {key}: max relative difference {rel:.2e}")
        worst = max(worst, rel)
    evaluated = json.loads((run / "eval.json").read_text())
    mine = evaluated["loss"]
    model.eval()
    with torch.no_grad():
        # The run evaluates the first `examples` test images (run.sh's --limit applies to both
        # splits); in eval mode each image's loss is its own, whatever the batches.
        x = torch.tensor(load_test_images(data_dir)[: evaluated["examples"]])
        theirs = float(sum(model(xb, 0).item() * len(xb) for xb in x.split(100)) / len(x))
    rel = abs(mine - theirs) / abs(theirs)
    print(f"{name}: test loss with the running statistics: hourglass {mine:.6f}, pytorch {theirs:.6f}, {rel:.2e}")
    return max(worst, rel)


def run_twin(name, run, data_dir, tolerance):
    """Trains one twin and prints its table; returns the largest relative loss difference and
    whether every learning rate agreed."""
    spec = TWINS[name]
    plan = json.loads((run / "plan.json").read_text())
    steps, batch = plan["steps"], plan["batch"]
    ours = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if len(ours) != steps:
        raise SystemExit(f"{name}: metrics.jsonl has {len(ours)} steps, expected {steps}")
    model = spec["model"](load_safetensors(run / "init.safetensors"))
    model.seed = plan["seed"]
    if "critic_optimizer" in spec:
        print(f"== {name}: {steps} steps of {batch} examples, two players")
        x_all = torch.tensor(load_images(data_dir, batch * steps))
        worst = run_players(name, spec, model, ours, x_all, batch)
        verdict = "ok" if worst <= tolerance else "MISMATCH"
        print(f"{name}: max relative loss difference over {steps} steps: {worst:.3e} (tolerance {tolerance:.0e}) {verdict}\n")
        return worst, True
    opt = spec["optimizer"](model.parameters())
    with warnings.catch_warnings():
        # SequentialLR passes an epoch to the next scheduler's step(), which warns.
        warnings.simplefilter("ignore", UserWarning)
        scheduler = spec["schedule"](opt, steps) if "schedule" in spec else None
    x_all = torch.tensor(load_images(data_dir, batch * steps))
    clip = spec.get("clip_grad_norm")
    base_lr = opt.defaults["lr"]
    worst, lr_ok = 0.0, True
    print(f"== {name}: {steps} steps of {batch} examples")
    extra = f" {'grad norm':>10}" if clip else ""
    print(f"{'step':>4} {'lr':>10} {'hourglass':>12} {'pytorch':>12} {'rel diff':>10}{extra}")
    for step in range(steps):
        xb = x_all[step * batch : (step + 1) * batch]
        lr = opt.param_groups[0]["lr"]
        opt.zero_grad()
        loss = model(xb, step)
        loss.backward()
        norm = ""
        if clip:
            n = torch.nn.utils.clip_grad_norm_(model.parameters(), clip, foreach=False)
            norm = f" {n.item():>10.3f}"
        opt.step()
        if scheduler is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                scheduler.step()
        theirs = loss.item()
        mine = ours[step]["loss"]
        rel = abs(mine - theirs) / max(abs(theirs), 1e-12)
        worst = max(worst, rel)
        # Hourglass computes the schedule in f32: a few roundings of the base rate.
        if not math.isclose(ours[step]["lr"], lr, rel_tol=1e-6, abs_tol=1e-6 * base_lr):
            lr_ok = False
            print(f"{name}: learning rate at step {step}: hourglass {ours[step]['lr']}, pytorch {lr}")
        print(f"{step:>4} {lr:>10.3e} {mine:>12.6f} {theirs:>12.6f} {rel:>10.2e}{norm}")
    if hasattr(model, "buffers_by_name"):
        worst = max(worst, compare_buffers(name, model, run, data_dir, tolerance))
    verdict = "ok" if worst <= tolerance and lr_ok else "MISMATCH"
    lr_note = "" if lr_ok else ", learning rates differ"
    print(f"{name}: max relative loss difference over {steps} steps: {worst:.3e} (tolerance {tolerance:.0e}){lr_note} {verdict}\n")
    return worst, lr_ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("twins", nargs="*", help=f"twins to check (default: all of {', '.join(TWINS)})")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    philox.self_test()
    out = pathlib.Path(args.out_dir)
    names = args.twins or list(TWINS)
    results = {name: run_twin(name, out / name, args.data_dir, args.tolerance) for name in names}
    print(f"{'twin':<10} {'max rel loss diff':>17} {'lr':>4}")
    failed = False
    for name, (worst, lr_ok) in results.items():
        ok = worst <= args.tolerance and lr_ok
        failed |= not ok
        print(f"{name:<10} {worst:>17.3e} {'ok' if lr_ok else 'DIFF':>4} {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

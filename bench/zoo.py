"""The model zoo against PyTorch: each stochastic example trained at the same settings by
Hourglass and by its PyTorch twin (bench/models/twins.py), and the test metric both reach.

    python bench/zoo.py [--models vae,cvae] [--epochs 5] [--hgc target/release/hgc]

Settings, as the issue fixes them: Fashion-MNIST, batch 128, Adam (lr 1e-3), seed 0, the
training split shuffled every epoch; the metric is the test split's loss (for a VAE the
negative ELBO in nats per image, estimated on one sample per image, as `hgc run FILE eval` and
a run's eval.json report it). The twins start from their own draws of the same initializers,
so the comparison is of what training reaches, not step by step (bench/torch_twin does that).
Prints one table: example, command, wall time, our metric, the twin's, and their ratio.
"""
import argparse
import gzip
import json
import pathlib
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "models"))
DATA_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
# Example -> (spec, twin class name, whether the twin's loss reads the label, hgc backend). The
# WAE's MMD compares every pair of a batch, a [B, B] tensor that only the interpreter runs.
ZOO = {
    "vae": ("examples/vae/vae.hgl", "Vae", False, "cranelift"),
    "cvae": ("examples/cvae/cvae.hgl", "Cvae", True, "cranelift"),
    "hvae": ("examples/hvae/hvae.hgl", "Hvae", False, "cranelift"),
    "beta_vae": ("examples/beta_vae/beta_vae.hgl", "BetaVae", False, "llvm"),
    "denoising_ae": ("examples/denoising_ae/denoising_ae.hgl", "DenoisingAe", False, "cranelift"),
    "iwae": ("examples/iwae/iwae.hgl", "Iwae", False, "cranelift"),
    "vqvae": ("examples/vqvae/vqvae.hgl", "ExampleVqVae", False, "llvm"),
    "conv_vae": ("examples/conv_vae/conv_vae.hgl", "ExampleConvVae", False, "llvm"),
    "sae": ("examples/sae/sae.hgl", "ExampleSae", False, "cranelift"),
    "binary": ("examples/binary/binary.hgl", "BinaryAe", False, "cranelift"),
    "fsq": ("examples/fsq/fsq.hgl", "FsqAe", False, "cranelift"),
    "gumbel": ("examples/gumbel/gumbel.hgl", "GumbelVae", False, "cranelift"),
    "vqgan": ("examples/vqgan/vqgan.hgl", "VqGan", False, "llvm"),
    "sae_auxk": ("examples/sae_auxk/sae_auxk.hgl", "SaeAuxK", False, "llvm"),
    "vqvae_ema": ("examples/vqvae_ema/vqvae_ema.hgl", "VqVaeEma", False, "llvm"),
    "wae_mmd": ("examples/wae_mmd/wae_mmd.hgl", "WaeMmd", False, "interp"),
    # The speed benchmark's models (bench/models), whose twins bench/run times.
    "mae": ("examples/mae/mae.hgl", "ExampleMae", False, "llvm"),
    "ae_identity": ("examples/ae_identity/ae_identity.hgl", "AeIdentity", False, "cranelift"),
    "bench_conv_vae": ("bench/models/conv_vae.hgl", "ConvVae", False, "llvm"),
    "bench_vqvae": ("bench/models/vqvae.hgl", "VqVae", False, "llvm"),
    "bench_sae": ("bench/models/sae.hgl", "Sae", False, "llvm"),
}


# Examples whose train block sets another learning rate (and optimizer, which their twin's
# `optimizer` mirrors): both sides train at it.
LR = {"ae_identity": 0.05}


def idx(name):
    raw = gzip.open(DATA_DIR / f"{name}.gz").read()
    if struct.unpack(">I", raw[:4])[0] == 2051:
        count, rows, cols = struct.unpack(">III", raw[4:16])
        return (np.frombuffer(raw[16:], np.uint8).astype(np.float32) / 255.0).reshape(count, rows * cols)
    count = struct.unpack(">I", raw[4:8])[0]
    return np.frombuffer(raw[8:8 + count], np.uint8).astype(np.int64)


def hourglass(hgc, spec, backend, epochs, out, lr=1e-3):
    cmd = [hgc, "run", spec, "train", "--backend", backend, "--data", "fashion-mnist", "--epochs", str(epochs),
           "--batch", "128", "--lr", str(lr), "--seed", "0", "--out", str(out), "--progress", "quiet", "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    return json.loads((out / "eval.json").read_text())["loss"], wall, "hgc " + " ".join(cmd[1:6]) + f" --epochs {epochs}"


def twin(name, uses_label, epochs, threads, lr=1e-3):
    import torch

    import twins

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = getattr(twins, name)()
    shape = (1, 28, 28) if model.IMAGE_SHAPE else (784,)
    # Two-player twins: the critic's parameters have their own optimizer and loss, and both
    # players step on the gradients of one forward pass (as Hourglass's train step).
    critic = model.critic_parameters() if hasattr(model, "critic_parameters") else []
    ids = {id(p) for p in critic}
    players = [p for p in model.parameters() if id(p) not in ids]
    x, y = torch.from_numpy(idx("train-images-idx3-ubyte")), torch.from_numpy(idx("train-labels-idx1-ubyte"))
    total = epochs * (len(x) // 128)
    # A twin whose spec trains otherwise (ae_identity: SGD, a schedule, clipping) says how.
    if hasattr(model, "optimizer"):
        opt, scheduler = model.optimizer(players, lr, total)
    else:
        opt, scheduler = torch.optim.Adam(players, lr=1e-3), None
    critic_opt = model.critic_optimizer() if critic else None
    xt, yt = torch.from_numpy(idx("t10k-images-idx3-ubyte")), torch.from_numpy(idx("t10k-labels-idx1-ubyte"))
    x, xt = x.reshape((-1,) + shape), xt.reshape((-1,) + shape)
    args = (lambda i: (x[i], y[i])) if uses_label else (lambda i: (x[i],))
    t0 = time.perf_counter()
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(128):
            opt.zero_grad(set_to_none=True)
            if critic_opt is None:
                model.loss(*args(batch)).backward()
            else:
                critic_opt.zero_grad(set_to_none=True)
                loss, critic_loss = model.losses(*args(batch))
                for p, g in zip(players, torch.autograd.grad(loss, players, retain_graph=True)):
                    p.grad = g
                for p, g in zip(critic, torch.autograd.grad(critic_loss, critic)):
                    p.grad = g
                critic_opt.step()
            if getattr(model, "CLIP", None):
                torch.nn.utils.clip_grad_norm_(players, model.CLIP)
            opt.step()
            if scheduler is not None:
                scheduler.step()
    wall = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        # In batches of 128, as `hgc run FILE eval` and a run's eval.json (a batch statistic
        # such as the WAE's MMD depends on the batch size).
        total = 0.0
        for batch in torch.arange(len(xt)).split(128):
            test = (xt[batch], yt[batch]) if uses_label else (xt[batch],)
            total += float(model.loss(*test)) * len(batch)
    return total / len(xt), wall


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ZOO), help=f"comma-separated, of: {', '.join(ZOO)}")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads [default: 2]")
    ap.add_argument("--hgc", default=str(ROOT / "target/release/hgc"))
    a = ap.parse_args(argv)
    print("| example | command | hgc wall s | hgc test metric | twin wall s | twin test metric | hgc / twin |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            spec, cls, uses_label, backend = ZOO[name]
            ours, our_wall, command = hourglass(a.hgc, spec, backend, a.epochs, pathlib.Path(tmp) / name,
                                                LR.get(name, 1e-3))
            theirs, their_wall = twin(cls, uses_label, a.epochs, a.threads, LR.get(name, 1e-3))
            print(f"| {name} | `{command}` | {our_wall:.1f} | {ours:.5g} | {their_wall:.1f} | {theirs:.5g} | "
                  f"{ours / theirs:.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

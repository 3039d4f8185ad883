"""The model zoo against PyTorch: each stochastic example trained at the same settings by
Hourglass and by its PyTorch twin (bench/models/twins.py), and the test metric both reach.

    python bench/zoo.py [--models vae,cvae] [--epochs 5] [--seed 0] [--hgc target/release/hgc]

Settings, as the issue fixes them: Fashion-MNIST, batch 128, Adam (lr 1e-3), seed 0, the
training split shuffled every epoch, the last partial batch dropped (as Hourglass's training
loop does: 468 steps an epoch); the metric is the test split's loss (for a VAE the negative
ELBO in nats per image, estimated on one sample per image, as `hgc run FILE eval` and a run's
eval.json report it). The twins start from their own draws of the same initializers, so the
comparison is of what training reaches, not step by step (bench/torch_twin does that).

`slot_attention` trains on the `shapes` scenes instead, at its train block's settings (batch
32, Adam at 4e-4, gradient norm clipped at 1): the 10000 scenes of `--data shapes` (whose
generator takes the run's seed) for training, and for the test loss 2000 held-out scenes, the
next ones of generator seed 0 (scenes 10000 to 11999; `--data shapes` has no test split, and
`--eval-data shapes:N` would repeat training scenes). Both come from `hgrun data` (next to
`hgc`, or `--hgrun`), so the twin reads the very arrays Hourglass trains and evaluates on.
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
# Example -> (spec, twin class name, whether the twin's loss reads the label, hgc backend).
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
    "wae_mmd": ("examples/wae_mmd/wae_mmd.hgl", "WaeMmd", False, "llvm"),
    # The speed benchmark's models (bench/models), whose twins bench/run times.
    "mae": ("examples/mae/mae.hgl", "ExampleMae", False, "llvm"),
    "ae_identity": ("examples/ae_identity/ae_identity.hgl", "AeIdentity", False, "cranelift"),
    "bench_conv_vae": ("bench/models/conv_vae.hgl", "ConvVae", False, "llvm"),
    "bench_vqvae": ("bench/models/vqvae.hgl", "VqVae", False, "llvm"),
    "bench_sae": ("bench/models/sae.hgl", "Sae", False, "llvm"),
    "bench_mae": ("bench/models/mae.hgl", "Mae", False, "llvm"),
    # On the `shapes` scenes (SHAPES), at its train block's batch and learning rate.
    "slot_attention": ("examples/slot_attention/slot_attention.hgl", "SlotAe", False, "llvm"),
}


# Examples whose train block sets another learning rate (and optimizer, which their twin's
# `optimizer` mirrors): both sides train at it.
LR = {"ae_identity": 0.05, "slot_attention": 4e-4}
# Examples whose train block sets another batch size: both sides train (and evaluate) at it.
BATCH = {"slot_attention": 32}
# Examples on the `shapes` scenes. They train on `--data shapes`: the generator's first
# SHAPES_TRAIN scenes (its default number) of the run's seed. The test scenes are the SHAPES_TEST after the first
# SHAPES_TRAIN of generator seed 0: a scene depends only on (seed, index), so none of them is
# a training scene, whatever the run's seed.
SHAPES = {"slot_attention"}
SHAPES_TRAIN, SHAPES_TEST = 10_000, 2_000


def idx(name):
    raw = gzip.open(DATA_DIR / f"{name}.gz").read()
    if struct.unpack(">I", raw[:4])[0] == 2051:
        count, rows, cols = struct.unpack(">III", raw[4:16])
        return (np.frombuffer(raw[16:], np.uint8).astype(np.float32) / 255.0).reshape(count, rows * cols)
    count = struct.unpack(">I", raw[4:8])[0]
    return np.frombuffer(raw[8:8 + count], np.uint8).astype(np.int64)


def shapes_data(hgrun, tmp, seed):
    """The `shapes` scenes as .npz files (image f32 [N, 3, 32, 32], n_objects i64 [N]):
    {"train": what `--data shapes` trains on at `seed`, "test": the held-out scenes}."""
    tmp = pathlib.Path(tmp)
    files = {"train": tmp / f"shapes-train-{seed}.npz", "test": tmp / "shapes-test.npz"}
    if not files["train"].exists():
        subprocess.run([hgrun, "data", f"shapes:{SHAPES_TRAIN}", "--seed", str(seed), "--out", str(files["train"])],
                       check=True, stdout=subprocess.DEVNULL)
    if not files["test"].exists():
        both = tmp / "shapes-all.npz"
        subprocess.run([hgrun, "data", f"shapes:{SHAPES_TRAIN + SHAPES_TEST}", "--seed", "0", "--out", str(both)],
                       check=True, stdout=subprocess.DEVNULL)
        with np.load(both) as arrays:
            np.savez(files["test"], **{k: v[SHAPES_TRAIN:] for k, v in arrays.items()})
        both.unlink()
    return files


def hourglass(hgc, spec, backend, epochs, out, lr=1e-3, batch=128, shapes=None, seed=0):
    # On the shapes scenes, Hourglass generates the training scenes itself (`--data shapes`:
    # the scenes of shapes["train"]) and evaluates on the exported test scenes.
    data = ["fashion-mnist"] if shapes is None else ["shapes", "--eval-data", str(shapes["test"])]
    cmd = [hgc, "run", spec, "train", "--backend", backend, "--data", *data, "--epochs", str(epochs),
           "--batch", str(batch), "--lr", str(lr), "--seed", str(seed), "--out", str(out),
           "--progress", "quiet", "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    shown = "hgc " + " ".join(cmd[1:6])
    if shapes is not None:
        shown += f" --data shapes --eval-data {shapes['test'].name}"
    if seed != 0:
        shown += f" --seed {seed}"
    return json.loads((out / "eval.json").read_text())["loss"], wall, shown + f" --epochs {epochs}"


def fashion_mnist(image_shape):
    """(train images, train labels, test images, test labels) as tensors."""
    import torch

    shape = (1, 28, 28) if image_shape else (784,)
    x, y = torch.from_numpy(idx("train-images-idx3-ubyte")), torch.from_numpy(idx("train-labels-idx1-ubyte"))
    xt, yt = torch.from_numpy(idx("t10k-images-idx3-ubyte")), torch.from_numpy(idx("t10k-labels-idx1-ubyte"))
    return x.reshape((-1,) + shape), y, xt.reshape((-1,) + shape), yt


def shapes_arrays(files):
    """(train images, object counts, test images, object counts) of the `shapes` .npz files."""
    import torch

    train, test = np.load(files["train"]), np.load(files["test"])
    return (torch.from_numpy(train["image"]), torch.from_numpy(train["n_objects"]),
            torch.from_numpy(test["image"]), torch.from_numpy(test["n_objects"]))


def twin(name, uses_label, epochs, threads, lr=1e-3, batch=128, shapes=None, seed=0):
    import torch

    import twins

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = getattr(twins, name)()
    # Two-player twins: the critic's parameters have their own optimizer and loss; both players
    # step on the gradients of one forward pass, or in turn where the twin says ALTERNATING (as
    # Hourglass's train step with `players = simultaneous` or `alternating`).
    critic = model.critic_parameters() if hasattr(model, "critic_parameters") else []
    ids = {id(p) for p in critic}
    players = [p for p in model.parameters() if id(p) not in ids]
    x, y, xt, yt = fashion_mnist(model.IMAGE_SHAPE) if shapes is None else shapes_arrays(shapes)
    # Hourglass drops each epoch's last partial batch: len(x) // batch steps an epoch.
    per_epoch = len(x) // batch
    total = epochs * per_epoch
    # A twin whose spec trains otherwise (ae_identity: SGD, a schedule, clipping) says how.
    if hasattr(model, "optimizer"):
        opt, scheduler = model.optimizer(players, lr, total)
    else:
        opt, scheduler = torch.optim.Adam(players, lr=lr), None
    critic_opt = model.critic_optimizer() if critic else None
    args = (lambda i: (x[i], y[i])) if uses_label else (lambda i: (x[i],))
    t0 = time.perf_counter()
    for _ in range(epochs):
        for rows in torch.randperm(len(x))[: per_epoch * batch].split(batch):
            opt.zero_grad(set_to_none=True)
            if critic_opt is None:
                model.loss(*args(rows)).backward()
            elif getattr(model, "ALTERNATING", False):
                # `players = alternating`: the autoencoder steps, then the critic on a second
                # pass with the autoencoder's new parameters.
                critic_opt.zero_grad(set_to_none=True)
                loss, _ = model.losses(*args(rows))
                for p, g in zip(players, torch.autograd.grad(loss, players)):
                    p.grad = g
                opt.step()
                _, critic_loss = model.losses(*args(rows), replay=True)
                for p, g in zip(critic, torch.autograd.grad(critic_loss, critic)):
                    p.grad = g
                critic_opt.step()
                if scheduler is not None:
                    scheduler.step()
                continue
            else:
                critic_opt.zero_grad(set_to_none=True)
                loss, critic_loss = model.losses(*args(rows))
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
        # In batches of the training batch size, as a run's eval.json (a batch statistic such as
        # the WAE's MMD depends on the batch size).
        total = 0.0
        for rows in torch.arange(len(xt)).split(batch):
            test = (xt[rows], yt[rows]) if uses_label else (xt[rows],)
            total += float(model.loss(*test)) * len(rows)
    return total / len(xt), wall


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ZOO), help=f"comma-separated, of: {', '.join(ZOO)}")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="hgc's --seed and the twin's torch.manual_seed [default: 0]")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads [default: 2]")
    ap.add_argument("--hgc", default=str(ROOT / "target/release/hgc"))
    ap.add_argument("--hgrun", help="hgrun, which exports the shapes scenes [default: next to --hgc]")
    a = ap.parse_args(argv)
    hgrun = a.hgrun or str(pathlib.Path(a.hgc).with_name("hgrun"))
    print("| example | command | hgc wall s | hgc test metric | twin wall s | twin test metric | hgc / twin |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            spec, cls, uses_label, backend = ZOO[name]
            lr, batch = LR.get(name, 1e-3), BATCH.get(name, 128)
            shapes = shapes_data(hgrun, tmp, a.seed) if name in SHAPES else None
            ours, our_wall, command = hourglass(a.hgc, spec, backend, a.epochs, pathlib.Path(tmp) / name, lr, batch,
                                                shapes, a.seed)
            theirs, their_wall = twin(cls, uses_label, a.epochs, a.threads, lr, batch, shapes, a.seed)
            print(f"| {name} | `{command}` | {our_wall:.1f} | {ours:.5g} | {their_wall:.1f} | {theirs:.5g} | "
                  f"{ours / theirs:.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

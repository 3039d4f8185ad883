"""The GPU check's measurements, on a machine with an NVIDIA GPU: parity of the CUDA backend
with the CPU, then its timings beside PyTorch's on the same card.

    python3 bench/gpu_check.py DIR [--steps 20] [--quick]

DIR is what `scripts/gpu-check prepare` made: the runner `hgrun`, every example built with its
PTX (`NAME.hgx`), training and test images (`train.npz`, `test.npz`: Fashion-MNIST;
`shapes_train.npz`, `shapes_test.npz`: shapes scenes, for the models that read 3x32x32 images).
Nothing here needs
the compiler, the CUDA toolkit or a network: only the driver, python3 with numpy, and PyTorch
with CUDA for the PyTorch rows (left out, and said so, without it).

1. Parity, per example, on the same weights (drawn from the seed) and the same data:
   - `reconstruct` of 64 test images on `--device cpu` and `--device cuda`: the largest
     relative error per output;
   - `--steps` training steps (data in file order): the largest relative difference of the
     per-step losses, and of the final parameters.
   The CPU backend is itself held to the interpreter in f64 by the conformance suite, so a row
   here within docs/numerics.md's tolerances holds the GPU to it too.
2. Timing, for the MLP VAE, the conv VAE and the MAE (the issue's models): the train step at
   batch 128 and 1024 and `reconstruct` at batch 1 and 256 (`NAME.hgx time`, the median of the
   timed calls), beside PyTorch eager and torch.compile (default mode) of the twins in
   bench/models/twins.py, timed the same way (median of CUDA-synchronised calls after warm-up).
"""
import argparse
import json
import os
import pathlib
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Relative tolerances of docs/numerics.md for compiled backends against the interpreter.
TOL_OUTPUT = 1e-4
TOL_PARAMS = 1e-2
# Twin name (bench/models/twins.py) -> the built model timed against it.
TIMED = {"vae": "vae", "conv_vae": "bench_conv_vae", "mae": "bench_mae"}


def run(cmd, **kw):
    """Runs a command; returns its stdout, or raises with its stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr.strip()[-2000:]}")
    return p.stdout


def read_safetensors(path):
    """The f32 tensors of a safetensors file, by name."""
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(meta["shape"])
    return out


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r["loss"] for r in rows if "loss" in r]


def parity(dir_, model, steps, work, device):
    """Rows (model, check, error, tolerance, verdict) for one built example."""
    exe = [str(dir_ / "hgrun"), str(model)]
    info = json.loads(run(exe + ["info", "--json"]))
    rows = []
    recon = next((e for e in info["entries"] if e["name"] == "reconstruct"), None)
    # The model's images: shapes scenes for 3x32x32 inputs, else Fashion-MNIST.
    # (Its other inputs, the seed and step of random draws, the runner fills in from --seed.)
    batched = [i for i in recon["inputs"] if i["shape"][:1] == ["B"]] if recon else []
    image_size = 0
    if len(batched) == 1:
        spec = batched[0]
        shape = [int(d) for d in spec["shape"][1:]]
        image_size = int(np.prod(shape))
    prefix = "shapes_" if image_size == 3 * 32 * 32 else ""
    if image_size:
        images = np.load(dir_ / f"{prefix}test.npz")["image"][:64].astype(np.float32)
        x = images.reshape([images.shape[0]] + shape)
        xin = work / f"{model.stem}_x.npy"
        np.save(xin, x)
        outs = {}
        for side, dev in (("cpu", "cpu"), ("gpu", device)):
            out = work / f"{model.stem}_{side}.npz"
            run(exe + ["reconstruct", "--init", "--seed", "0", "--input", f"{spec['name']}={xin}", "--output", str(out),
                       "--batch", "64", "--device", dev])
            outs[side] = np.load(out)
        for name in outs["cpu"].files:
            err = rel_err(outs["gpu"][name], outs["cpu"][name])
            rows.append((model.stem, f"reconstruct `{name}`", err, TOL_OUTPUT))
    # Training images shaped as the model reads them, under its input's name.
    data = dir_ / f"{prefix}train.npz"
    if image_size:
        images = np.load(data)["image"].astype(np.float32)
        data = work / f"{model.stem}_train.npz"
        np.savez(data, **{spec["name"]: images.reshape([images.shape[0]] + shape)})
    trained = {}
    for side, dev in (("cpu", "cpu"), ("gpu", device)):
        out = work / f"{model.stem}_train_{side}"
        run(exe + ["train", "--data", str(data), "--steps", str(steps), "--batch", "64", "--seed", "0",
                   "--shuffle", "false", "--out", str(out), "--progress", "quiet", "--overwrite", "--device", dev])
        trained[side] = (losses(out), read_safetensors(out / "final.safetensors"))
    (lc, pc), (lg, pg) = trained["cpu"], trained["gpu"]
    rows.append((model.stem, f"train loss, {steps} steps", max(rel_err([a], [b]) for a, b in zip(lg, lc)) if lc else 0.0,
                 TOL_OUTPUT))
    worst = max((rel_err(pg[k], pc[k]) for k in pc), default=0.0)
    rows.append((model.stem, f"params after {steps} steps", worst, TOL_PARAMS))
    return rows


def hg_time(dir_, model, entry, batch, device, repeats):
    out = run([str(dir_ / "hgrun"), str(model), "time", "--entry", entry, "--batch", str(batch), "--device", device,
               "--repeats", str(repeats), "--seed", "0"])
    return json.loads(out)["median_ms"]


def torch_times(name, batches_train, batches_latency, repeats, device):
    """{(mode, entry, batch): median ms} of the twin on `device`, eager and compiled."""
    import torch

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    sys.path.insert(0, str(ROOT / "bench" / "models"))
    import twins

    cls = twins.MODELS[name][2]
    out = {}
    for mode in ("eager", "compile"):
        torch.manual_seed(0)
        model = cls().to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.compile(model.loss) if mode == "compile" else model.loss
        rec_fn = torch.compile(model.reconstruct) if mode == "compile" else model.reconstruct
        shape = (1, 28, 28) if cls.IMAGE_SHAPE else (784,)

        def timed(f, warmup=3):
            for _ in range(warmup):
                f()
            sync()
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                f()
                sync()
                ts.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(ts)

        for b in batches_train:
            x = torch.rand((b,) + shape, device=device)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(x)
                loss.backward()
                opt.step()
                float(loss.detach())  # as Hourglass's loop reads every step's loss

            out[(mode, "train", b)] = timed(step)
        model.eval()
        with torch.no_grad():
            for b in batches_latency:
                x = torch.rand((b,) + shape, device=device)
                out[(mode, "reconstruct", b)] = timed(lambda: rec_fn(x))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="the folder scripts/gpu-check prepare made")
    ap.add_argument("--steps", type=int, default=20, help="training steps compared [default: 20]")
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per measurement [default: 30]")
    ap.add_argument("--quick", action="store_true", help="parity only for the timed models, fewer timed calls")
    ap.add_argument("--device", default="cuda", help="the device checked against the CPU [default: cuda; cpu tries "
                    "this script where there is no GPU]")
    a = ap.parse_args(argv)
    dir_ = pathlib.Path(a.dir).resolve()
    models = sorted(dir_.glob("*.hgx"))
    if not models:
        sys.exit(f"error: {dir_} holds no built model (run scripts/gpu-check prepare first)")
    if a.quick:
        models = [m for m in models if m.stem in TIMED.values()]
        a.repeats = min(a.repeats, 10)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        print("| model | check | error | tolerance | |\n|---|---|---|---|---|")
        for model in models:
            try:
                rows = parity(dir_, model, a.steps, work, a.device)
            except RuntimeError as e:
                print(f"| {model.stem} | ran | {e} | | FAILED |".replace("\n", " "))
                failures.append(model.stem)
                continue
            for name, check, err, tol in rows:
                ok = err <= tol
                print(f"| {name} | {check} | {err:.2e} | {tol:g} | {'ok' if ok else 'FAILED'} |")
                if not ok:
                    failures.append(f"{name} {check}")
        sys.stdout.flush()

        try:
            import torch

            have_torch = a.device == "cpu" or torch.cuda.is_available()
        except ImportError:
            have_torch = False
        print()
        print(f"| model | measurement | hgc {a.device} ms | torch eager ms | torch.compile ms | x eager | x compile |")
        print("|---|---|---|---|---|---|---|")
        for name, stem in TIMED.items():
            model = dir_ / f"{stem}.hgx"
            if not model.exists():
                continue
            theirs = torch_times(name, (128, 1024), (1, 256), a.repeats, a.device) if have_torch else {}
            for entry, batches in (("train", (128, 1024)), ("reconstruct", (1, 256))):
                for b in batches:
                    try:
                        ours = hg_time(dir_, model, entry, b, a.device, a.repeats)
                    except RuntimeError as e:
                        print(f"| {name} | {entry} b={b} | failed: {str(e).splitlines()[-1]} | | | | |")
                        failures.append(f"{name} time {entry}")
                        continue
                    eager, compiled = theirs.get(("eager", entry, b)), theirs.get(("compile", entry, b))
                    cells = [f"{v:.3f}" if v else "-" for v in (eager, compiled)]
                    ratios = [f"{v / ours:.2f}x" if v else "-" for v in (eager, compiled)]
                    print(f"| {name} | {entry} b={b} | {ours:.3f} | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")
                    sys.stdout.flush()
        if not have_torch:
            print(f"\n(no PyTorch for {a.device} here: the PyTorch columns are empty)")
    if failures:
        print("\nFAILED: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

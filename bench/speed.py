"""Training speed of Hourglass against PyTorch on the same machine, in the same run.

    python bench/speed.py [--hgc target/release/hgc] [--repeats 3] [--steps 40]

Trains bench/torch_twin/twin.hgl (an MLP autoencoder, batch 32) with `hgc run ... train` and
its PyTorch twin (bench/torch_twin/twin.py's model) on the same Fashion-MNIST batches, repeats
each several times, and prints the median steady-state time per step and their ratio. The
hgc figure is wall time per step excluding the first step (compilation and data loading),
taken from the process's own timing of the run; PyTorch is timed around its training loop.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "torch_twin"))
import twin  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def hgc_step_times(hgc, steps, batch, repeats):
    times = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            cmd = [hgc, "run", "bench/torch_twin/twin.hgl", "train", "--data", "fashion-mnist", "--limit", str(steps * batch),
                   "--shuffle", "false", "--steps", str(steps), "--batch", str(batch), "--seed", str(r),
                   "--progress", "quiet", "--eval-data", "fashion-mnist:test", "--out", out]
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            lines = [json.loads(l) for l in pathlib.Path(out, "metrics.jsonl").read_text().splitlines() if l.strip()]
            # samples_per_s is measured per step by the training loop itself.
            per_step = [batch / l["samples_per_s"] for l in lines[1:] if l.get("samples_per_s")]
            times.append(statistics.median(per_step))
    return times


def torch_step_times(steps, batch, repeats, data_dir):
    x_all = torch.tensor(twin.load_images(data_dir, steps * batch))
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        w = {}
        for name, (i, o) in {"encoder.h1": (784, 64), "encoder.e": (64, 16), "decoder.d1": (16, 64), "decoder.logits": (64, 784)}.items():
            w[f"{name}.w"] = (torch.randn(i, o) * (2.0 / (i + o)) ** 0.5).numpy()
            w[f"{name}.b"] = torch.zeros(o).numpy()
        model = twin.Mlp(w)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        per_step = []
        for s in range(steps):
            xb = x_all[s * batch:(s + 1) * batch]
            t0 = time.perf_counter()
            opt.zero_grad()
            model(xb, s).backward()
            opt.step()
            per_step.append(time.perf_counter() - t0)
        times.append(statistics.median(per_step[1:]))
    return times


def cpu_description():
    """The CPU model and its vector extensions, printed with every table (the machines we
    measure on change between AVX2-only and AVX-512/AMX parts)."""
    model, flags = "unknown CPU", set()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    vector = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model}; vector extensions: {' '.join(vector) or 'none found'}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hgc", default=str(ROOT / "target/release/hgc"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h = hgc_step_times(args.hgc, args.steps, args.batch, args.repeats)
    t = torch_step_times(args.steps, args.batch, args.repeats, args.data_dir)
    hm, tm = statistics.median(h), statistics.median(t)
    print(f"cpu: {cpu_description()}")
    print(f"twin MLP autoencoder, batch {args.batch}, {args.steps} steps, {args.repeats} repeats, torch threads {args.threads}")
    print(f"{'backend':<22} {'median ms/step':>15} {'runs (ms)':>30}")
    print(f"{'hgc interp (f32)':<22} {hm * 1e3:>15.3f} {', '.join(f'{x * 1e3:.2f}' for x in h):>30}")
    print(f"{'pytorch eager':<22} {tm * 1e3:>15.3f} {', '.join(f'{x * 1e3:.2f}' for x in t):>30}")
    print(f"ratio hgc / pytorch: {hm / tm:.2f}x (lower is better for hgc)")


if __name__ == "__main__":
    main()

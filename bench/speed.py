"""The speed benchmark of Hourglass against PyTorch: one table, from one run, on one machine.

    python bench/speed.py [--hgc target/release/hgc] [--models vae,sae] [--backends interp]
                          [--with-interp] [--repeats 3] [--steps 30] [--threads 2] [--quick]

`bench/run` builds `hgc` in release and calls this with its arguments. For every model of
bench/models/twins.py (`--models`), every system runs once per repeat, in turn (Hourglass on
each backend, PyTorch eager, torch.compile), so that the host's drift hits all of them alike:

- training samples/s at `--batch` (128): each run trains `--steps` steps on the same
  Fashion-MNIST images, in file order; the figure is the batch over the median time of the
  steps after the first `--skip` (compilation, warm-up). Hourglass's step times are those its
  training loop logs (`samples_per_s` of metrics.jsonl); PyTorch's are timed around
  zero_grad, the loss, backward and the optimizer step (Adam, lr 1e-3, in both). torch.compile
  compiles the loss and its backward; the optimizer step is the eager one in both PyTorch rows;
- encode+decode latency at batch 1 and 256: the median of `--latency-repeats` calls of the
  `reconstruct` entry (Hourglass: `hgc run SPEC time`, which times the calls inside the
  process) or of the twin's `reconstruct` under no_grad, after warm-up calls, on random inputs;
- compile time: Hourglass's `compile_ms` of `hgc run SPEC time --entry train` (from the start
  of the command to a session open on the train step); for torch.compile, its first training
  step minus eager's first step in the same repeat, compiled with empty on-disk caches (a
  fresh TORCHINDUCTOR_CACHE_DIR per run), as Hourglass compiles from scratch every time;
- peak resident memory of the training run: ru_maxrss of the `hgc` process, or of the
  subprocess that trained the PyTorch model (the interpreter and torch included);
- ratios: per repeat, Hourglass's figure against eager's and compiled's (throughput:
  Hourglass / PyTorch; latency: PyTorch / Hourglass, a speedup), and the table shows their
  median over the repeats; above 1 means Hourglass is faster.

Then GEMM rows: GFLOP/s of torch.mm in fp32 for the matrix shapes of the models' training,
and Hourglass's GEMM through `hgc gemm` (with the library it used on this CPU).

PyTorch runs with `torch.set_flush_denormal(True)` and `torch.set_num_threads(--threads)`;
`hgc` runs with HG_THREADS set to the same count.
"""
import argparse
import json
import os
import pathlib
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "models"))
import twins  # noqa: E402

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
# GEMM shapes (M, K, N: [M, K] @ [K, N]) and which operand is read transposed ("", "a", "b"):
# the first Linear of the MLP VAE at batch 128, its backward products (the weight gradient
# x^T @ dy, the input gradient dy @ W^T) and at batch 1, the SAE decoder and its weight gradient,
# and a large square one.
GEMM_SHAPES = [(128, 784, 512, ""), (784, 128, 512, "a"), (128, 512, 784, "b"), (1, 784, 512, ""),
               (128, 4096, 784, ""), (4096, 128, 784, "a"), (1024, 1024, 1024, "")]
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "amx_tile")


# ---- the host ------------------------------------------------------------------------------


def cpu_description():
    """The CPU model and which of the vector extensions that matter here it has."""
    model, flags = "unknown CPU", set()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    have = [f for f in VECTOR_FLAGS if f in flags]
    lacks = [f for f in VECTOR_FLAGS if f not in flags]
    return f"{model}; vector extensions: {' '.join(have) or 'none of ' + ' '.join(VECTOR_FLAGS)}" + (
        f" (no {' '.join(lacks)})" if have and lacks else ""
    )


def load_images(data_dir, limit):
    """The first `limit` Fashion-MNIST training images as [limit, 784] float32 in [0, 1]
    (the files `hgc run --data fashion-mnist` reads, gzip-compressed or plain)."""
    import gzip
    import struct

    base = pathlib.Path(data_dir) / "train-images-idx3-ubyte"
    gz = base.with_name(base.name + ".gz")
    raw = gzip.open(gz).read() if gz.exists() else base.read_bytes()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051 or limit > count:
        raise SystemExit(f"{base}: not an idx image file with {limit} images")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)[: limit * rows * cols]
    return (pixels.astype(np.float32) / 255.0).reshape(limit, rows * cols)


def run_child(cmd, env=None):
    """Runs `cmd`; returns (stdout, peak resident MiB of the child). Exits on failure."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        # Reaped here, not by Popen, to read the child's own resource usage.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            sys.stderr.write(err.read())
            raise SystemExit(f"failed ({code}): {shlex.join(map(str, cmd))}")
        return out.read(), usage.ru_maxrss / 1024.0


# ---- Hourglass -----------------------------------------------------------------------------


def hgc_backends(hgc):
    """The backends `hgc run --help` lists for `--backend`, in its order."""
    text = subprocess.run([hgc, "run", "--help"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"--backend\b.*?one of: ([^\[\n]+)", text, re.S)
    if not m:
        raise SystemExit("`hgc run --help` lists no backends")
    return [b.strip() for b in m.group(1).split(",") if b.strip()]


def hgc_env(threads):
    env = dict(os.environ)
    env["HG_THREADS"] = str(threads)
    return env


def hgc_spec_args(model):
    spec, sets, _ = twins.MODELS[model]
    out = [spec]
    for s in sets:
        out += ["--set", s]
    return out


STANDALONE = "standalone"


def hgc_build(a, model):
    """`hgc build SPEC -o EXE` (kernels for this machine's CPU level); returns (exe, seconds, MiB)."""
    exe = pathlib.Path(a.tmp, model, f"{model}-standalone")
    t0 = time.perf_counter()
    run_child([a.hgc, "build", *hgc_spec_args(model), "-o", str(exe), "--target-cpu", "native", "--overwrite"],
              hgc_env(a.threads))
    return exe, time.perf_counter() - t0, exe.stat().st_size / 2**20


def hgc_command(a, model, backend, entry):
    """The command line that runs `entry` on `backend`: `hgc run SPEC ENTRY --backend B`, or the
    model's standalone executable for the pseudo-backend `standalone`."""
    if backend == STANDALONE:
        return [str(a.executables[model]), entry]
    return [a.hgc, "run", *hgc_spec_args(model), entry, "--backend", backend]


def hgc_train(a, model, backend, data_file, seed):
    """Trains with `hgc run ... train` (or the standalone executable); returns (step seconds, peak MiB)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [*hgc_command(a, model, backend, "train"), "--data", str(data_file), "--shuffle", "false", "--steps", str(a.steps), "--batch", str(a.batch), "--seed", str(seed),
               "--progress", "quiet", "--out", out]
        _, rss = run_child(cmd, hgc_env(a.threads))
        lines = [json.loads(l) for l in pathlib.Path(out, "metrics.jsonl").read_text().splitlines() if l.strip()]
    # samples_per_s is measured around each step by the training loop itself.
    return [a.batch / l["samples_per_s"] for l in lines], rss


def hgc_time(a, model, backend, entry, batch, repeats, warmup, seed):
    """`hgc run SPEC time` (or the standalone executable's `time`): its JSON (milliseconds)."""
    cmd = [*hgc_command(a, model, backend, "time"), "--entry", entry, "--batch", str(batch),
           "--repeats", str(repeats), "--warmup", str(warmup), "--seed", str(seed)]
    out, _ = run_child(cmd, hgc_env(a.threads))
    return json.loads(out)


def hgc_gemm(hgc, m, k, n, transposed, repeats, threads):
    """Hourglass's GEMM on [m, k] @ [k, n] in fp32 (`transposed`: "a" or "b" reads that operand
    from its transpose): (GFLOP/s, the library `hgc gemm` names), or None where it fails."""
    flags = [f"--transpose-{transposed}"] if transposed else []
    try:
        p = subprocess.run([hgc, "gemm", f"{m},{k},{n}", *flags, "--repeats", str(repeats)], cwd=ROOT,
                           env=hgc_env(threads), capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            return None
        r = json.loads(p.stdout)
        return r["gflops"], r.get("library", "")
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


# ---- PyTorch (each measurement in its own process) -----------------------------------------


def torch_setup(threads):
    import torch

    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    return torch


def worker_train(w):
    """Trains a twin; prints {"step_ms": [...]}: the first step included."""
    torch = torch_setup(w["threads"])
    torch.manual_seed(w["seed"])
    cls = twins.MODELS[w["model"]][2]
    model = cls()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.compile(model.loss, dynamic=False) if w["compiled"] else model.loss
    x = torch.from_numpy(np.load(w["data"]))
    batch, times = w["batch"], []
    for s in range(w["steps"]):
        t0 = time.perf_counter()
        xb = x[s * batch:(s + 1) * batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(xb)
        loss.backward()
        opt.step()
        float(loss)  # Hourglass's loop reads the loss of every step too
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"step_ms": times}))


def worker_latency(w):
    """Times the twin's reconstruct; prints {batch: median ms}."""
    torch = torch_setup(w["threads"])
    torch.manual_seed(w["seed"])
    cls = twins.MODELS[w["model"]][2]
    model = cls().eval()
    fn = torch.compile(model.reconstruct, dynamic=False) if w["compiled"] else model.reconstruct
    out = {}
    with torch.no_grad():
        for b in w["batches"]:
            x = torch.rand((b, 1, 28, 28) if cls.IMAGE_SHAPE else (b, 784))
            for _ in range(w["warmup"]):
                fn(x)
            times = []
            for _ in range(w["repeats"]):
                t0 = time.perf_counter()
                fn(x)
                times.append((time.perf_counter() - t0) * 1e3)
            out[str(b)] = statistics.median(times)
    print(json.dumps(out))


def torch_child(a, kind, cache_dir, **job):
    """Runs a PyTorch measurement in a new process, with torch.compile's on-disk caches in
    `cache_dir`; returns (its JSON, peak MiB)."""
    job.update(threads=a.threads)
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(cache_dir))
    out, rss = run_child([sys.executable, __file__, "--worker", kind, "--job", json.dumps(job)], env)
    return json.loads(out), rss


def torch_gemm_gflops(torch, m, k, n, transposed, repeats):
    a = torch.rand(k, m).t() if transposed == "a" else torch.rand(m, k)
    b = torch.rand(n, k).t() if transposed == "b" else torch.rand(k, n)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2.0 * m * k * n / statistics.median(times) / 1e9


# ---- the benchmark -------------------------------------------------------------------------


def systems(a, backends):
    return [f"hgc {b}" for b in backends] + ["pytorch eager", "torch.compile"]


def build_standalone(a, model, backends):
    """Builds the model's standalone executable when the benchmark times one; says its build
    time and size on stderr and in the notes."""
    if STANDALONE not in backends:
        return
    exe, seconds, mib = hgc_build(a, model)
    a.executables[model] = exe
    a.builds.append(f"{model}: {seconds:.2f} s, {mib:.1f} MiB")
    print(f"[{model}] built {exe.name} in {seconds:.2f} s ({mib:.1f} MiB)", file=sys.stderr, flush=True)


def measure_model(a, model, backends, data_file):
    """Every repeat runs every system once, in turn. Returns {system: {metric: [per repeat]}}."""
    res = {s: {} for s in systems(a, backends)}
    build_standalone(a, model, backends)

    def put(system, metric, value):
        res[system].setdefault(metric, []).append(value)

    skip = a.skip
    for r in range(a.repeats):
        print(f"[{model}] repeat {r + 1}/{a.repeats}", file=sys.stderr, flush=True)
        for b in backends:
            s = f"hgc {b}"
            step_s, rss = hgc_train(a, model, b, data_file, r)
            put(s, "train", a.batch / statistics.median(step_s[skip:]))
            put(s, "rss", rss)
            for batch in (1, 256):
                t = hgc_time(a, model, b, "reconstruct", batch, a.latency_repeats, a.latency_warmup, r)
                put(s, f"lat{batch}", t["median_ms"])
            put(s, "compile", hgc_time(a, model, b, "train", 1, 1, 0, r)["compile_ms"] / 1e3)
        first = {}
        for s, compiled in (("pytorch eager", False), ("torch.compile", True)):
            job = dict(model=model, seed=r, compiled=compiled)
            # Training compiles with empty caches (a first compile, as Hourglass's always is);
            # the latency runs share one cache, as they time calls, not compilation.
            cold = pathlib.Path(tempfile.mkdtemp(prefix=f"inductor-{model}-{r}-", dir=a.tmp))
            t, rss = torch_child(a, "train", cold, data=str(data_file), steps=a.steps, batch=a.batch, **job)
            put(s, "train", a.batch / (statistics.median(t["step_ms"][skip:]) * 1e-3))
            put(s, "rss", rss)
            first[s] = t["step_ms"][0]
            shared = pathlib.Path(a.tmp, "inductor-latency")
            lat, _ = torch_child(a, "latency", shared, batches=[1, 256], repeats=a.latency_repeats,
                                 warmup=max(a.latency_warmup, 1), **job)
            put(s, "lat1", lat["1"])
            put(s, "lat256", lat["256"])
        put("torch.compile", "compile", (first["torch.compile"] - first["pytorch eager"]) / 1e3)
    return res


def ratios(res, hg, other, metric):
    """Median over the repeats of Hourglass's figure against `other`'s, as a speedup."""
    per = []
    for h, o in zip(res[hg].get(metric, []), res[other].get(metric, [])):
        per.append(h / o if metric == "train" else o / h)
    return statistics.median(per) if per else None


def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "x":
        return f"{v:.2f}x"
    if kind == "ms":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    if kind == "s":
        return f"{v:.3g}"
    return f"{v:,.0f}"


COLUMNS = [  # header, width
    ("model", 19), ("system", 18),
    ("train samples/s", 15), ("x eager", 8), ("x compiled", 10),
    ("b=1 ms", 8), ("x eager", 8), ("x compiled", 10),
    ("b=256 ms", 9), ("x eager", 8), ("x compiled", 10),
    ("compile s", 9), ("peak MiB", 8),
]


def row(cells):
    return "  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS)))


def table_rows(model, res, backends):
    med = lambda s, m: statistics.median(res[s][m]) if res[s].get(m) else None  # noqa: E731
    out = []
    for s in res:
        hg = s.startswith("hgc ")
        cells = [model, s]
        for metric, kind in (("train", "n"), ("lat1", "ms"), ("lat256", "ms")):
            cells.append(fmt(med(s, metric), kind))
            for other in ("pytorch eager", "torch.compile"):
                cells.append(fmt(ratios(res, s, other, metric), "x") if hg else "")
        cells.append(fmt(med(s, "compile"), "s") if s != "pytorch eager" else "-")
        cells.append(fmt(med(s, "rss"), "n"))
        out.append(row(cells))
    return out


def gemm_rows(a, torch):
    out, libraries = [], set()
    for m, k, n, transposed in GEMM_SHAPES:
        name = f"gemm {m}x{k}x{n}" + (f" {transposed}^T" if transposed else "")
        torch_g, hg_g = [], []
        for _ in range(a.repeats):
            torch_g.append(torch_gemm_gflops(torch, m, k, n, transposed, a.gemm_repeats))
            hg_g.append(hgc_gemm(a.hgc, m, k, n, transposed, a.gemm_repeats, a.threads))
        hg_ok = all(g is not None for g in hg_g)
        libraries.update(g[1] for g in hg_g if g is not None)
        hg_rates = [g[0] for g in hg_g] if hg_ok else None
        hg_med = statistics.median(hg_rates) if hg_ok else None
        ratio = statistics.median(h / t for h, t in zip(hg_rates, torch_g)) if hg_ok else None
        blank = [""] * 9 + ["", ""]
        out.append(row([name, "hgc gemm", f"{fmt(hg_med, 'n')} GFLOP/s" if hg_ok else "n/a", fmt(ratio, "x"), ""] + blank[3:]))
        out.append(row([name, "torch.mm", f"{fmt(statistics.median(torch_g), 'n')} GFLOP/s", "", ""] + blank[3:]))
    if libraries:
        out.append("hgc gemm: " + "; ".join(sorted(libraries)))
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hgc", default=str(ROOT / "target/release/hgc"), help="the hgc binary (a release build)")
    ap.add_argument("--models", default=",".join(twins.MODELS), help=f"comma-separated, of: {', '.join(twins.MODELS)}")
    ap.add_argument("--backends", help="comma-separated hgc backends [default: those `hgc run --help` lists, "
                    "without the interpreter when a compiled one exists]")
    ap.add_argument("--with-interp", action="store_true", help="add the interpreter to the default backends")
    ap.add_argument("--repeats", type=int, help="interleaved repeats of every system [default: 3; --quick: 1]")
    ap.add_argument("--steps", type=int, help="training steps per run [default: 30; --quick: 6]")
    ap.add_argument("--skip", type=int, help="first training steps left out of the throughput [default: 3; --quick: 2]")
    ap.add_argument("--batch", type=int, default=128, help="training batch [default: 128]")
    ap.add_argument("--latency-repeats", type=int, help="timed reconstruct calls per batch size [default: 30; --quick: 5]")
    ap.add_argument("--latency-warmup", type=int, help="untimed calls before them [default: 3; --quick: 1]")
    ap.add_argument("--gemm-repeats", type=int, help="timed calls per GEMM shape [default: 20; --quick: 5]")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads (and hgc's) [default: 2]")
    ap.add_argument("--quick", action="store_true", help="a fast smoke run: fewer repeats, steps and calls")
    ap.add_argument("--data-dir", default=os.environ.get("HG_FASHION_MNIST_DIR", DEFAULT_DATA_DIR),
                    help="Fashion-MNIST files [default: $HG_FASHION_MNIST_DIR, else the Debian package's]")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    quick = {"repeats": (3, 1), "steps": (30, 6), "skip": (3, 2), "latency_repeats": (30, 5), "latency_warmup": (3, 1),
             "gemm_repeats": (20, 5)}
    for k, (full, fast) in quick.items():
        if getattr(a, k) is None:
            setattr(a, k, fast if a.quick else full)
    if a.worker:
        return a
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = [m for m in a.models if m not in twins.MODELS]
    if unknown or not a.models:
        ap.error(f"unknown model(s) {', '.join(unknown) or '(none given)'}; the models are {', '.join(twins.MODELS)}")
    if a.repeats < 1 or a.steps <= a.skip or a.latency_repeats < 1 or a.threads < 1 or a.batch < 1:
        ap.error("need --repeats >= 1, --steps > --skip, --latency-repeats >= 1, --threads >= 1, --batch >= 1")
    if not pathlib.Path(a.hgc).exists():
        ap.error(f"{a.hgc} does not exist: build it with `cargo build --release -p hgc` (bench/run does)")
    listed = hgc_backends(a.hgc)
    if a.backends:
        a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
        unknown = [b for b in a.backends if b not in listed + [STANDALONE]]
        if unknown or not a.backends:
            ap.error(f"unknown backend(s) {', '.join(unknown)}; `hgc run --help` lists {', '.join(listed)}")
    else:
        # The CPU backends: this table compares with PyTorch on the CPU (the GPU backend is
        # compared with PyTorch on the GPU by scripts/gpu-check).
        a.backends = [b for b in listed if b not in ("interp", "cuda")]
        if has_build(a.hgc):
            a.backends.append(STANDALONE)
    if "interp" in listed and "interp" not in a.backends and (a.with_interp or not a.backends):
        a.backends.append("interp")
    return a


def has_build(hgc):
    """Whether this `hgc` builds standalone executables."""
    return subprocess.run([hgc, "build", "--help"], capture_output=True).returncode == 0


def check_twins(a):
    """Each twin has exactly its spec's parameters (names and shapes), as `hgc run info` lists them."""
    for model in a.models:
        info = json.loads(subprocess.run([a.hgc, "run", *hgc_spec_args(model), "info", "--json"], cwd=ROOT,
                                         capture_output=True, text=True, check=True).stdout)
        spec = {p["name"].replace(".", "_"): [int(s) for s in p["shape"]] for p in info["parameters"]}
        twin = {n: list(p.shape) for n, p in twins.MODELS[model][2]().named_parameters()}
        if spec != twin:
            diff = sorted(k for k in set(spec) | set(twin) if spec.get(k) != twin.get(k))
            raise SystemExit(f"{model}: the twin's parameters differ from the spec's: {', '.join(diff)}")


def main(argv):
    a = parse_args(argv)
    if a.worker:
        job = json.loads(a.job)
        {"train": worker_train, "latency": worker_latency}[a.worker](job)
        return
    torch = torch_setup(a.threads)
    check_twins(a)
    command = os.environ.get("HG_BENCH_COMMAND") or shlex.join([pathlib.Path(sys.executable).name, *sys.argv])
    started = time.time()
    lines = []
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as tmp:
        a.tmp = tmp
        a.executables, a.builds = {}, []
        images = load_images(a.data_dir, a.steps * a.batch)
        for model in a.models:
            cls = twins.MODELS[model][2]
            # hgc names the input after the file: x.npy feeds `input x`.
            data_file = pathlib.Path(tmp, model, "x.npy")
            data_file.parent.mkdir()
            np.save(data_file, images.reshape(-1, 1, 28, 28) if cls.IMAGE_SHAPE else images)
            lines += table_rows(model, measure_model(a, model, a.backends, data_file), a.backends)
    lines += gemm_rows(a, torch)

    print(f"cpu: {cpu_description()}")
    print(f"torch {torch.__version__}; threads {a.threads} (torch.set_num_threads, flush denormal on; "
          f"HG_THREADS for hgc); hgc backends: {', '.join(a.backends)}")
    print(f"command: {command}")
    print(f"fp32, Adam lr 1e-3, batch {a.batch}; training: {a.steps} steps in file order, the first {a.skip} "
          f"left out; latency: reconstruct, median of {a.latency_repeats} calls after {max(a.latency_warmup, 1)} "
          f"warm-up; {a.repeats} interleaved repeat(s); x eager / x compiled: median per-repeat speedup of "
          f"Hourglass (above 1: Hourglass faster); {time.time() - started:.0f} s")
    header = row([h for h, _ in COLUMNS])
    print(header)
    print("-" * len(header))
    for line in lines:
        print(line.rstrip())
    specs = "; ".join(f"{m}: {' '.join(hgc_spec_args(m))}" for m in a.models)
    print(f"specs: {specs}")
    if a.builds:
        print("hgc standalone: the executable of `hgc build SPEC -o NAME --target-cpu native` (its compile s is "
              f"start-up to a loaded model); builds: {'; '.join(a.builds)}")


if __name__ == "__main__":
    main(sys.argv[1:])

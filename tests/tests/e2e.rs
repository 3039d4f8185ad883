//! End-to-end tests over the `hgc` binary: run entry points of real specs on the reference
//! interpreter, train briefly, resume after `kill -9`, and check numbers against fixtures.

use hg_runtime::npy;
use hg_tests::cli::{fails, hgc, metrics, ok, root, run};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn vae_reconstruct_matches_numpy_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x_hat.npy");
    let fx = root().join("tests/fixtures/vae_reconstruct");
    ok(&[
        "run",
        "examples/vae/vae.hgl",
        "reconstruct",
        "--set",
        "hidden=64",
        "--set",
        "latent=8",
        "--weights",
        fx.join("weights.safetensors").to_str().unwrap(),
        "--input",
        fx.join("x.npy").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let got = npy::read_npy(&out).unwrap();
    let want = npy::read_npy(fx.join("x_hat.npy")).unwrap();
    assert_eq!(got.shape(), want.shape());
    let worst = got
        .to_f64_vec()
        .iter()
        .zip(want.to_f64_vec())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-6))
        .fold(0.0f64, f64::max);
    assert!(worst < 1e-5, "max relative error {worst:e}");
}

#[test]
fn info_lists_entries_and_parameters_in_declaration_order() {
    let out = ok(&["run", "examples/vae/vae.hgl", "info", "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries: Vec<&str> = info["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    for e in ["encode", "decode", "reconstruct", "sample", "train", "eval"] {
        assert!(entries.contains(&e), "{entries:?}");
    }
    let params: Vec<&str> =
        info["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params.first(), Some(&"encoder.h.0.w"));
    assert_eq!(params.last(), Some(&"decoder.logits.2.b"));
    let mu = info["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "encoder.mu.w").unwrap();
    assert_eq!(mu["shape"], serde_json::json!(["256", "32"]));
}

#[test]
fn vae_trains_on_fashion_mnist_and_its_test_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let common = ["--set", "hidden=128", "--data", "fashion-mnist", "--limit", "1024", "--batch", "32", "--seed", "3"];
    // Test loss of the initial weights.
    let init = dir.path().join("init.safetensors");
    let mut args = vec![
        "run",
        "examples/vae/vae.hgl",
        "eval",
        "--init",
        init.to_str().unwrap(),
        "--data",
        "fashion-mnist:test",
        "--limit",
        "256",
        "--batch",
        "64",
        "--set",
        "hidden=128",
    ];
    let before: serde_json::Value = serde_json::from_slice(&ok(&args).stdout).unwrap();
    args.clear();
    let mut train = vec![
        "run",
        "examples/vae/vae.hgl",
        "train",
        "--steps",
        "60",
        "--progress",
        "plain",
        "--out",
        d,
        "--weights",
        init.to_str().unwrap(),
    ];
    train.extend(common);
    ok(&train);
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("eval.json")).unwrap()).unwrap();
    let (b, a) = (before["loss"].as_f64().unwrap(), after["loss"].as_f64().unwrap());
    assert!(a < 0.8 * b, "test loss did not fall enough: {b} -> {a}");
    for f in [
        "final.safetensors",
        "checkpoint.safetensors",
        "loss.png",
        "reconstructions.png",
        "samples.png",
        "metrics.jsonl",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    assert_eq!(metrics(dir.path()).len(), 60);
}

const TWIN: &str = "bench/torch_twin/twin.hgl";

fn twin_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "run",
        TWIN,
        "train",
        "--data",
        "fashion-mnist",
        "--limit",
        "512",
        "--batch",
        "16",
        "--steps",
        "300",
        "--seed",
        "7",
        "--progress",
        "plain",
        "--log-every",
        "1",
        "--eval-data",
        "fashion-mnist:test",
        "--out",
        out,
    ];
    v.extend_from_slice(extra);
    v
}

/// The VAE (a stochastic bottleneck: every step draws its noise from the seed and the step),
/// small enough for the interpreter.
fn vae_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = twin_args(out, extra);
    v[1] = "examples/vae/vae.hgl";
    v.extend_from_slice(&["--set", "hidden=64", "--set", "latent=8"]);
    v
}

#[test]
fn kill_9_then_resume_continues_the_loss_curve_exactly() {
    let full = tempfile::tempdir().unwrap();
    let cut = tempfile::tempdir().unwrap();
    let (full_s, cut_s) = (full.path().to_str().unwrap(), cut.path().to_str().unwrap());
    ok(&vae_args(full_s, &[]));
    let reference = metrics(full.path());
    // Long enough (many epochs, reshuffled each time) that the kill below lands mid-run.
    assert_eq!(reference.len(), 300);

    // Same run, killed with SIGKILL once a checkpoint exists and a few more steps are logged.
    let mut child = Command::new(hgc())
        .args(vae_args(cut_s, &["--checkpoint-every", "5"]))
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let logged = metrics(cut.path()).len();
        if cut.path().join("checkpoint.safetensors").exists() && logged >= 12 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended before it could be killed: {status}");
        }
        assert!(Instant::now() < deadline, "training made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before_resume = metrics(cut.path()).len();
    assert!(before_resume < 300, "the run finished before the kill");

    let ckpt = cut.path().join("checkpoint.safetensors");
    ok(&vae_args(cut_s, &["--checkpoint-every", "5", "--resume", ckpt.to_str().unwrap()]));
    let resumed = metrics(cut.path());
    assert_eq!(resumed.len(), 300);
    for (a, b) in reference.iter().zip(&resumed) {
        assert_eq!(a["step"], b["step"]);
        assert_eq!(a["loss"], b["loss"], "loss differs at step {}", a["step"]);
        assert_eq!(a["metrics"], b["metrics"], "metrics differ at step {}", a["step"]);
    }
    // The noise is the seed's: another seed trains along another curve.
    let other = tempfile::tempdir().unwrap();
    let mut args = vae_args(other.path().to_str().unwrap(), &[]);
    let steps = args.iter().position(|a| *a == "--steps").unwrap();
    args[steps + 1] = "20";
    let at = args.iter().position(|a| *a == "--seed").unwrap();
    ok(&args);
    let same = metrics(other.path());
    assert_eq!(
        same[..20].iter().map(|r| &r["loss"]).collect::<Vec<_>>(),
        reference[..20].iter().map(|r| &r["loss"]).collect::<Vec<_>>()
    );
    let other2 = tempfile::tempdir().unwrap();
    let mut args2 = args.clone();
    args2[at + 1] = "8";
    let out = other2.path().to_str().unwrap().to_string();
    let o = args2.iter().position(|a| *a == "--out").unwrap();
    args2[o + 1] = &out;
    ok(&args2);
    assert_ne!(metrics(other2.path())[0]["loss"], reference[0]["loss"]);
}

/// `sample` draws from the seed: two seeds give different samples, the same seed the same,
/// and a run split into batches draws what one call draws.
#[test]
fn sample_follows_the_seed_and_not_the_batching() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.safetensors");
    let set = ["--set", "hidden=64", "--set", "latent=8"];
    let mut init = vec!["run", "examples/vae/vae.hgl", "sample", "-n", "1", "--init", w.to_str().unwrap()];
    init.extend(set);
    ok(&init);
    let sample = |seed: &str, batch: &str, name: &str| {
        let path = dir.path().join(name);
        let mut args = vec!["run", "examples/vae/vae.hgl", "sample", "-n", "10", "--weights", w.to_str().unwrap()];
        args.extend(["--seed", seed, "--batch", batch, "--output", path.to_str().unwrap()]);
        args.extend(set);
        ok(&args);
        npy::read_npy(&path).unwrap()
    };
    let one = sample("1", "64", "a.npy");
    assert_eq!(one.shape(), &[10, 784]);
    assert_eq!(sample("1", "64", "b.npy"), one, "the same seed must draw the same samples");
    assert_ne!(sample("2", "64", "c.npy"), one, "another seed must draw other samples");
    assert_eq!(sample("1", "3", "d.npy"), one, "calls of 3 must draw what one call of 10 draws");
    let eval = |seed: &str, batch: &str| {
        let mut args = vec!["run", "examples/vae/vae.hgl", "eval", "--weights", w.to_str().unwrap(), "--limit", "24"];
        args.extend(["--seed", seed, "--batch", batch]);
        args.extend(set);
        let out = ok(&args);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(eval("3", "8"), eval("3", "8"));
    assert_ne!(eval("3", "8")["loss"], eval("4", "8")["loss"], "eval's sampled bottleneck follows the seed");
}

#[test]
fn bad_inputs_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Data that does not fit the model's input names both shapes.
    let bad = dir.path().join("bad.npy");
    npy::write_npy(&bad, &hg_runtime::Tensor::from_f32(vec![4, 10], vec![0.0; 40]).unwrap()).unwrap();
    let out = run(&[
        "run",
        TWIN,
        "train",
        "--data",
        bad.to_str().unwrap(),
        "--steps",
        "1",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("784") && err.contains("10"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A truncated weights file.
    let w = dir.path().join("w.safetensors");
    std::fs::write(&w, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    let out = run(&["run", TWIN, "reconstruct", "--weights", w.to_str().unwrap(), "--input", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("w.safetensors") && !err.contains("panicked"), "{err}");

    // An unknown entry point.
    let out = run(&["run", TWIN, "transmogrify"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sample_writes_a_png_grid() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("s.png");
    ok(&[
        "run",
        "examples/vae/vae.hgl",
        "sample",
        "-n",
        "8",
        "--init",
        "--set",
        "hidden=64",
        "--png",
        png.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // A learning rate this large makes the VAE's exp(logvar) overflow within a few steps.
    let out = run(&[
        "run",
        "examples/vae/vae.hgl",
        "train",
        "--set",
        "hidden=64",
        "--data",
        "fashion-mnist",
        "--limit",
        "256",
        "--steps",
        "30",
        "--batch",
        "16",
        "--lr",
        "10",
        "--checkpoint-every",
        "1",
        "--progress",
        "quiet",
        "--out",
        d,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at step") && (err.contains("NaN") || err.contains("inf")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let logged = metrics(dir.path()).len();
    assert!(logged < 30, "training did not stop");
    let (_, meta) = hg_runtime::checkpoint::load_safetensors(dir.path().join("checkpoint.safetensors")).unwrap();
    assert_eq!(
        meta.get("step").map(String::as_str),
        Some(logged.to_string().as_str()),
        "the checkpoint is the last good step"
    );
    assert!(!dir.path().join("final.safetensors").exists());
}

#[test]
fn time_prints_json_and_refuses_bad_flags() {
    let small = ["--set", "hidden=16", "--set", "latent=4"];
    let timed = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["run", "examples/vae/vae.hgl", "time"];
        args.extend(small);
        args.extend(extra);
        let out = ok(&args);
        serde_json::from_slice(&out.stdout).expect("`time` prints one JSON object")
    };
    let t = timed(&["--entry", "reconstruct", "--batch", "3", "--repeats", "4", "--warmup", "1"]);
    assert_eq!(t["entry"], "reconstruct");
    assert_eq!(t["backend"], "cranelift");
    assert_eq!(t["batch"], 3);
    assert_eq!(t["repeats"], 4);
    let ms = |key: &str| t[key].as_f64().filter(|v| *v >= 0.0).unwrap_or_else(|| panic!("{key}: {t}"));
    for key in ["compile_ms", "params_ms", "first_call_ms"] {
        ms(key);
    }
    let order = ["min_ms", "p10_ms", "median_ms", "p90_ms", "max_ms"].map(ms);
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{t}");
    // The train step, with its optimizer state, and an entry whose input is not the data.
    assert_eq!(timed(&["--entry", "train", "--batch", "2", "--repeats", "2"])["entry"], "train");
    assert_eq!(timed(&["--entry", "decode", "--batch", "2", "--repeats", "1", "--warmup", "0"])["entry"], "decode");

    let refused = |extra: &[&str], status: i32, want: &str| {
        let mut args = vec!["run", "examples/vae/vae.hgl"];
        args.extend(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{extra:?}: {err}");
        assert!(err.contains(want) && !err.contains("panicked"), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?} printed {}", String::from_utf8_lossy(&out.stdout));
    };
    refused(&["time", "--repeats", "0"], 1, "--repeats must be at least 1");
    refused(&["time", "--batch", "0"], 1, "--batch must be at least 1");
    refused(&["time", "--entry", "info"], 1, "cannot time `info`; the entries that can be timed are encode, decode");
    refused(&["time", "--entry", "reconstruct", "--steps", "3"], 1, "`--steps` does not apply to `time`");
    refused(&["reconstruct", "--repeats", "3"], 1, "`--repeats` does not apply to `reconstruct`; it applies to `time`");
    refused(&["time", "--repeats", "many"], 2, "invalid value 'many' for '--repeats <N>'");
    refused(&["time", "--precision", "f64", "--entry", "train"], 1, "the train step runs in f32 only");
}

/// `hgc gemm M,K,N` times the CPU backends' matrix product and prints JSON; bad sizes are a
/// clear error.
#[test]
fn gemm_prints_json_and_refuses_bad_sizes() {
    let out = ok(&["gemm", "8,5,3", "--repeats", "2"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("`gemm` prints one JSON object");
    assert_eq!((j["m"].as_u64(), j["k"].as_u64(), j["n"].as_u64()), (Some(8), Some(5), Some(3)));
    assert!(j["gflops"].as_f64().is_some_and(|g| g > 0.0), "{j}");
    assert!(j["median_ms"].as_f64().is_some_and(|t| t >= 0.0), "{j}");
    let e = fails(&["gemm", "8,5"]);
    assert!(e.contains("expected three positive sizes M,K,N, found `8,5`"), "{e}");
    let e = fails(&["gemm", "8,0,3"]);
    assert!(e.contains("expected three positive sizes"), "{e}");
    let e = fails(&["gemm", "8,5,3", "--repeats", "0"]);
    assert!(e.contains("--repeats must be at least 1"), "{e}");
}

#[test]
fn one_hot_of_an_out_of_range_label_is_an_error_on_every_backend() {
    // A label read from data may be out of range: the interpreter rejects it, and compiled
    // code checks it before the fused one-hot (which would silently give a zero row).
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("labelled.hgl");
    std::fs::write(
        &spec,
        "use std.nn.Linear\n\nmodel Labelled {\n    input x: f32[B, 4]\n    input label: i64[B]\n\n    \
         encoder {\n        h = Linear(x + Linear(one_hot(label, 3), 4), 2)\n    }\n\n    \
         bottleneck {\n        latent z = h\n    }\n\n    decoder {\n        output x_hat = Linear(z, 4)\n    }\n\n    \
         loss = mean((x_hat - x) ** 2)\n}\n",
    )
    .unwrap();
    let x = dir.path().join("x.npy");
    npy::write_npy(&x, &hg_runtime::Tensor::from_f32(vec![2, 4], vec![0.5; 8]).unwrap()).unwrap();
    let labels = |name: &str, values: Vec<i64>| {
        let p = dir.path().join(name);
        npy::write_npy(&p, &hg_runtime::Tensor::from_i64(vec![2], values).unwrap()).unwrap();
        format!("label={}", p.display())
    };
    let (good, bad) = (labels("good.npy", vec![0, 2]), labels("bad.npy", vec![1, 3]));
    let xs = format!("x={}", x.display());
    let spec = spec.to_str().unwrap();
    for backend in ["interp", "cranelift"] {
        let args = |l: &str| {
            ["run", spec, "encode", "--init", "--input", &xs, "--input", l, "--backend", backend].map(String::from)
        };
        let ok_args = args(&good);
        ok(&ok_args.iter().map(String::as_str).collect::<Vec<_>>());
        let bad_args = args(&bad);
        let err = fails(&bad_args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            err.contains("3") && err.contains("out of range 0..3") && !err.contains("panicked"),
            "{backend}: {err}"
        );
    }
}

/// `n` flat 28x28 images with values in [0, 1], as `x.npy` in `dir`.
fn images_npy(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let values: Vec<f64> = (0..n * 784).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
    let x = hg_exec::Tensor::from_f64_values(hg_abi::DType::F32, vec![n, 784], &values).unwrap();
    let path = dir.join("x.npy");
    npy::write_npy(&path, &x).unwrap();
    path
}

/// The shared libraries an ELF executable names (`DT_NEEDED`).
fn needed_libraries(exe: &std::path::Path) -> Vec<String> {
    use object::read::elf::{Dyn, FileHeader};
    let data = std::fs::read(exe).unwrap();
    let elf = object::elf::FileHeader64::<object::Endianness>::parse(&*data).unwrap();
    let endian = elf.endian().unwrap();
    let sections = elf.sections(endian, &*data).unwrap();
    let (dynamic, link) = sections.dynamic(endian, &*data).unwrap().expect("a dynamic section");
    let strings = sections.strings(endian, &*data, link).unwrap();
    dynamic
        .iter()
        .filter(|d| d.tag32(endian) == Some(object::elf::DT_NEEDED as i32))
        .map(|d| String::from_utf8_lossy(d.string(endian, strings).unwrap()).into_owned())
        .collect()
}

/// Runs the standalone executable `exe` in `dir` with an empty environment.
fn standalone(dir: &std::path::Path, exe: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(dir.join(exe)).args(args).current_dir(dir).env_clear().output().unwrap();
    assert!(
        out.status.success(),
        "{exe} {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `hgc build -o` writes one executable that, copied alone into an empty folder and run with
/// an empty environment, trains, resumes and runs every entry; it needs only the C library.
#[test]
fn a_standalone_executable_trains_resumes_and_runs_every_entry_alone() {
    let build = tempfile::tempdir().unwrap();
    let exe = build.path().join("vae");
    let spec = ["build", "examples/vae/vae.hgl", "--set", "hidden=64", "--backend", "cranelift"];
    ok(&[&spec[..], &["-o", exe.to_str().unwrap()]].concat());
    let needed = needed_libraries(&exe);
    let allowed = ["libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2"];
    assert!(needed.iter().all(|l| allowed.contains(&l.as_str())), "needs {needed:?}");

    let alone = tempfile::tempdir().unwrap();
    let dir = alone.path();
    std::fs::copy(&exe, dir.join("vae")).unwrap();
    images_npy(dir, 64);
    let train =
        ["train", "--data", "x.npy", "--batch", "16", "--steps", "6", "--checkpoint-every", "3", "--progress", "plain"];
    let out = standalone(dir, "vae", &train);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("backend    cranelift (x86-64-v"), "{log}");
    assert!(log.contains("--set hidden=64"), "{log}");
    let run = dir.join("runs/vae");
    assert_eq!(metrics(&run).len(), 6);
    let resume = ["train", "--steps", "10", "--resume", "runs/vae/checkpoint.safetensors", "--progress", "quiet"];
    standalone(dir, "vae", &resume);
    let resumed = metrics(&run);
    assert_eq!(resumed.len(), 10);
    assert_eq!(resumed[9]["step"], 9);

    let info = String::from_utf8_lossy(&standalone(dir, "vae", &["info"]).stdout).into_owned();
    assert!(info.contains("built by Hourglass") && info.contains("--set hidden=64"), "{info}");
    assert!(info.contains("model Vae") && info.contains("spec examples/vae/vae.hgl"), "{info}");
    assert!(info.contains("  model Vae(latent: int = 32, hidden: int = 512) {"), "the spec text:\n{info}");
    let w = ["--weights", "runs/vae/final.safetensors"];
    standalone(dir, "vae", &[&["encode", "--input", "x.npy", "--output", "z.npy"][..], &w].concat());
    standalone(dir, "vae", &[&["decode", "--input", "z.npy", "--output", "d.npy"][..], &w].concat());
    standalone(
        dir,
        "vae",
        &[&["reconstruct", "--input", "x.npy", "--png", "r.png", "--output", "r.npy"][..], &w].concat(),
    );
    standalone(dir, "vae", &[&["sample", "-n", "4", "--output", "s.npy"][..], &w].concat());
    let eval = standalone(dir, "vae", &[&["eval", "--data", "x.npy"][..], &w].concat());
    let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(eval["loss"].as_f64().is_some_and(f64::is_finite), "{eval}");
    let time = standalone(dir, "vae", &["time", "--entry", "train", "--batch", "8", "--repeats", "2"]);
    let time: serde_json::Value = serde_json::from_slice(&time.stdout).unwrap();
    assert!(time["median_ms"].as_f64().is_some_and(|t| t > 0.0), "{time}");
    // `--device cuda`: without GPU code in the build or without a driver here, an error that
    // names which; with both, the GPU reconstructs what the CPU did.
    let cuda = [&["reconstruct", "--input", "x.npy", "--output", "g.npy", "--device", "cuda"][..], &w].concat();
    let gpu = Command::new(dir.join("vae")).args(&cuda).current_dir(dir).env_clear().output().unwrap();
    let err = String::from_utf8_lossy(&gpu.stderr);
    if gpu.status.success() {
        let (g, r) = (npy::read_npy(dir.join("g.npy")).unwrap(), npy::read_npy(dir.join("r.npy")).unwrap());
        let worst = g.to_f64_vec().iter().zip(r.to_f64_vec()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "the GPU's reconstruction differs by {worst}");
    } else {
        assert!(err.contains("carries no GPU code") || err.contains("no NVIDIA driver"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    for f in ["z.npy", "d.npy", "r.png", "r.npy", "s.npy"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    assert_eq!(npy::read_npy(dir.join("z.npy")).unwrap().shape(), [64, 32]);

    // The same model as an artifact with the trained weights inside: `hgrun` runs it without
    // --weights, and computes what the executable computed.
    let hgx = dir.join("vae.hgx");
    let weights = run.join("final.safetensors");
    ok(&[&spec[..], &["--artifact", hgx.to_str().unwrap(), "--weights", weights.to_str().unwrap()]].concat());
    let out = Command::new(hg_tests::cli::hgrun())
        .args(["vae.hgx", "reconstruct", "--input", "x.npy", "--output", "r2.npy"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(npy::read_npy(dir.join("r2.npy")).unwrap(), npy::read_npy(dir.join("r.npy")).unwrap());
}

/// Broken artifacts, builds for a CPU this machine lacks, and bad build requests are clear
/// errors, never crashes.
#[test]
fn bad_artifacts_and_builds_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hgx = dir.path().join("m.hgx");
    let hgx_s = hgx.to_str().unwrap();
    ok(&["build", "examples/vae/vae.hgl", "--backend", "cranelift", "--artifact", hgx_s]);
    let bytes = std::fs::read(&hgx).unwrap();
    let hgrun = |file: &std::path::Path| {
        let out = Command::new(hg_tests::cli::hgrun()).arg(file).arg("info").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (name, content) in [
        ("cut.hgx", bytes[..bytes.len() / 2].to_vec()),
        ("flip.hgx", {
            let mut b = bytes.clone();
            b[bytes.len() / 3] ^= 0x40;
            b
        }),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let e = hgrun(&path);
        assert!(e.contains("corrupted or truncated"), "{name}: {e}");
    }
    // A plan that passes a kernel a buffer shorter than the kernel's signature (checksum
    // recomputed, so only the signature check can catch it) is refused before anything runs.
    let mut tampered = hg_abi::Artifact::from_bytes(&bytes).unwrap();
    let plan = &mut tampered.header["plans"]["reconstruct"];
    let steps = plan["steps"].as_array().unwrap();
    let arg = steps.iter().find_map(|s| s.get("Kernel")).expect("a kernel step")["args"][0].as_u64().unwrap();
    plan["buffers"][arg as usize]["len"] = serde_json::json!({"b": 0, "c": 1});
    let short = dir.path().join("short.hgx");
    std::fs::write(&short, tampered.to_bytes().unwrap()).unwrap();
    let x = images_npy(dir.path(), 2);
    let out = Command::new(hg_tests::cli::hgrun())
        .args([short.to_str().unwrap(), "reconstruct", "--init", "--input", x.to_str().unwrap()])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains(&format!("passes %{arg} (f32[1]) as argument 0")), "{e}");

    let junk = dir.path().join("junk.hgx");
    std::fs::write(&junk, b"not an artifact at all").unwrap();
    assert!(
        hgrun(&junk).contains("not an Hourglass artifact") || hgrun(&junk).contains("not an artifact"),
        "{}",
        hgrun(&junk)
    );

    if !hg_abi::CpuLevel::X86_64V4.host_supports() {
        let v4 = dir.path().join("v4.hgx");
        ok(&[
            "build",
            "examples/vae/vae.hgl",
            "--backend",
            "cranelift",
            "--target-cpu",
            "x86-64-v4",
            "--artifact",
            v4.to_str().unwrap(),
        ]);
        let e = hgrun(&v4);
        assert!(e.contains("needs x86-64-v4") && e.contains("avx512f"), "{e}");
    }

    let e = fails(&["build", "examples/vae/vae.hgl"]);
    assert!(e.contains("say what to build"), "{e}");
    let e = fails(&["build", "examples/vae/vae.hgl", "--artifact", hgx_s, "--backend", "cranelift"]);
    assert!(e.contains("exists; pass --overwrite"), "{e}");
    let e = fails(&["build", "examples/vae/vae.hgl", "--artifact", "x.hgx", "--target-cpu", "pentium"]);
    assert!(e.contains("unknown CPU `pentium`"), "{e}");
    let e = fails(&["build", "examples/vae/vae.hgl", "--artifact", "x.hgx", "--backend", "interp"]);
    assert!(e.contains("`interp` cannot build"), "{e}");
    let other = dir.path().join("other.safetensors");
    let init = ["run", "examples/ae_identity/ae_identity.hgl", "encode", "--init", other.to_str().unwrap()];
    let _ = run(&[&init[..], &["--input", "nothing.npy"]].concat());
    if other.exists() {
        let e = fails(&["build", "examples/vae/vae.hgl", "--artifact", "y.hgx", "--weights", other.to_str().unwrap()]);
        assert!(e.contains("no tensor for parameter") || e.contains("not the parameter's shape"), "{e}");
    }
}

/// `--backend cuda` on a machine without an NVIDIA driver is an error that says so, before
/// anything is compiled, never a crash; where there is a driver it trains.
#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let args = ["run", "examples/vae/vae.hgl", "train", "--backend", "cuda", "--steps", "2", "--out", out];
    if hg_cuda::probe_driver().is_ok() {
        ok(&args);
        return;
    }
    let err = fails(&args);
    assert!(
        err.contains("no NVIDIA driver on this machine") && err.contains("`--backend llvm` or `cranelift`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A model with a condition: training reads the labels that come with Fashion-MNIST and draws
/// `samples.png` for them; `sample` draws one image per row of `--input label=...` and refuses
/// to run without it or with a label out of range; `decode` takes the condition too.
#[test]
fn conditions_reach_training_sampling_and_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let set = ["--set", "hidden=32", "--set", "latent=4"];
    let spec = "examples/cvae/cvae.hgl";
    for backend in ["interp", "cranelift"] {
        let out = dir.path().join(backend);
        let mut args = vec!["run", spec, "train", "--backend", backend, "--steps", "3", "--batch", "16"];
        args.extend(["--limit", "64", "--out", out.to_str().unwrap()]);
        args.extend(set);
        let stderr = String::from_utf8_lossy(&ok(&args).stderr).to_string();
        assert!(!stderr.contains("was not drawn"), "{stderr}");
        assert!(out.join("samples.png").exists(), "{stderr}");
    }
    let w = dir.path().join("cranelift/final.safetensors");
    let w = w.to_str().unwrap();
    let labels = dir.path().join("labels.npy");
    npy::write_npy(&labels, &hg_runtime::Tensor::from_i64(vec![5], vec![0, 3, 9, 3, 1]).unwrap()).unwrap();
    let given = format!("label={}", labels.display());
    let samples = dir.path().join("s.npy");
    let mut args =
        vec!["run", spec, "sample", "--weights", w, "--input", &given, "--output", samples.to_str().unwrap()];
    args.extend(set);
    ok(&args);
    let drawn = npy::read_npy(&samples).unwrap();
    assert_eq!(drawn.shape(), &[5, 784]);
    let mut args = vec!["run", spec, "sample", "--weights", w];
    args.extend(set);
    let e = fails(&args);
    assert!(e.contains("`sample` needs input `label` (label: i64[B])"), "{e}");
    let bad = dir.path().join("bad.npy");
    npy::write_npy(&bad, &hg_runtime::Tensor::from_i64(vec![2], vec![4, 10]).unwrap()).unwrap();
    let given_bad = format!("label={}", bad.display());
    let mut args = vec!["run", spec, "sample", "--weights", w, "--input", &given_bad];
    args.extend(set);
    let e = fails(&args);
    assert!(e.contains("10") && e.contains("out of range"), "{e}");
    // `decode` reads the latents and the condition.
    let z = dir.path().join("z.npy");
    npy::write_npy(&z, &hg_runtime::Tensor::from_f32(vec![5, 4], vec![0.5; 20]).unwrap()).unwrap();
    let given_z = format!("z={}", z.display());
    let decoded = dir.path().join("d.npy");
    let mut args = vec!["run", spec, "decode", "--weights", w, "--input", &given_z, "--input", &given];
    args.extend(["--output", decoded.to_str().unwrap()]);
    args.extend(set);
    ok(&args);
    assert_eq!(npy::read_npy(&decoded).unwrap().shape(), &[5, 784]);
}

/// Model-level bindings: the loss and metrics of `ok_model_bindings.hgl` name helper values,
/// and a step's loss is `rec + beta * kl` of its own metrics.
#[test]
fn model_level_bindings_feed_the_loss_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let spec = "tests/diagnostics/ok_model_bindings.hgl";
    ok(&[
        "run",
        spec,
        "train",
        "--backend",
        "cranelift",
        "--steps",
        "3",
        "--limit",
        "64",
        "--out",
        out.to_str().unwrap(),
    ]);
    for step in metrics(&out) {
        let loss = step["loss"].as_f64().unwrap();
        let (rec, kl) = (step["rec"].as_f64().unwrap(), step["kl"].as_f64().unwrap());
        assert!((loss - (rec + 4.0 * kl)).abs() <= 1e-4 * loss.abs(), "{step}");
    }
}

/// The WAE's MMD compares every pair of a batch: a `[B, B]` tensor, which compiled backends
/// hold in buffers of B² elements. Cranelift trains it as the interpreter does, step by step,
/// at two batch sizes of one plan; a tensor of B³ elements is refused with the reason, never a
/// panic or a wrong size.
#[test]
fn a_batch_by_batch_tensor_trains_compiled_as_on_the_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "examples/wae_mmd/wae_mmd.hgl";
    let set = ["--set", "hidden=16", "--set", "latent=2"];
    let train = |backend: &str, batch: &str| {
        let out = dir.path().join(format!("{backend}{batch}"));
        let mut args = vec!["run", spec, "train", "--backend", backend, "--steps", "3", "--batch", batch];
        args.extend(["--limit", "64", "--out", out.to_str().unwrap()]);
        args.extend(set);
        ok(&args);
        metrics(&out)
    };
    for batch in ["8", "13"] {
        let (want, got) = (train("interp", batch), train("cranelift", batch));
        assert_eq!(want.len(), 3);
        for (w, g) in want.iter().zip(&got) {
            for key in ["loss", "mmd", "rec"] {
                let (w, g) = (w[key].as_f64().unwrap(), g[key].as_f64().unwrap());
                assert!(
                    w.is_finite() && (w - g).abs() <= 1e-4 * w.abs().max(1e-2),
                    "{key} at batch {batch}: {w} vs {g}"
                );
            }
        }
    }
    let cube = dir.path().join("cube.hgl");
    std::fs::write(
        &cube,
        "use std.nn.Linear\n\
         model Cube() {\n\
           input x: f32[B, 784]\n\
           encoder { h = Linear(x, 3) }\n\
           bottleneck { latent z = h }\n\
           decoder { output y = Linear(z, 784) }\n\
           sim = z @ transpose(z, [1, 0])\n\
           cube = reshape(sim, [B, B, 1]) * reshape(z[:, 0], [1, 1, B])\n\
           loss = mean((y - x) * (y - x)) + mean(cube)\n\
         }\n",
    )
    .unwrap();
    let cube_out = dir.path().join("cube");
    let e = fails(&[
        "run",
        cube.to_str().unwrap(),
        "train",
        "--steps",
        "1",
        "--limit",
        "8",
        "--out",
        cube_out.to_str().unwrap(),
    ]);
    assert!(
        e.contains("size `(B^2)*(B)` is out of the compiled backends' reach") && e.contains("--backend interp"),
        "{e}"
    );
}

/// Ancestral sampling: `sample` draws `z2` from its prior, then `z1` from a prior that reads
/// `z2` through a bottleneck layer, with that layer's trained weights. The decoder outputs both
/// latents, so each sampled row must satisfy z1 = z2 @ w + b + 0.01 * noise, on the interpreter
/// and compiled; the IR of `sample` holds the layer once.
#[test]
fn hierarchical_priors_are_drawn_in_dependency_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("h.hgl");
    std::fs::write(
        &spec,
        "use std.nn.Linear\n\
         model H() {\n\
           input x: f32[B, 6]\n\
           encoder { h = Linear(x, 5) }\n\
           bottleneck {\n\
             latent z2 = h[:, 0:2]\n\
             prior z2 = normal([B, 2])\n\
             top = Linear(z2, 3)\n\
             latent z1 = h[:, 2:5] + top\n\
             prior z1 = top + 0.01 * normal([B, 3])\n\
           }\n\
           decoder { output y = concat([z1, z2], axis = -1) }\n\
           loss = mean(y * y)\n\
         }\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let weights = dir.path().join("w.safetensors");
    let first = dir.path().join("first.npy");
    let saved = format!("--init={}", weights.display());
    ok(&[
        "run",
        spec,
        "sample",
        "--backend",
        "interp",
        &saved,
        "--seed",
        "3",
        "-n",
        "1",
        "--output",
        first.to_str().unwrap(),
    ]);
    let (params, _) = hg_runtime::checkpoint::load_safetensors(&weights).unwrap();
    let (w, b) = (params["bottleneck.top.w"].to_f64_vec(), params["bottleneck.top.b"].to_f64_vec());
    for backend in ["interp", "cranelift"] {
        let drawn = dir.path().join(format!("{backend}.npy"));
        ok(&[
            "run",
            spec,
            "sample",
            "--backend",
            backend,
            "-n",
            "16",
            "--weights",
            weights.to_str().unwrap(),
            "--output",
            drawn.to_str().unwrap(),
        ]);
        let y = npy::read_npy(&drawn).unwrap();
        assert_eq!(y.shape(), &[16, 5]);
        let y = y.to_f64_vec();
        let mut worst = 0.0f64;
        for row in y.chunks(5) {
            let (z1, z2) = row.split_at(3);
            for j in 0..3 {
                let top = b[j] + (0..2).map(|i| z2[i] * w[i * 3 + j]).sum::<f64>();
                worst = worst.max((z1[j] - top).abs());
            }
        }
        // The prior's noise is 0.01 * N(0, 1): a wrong order or fresh weights miss by ~1.
        assert!(worst < 0.06, "{backend}: z1 is {worst} away from the prior network of z2");
        assert!(worst > 0.0, "{backend}: the prior's noise was not drawn");
    }
}

/// Buffers (batch norm's running statistics) are saved with the weights, restored on resume
/// bit for bit, and read by `eval`: a run of 6 steps and a run of 3 resumed to 6 end with the
/// same bits, the statistics moved from their initial values, and `eval` of the final weights
/// gives the run's own test loss.
#[test]
fn buffers_are_checkpointed_resumed_and_read_by_eval() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "bench/torch_twin/twin_bn.hgl";
    let (straight, cut) = (dir.path().join("straight"), dir.path().join("cut"));
    let train = |out: &std::path::Path, steps: &str, extra: &[&str]| {
        let mut args = vec!["run", spec, "train", "--backend", "cranelift", "--data", "fashion-mnist"];
        args.extend(["--limit", "64", "--batch", "8", "--seed", "4", "--progress", "quiet", "--steps", steps]);
        args.extend(["--set", "hidden=6", "--set", "latent=3", "--out", out.to_str().unwrap()]);
        args.extend(extra);
        ok(&args);
    };
    train(&straight, "6", &[]);
    train(&cut, "3", &[]);
    let ckpt = cut.join("checkpoint.safetensors");
    train(&cut, "6", &["--resume", ckpt.to_str().unwrap(), "--overwrite"]);
    let load = |p: std::path::PathBuf| hg_runtime::checkpoint::load_safetensors(p).unwrap().0;
    let (a, b) = (load(straight.join("final.safetensors")), load(cut.join("final.safetensors")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, t) in &a {
        assert_eq!(t.to_f64_vec(), b[name].to_f64_vec(), "`{name}` differs after resuming");
    }
    let var = a["encoder.n2.running_var"].to_f64_vec();
    assert!(var.iter().all(|v| *v != 1.0), "the running variance never moved: {var:?}");
    // `eval` of the final weights reads the running statistics, as the run's own evaluation.
    let weights = straight.join("final.safetensors");
    let out = ok(&[
        "run",
        spec,
        "eval",
        "--backend",
        "cranelift",
        "--data",
        "fashion-mnist:test",
        "--limit",
        "64",
        "--set",
        "hidden=6",
        "--set",
        "latent=3",
        "--weights",
        weights.to_str().unwrap(),
        "--batch",
        "8",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("eval.json")).unwrap()).unwrap();
    let (got, want) = (got["loss"].as_f64().unwrap(), want["loss"].as_f64().unwrap());
    assert!((got - want).abs() <= 1e-6 * want.abs(), "eval {got} vs the run's {want}");
}

/// The masked autoencoder's pictures (`picture masked`, `picture predicted`), computed by
/// `eval` on Cranelift: in `eval --png`, each example shows its input, then the input with
/// exactly the 12 dropped patches of 16 grey, then the prediction with the 4 visible patches
/// pasted back unchanged. The run's `reconstructions.png` has the same groups of three.
#[test]
fn masked_autoencoder_pictures_show_what_eval_masked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let small = ["--set", "dim=8", "--set", "dec_dim=8", "--set", "heads=2", "--backend", "cranelift"];
    let mut train = vec!["run", "examples/mae/mae.hgl", "train", "--data", "fashion-mnist", "--limit", "64"];
    train.extend(["--batch", "16", "--steps", "3", "--progress", "quiet", "--out", d]);
    train.extend(small);
    ok(&train);
    // A tile is 28 pixels magnified 3 times; groups of three tiles, five groups to a row.
    let (tile, gap, group_gap) = (84u32, 2u32, 10u32);
    let group = 3 * tile + 2 * gap;
    let recon = image::open(dir.path().join("reconstructions.png")).unwrap().to_rgb8();
    assert_eq!(
        recon.dimensions(),
        (5 * (group + group_gap) - group_gap + 2 * gap, 4 * (tile + group_gap) - group_gap + 2 * gap)
    );

    let png = dir.path().join("eval.png");
    let weights = dir.path().join("final.safetensors");
    let mut eval = vec!["run", "examples/mae/mae.hgl", "eval", "--data", "fashion-mnist:test", "--limit", "8"];
    eval.extend(["--weights", weights.to_str().unwrap(), "--png", png.to_str().unwrap()]);
    eval.extend(small);
    ok(&eval);
    let img = image::open(&png).unwrap().to_rgb8();
    for example in 0..8u32 {
        let (x0, y0) = (gap + (example % 5) * (group + group_gap), gap + (example / 5) * (tile + group_gap));
        // Pixel (r, c) of picture `j` (0: the input, 1: masked, 2: predicted).
        let at = |j: u32, r: u32, c: u32| img.get_pixel(x0 + j * (tile + gap) + 3 * c + 1, y0 + 3 * r + 1).0[0];
        let mut dropped = 0;
        for patch in 0..16 {
            let pixels = || (0..49).map(move |i| (7 * (patch / 4) + i / 7, 7 * (patch % 4) + i % 7));
            let grey = pixels().all(|(r, c)| at(1, r, c) == 128);
            if grey {
                dropped += 1;
            } else {
                for (r, c) in pixels() {
                    assert_eq!(at(1, r, c), at(0, r, c), "example {example}: a visible patch is the input");
                    assert_eq!(at(2, r, c), at(0, r, c), "example {example}: the prediction keeps visible patches");
                }
            }
        }
        assert_eq!(dropped, 12, "example {example}: 75% of 16 patches are dropped");
    }
}

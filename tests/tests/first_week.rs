//! A new user's first week (issue: no silent wrong answers, no lost runs, errors that name the
//! fix): one end-to-end test per fixed item, over the `hgc` binary.

use hg_tests::cli::{fails, ok};

const VAE: &str = "examples/vae/vae.hgl";
const SMALL: [&str; 4] = ["--set", "hidden=16", "--set", "latent=4"];

/// Fresh weights of the small VAE saved in `dir`.
fn weights(dir: &std::path::Path) -> String {
    let w = dir.join("w.safetensors").to_string_lossy().into_owned();
    let mut args = vec!["run", VAE, "sample", "-n", "1", "--init", &w];
    args.extend(SMALL);
    ok(&args);
    w
}

fn eval_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&ok(args).stdout).expect("eval prints JSON")
}

/// Item 2: evaluation counts every example exactly once, whatever the batch size.
#[test]
fn eval_counts_every_example_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = weights(dir.path());
    let eval = |limit: &str, batch: &str| {
        let mut args = vec!["run", VAE, "eval", "--weights", &w, "--limit", limit, "--batch", batch, "--seed", "3"];
        args.extend(SMALL);
        eval_json(&args)
    };
    assert_eq!(eval("100", "64")["examples"], 100);
    let (a, b, c) = (eval("100", "64"), eval("100", "100"), eval("100", "7"));
    for other in [&b, &c] {
        let (x, y) = (a["loss"].as_f64().unwrap(), other["loss"].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-5 * x.abs(), "loss {x} vs {y}: the batching changed the result");
    }
}

/// Item 7: `--weights` holding tensors the model does not have is refused unless asked.
#[test]
fn weights_with_extra_tensors_need_strict_false() {
    let dir = tempfile::tempdir().unwrap();
    let w = weights(dir.path());
    let (mut tensors, meta) = hg_runtime::checkpoint::load_safetensors(&w).unwrap();
    tensors.insert("decoder.extra.w".into(), hg_runtime::Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap());
    let extra = dir.path().join("extra.safetensors");
    hg_runtime::checkpoint::save_safetensors(&extra, &tensors, &meta).unwrap();
    let extra = extra.to_string_lossy().into_owned();
    let mut args = vec!["run", VAE, "sample", "-n", "2", "--weights", &extra];
    args.extend(SMALL);
    let e = fails(&args);
    assert!(e.contains("`decoder.extra.w`") && e.contains("--strict false"), "{e}");
    args.extend(["--strict", "false"]);
    let out = ok(&args);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("ignored 1 tensor(s)") && note.contains("`decoder.extra.w`"), "{note}");
}

/// Item 8: `--batch 0` is refused by every entry, not taken as 1.
#[test]
fn batch_zero_is_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let w = weights(dir.path());
    for entry in ["eval", "reconstruct", "encode", "sample"] {
        let mut args = vec!["run", VAE, entry, "--weights", &w, "--batch", "0"];
        args.extend(SMALL);
        let e = fails(&args);
        assert!(e.contains("--batch must be at least 1"), "{entry}: {e}");
    }
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let mut args = vec!["run", VAE, "train", "--batch", "0", "--steps", "1", "--limit", "8", "--out", &out];
    args.extend(SMALL);
    let e = fails(&args);
    assert!(e.contains("batch size must be at least 1"), "{e}");
}

/// Item 19 (and 16): an option the entry would ignore is an error saying where it applies.
#[test]
fn options_that_do_not_apply_are_refused() {
    let e = fails(&["run", VAE, "info", "--init", "never-written.safetensors"]);
    assert!(e.contains("`--init` does not apply to `info`; it applies to every entry but `info`"), "{e}");
    assert!(!std::path::Path::new("never-written.safetensors").exists());
    let e = fails(&["run", VAE, "sample", "--init", "--steps", "3"]);
    assert!(e.contains("`--steps` does not apply to `sample`; it applies to `train`"), "{e}");
    let e = fails(&["run", VAE, "encode", "--init", "--json"]);
    assert!(e.contains("`--json` does not apply to `encode`; it applies to `info`"), "{e}");
}

/// Item 9: `--precision f64` training is refused up front, before any work.
#[test]
fn f64_training_is_refused_up_front() {
    let e = fails(&["run", VAE, "train", "--precision", "f64", "--steps", "1"]);
    assert!(e.contains("--precision f64") && e.contains("train without it"), "{e}");
}

fn metric_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("metrics line is JSON"))
        .collect()
}

/// Item 4: Ctrl-C finishes the step, writes a checkpoint, prints the command that resumes and
/// exits 130; resuming gives the uninterrupted run's losses exactly.
#[test]
fn ctrl_c_checkpoints_and_says_how_to_resume() {
    use std::process::{Command, Stdio};
    let (full, cut) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |out: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = ["run", VAE, "train", "--data", "fashion-mnist", "--limit", "512", "--batch", "8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(
            [
                "--steps",
                "400",
                "--seed",
                "5",
                "--progress",
                "plain",
                "--log-every",
                "1",
                "--eval-data",
                "fashion-mnist:test",
            ]
            .map(String::from),
        );
        v.extend(["--out".to_string(), out.to_string_lossy().into_owned()]);
        v.extend(SMALL.map(String::from));
        v
    };
    let full_args = args(full.path());
    ok(&full_args.iter().map(String::as_str).collect::<Vec<_>>());
    let reference = metric_lines(full.path());

    let child = Command::new(hg_tests::cli::hgc())
        .args(args(cut.path()))
        .current_dir(hg_tests::cli::root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while metric_lines(cut.path()).len() < 20 {
        assert!(std::time::Instant::now() < deadline, "training made no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let logged = metric_lines(cut.path()).len();
    assert!(logged < 400, "the run finished before the interrupt");
    assert!(stderr.contains(&format!("interrupted after step {logged} of 400")), "{stderr}");
    let ckpt = cut.path().join("checkpoint.safetensors");
    let (_, meta) = hg_runtime::checkpoint::load_safetensors(&ckpt).unwrap();
    assert_eq!(meta["step"], logged.to_string(), "the checkpoint holds every logged step");
    let resume = stderr.lines().find_map(|l| l.strip_prefix("resume with: ")).expect("the resume command is printed");
    assert!(resume.contains("--resume") && !resume.contains("--init"), "{resume}");

    let mut again = args(cut.path());
    again.extend(["--resume".to_string(), ckpt.to_string_lossy().into_owned()]);
    ok(&again.iter().map(String::as_str).collect::<Vec<_>>());
    let resumed = metric_lines(cut.path());
    assert_eq!(resumed.len(), 400);
    for (a, b) in reference.iter().zip(&resumed) {
        assert_eq!(a["loss"], b["loss"], "loss differs at step {}", a["step"]);
    }
}

/// Item 3: nothing a user had is replaced without being asked.
#[test]
fn runs_and_init_files_are_not_replaced_silently() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run").to_string_lossy().into_owned();
    let mut train = vec![
        "run",
        VAE,
        "train",
        "--data",
        "fashion-mnist",
        "--limit",
        "16",
        "--steps",
        "2",
        "--batch",
        "8",
        "--out",
        &out,
    ];
    train.extend(SMALL);
    train.extend(["--progress", "quiet"]);
    ok(&train);
    let before = std::fs::read(dir.path().join("run/final.safetensors")).unwrap();
    let e = fails(&train);
    assert!(e.contains("already holds a run") && e.contains("--resume") && e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(dir.path().join("run/final.safetensors")).unwrap(), before);
    train.push("--overwrite");
    ok(&train);

    let w = weights(dir.path());
    let mut again = vec!["run", VAE, "sample", "-n", "1", "--init", &w];
    again.extend(SMALL);
    let e = fails(&again);
    assert!(e.contains("exists") && e.contains("--overwrite"), "{e}");
}

/// Item 5: a checkpoint records the spec, hyperparameters, optimizer, data and seed (so does
/// `run.json`); `--resume` alone restores them, and a changed spec is refused with a diff.
#[test]
fn checkpoints_record_the_run_and_resume_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("vae.hgl");
    std::fs::copy(hg_tests::cli::root().join(VAE), &spec).unwrap();
    let (spec_s, out) = (spec.to_string_lossy().into_owned(), dir.path().join("run").to_string_lossy().into_owned());
    let mut first = vec!["run", &spec_s, "train", "--data", "fashion-mnist", "--limit", "64", "--batch", "8"];
    first.extend(["--steps", "4", "--seed", "9", "--progress", "quiet", "--out", &out]);
    first.extend(SMALL);
    ok(&first);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/run.json")).unwrap()).unwrap();
    assert_eq!(record["hyperparameters"], serde_json::json!(["hidden=16", "latent=4"]));
    assert_eq!(
        (record["data"].as_str(), record["limit"].as_u64(), record["seed"].as_u64()),
        (Some("fashion-mnist"), Some(64), Some(9))
    );
    assert!(record["optimizer"].as_str().unwrap().starts_with("adam(lr=0.001"), "{record}");
    assert_eq!(record["spec"].as_str().unwrap(), std::fs::read_to_string(&spec).unwrap());

    // `--resume` alone: the checkpoint's --set, data and seed come back.
    let ckpt = dir.path().join("run/checkpoint.safetensors").to_string_lossy().into_owned();
    let resume = ["run", &spec_s, "train", "--resume", &ckpt, "--steps", "6", "--progress", "quiet", "--out", &out];
    let note = String::from_utf8_lossy(&ok(&resume).stderr).into_owned();
    assert!(note.contains("resuming with the checkpoint's --set hidden=16 --set latent=4"), "{note}");

    // Other hyperparameters are refused.
    let mut other = resume.to_vec();
    other.extend(["--set", "latent=5"]);
    let e = fails(&other);
    assert!(e.contains("was trained with --set hidden=16 --set latent=4"), "{e}");

    // A changed spec is refused with a short diff, unless asked.
    let text = std::fs::read_to_string(&spec).unwrap().replace("metric kl = mean(g.kl)", "metric kl = sum(g.kl)");
    std::fs::write(&spec, text).unwrap();
    let longer = ["run", &spec_s, "train", "--resume", &ckpt, "--steps", "8", "--progress", "quiet", "--out", &out];
    let e = fails(&longer);
    assert!(e.contains("different version") && e.contains("- ") && e.contains("+     metric kl = sum(g.kl)"), "{e}");
    let mut anyway = longer.to_vec();
    anyway.push("--allow-changed-spec");
    ok(&anyway);
}

/// Item 6: a batch too large for the machine is an error with the figure and the `--batch`
/// that fits, found before running; an allocation that fails anyway is an error, never an
/// abort (exit 134).
#[test]
fn a_batch_too_large_for_the_machine_is_an_error() {
    let mut args = vec!["run", VAE, "sample", "-n", "4000000000", "--batch", "4000000000", "--init"];
    args.extend(SMALL);
    let e = fails(&args);
    if cfg!(target_os = "linux") {
        assert!(e.contains("`sample` at batch 4000000000 needs about"), "{e}");
        assert!(e.contains("is available; lower it with --batch "), "{e}");
        // The suggested batch passes the check (and is not run here: it fills the machine).
        let n: u64 = e.trim_end().rsplit(' ').next().unwrap().parse().expect("a batch size ends the message");
        assert!((1..4_000_000_000).contains(&n), "{e}");
    }
    // Under an address-space limit the estimate does not see, the allocation itself fails.
    if cfg!(target_os = "linux") {
        let hgc = hg_tests::cli::hgc().to_string_lossy().into_owned();
        let line = format!("ulimit -v 1000000 && exec {hgc} run {VAE} sample -n 200000 --init {}", SMALL.join(" "));
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .current_dir(hg_tests::cli::root())
            .output()
            .expect("sh runs");
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{e}");
        assert!(e.contains("out of memory: cannot allocate") || e.contains("--batch"), "{e}");
    }
}

const CONV_VAE: &str = "examples/conv_vae/conv_vae.hgl";
const SMALL_CONV: [&str; 4] = ["--set", "ch=4", "--set", "latent=2"];

/// `FILE.npy` in `dir`, holding `t`.
fn npy_file(dir: &std::path::Path, file: &str, t: &hg_runtime::Tensor) -> String {
    let path = dir.join(file);
    hg_runtime::npy::write_npy(&path, t).unwrap();
    path.to_string_lossy().into_owned()
}

fn zeros(shape: &[usize]) -> hg_runtime::Tensor {
    hg_runtime::Tensor::from_f32(shape.to_vec(), vec![0.25; shape.iter().product()]).unwrap()
}

/// `hgc run SPEC reconstruct --init --input FILE` with small hyperparameters.
fn reconstruct<'a>(spec: &'a str, input: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let small = if spec == VAE { SMALL } else { SMALL_CONV };
    let mut args = vec!["run", spec, "reconstruct", "--init", "--input", input];
    args.extend(small);
    args.extend(extra);
    args
}

/// Item 1: an input array must have the declared shape but for the batch size; a flatten or a
/// channels-last layout is an error that says how to fix it, never a silent reinterpretation.
/// Built-in data sets with a documented layout are still adapted, with one note saying how.
#[test]
fn input_arrays_must_match_the_declared_shape() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The first example: a flattened array for an image input.
    let flat = npy_file(d, "flat.npy", &zeros(&[16, 784]));
    let e = fails(&reconstruct(CONV_VAE, &flat, &[]));
    assert!(
        e.contains(&format!(
            "{flat} is f32[16, 784] but input x is f32[B, 1, 28, 28]: the same 784 values per example, flattened; reshape it to [16, 1, 28, 28]"
        )),
        "{e}"
    );
    // And the other way round.
    let images = npy_file(d, "images.npy", &zeros(&[16, 1, 28, 28]));
    let e = fails(&reconstruct(VAE, &images, &[]));
    assert!(
        e.contains("is f32[16, 1, 28, 28] but input x is f32[B, 784]: the same 784 values per example, shaped [1, 28, 28]; reshape it to [16, 784]"),
        "{e}"
    );
    // The second example's rule: channels-last data for a channels-first input.
    let nhwc = npy_file(d, "nhwc.npy", &zeros(&[4, 28, 28, 1]));
    let e = fails(&reconstruct(CONV_VAE, &nhwc, &[]));
    assert!(
        e.contains("is f32[4, 28, 28, 1] but input x is f32[B, 1, 28, 28]: it looks channels-last (NHWC) and the model wants channels-first (NCHW); transpose it with axes (0, 3, 1, 2)"),
        "{e}"
    );
    // Another number of values per example shows both.
    let wrong = npy_file(d, "wrong.npy", &zeros(&[2, 100]));
    let e = fails(&reconstruct(VAE, &wrong, &[]));
    assert!(
        e.contains("is f32[2, 100] (100 values per example) but input x is f32[B, 784] (784 values per example)"),
        "{e}"
    );
    // One example without its batch axis.
    let one = npy_file(d, "one.npy", &zeros(&[784]));
    let e = fails(&reconstruct(VAE, &one, &[]));
    assert!(e.contains("without the leading batch axis; reshape it to [1, 784]"), "{e}");

    // Only the batch size may differ, and then nothing is said.
    for (spec, shape) in [(VAE, vec![3, 784]), (CONV_VAE, vec![5, 1, 28, 28])] {
        let input = npy_file(d, "ok.npy", &zeros(&shape));
        let out = d.join("out.npy").to_string_lossy().into_owned();
        let done = ok(&reconstruct(spec, &input, &["--output", &out]));
        assert!(!String::from_utf8_lossy(&done.stderr).contains("note:"), "{}", String::from_utf8_lossy(&done.stderr));
        assert_eq!(hg_runtime::npy::read_npy(&out).unwrap().shape(), &shape[..]);
    }

    // User files given as --data follow the same rule.
    let out = d.join("run").to_string_lossy().into_owned();
    let mut train = vec!["run", VAE, "train", "--data", &images, "--steps", "1", "--batch", "8", "--out", &out];
    train.extend(SMALL);
    let e = fails(&train);
    assert!(e.contains("reshape it to [16, 784]"), "{e}");

    // Fashion-MNIST is stored as [N, 28, 28] bytes: it is adapted, and said once.
    let w = weights(d);
    let mut eval = vec!["run", VAE, "eval", "--weights", &w, "--limit", "8"];
    eval.extend(SMALL);
    let note = String::from_utf8_lossy(&ok(&eval).stderr).into_owned();
    let flattened =
        "note: fashion-mnist images [8, 28, 28] u8 are fed to x: f32[B, 784] as values in [0, 1], flattened";
    assert_eq!(note.matches(flattened).count(), 1, "{note}");
    let out = d.join("fm").to_string_lossy().into_owned();
    let mut train = vec!["run", CONV_VAE, "train", "--data", "fashion-mnist", "--limit", "8", "--steps", "1"];
    train.extend(["--batch", "8", "--progress", "quiet", "--out", &out]);
    train.extend(SMALL_CONV);
    let note = String::from_utf8_lossy(&ok(&train).stderr).into_owned();
    assert_eq!(note.matches("note: fashion-mnist images").count(), 1, "{note}");
    assert!(
        note.contains("note: fashion-mnist images [8, 28, 28] u8 are fed to x: f32[B, 1, 28, 28] as values in [0, 1], each reshaped to [1, 28, 28]"),
        "{note}"
    );
}

/// An `.npy` file of unsigned bytes (numpy's `uint8`, `|u1`), which `write_npy` cannot write
/// (tensors hold no u8).
fn u8_npy(dir: &std::path::Path, file: &str, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let comma = if shape.len() == 1 { "," } else { "" };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({}{comma}), }}", dims.join(", "));
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend((0..shape.iter().product::<usize>()).map(|i| (i % 256) as u8));
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

/// Item 19 (second half): messages about a user's file name the dtype the file has (`u8`, not
/// the i32 it is read into); integers are never silently taken as floats, and rounding f64 to
/// the model's f32 is said in a note.
#[test]
fn file_dtypes_are_reported_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bytes = u8_npy(d, "bytes.npy", &[2, 784]);
    let e = fails(&reconstruct(VAE, &bytes, &[]));
    assert!(e.contains(&format!("{bytes} holds u8 values but input x is f32[B, 784]")), "{e}");
    assert!(e.contains("(x / 255).astype(np.float32)") && !e.contains("i32"), "{e}");
    let square = u8_npy(d, "square.npy", &[2, 28, 28]);
    let e = fails(&reconstruct(VAE, &square, &[]));
    assert!(e.contains(&format!("{square} is u8[2, 28, 28] but input x is f32[B, 784]")) && !e.contains("i32"), "{e}");
    let out = d.join("run").to_string_lossy().into_owned();
    let mut train = vec!["run", VAE, "train", "--data", &bytes, "--steps", "1", "--batch", "2", "--out", &out];
    train.extend(SMALL);
    let e = fails(&train);
    assert!(e.contains("holds u8 values") && !e.contains("i32"), "{e}");

    // f64 (numpy's default) is rounded to the model's f32, and the note says so.
    let doubles = hg_runtime::Tensor::from_f64(vec![2, 784], vec![0.5; 2 * 784]).unwrap();
    let doubles = npy_file(d, "doubles.npy", &doubles);
    let note = String::from_utf8_lossy(&ok(&reconstruct(VAE, &doubles, &[])).stderr).into_owned();
    assert!(
        note.contains(&format!("note: {doubles} holds f64 values; they are rounded to f32 for input x: f32[B, 784]")),
        "{note}"
    );
}

//! A new user's first week (issue: no silent wrong answers, no lost runs, errors that name the
//! fix): one end-to-end test per fixed item, over the `hgc` binary.

use hg_tests::cli::{fails, metrics, ok};

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
    let reference = metrics(full.path());

    let child = Command::new(hg_tests::cli::hgc())
        .args(args(cut.path()))
        .current_dir(hg_tests::cli::root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while metrics(cut.path()).len() < 20 {
        assert!(std::time::Instant::now() < deadline, "training made no progress");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let logged = metrics(cut.path()).len();
    assert!(logged < 400, "the run finished before the interrupt");
    let last = logged - 1;
    assert!(stderr.contains(&format!("interrupted after step {last} ({logged}/400 done")), "{stderr}");
    let ckpt = cut.path().join("checkpoint.safetensors");
    let (_, meta) = hg_runtime::checkpoint::load_safetensors(&ckpt).unwrap();
    assert_eq!(meta["step"], logged.to_string(), "the checkpoint holds every logged step");
    let resume = stderr.lines().find_map(|l| l.strip_prefix("resume with: ")).expect("the resume command is printed");
    assert!(resume.contains("--resume") && !resume.contains("--init"), "{resume}");

    let mut again = args(cut.path());
    again.extend(["--resume".to_string(), ckpt.to_string_lossy().into_owned()]);
    ok(&again.iter().map(String::as_str).collect::<Vec<_>>());
    let resumed = metrics(cut.path());
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

/// A small training run of the VAE into `out`, with `extra` options; returns its stderr.
fn small_run(out: &std::path::Path, extra: &[&str]) -> String {
    let out = out.to_string_lossy().into_owned();
    let mut args = vec!["run", VAE, "train", "--data", "fashion-mnist", "--limit", "64", "--batch", "8"];
    args.extend(["--steps", "4", "--out", &out]);
    args.extend(SMALL);
    args.extend(extra);
    String::from_utf8_lossy(&ok(&args).stderr).into_owned()
}

/// The header line of `key` (`batch      8 (--batch)`), without the key.
fn header<'a>(stderr: &'a str, key: &str) -> &'a str {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with("  ")))
        .unwrap_or_else(|| panic!("no `{key}` line in the header:\n{stderr}"))
        .trim_start()
}

/// Item 15: the settings a spec leaves out are documented, and the header prints them with
/// where they come from.
#[test]
fn train_defaults_are_printed_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    // The VAE without its train block: every setting is a default.
    let text = std::fs::read_to_string(hg_tests::cli::root().join(VAE)).unwrap();
    let start = text.find("    train {").unwrap();
    let end = start + text[start..].find("    }\n").unwrap() + 6;
    let spec = dir.path().join("bare.hgl");
    std::fs::write(&spec, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let out = dir.path().join("bare").to_string_lossy().into_owned();
    let mut args = vec!["run", &spec, "train", "--data", "fashion-mnist", "--limit", "64", "--steps", "2"];
    args.extend(["--progress", "plain", "--out", &out]);
    args.extend(SMALL);
    let stderr = String::from_utf8_lossy(&ok(&args).stderr).into_owned();
    let why = "(default: the spec has no train block)";
    assert_eq!(
        header(&stderr, "optimizer"),
        format!("adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0) {why}")
    );
    assert_eq!(header(&stderr, "batch"), format!("64 {why}"));
    assert_eq!(header(&stderr, "seed"), format!("0 {why}"));
    assert_eq!(header(&stderr, "lr"), format!("0.001 (the optimizer's), schedule constant {why}"));
    assert!(header(&stderr, "steps").starts_with("0-1 (2 steps, --steps; 1 batch an epoch)"), "{stderr}");
    // Without a length the run is refused, not run with a made-up one.
    let elsewhere = dir.path().join("unbounded").to_string_lossy().into_owned();
    let mut unbounded = vec!["run", &spec, "train", "--data", "fashion-mnist", "--limit", "64", "--out", &elsewhere];
    unbounded.extend(SMALL);
    let e = fails(&unbounded);
    assert!(e.contains("--steps N or --epochs N"), "{e}");

    // The VAE's own block sets the optimizer, batch and epochs; options win over it.
    let stderr = small_run(&dir.path().join("vae"), &["--progress", "plain", "--seed", "3"]);
    assert!(header(&stderr, "optimizer").ends_with(") (train block)"), "{stderr}");
    assert_eq!(header(&stderr, "batch"), "8 (--batch)");
    assert_eq!(header(&stderr, "seed"), "3 (--seed)");
    assert!(
        header(&stderr, "lr").ends_with("schedule constant (default: the train block sets no schedule)"),
        "{stderr}"
    );

    // The documentation lists the same defaults.
    let docs = std::fs::read_to_string(hg_tests::cli::root().join("docs/language.md")).unwrap();
    for row in [
        "| `optimizer` | `sgd(...)`, `adam(...)` or `adamw(...)` | `adam(lr = 1e-3)`: betas (0.9, 0.999), eps 1e-8, weight_decay 0 |",
        "| `batch` | examples per step | 64 |",
        "| `schedule` | `constant`, `cosine(warmup)` or `linear(warmup)` | `constant` |",
        "| `seed` | seed of all random numbers | 0 |",
    ] {
        assert!(docs.contains(row), "docs/language.md lacks {row}");
    }
}

/// Item 16: `hgc run --help` describes every option, says where it applies and shows the
/// default of `--out`.
#[test]
fn help_describes_every_option_and_where_it_applies() {
    let help = String::from_utf8_lossy(&ok(&["run", "--help"]).stdout).into_owned();
    // Options start their line with `-`; a description may continue on indented lines.
    let mut options: Vec<String> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with('-') && line.starts_with("  ") {
            options.push(t.to_string());
        } else if let Some(last) = options.last_mut().filter(|_| line.starts_with("      ") && !t.is_empty()) {
            last.push(' ');
            last.push_str(t);
        }
    }
    let named: Vec<&String> = options.iter().filter(|o| !o.starts_with("-h,")).collect();
    assert!(named.len() >= 28, "{help}");
    let find = |flag: &str| {
        named
            .iter()
            .find(|o| o.split("  ").next().unwrap().split([' ', ',']).any(|w| w == flag))
            .unwrap_or_else(|| panic!("no {flag} in\n{help}"))
            .to_string()
    };
    for o in &named {
        assert!(o.contains("[applies to: "), "{o}");
        let words = o.split("  ").filter(|w| !w.trim().is_empty()).count();
        assert!(words >= 2, "no description: {o}");
    }
    for flag in ["--steps", "--epochs", "--checkpoint-every", "--log-every", "--progress", "--out", "--eval-every"] {
        assert!(find(flag).contains("[applies to: train]"), "{}", find(flag));
    }
    for flag in ["--batch", "--seed"] {
        assert!(find(flag).contains("[applies to: every entry but info]"), "{}", find(flag));
    }
    assert!(find("--input").contains("[applies to: encode, decode, reconstruct, sample]"));
    assert!(find("--num").contains("[applies to: sample]") && find("--num").contains("[default: 16]"));
    assert!(
        find("--out").contains("[default: runs/<model>, or runs/<model>-N when that holds a run]"),
        "{}",
        find("--out")
    );
    assert!(find("--log-every").contains("[default: 50]"));
    // The entry argument names the entries.
    let entry = help.lines().find(|l| l.trim_start().starts_with("<ENTRY> ")).expect("ENTRY is described");
    for e in ["info", "encode", "decode", "reconstruct", "sample", "train", "eval"] {
        assert!(entry.contains(e), "ENTRY's help lacks {e}: {entry}");
    }
    // What the help says is what the check enforces.
    let e = fails(&["run", VAE, "sample", "--init", "--log-every", "5"]);
    assert!(e.contains("`--log-every` does not apply to `sample`; it applies to `train`"), "{e}");
    let e = fails(&["run", VAE, "encode", "--init", "-n", "5"]);
    assert!(e.contains("`-n/--num` does not apply to `encode`; it applies to `sample`"), "{e}");
    let e = fails(&["run", VAE, "eval", "--init", "--eval-every", "5"]);
    assert!(e.contains("`--eval-every` does not apply to `eval`; it applies to `train`"), "{e}");
}

/// Item 17: a header before training, steps numbered from 0 on the console as in
/// metrics.jsonl, and one closing line.
#[test]
fn the_run_header_and_step_numbers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let stderr = small_run(&out, &["--progress", "plain", "--log-every", "1"]);
    assert!(
        header(&stderr, "model").starts_with("Vae (examples/vae/vae.hgl --set hidden=16 --set latent=4): "),
        "{stderr}"
    );
    assert!(header(&stderr, "model").contains(" parameters in "), "{stderr}");
    assert!(header(&stderr, "backend").starts_with("cranelift, compiled in "), "{stderr}");
    assert!(header(&stderr, "backend").ends_with(" ms"), "{stderr}");
    assert_eq!(header(&stderr, "steps"), "0-3 (4 steps, --steps; 8 batches an epoch)");
    assert_eq!(header(&stderr, "data"), "fashion-mnist: 64 examples (--limit), shuffled every epoch");
    assert_eq!(header(&stderr, "eval"), "fashion-mnist:test: 64 examples, at the end (eval.json)");
    assert_eq!(header(&stderr, "out"), out.display().to_string());
    let lines: Vec<&str> = stderr.lines().collect();
    let first_step = lines.iter().position(|l| l.starts_with("step ")).unwrap();
    assert!(lines[..first_step].iter().any(|l| l.starts_with("optimizer ")), "the header comes first:\n{stderr}");

    let logged = metrics(&out);
    let console: Vec<&str> = lines.iter().filter(|l| l.starts_with("step ")).copied().collect();
    assert_eq!(console.len(), logged.len(), "{stderr}");
    for (line, record) in console.iter().zip(&logged) {
        let step = record["step"].as_u64().unwrap();
        assert!(line.starts_with(&format!("step {step} ({}/4 done)  epoch 0  loss ", step + 1)), "{line}");
    }

    let closing: Vec<&&str> = lines.iter().filter(|l| l.starts_with("trained ")).collect();
    assert_eq!(closing.len(), 1, "one closing line:\n{stderr}");
    let closing = *closing[0];
    assert_eq!(&closing, lines.last().unwrap());
    assert!(
        closing.starts_with("trained 4 steps (0-3) in ") && closing.contains(" samples/s; final loss "),
        "{closing}"
    );
    let final_loss: f64 = closing.split("final loss ").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    let last = logged.last().unwrap()["loss"].as_f64().unwrap();
    assert!((final_loss - last).abs() <= 1e-3 * last.abs(), "{closing} vs {last}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let (eval_loss, rest) = closing.split("; eval loss ").nth(1).unwrap().split_once(' ').unwrap();
    let eval_loss: f64 = eval_loss.parse().unwrap();
    assert!((eval_loss - eval["loss"].as_f64().unwrap()).abs() <= 1e-3 * eval_loss.abs(), "{closing} vs {eval}");
    assert_eq!(rest, "on 64 examples");

    // Quiet: nothing but notes.
    let stderr = small_run(&dir.path().join("quiet"), &["--progress", "quiet"]);
    assert!(stderr.lines().all(|l| l.starts_with("note: ")), "{stderr}");
}

/// Item 18: `--eval-every` logs the test loss and metrics and draws them; `loss.png` has
/// labelled axes and a panel per metric; `reconstruct --png` shows each input beside its output.
#[test]
fn eval_every_logs_and_draws_the_test_loss() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let stderr = small_run(&out, &["--progress", "plain", "--eval-every", "2"]);
    let evals: Vec<serde_json::Value> = std::fs::read_to_string(out.join("eval.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evals.iter().map(|e| e["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 4]);
    for e in &evals {
        assert!(e["eval_loss"].as_f64().unwrap().is_finite() && e["eval_metrics"]["kl"].as_f64().is_some(), "{e}");
        assert_eq!(e["examples"], 64);
        assert!(stderr.contains(&format!("eval at step {}: loss ", e["step"])), "{stderr}");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["loss"], evals[1]["eval_loss"], "the final evaluation is the last one logged");
    // metrics.jsonl keeps one step record a line.
    for line in std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines() {
        assert!(hg_runtime::train::StepRecord::from_json(line).is_some(), "{line}");
    }

    // loss.png: a loss panel and a kl panel, each with the train (blue) and eval (orange) curves.
    let img = image::open(out.join("loss.png")).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (800, 960));
    let count = |colour: [u8; 3], rows: std::ops::Range<u32>| {
        rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == colour)
            .count()
    };
    for half in [0..480, 480..960] {
        assert!(count([31, 119, 180], half.clone()) > 100, "train curve in {half:?}");
        assert!(count([255, 127, 14], half.clone()) > 50, "eval curve in {half:?}");
        // The axis labels: text left of the plot, turned upwards.
        let ink = (half.start + 100..half.end - 100)
            .flat_map(|y| (16..30).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [40, 40, 40])
            .count();
        assert!(ink > 20, "no y label in {half:?}");
    }

    // Evaluating needs evaluation data.
    let mut args = vec!["run", VAE, "train", "--data", "shapes:16", "--steps", "1", "--eval-every", "1"];
    args.extend(SMALL);
    let e = fails(&args);
    assert!(e.contains("--eval-every needs data to evaluate on: give --eval-data"), "{e}");

    // reconstruct --png: five inputs, each beside its reconstruction.
    let x: Vec<f32> = (0..5 * 784).map(|i| ((i % 784) / 28) as f32 / 27.0 * ((i / 784) as f32 + 1.0) / 5.0).collect();
    let npy = dir.path().join("x.npy");
    hg_runtime::npy::write_npy(&npy, &hg_runtime::Tensor::from_f32(vec![5, 784], x.clone()).unwrap()).unwrap();
    let png = dir.path().join("recon.png");
    let weights = out.join("final.safetensors");
    let (w, i, p) = (weights.to_string_lossy(), npy.to_string_lossy(), png.to_string_lossy());
    let mut args = vec!["run", VAE, "reconstruct", "--weights", &w, "--input", &i, "--png", &p];
    args.extend(SMALL);
    ok(&args);
    let img = image::open(&png).unwrap().to_rgb8();
    // Tiles of 28 pixels magnified 3 times: (input | output) pairs with a 2-pixel gap inside a
    // pair and 10 pixels between pairs, all five in one row, 2 pixels around the picture.
    let (tile, pair, pair_gap) = (28 * 3, 2 * 28 * 3 + 2, 10);
    assert_eq!((img.width(), img.height()), (5 * (pair + pair_gap) - pair_gap + 4, tile + 4));
    let grey = [128, 128, 128];
    for n in 0..5u32 {
        let x0 = 2 + n * (pair + pair_gap);
        for (row, col) in [(0u32, 0u32), (13, 5), (27, 27)] {
            let v = x[n as usize * 784 + (row * 28 + col) as usize];
            let px = img.get_pixel(x0 + col * 3 + 1, 2 + row * 3 + 1).0;
            assert_eq!(px, [(v * 255.0).round() as u8; 3], "input {n} at ({row}, {col})");
        }
        // The output is beside the input: a 2-pixel gap, then a tile that is not gap-coloured.
        assert_eq!(img.get_pixel(x0 + tile, 2 + tile / 2).0, grey, "gap inside pair {n}");
        let output: Vec<[u8; 3]> = (0..tile).map(|dx| img.get_pixel(x0 + tile + 2 + dx, 2 + tile / 2).0).collect();
        assert!(output.iter().any(|p| *p != grey), "output {n} beside its input");
        if n < 4 {
            assert!((x0 + pair..x0 + pair + pair_gap).all(|gx| img.get_pixel(gx, 2).0 == grey), "after pair {n}");
        }
    }
}

/// Item 20: the layers of a stack are numbered like PyTorch's `nn.Sequential`
/// (`decoder.logits.0.w`, `.1.w`, `.2.w`), not nested (`decoder.logits.next.next.layer.w`): `Mlp`
/// is a `for` loop, which gives each iteration its own parameters named by its index. Two
/// places that would land on one name are an error, never silently shared weights.
#[test]
fn stacked_layers_are_numbered_and_never_silently_shared() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    small_run(&out, &["--progress", "quiet"]);
    let (tensors, _) = hg_runtime::checkpoint::load_safetensors(out.join("final.safetensors")).unwrap();
    let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
    for i in 0..3 {
        for p in ["w", "b"] {
            assert!(names.contains(&format!("decoder.logits.{i}.{p}").as_str()), "{names:?}");
        }
    }
    assert!(names.contains(&"encoder.h.0.w") && names.contains(&"encoder.h.1.b"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("next") || n.contains("layer")), "{names:?}");
    // hidden=16: the last layer maps 16 to 784.
    assert_eq!(tensors["decoder.logits.2.w"].shape(), [16, 784]);
    // `info` lists the same names.
    let mut args = vec!["run", VAE, "info", "--json"];
    args.extend(SMALL);
    let info: serde_json::Value = serde_json::from_slice(&ok(&args).stdout).unwrap();
    let listed: Vec<&str> =
        info["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), names.len());
    assert!(listed.iter().all(|n| names.contains(n)), "{listed:?} vs {names:?}");

    // Two loops that update `h` in one section would both number their layers 0 and 1.
    let spec = dir.path().join("two_loops.hgl");
    std::fs::write(
        &spec,
        "use std.nn.Linear\nmodel TwoLoops() {\n    input x: f32[B, 784]\n    encoder {\n        h = x\n\
         for size in [64, 32] {\n            h = relu(Linear(h, size))\n        }\n\
         for size in [32, 16] {\n            h = relu(Linear(h, size))\n        }\n    }\n\
         bottleneck {\n        latent z = h\n    }\n    decoder {\n        output x_hat = Linear(z, 784)\n    }\n\
         loss = mean((x_hat - x) ** 2)\n}\n",
    )
    .unwrap();
    let e = fails(&["check", &spec.to_string_lossy()]);
    assert!(e.contains("E0323") && e.contains("two different places declare the parameter `encoder.0.w`"), "{e}");
    assert!(e.contains("two_loops.hgl:10:"), "{e}");
    assert!(e.contains("declared `encoder.0.w` first") && e.contains("declares `encoder.0.w` again"), "{e}");
}

/// Item 10: `eval` computes the test loss as `model.eval()` would: dropout off (the loss no
/// longer depends on the seed through it), while a stochastic bottleneck still samples, keyed
/// by the seed.
#[test]
fn eval_turns_dropout_off_and_keeps_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("dropout.hgl");
    std::fs::write(
        &spec,
        "use std.nn.{Linear, Dropout}\n\
         model DropAe() {\n    input x: f32[B, 784]\n    encoder {\n        h = Dropout(relu(Linear(x, 32)), 0.5)\n    }\n\
         bottleneck {\n        latent z = Linear(h, 8)\n    }\n    decoder {\n        output x_hat = Linear(z, 784)\n    }\n\
         loss = mean((x_hat - x) ** 2)\n    train {\n        optimizer = adam(lr = 1e-3)\n    }\n}\n",
    )
    .unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let w = dir.path().join("drop.safetensors").to_string_lossy().into_owned();
    ok(&["run", &spec, "encode", "--init", &w, "--input", &npy_file(dir.path(), "x.npy", &zeros(&[2, 784]))]);
    let eval = |file: &str, weights: &str, seed: &str, extra: &[&str]| {
        let mut args = vec!["run", file, "eval", "--weights", weights, "--limit", "16", "--seed", seed];
        args.extend(extra);
        eval_json(&args)["loss"].as_f64().unwrap()
    };
    assert_eq!(eval(&spec, &w, "1", &[]), eval(&spec, &w, "2", &[]), "dropout must be off in eval");
    let vae_w = weights(dir.path());
    assert_ne!(eval(VAE, &vae_w, "1", &SMALL), eval(VAE, &vae_w, "2", &SMALL), "the VAE's eval samples z");
}

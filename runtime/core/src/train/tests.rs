//! Tests of the training loop against a tiny executor written here: a per-feature linear
//! denoising model `x_hat = w * (x + noise) + b` with momentum SGD and a linearly decaying
//! learning rate, honouring the whole train-step contract (noise drawn from `(seed, step)`).

use super::*;
use crate::data::Dataset;
use crate::exec::{ExecError, Executable, NamedTensors};
use crate::philox::DrawSite;
use crate::tensor::Tensor;
use hg_abi::{DType, DimSpec, EntrySignature, TensorSpec, names};
use std::path::Path;

const D: usize = 4;
const NOISE: f64 = 0.05;

#[derive(Default)]
struct Mock {
    /// Entries beyond `train` and `eval`.
    reconstruct: bool,
    sample: bool,
    /// Return a NaN loss at this step.
    nan_at: Option<u64>,
    /// Fail (like a crash) at this step.
    fail_at: Option<u64>,
    /// Every `step` input `train` received.
    steps_seen: Vec<i64>,
}

fn spec(name: &str, dtype: DType, shape: Vec<DimSpec>) -> TensorSpec {
    TensorSpec { name: name.into(), dtype, shape }
}

fn batched(name: &str) -> TensorSpec {
    spec(name, DType::F32, vec![DimSpec::Batch(1), DimSpec::Fixed(D)])
}

fn params_specs() -> Vec<TensorSpec> {
    vec![spec("param:w", DType::F32, vec![DimSpec::Fixed(D)]), spec("param:b", DType::F32, vec![])]
}

fn scalar(name: &str, dtype: DType) -> TensorSpec {
    spec(name, dtype, vec![])
}

fn get<'a>(inputs: &'a NamedTensors, name: &str) -> Result<&'a Tensor, ExecError> {
    inputs.get(name).ok_or_else(|| ExecError::new(format!("missing input `{name}`")))
}

fn value(inputs: &NamedTensors, name: &str) -> Result<f64, ExecError> {
    get(inputs, name)?.scalar_value().ok_or_else(|| ExecError::new(format!("`{name}` is not a scalar")))
}

fn f32s(shape: Vec<usize>, v: &[f64]) -> Tensor {
    Tensor::from_f32(shape, v.iter().map(|&x| x as f32).collect()).unwrap()
}

impl Mock {
    fn full() -> Mock {
        Mock { reconstruct: true, sample: true, ..Mock::default() }
    }

    /// Residuals, noisy inputs and the batch size of the model on `inputs`.
    fn forward(inputs: &NamedTensors, noise: Option<DrawSite>) -> Result<(Vec<f64>, Vec<f64>, usize), ExecError> {
        let x = get(inputs, "x")?.to_f64_vec();
        let w = get(inputs, "param:w")?.to_f64_vec();
        let b = value(inputs, "param:b")?;
        let x_in: Vec<f64> = match noise {
            Some(site) => x.iter().enumerate().map(|(i, v)| v + NOISE * site.normal(i as u64)).collect(),
            None => x.clone(),
        };
        let r = x_in.iter().enumerate().map(|(i, xi)| w[i % D] * xi + b - x[i]).collect();
        Ok((r, x_in, x.len() / D))
    }

    fn losses(r: &[f64]) -> (f64, f64) {
        let n = r.len() as f64;
        (r.iter().map(|v| v * v).sum::<f64>() / n, r.iter().map(|v| v.abs()).sum::<f64>() / n)
    }

    fn train(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        let step = value(inputs, names::STEP)?;
        self.steps_seen.push(step as i64);
        if self.fail_at == Some(step as u64) {
            return Err(ExecError::new("simulated crash"));
        }
        let seed = value(inputs, names::SEED)? as u64;
        let site = DrawSite::new(seed, step as u64, 0);
        let (r, x_in, _) = Mock::forward(inputs, Some(site))?;
        let (mut loss, mae) = Mock::losses(&r);
        if self.nan_at == Some(step as u64) {
            loss = f64::NAN;
        }
        let n = r.len() as f64;
        let mut gw = [0.0; D];
        let mut gb = 0.0;
        for (i, ri) in r.iter().enumerate() {
            gw[i % D] += 2.0 * ri * x_in[i] / n;
            gb += 2.0 * ri / n;
        }
        let lr = value(inputs, names::BASE_LR)? * (1.0 - step / value(inputs, names::TOTAL_STEPS)?);
        let w = get(inputs, "param:w")?.to_f64_vec();
        let b = value(inputs, "param:b")?;
        let mw = get(inputs, "state:mom.w")?.to_f64_vec();
        let mb = value(inputs, "state:mom.b")?;
        let mw: Vec<f64> = mw.iter().zip(gw).map(|(m, g)| 0.9 * m + g).collect();
        let mb = 0.9 * mb + gb;
        let w: Vec<f64> = w.iter().zip(&mw).map(|(w, m)| w - lr * m).collect();
        let mut out = NamedTensors::new();
        out.insert(names::LOSS.into(), Tensor::scalar_f32(loss as f32));
        out.insert(names::metric("mae"), Tensor::scalar_f32(mae as f32));
        out.insert(names::LR.into(), Tensor::scalar_f32(lr as f32));
        out.insert("param:w".into(), f32s(vec![D], &w));
        out.insert("param:b".into(), Tensor::scalar_f32((b - lr * mb) as f32));
        out.insert("state:mom.w".into(), f32s(vec![D], &mw));
        out.insert("state:mom.b".into(), Tensor::scalar_f32(mb as f32));
        Ok(out)
    }
}

impl Executable for Mock {
    fn entries(&self) -> Vec<String> {
        let mut e = vec!["train".to_string(), "eval".to_string()];
        if self.reconstruct {
            e.push("reconstruct".into());
        }
        if self.sample {
            e.push("sample".into());
        }
        e
    }

    fn signature(&self, entry: &str) -> Option<EntrySignature> {
        let mut inputs = vec![batched("x")];
        inputs.extend(params_specs());
        let outputs = match entry {
            "train" => {
                inputs.push(spec("state:mom.w", DType::F32, vec![DimSpec::Fixed(D)]));
                inputs.push(scalar("state:mom.b", DType::F32));
                inputs.extend([
                    scalar(names::STEP, DType::I64),
                    scalar(names::SEED, DType::I64),
                    scalar(names::BASE_LR, DType::F32),
                    scalar(names::TOTAL_STEPS, DType::I64),
                ]);
                let mut outputs = vec![
                    scalar(names::LOSS, DType::F32),
                    scalar("metric:mae", DType::F32),
                    scalar(names::LR, DType::F32),
                ];
                outputs.extend(inputs[1..5].iter().cloned());
                outputs
            }
            "eval" => {
                inputs.extend([scalar(names::SEED, DType::I64), scalar(names::STEP, DType::I64)]);
                vec![scalar(names::LOSS, DType::F32), scalar("metric:mae", DType::F32)]
            }
            "reconstruct" if self.reconstruct => vec![batched("x_hat")],
            "sample" if self.sample => {
                inputs = params_specs();
                inputs.extend([scalar(names::SEED, DType::I64), scalar(names::BATCH, DType::I64)]);
                vec![batched("x_hat")]
            }
            _ => return None,
        };
        Some(EntrySignature { name: entry.into(), inputs, outputs })
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        match entry {
            "train" => self.train(inputs),
            "eval" => {
                let site = DrawSite::new(value(inputs, names::SEED)? as u64, value(inputs, names::STEP)? as u64, 0);
                let (r, _, _) = Mock::forward(inputs, Some(site))?;
                let (loss, mae) = Mock::losses(&r);
                Ok([
                    (names::LOSS.to_string(), Tensor::scalar_f32(loss as f32)),
                    ("metric:mae".to_string(), Tensor::scalar_f32(mae as f32)),
                ]
                .into())
            }
            "reconstruct" => {
                let (r, _, rows) = Mock::forward(inputs, None)?;
                let x = get(inputs, "x")?.to_f64_vec();
                let x_hat: Vec<f64> = r.iter().zip(&x).map(|(r, x)| r + x).collect();
                Ok([("x_hat".to_string(), f32s(vec![rows, D], &x_hat))].into())
            }
            "sample" => {
                let rows = value(inputs, names::BATCH)? as usize;
                let site = DrawSite::new(value(inputs, names::SEED)? as u64, 0, 1);
                let w = get(inputs, "param:w")?.to_f64_vec();
                let b = value(inputs, "param:b")?;
                let v: Vec<f64> = (0..rows * D).map(|i| w[i % D] * (0.5 + 0.1 * site.normal(i as u64)) + b).collect();
                Ok([("x_hat".to_string(), f32s(vec![rows, D], &v))].into())
            }
            other => Err(ExecError::new(format!("no entry `{other}`"))),
        }
    }
}

fn data(n: usize) -> Dataset {
    let v: Vec<f32> = (0..n * D).map(|i| ((i * 7 + (i % D) * 3) % 11) as f32 / 10.0).collect();
    Dataset::new(vec![("x".into(), Tensor::from_f32(vec![n, D], v).unwrap())]).unwrap()
}

/// Starting parameters under their bare paths, as a weights file holds them.
fn init() -> TrainStart {
    let params: NamedTensors = [
        ("w".to_string(), Tensor::from_f32(vec![D], vec![0.0; D]).unwrap()),
        ("b".to_string(), Tensor::scalar_f32(0.0)),
    ]
    .into();
    TrainStart::Fresh { params }
}

fn config(dir: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        steps: Some(steps),
        batch: 4,
        base_lr: 0.2,
        seed: 11,
        progress: ProgressMode::Quiet,
        ..TrainConfig::new(dir)
    }
}

fn metrics_lines(dir: &Path) -> Vec<StepRecord> {
    let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    text.lines().map(|l| StepRecord::from_json(l).unwrap_or_else(|| panic!("bad line {l}"))).collect()
}

fn quiet_train(
    exec: &mut Mock,
    data: &Dataset,
    init: TrainStart,
    cfg: &TrainConfig,
) -> Result<TrainSummary, TrainError> {
    train_with_log(exec, data, init, cfg, &mut Vec::new())
}

#[test]
fn loss_decreases_and_artefacts_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 80);
    cfg.eval_data = Some(data(10));
    let mut mock = Mock::full();
    let summary = quiet_train(&mut mock, &data(32), init(), &cfg).unwrap();
    let lines = metrics_lines(dir.path());
    let first = lines[0].loss;
    let last = summary.final_loss.unwrap();
    assert!(last < first / 10.0, "loss went from {first} to {last}");
    assert_eq!((summary.first_step, summary.steps_run, summary.total_steps), (0, 80, 80));
    assert_eq!(mock.steps_seen, (0..80).collect::<Vec<_>>());

    // The evaluation is the mean over the two full batches of 4 of the 10 examples.
    let eval = summary.eval.unwrap();
    assert_eq!((eval.examples, eval.batches), (8, 2));
    let expected = evaluate(&mut Mock::full(), &data(8), &summary.params, 4, 11).unwrap();
    assert_eq!(eval, expected);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(EVAL_FILE)).unwrap()).unwrap();
    assert_eq!(json["loss"].as_f64(), Some(eval.loss));
    assert_eq!(json["metrics"]["mae"].as_f64(), Some(eval.metrics["mae"]));
    assert_eq!(json["step"].as_u64(), Some(80));

    // Final weights use bare paths; the checkpoint keeps entry names and the state.
    let (weights, meta) = crate::checkpoint::load_safetensors(dir.path().join(FINAL_WEIGHTS_FILE)).unwrap();
    assert_eq!(weights.keys().collect::<Vec<_>>(), vec!["b", "w"]);
    assert_eq!(weights["w"], summary.params["param:w"]);
    assert_eq!(meta["format"], WEIGHTS_FORMAT);
    let ckpt = load_checkpoint(&dir.path().join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(ckpt.params, summary.params);
    assert_eq!(ckpt.state.keys().collect::<Vec<_>>(), vec!["state:mom.b", "state:mom.w"]);
    assert_eq!((ckpt.meta.step, ckpt.meta.epoch, ckpt.meta.position, ckpt.meta.total_steps), (80, 10, 0, 80));

    for file in [LOSS_PLOT_FILE, RECONSTRUCTIONS_FILE, SAMPLES_FILE] {
        let path = dir.path().join(file);
        assert!(image::open(&path).is_ok(), "{file} is not a readable picture");
        assert!(summary.files.contains(&path), "{file} missing from {:?}", summary.files);
    }
    assert!(summary.notes.is_empty(), "{:?}", summary.notes);
}

#[test]
fn metrics_log_every_step_with_schedule_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    // 18 examples in batches of 4: 4 batches per epoch, the last 2 examples dropped.
    let mut cfg = config(dir.path(), 0);
    cfg.steps = None;
    cfg.epochs = Some(3);
    let summary = quiet_train(&mut Mock::default(), &data(18), init(), &cfg).unwrap();
    assert_eq!(summary.total_steps, 12);
    let lines = metrics_lines(dir.path());
    assert_eq!(lines.iter().map(|r| r.step).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
    assert_eq!(lines.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    for r in &lines {
        let lr = 0.2f32 as f64 * (1.0 - r.step as f64 / 12.0);
        assert_eq!(r.lr, Some((lr as f32).to_string().parse().unwrap()), "step {}", r.step);
        assert!(r.metrics["mae"] > 0.0 && r.samples_per_s > 0.0);
        assert_eq!(r.metrics.len(), 1);
    }
    assert_eq!(lines[11].loss, summary.final_loss.unwrap());
    let raw = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
    assert!(raw.starts_with(r#"{"step":0,"epoch":0,"loss":"#), "{raw}");
    // Without shuffling the sequence of batches, and so the losses, differ.
    let other = tempfile::tempdir().unwrap();
    let mut in_order = config(other.path(), 12);
    in_order.shuffle = false;
    quiet_train(&mut Mock::default(), &data(18), init(), &in_order).unwrap();
    assert_ne!(metrics_lines(other.path())[1].loss, lines[1].loss);
}

fn without_speed(mut records: Vec<StepRecord>) -> Vec<StepRecord> {
    for r in &mut records {
        r.samples_per_s = 0.0;
    }
    records
}

#[test]
fn resume_continues_bit_for_bit() {
    let data = data(22);
    let straight = tempfile::tempdir().unwrap();
    let mut cfg = config(straight.path(), 20);
    cfg.checkpoint_every = Some(7);
    let full = quiet_train(&mut Mock::default(), &data, init(), &cfg).unwrap();

    // A run that dies at step 16, after the checkpoint taken when 14 steps were done.
    let broken = tempfile::tempdir().unwrap();
    let mut cfg_b = config(broken.path(), 20);
    cfg_b.checkpoint_every = Some(7);
    let mut crashing = Mock { fail_at: Some(16), ..Mock::default() };
    let e = quiet_train(&mut crashing, &data, init(), &cfg_b).unwrap_err();
    assert_eq!(e.to_string(), "train at step 16: simulated crash");
    let ckpt_path = broken.path().join(CHECKPOINT_FILE);
    let meta = load_checkpoint(&ckpt_path).unwrap().meta;
    assert_eq!((meta.step, meta.epoch, meta.position), (14, 2, 4 * 4));
    // A crash can leave half a line at the end of the log.
    let mut log = std::fs::read_to_string(broken.path().join(METRICS_FILE)).unwrap();
    assert_eq!(log.lines().count(), 16);
    log.push_str(r#"{"step":16,"epoch":3,"lo"#);
    std::fs::write(broken.path().join(METRICS_FILE), log).unwrap();

    // Resume with different settings on the command line: the checkpoint's win.
    let mut cfg_r = config(broken.path(), 0);
    cfg_r.steps = None;
    cfg_r.seed = 99;
    cfg_r.base_lr = 0.5;
    cfg_r.checkpoint_every = Some(7);
    let mut resumed_mock = Mock::default();
    let resumed =
        quiet_train(&mut resumed_mock, &data, TrainStart::Resume { checkpoint: ckpt_path.clone() }, &cfg_r).unwrap();
    assert_eq!(resumed_mock.steps_seen, (14..20).collect::<Vec<_>>());
    assert_eq!((resumed.first_step, resumed.steps_run, resumed.total_steps), (14, 6, 20));
    assert_eq!(resumed.params, full.params);
    assert_eq!(resumed.final_loss, full.final_loss);
    assert!(resumed.notes.iter().any(|n| n.contains("seed 11 (not 99)")), "{:?}", resumed.notes);
    assert!(resumed.notes.iter().any(|n| n.contains("learning rate 0.2 (not 0.5)")), "{:?}", resumed.notes);
    assert_eq!(without_speed(metrics_lines(broken.path())), without_speed(metrics_lines(straight.path())));
    let a = load_checkpoint(&straight.path().join(CHECKPOINT_FILE)).unwrap();
    let b = load_checkpoint(&ckpt_path).unwrap();
    assert_eq!((a.params, a.state, a.meta), (b.params, b.state, b.meta));

    // Resuming a finished run takes no steps; asking for more extends it.
    let mut again = Mock::default();
    let done = quiet_train(&mut again, &data, TrainStart::Resume { checkpoint: ckpt_path.clone() }, &cfg_r).unwrap();
    assert_eq!((done.steps_run, again.steps_seen.len()), (0, 0));
    assert_eq!(done.params, full.params);
    cfg_r.steps = Some(25);
    let longer =
        quiet_train(&mut Mock::default(), &data, TrainStart::Resume { checkpoint: ckpt_path.clone() }, &cfg_r).unwrap();
    assert_eq!((longer.first_step, longer.total_steps), (20, 25));
    assert!(longer.notes.iter().any(|n| n.contains("ends at step 25 instead of 20")), "{:?}", longer.notes);
    assert_eq!(metrics_lines(broken.path()).len(), 25);
    cfg_r.steps = Some(10);
    let e = quiet_train(&mut Mock::default(), &data, TrainStart::Resume { checkpoint: ckpt_path.clone() }, &cfg_r)
        .unwrap_err();
    assert!(e.to_string().contains("already at step 25, past the 10 steps"), "{e}");

    // Other data cannot continue the same run.
    let e = quiet_train(
        &mut Mock::default(),
        &super::tests::data(30),
        TrainStart::Resume { checkpoint: ckpt_path },
        &cfg_r,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("22 examples") && e.contains("this data has 30"), "{e}");
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 20);
    cfg.checkpoint_every = Some(4);
    let mut mock = Mock { nan_at: Some(9), ..Mock::default() };
    let e = quiet_train(&mut mock, &data(16), init(), &cfg).unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { step: 9, loss } if loss.is_nan()), "{e:?}");
    assert!(e.to_string().contains("at step 9"), "{e}");
    let ckpt = load_checkpoint(&dir.path().join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(ckpt.meta.step, 8);
    assert!(!dir.path().join(FINAL_WEIGHTS_FILE).exists());
    assert_eq!(metrics_lines(dir.path()).last().unwrap().step, 8);
    // No temporary files are left behind next to the checkpoint.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn mismatched_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 4);
    // Fresh parameters: one missing, one extra.
    let params: NamedTensors = [
        ("param:w".to_string(), Tensor::from_f32(vec![D], vec![0.0; D]).unwrap()),
        ("c".to_string(), Tensor::scalar_f32(1.0)),
    ]
    .into();
    let e = quiet_train(&mut Mock::default(), &data(8), TrainStart::Fresh { params }, &cfg).unwrap_err().to_string();
    assert!(e.contains("parameter `param:b` is missing") && e.contains("`param:c` is not a parameter"), "{e}");

    // A checkpoint whose `param:w` has the wrong shape and which lacks one state tensor.
    quiet_train(&mut Mock::default(), &data(8), init(), &cfg).unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    let mut ckpt = load_checkpoint(&path).unwrap();
    ckpt.params.insert("param:w".into(), Tensor::from_f32(vec![3], vec![0.0; 3]).unwrap());
    ckpt.state.remove("state:mom.b");
    save_checkpoint(&path, &ckpt.params, &ckpt.state, &ckpt.meta).unwrap();
    let e = quiet_train(&mut Mock::default(), &data(8), TrainStart::Resume { checkpoint: path }, &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint.safetensors"), "{e}");
    assert!(e.contains("parameter `param:w` is f32 [3] but the model expects f32 [4]"), "{e}");
    assert!(e.contains("optimizer state `state:mom.b` is missing"), "{e}");

    // Data that does not fit the model's input.
    let wide = Dataset::new(vec![("x".into(), Tensor::from_f32(vec![8, 5], vec![0.0; 40]).unwrap())]).unwrap();
    let e = quiet_train(&mut Mock::default(), &wide, init(), &cfg).unwrap_err().to_string();
    assert!(e.starts_with("data: ") && e.contains("5 values per example"), "{e}");
}

#[test]
fn bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run =
        |cfg: &TrainConfig, n: usize| quiet_train(&mut Mock::default(), &data(n), init(), cfg).unwrap_err().to_string();
    let mut cfg = config(dir.path(), 4);
    cfg.epochs = Some(1);
    assert!(run(&cfg, 8).contains("not both"));
    cfg.steps = None;
    cfg.epochs = None;
    assert!(run(&cfg, 8).contains("number of steps or of epochs"));
    let cfg = config(dir.path(), 4);
    assert!(run(&cfg, 3).contains("3 examples, fewer than one batch of 4"));
    let cfg = TrainConfig { batch: 0, ..config(dir.path(), 4) };
    assert!(run(&cfg, 8).contains("batch size must be at least 1"));
    let e = train_with_log(
        &mut Mock::default(),
        &data(8),
        TrainStart::Resume { checkpoint: dir.path().join("nope.safetensors") },
        &config(dir.path(), 4),
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("cannot read") && e.contains("nope.safetensors"), "{e}");
}

#[test]
fn plain_progress_prints_lines_at_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 12);
    cfg.progress = ProgressMode::Plain;
    cfg.log_every = 5;
    let mut log = Vec::new();
    let summary = train_with_log(&mut Mock::default(), &data(16), init(), &cfg, &mut log).unwrap();
    let text = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, step) in lines.iter().zip([1, 5, 10, 12]) {
        assert!(line.starts_with(&format!("step {step}/12  epoch ")), "{line}");
        assert!(
            line.contains("  loss ")
                && line.contains("  mae ")
                && line.contains("  lr ")
                && line.contains(" samples/s  eta "),
            "{line}"
        );
    }
    assert!(lines[4].starts_with("trained 12 steps in ") && lines[4].contains("final loss"), "{}", lines[4]);
    assert!(summary.notes.is_empty());

    // Quiet mode prints nothing on success.
    let mut log = Vec::new();
    train_with_log(&mut Mock::default(), &data(16), init(), &config(dir.path(), 3), &mut log).unwrap();
    assert!(log.is_empty());
}

#[test]
fn batched_runs_cover_every_example_once() {
    let all = data(10);
    let params: NamedTensors = [
        ("param:w".to_string(), Tensor::from_f32(vec![D], vec![0.5, 1.0, 1.5, 2.0]).unwrap()),
        ("param:b".to_string(), Tensor::scalar_f32(0.25)),
    ]
    .into();
    let inputs: NamedTensors = [("x".to_string(), all.get("x").unwrap().clone())].into();
    let mut mock = Mock::full();
    let out = run_batched(&mut mock, "reconstruct", &inputs, &params, 4).unwrap();
    let whole = mock
        .run("reconstruct", &[&inputs, &params].into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap();
    assert_eq!(out["x_hat"], whole["x_hat"]);
    assert_eq!(out["x_hat"].shape(), &[10, D]);

    // `sample` has no data input: one call with `batch` bound to the requested count, and
    // parameters may be given by bare path.
    let bare = without_param_prefix(&params);
    let seed: NamedTensors = [(names::SEED.to_string(), Tensor::scalar_i64(3))].into();
    let out = run_batched(&mut mock, "sample", &seed, &bare, 6).unwrap();
    assert_eq!(out["x_hat"].shape(), &[6, D]);

    let e = run_batched(&mut mock, "reconstruct", &NamedTensors::new(), &params, 4).unwrap_err().to_string();
    assert!(e.contains("input `x: f32[B, 4]` was not given"), "{e}");
    let e = run_batched(&mut mock, "decode", &inputs, &params, 4).unwrap_err().to_string();
    assert!(e.contains("entry `decode`") && e.contains("no such entry point"), "{e}");

    // Evaluation averages full batches; a data set smaller than a batch is one batch.
    let r = evaluate(&mut mock, &all, &params, 4, 1).unwrap();
    assert_eq!((r.examples, r.batches), (8, 2));
    let small = evaluate(&mut mock, &data(3), &params, 4, 1).unwrap();
    assert_eq!((small.examples, small.batches), (3, 1));
    let e = evaluate(&mut mock, &all, &NamedTensors::new(), 4, 1).unwrap_err().to_string();
    assert!(e.contains("parameter `param:w` is missing"), "{e}");
}

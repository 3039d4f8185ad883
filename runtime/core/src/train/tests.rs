//! Tests of the training loop against a test double of a session: the per-feature linear
//! denoiser `x_hat = w * (x + noise) + b` with momentum SGD and a linearly decaying learning
//! rate. Its signatures are not written here: they are the manifest the compiler produces for
//! `testdata/denoiser.hgl` (kept current by the hg-tests suite), and the double refuses any
//! call that does not give exactly the inputs that manifest declares, so the loop is tested
//! against what real models read (`seed`, `step`, `first_example`, ...).

use super::*;
use crate::data::Dataset;
use hg_abi::{Manifest, names};
use hg_exec::philox::DrawSite;
use hg_exec::{ExecError, NamedTensors, Session, Tensor, check_tensors};
use std::path::Path;

const D: usize = 4;
const NOISE: f64 = 0.05;
const P_W: &str = "param:bottleneck.z.w";
const P_B: &str = "param:bottleneck.z.b";
const S_W: &str = "state:sgd.momentum.bottleneck.z.w";
const S_B: &str = "state:sgd.momentum.bottleneck.z.b";

struct Mock {
    manifest: Manifest,
    params: NamedTensors,
    state: NamedTensors,
    /// Return a NaN loss at this step.
    nan_at: Option<u64>,
    /// Fail (like a crash) at this step.
    fail_at: Option<u64>,
    /// Every `step` input `train` received.
    steps_seen: Vec<i64>,
}

impl Default for Mock {
    /// The model with only its `train` and `eval` entries.
    fn default() -> Mock {
        let mut m = Mock::full();
        m.manifest.entries.retain(|e| e.name == "train" || e.name == "eval");
        m
    }
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
    /// Every entry of the real model.
    fn full() -> Mock {
        let manifest: Manifest = serde_json::from_str(include_str!("testdata/denoiser.manifest.json")).unwrap();
        Mock {
            manifest,
            params: NamedTensors::new(),
            state: NamedTensors::new(),
            nan_at: None,
            fail_at: None,
            steps_seen: Vec::new(),
        }
    }

    /// Refuses a call whose inputs are not exactly the entry's data and scalar inputs, each of
    /// its declared dtype and rank, as a compiled backend would.
    fn check_call(&self, entry: &str, inputs: &NamedTensors) -> Result<(), ExecError> {
        let sig = self.manifest.entry(entry).ok_or_else(|| ExecError::new(format!("no entry `{entry}`")))?;
        let wanted: Vec<_> = sig
            .inputs
            .iter()
            .filter(|s| !s.name.starts_with(names::PARAM) && !s.name.starts_with(names::STATE))
            .collect();
        for spec in &wanted {
            let t = get(inputs, &spec.name)?;
            if t.dtype() != spec.dtype || t.shape().len() != spec.shape.len() {
                return Err(ExecError::new(format!("input `{}` is {t}, expected {spec}", spec.name)));
            }
        }
        match inputs.keys().find(|k| !wanted.iter().any(|s| &s.name == *k)) {
            Some(k) => Err(ExecError::new(format!("`{entry}` has no input `{k}`"))),
            None => Ok(()),
        }
    }

    /// Residuals, noisy inputs and the batch size of the model on `inputs`, with noise from
    /// `(site, first stream element)`.
    fn forward(
        &self,
        inputs: &NamedTensors,
        noise: Option<(DrawSite, u64)>,
    ) -> Result<(Vec<f64>, Vec<f64>, usize), ExecError> {
        let x = get(inputs, "x")?.to_f64_vec();
        let w = get(&self.params, P_W)?.to_f64_vec();
        let b = value(&self.params, P_B)?;
        let x_in: Vec<f64> = match noise {
            Some((site, start)) => {
                x.iter().enumerate().map(|(i, v)| v + NOISE * site.normal(start + i as u64)).collect()
            }
            None => x.clone(),
        };
        let r = x_in.iter().enumerate().map(|(i, xi)| w[i % D] * xi + b - x[i]).collect();
        Ok((r, x_in, x.len() / D))
    }

    /// The noise of a call: site 0 keyed by `seed` and `step`, from the call's first example.
    fn noise(inputs: &NamedTensors) -> Result<(DrawSite, u64), ExecError> {
        let site = DrawSite::new(value(inputs, names::SEED)? as u64, value(inputs, names::STEP)? as u64, 0);
        Ok((site, value(inputs, names::FIRST_EXAMPLE)? as u64 * D as u64))
    }

    fn losses(r: &[f64]) -> (f64, f64) {
        let n = r.len() as f64;
        (r.iter().map(|v| v * v).sum::<f64>() / n, r.iter().map(|v| v.abs()).sum::<f64>() / n)
    }
}

impl Session for Mock {
    fn backend(&self) -> &str {
        "mock"
    }

    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn load_params(&mut self, params: NamedTensors) -> Result<(), ExecError> {
        check_tensors(&self.manifest.param_specs(), &params, "parameter", false).map_err(ExecError::new)?;
        self.params = params;
        Ok(())
    }

    fn load_state(&mut self, state: NamedTensors) -> Result<(), ExecError> {
        let specs = self.manifest.train.as_ref().map(|t| t.state.clone()).unwrap_or_default();
        check_tensors(&specs, &state, "optimizer state", false).map_err(ExecError::new)?;
        self.state = state;
        Ok(())
    }

    fn read_params(&self) -> Result<NamedTensors, ExecError> {
        Ok(self.params.clone())
    }

    fn read_state(&self) -> Result<NamedTensors, ExecError> {
        Ok(self.state.clone())
    }

    fn train_step(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        self.check_call("train", inputs)?;
        let step = value(inputs, names::STEP)?;
        self.steps_seen.push(step as i64);
        if self.fail_at == Some(step as u64) {
            return Err(ExecError::new("simulated crash"));
        }
        let (r, x_in, _) = self.forward(inputs, Some(Mock::noise(inputs)?))?;
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
        let w = get(&self.params, P_W)?.to_f64_vec();
        let b = value(&self.params, P_B)?;
        let mw = get(&self.state, S_W)?.to_f64_vec();
        let mb = value(&self.state, S_B)?;
        let mw: Vec<f64> = mw.iter().zip(gw).map(|(m, g)| 0.9 * m + g).collect();
        let mb = 0.9 * mb + gb;
        let w: Vec<f64> = w.iter().zip(&mw).map(|(w, m)| w - lr * m).collect();
        if loss.is_finite() {
            self.params.insert(P_W.into(), f32s(vec![D], &w));
            self.params.insert(P_B.into(), Tensor::scalar_f32((b - lr * mb) as f32));
            self.state.insert(S_W.into(), f32s(vec![D], &mw));
            self.state.insert(S_B.into(), Tensor::scalar_f32(mb as f32));
        }
        let mut out = NamedTensors::new();
        out.insert(names::LOSS.into(), Tensor::scalar_f32(loss as f32));
        out.insert(names::metric("mae"), Tensor::scalar_f32(mae as f32));
        out.insert(names::LR.into(), Tensor::scalar_f32(lr as f32));
        Ok(out)
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        self.check_call(entry, inputs)?;
        match entry {
            "eval" => {
                let (r, _, _) = self.forward(inputs, Some(Mock::noise(inputs)?))?;
                let (loss, mae) = Mock::losses(&r);
                Ok([
                    (names::LOSS.to_string(), Tensor::scalar_f32(loss as f32)),
                    ("metric:mae".to_string(), Tensor::scalar_f32(mae as f32)),
                ]
                .into())
            }
            "reconstruct" => {
                let (r, _, rows) = self.forward(inputs, Some(Mock::noise(inputs)?))?;
                let x = get(inputs, "x")?.to_f64_vec();
                let x_hat: Vec<f64> = r.iter().zip(&x).map(|(r, x)| r + x).collect();
                Ok([("x_hat".to_string(), f32s(vec![rows, D], &x_hat))].into())
            }
            "sample" => {
                let rows = value(inputs, names::BATCH)? as usize;
                let (site, start) = Mock::noise(inputs)?;
                let w = get(&self.params, P_W)?.to_f64_vec();
                let b = value(&self.params, P_B)?;
                let v: Vec<f64> =
                    (0..rows * D).map(|i| w[i % D] * (0.5 + 0.1 * site.normal(start + i as u64)) + b).collect();
                Ok([("x_hat".to_string(), f32s(vec![rows, D], &v))].into())
            }
            other => Err(ExecError::new(format!("the double does not run `{other}`"))),
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
        ("bottleneck.z.w".to_string(), Tensor::from_f32(vec![D], vec![0.0; D]).unwrap()),
        ("bottleneck.z.b".to_string(), Tensor::scalar_f32(0.0)),
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

/// The full double with `params` loaded (named `param:<path>`).
fn loaded(params: &NamedTensors) -> Mock {
    let mut mock = Mock::full();
    mock.load_params(params.clone()).unwrap();
    mock
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

    // The evaluation is the mean over all 10 examples, in calls of 4, 4 and 2.
    let eval = summary.eval.unwrap();
    assert_eq!((eval.examples, eval.batches), (10, 3));
    let expected = evaluate(&mut loaded(&summary.params), &data(10), 4, 11).unwrap();
    assert_eq!(eval, expected);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(EVAL_FILE)).unwrap()).unwrap();
    assert_eq!(json["loss"].as_f64(), Some(eval.loss));
    assert_eq!(json["metrics"]["mae"].as_f64(), Some(eval.metrics["mae"]));
    assert_eq!(json["step"].as_u64(), Some(80));

    // Final weights use bare paths; the checkpoint keeps entry names and the state.
    let (weights, meta) = crate::checkpoint::load_safetensors(dir.path().join(FINAL_WEIGHTS_FILE)).unwrap();
    assert_eq!(weights.keys().collect::<Vec<_>>(), vec!["bottleneck.z.b", "bottleneck.z.w"]);
    assert_eq!(weights["bottleneck.z.w"], summary.params[P_W]);
    assert_eq!(meta["format"], WEIGHTS_FORMAT);
    let ckpt = load_checkpoint(&dir.path().join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(ckpt.params, summary.params);
    assert_eq!(ckpt.state.keys().collect::<Vec<_>>(), vec![S_B, S_W]);
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
        (P_W.to_string(), Tensor::from_f32(vec![D], vec![0.0; D]).unwrap()),
        ("c".to_string(), Tensor::scalar_f32(1.0)),
    ]
    .into();
    let e = quiet_train(&mut Mock::default(), &data(8), TrainStart::Fresh { params }, &cfg).unwrap_err().to_string();
    assert!(
        e.contains("parameter `param:bottleneck.z.b` is missing") && e.contains("`param:c` is not a parameter"),
        "{e}"
    );

    // A checkpoint whose `param:bottleneck.z.w` has the wrong shape and which lacks one state tensor.
    quiet_train(&mut Mock::default(), &data(8), init(), &cfg).unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    let mut ckpt = load_checkpoint(&path).unwrap();
    ckpt.params.insert(P_W.into(), Tensor::from_f32(vec![3], vec![0.0; 3]).unwrap());
    ckpt.state.remove(S_B);
    save_checkpoint(&path, &ckpt.params, &ckpt.state, &ckpt.meta).unwrap();
    let e = quiet_train(&mut Mock::default(), &data(8), TrainStart::Resume { checkpoint: path }, &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint.safetensors"), "{e}");
    assert!(e.contains("parameter `param:bottleneck.z.w` is f32 [3] but the model expects f32 [4]"), "{e}");
    assert!(e.contains("optimizer state `state:sgd.momentum.bottleneck.z.b` is missing"), "{e}");

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
    assert_eq!(lines.len(), 6, "{text}");
    // Steps are numbered from 0, as in metrics.jsonl: 0, the multiples of 5, and the last.
    for (line, (step, done)) in lines.iter().zip([(0, 1), (5, 6), (10, 11), (11, 12)]) {
        assert!(line.starts_with(&format!("step {step} ({done}/12 done)  epoch ")), "{line}");
        assert!(
            line.contains("  loss ")
                && line.contains("  mae ")
                && line.contains("  lr ")
                && line.contains(" samples/s  eta "),
            "{line}"
        );
    }
    assert!(lines[4].starts_with(&format!("wrote {}: metrics.jsonl, checkpoint.safetensors", dir.path().display())));
    assert!(lines[5].starts_with("trained 12 steps (0-11) in ") && lines[5].contains("final loss"), "{}", lines[5]);
    assert!(summary.notes.is_empty());

    // Quiet mode prints nothing on success.
    let mut log = Vec::new();
    train_with_log(&mut Mock::default(), &data(16), init(), &config(dir.path(), 3), &mut log).unwrap();
    assert!(log.is_empty());
}

#[test]
fn eval_every_logs_evaluations_of_the_current_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 10);
    cfg.eval_data = Some(data(6));
    cfg.eval_every = Some(4);
    cfg.progress = ProgressMode::Plain;
    let mut log = Vec::new();
    let summary = train_with_log(&mut Mock::default(), &data(16), init(), &cfg, &mut log).unwrap();
    let text = String::from_utf8(log).unwrap();
    let evals: Vec<EvalRecord> = std::fs::read_to_string(dir.path().join(EVAL_LOG_FILE))
        .unwrap()
        .lines()
        .map(|l| EvalRecord::from_json(l).unwrap())
        .collect();
    // After steps 4 and 8, and after the last (10); each of the parameters at that point.
    assert_eq!(evals.iter().map(|e| e.step).collect::<Vec<_>>(), vec![4, 8, 10]);
    assert!(evals.iter().all(|e| e.examples == 6 && e.metrics.contains_key("mae")));
    assert!(evals[0].loss > evals[2].loss, "{evals:?}");
    let last = summary.eval.as_ref().unwrap();
    assert_eq!((last.loss, last.examples), (evals[2].loss, 6));
    for e in &evals {
        assert!(text.contains(&format!("eval at step {}: loss ", e.step)), "{text}");
    }
    assert!(summary.files.contains(&dir.path().join(EVAL_LOG_FILE)));
    let closing = text.lines().last().unwrap();
    assert!(closing.contains("; eval loss ") && closing.contains(" on 6 examples"), "{closing}");

    // A run that crashes after its checkpoint at step 6 and is resumed from it logs each
    // evaluation once, the same as the uninterrupted run.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = TrainConfig { out_dir: a.path().into(), progress: ProgressMode::Quiet, ..cfg.clone() };
    quiet_train(&mut Mock::default(), &data(16), init(), &whole).unwrap();
    let cut = TrainConfig { out_dir: b.path().into(), checkpoint_every: Some(3), ..whole.clone() };
    let crashing = &mut Mock { fail_at: Some(7), ..Mock::default() };
    quiet_train(crashing, &data(16), init(), &cut).unwrap_err();
    let resume = TrainStart::Resume { checkpoint: b.path().join(CHECKPOINT_FILE) };
    quiet_train(&mut Mock::default(), &data(16), resume, &cut).unwrap();
    let read = |d: &Path| std::fs::read_to_string(d.join(EVAL_LOG_FILE)).unwrap();
    assert_eq!(read(a.path()), read(b.path()));

    // Without evaluation data, or with a model that cannot evaluate, the run is refused.
    let no_data = TrainConfig { eval_data: None, ..cfg.clone() };
    let e = quiet_train(&mut Mock::default(), &data(16), init(), &no_data).unwrap_err().to_string();
    assert!(e.contains("needs evaluation data"), "{e}");
    let mut no_eval = Mock::default();
    no_eval.manifest.entries.retain(|e| e.name == "train");
    let e = quiet_train(&mut no_eval, &data(16), init(), &cfg).unwrap_err().to_string();
    assert!(e.contains("no `eval` entry"), "{e}");
}

#[test]
fn batched_runs_cover_every_example_once() {
    let all = data(10);
    let params: NamedTensors = [
        (P_W.to_string(), Tensor::from_f32(vec![D], vec![0.5, 1.0, 1.5, 2.0]).unwrap()),
        (P_B.to_string(), Tensor::scalar_f32(0.25)),
    ]
    .into();
    let inputs: NamedTensors = [("x".to_string(), all.get("x").unwrap().clone())].into();
    let mut mock = loaded(&params);
    let scalars = CallScalars { seed: 3, step: 0, first_example: 0, batch: 0 };
    // Split into calls of 4, 4 and 2 examples, the noise is that of one call over all 10.
    let out = run_batched(&mut mock, "reconstruct", &inputs, scalars, 4).unwrap();
    let whole = run_batched(&mut mock, "reconstruct", &inputs, scalars, 10).unwrap();
    assert_eq!(out["x_hat"], whole["x_hat"]);
    assert_eq!(out["x_hat"].shape(), &[10, D]);
    let other_seed = run_batched(&mut mock, "reconstruct", &inputs, CallScalars { seed: 4, ..scalars }, 4).unwrap();
    assert_ne!(other_seed["x_hat"], out["x_hat"]);

    // `sample` has no data input: one call with `batch` bound to the requested count.
    let out = run_batched(&mut mock, "sample", &NamedTensors::new(), scalars, 6).unwrap();
    assert_eq!(out["x_hat"].shape(), &[6, D]);

    let e = run_batched(&mut mock, "reconstruct", &NamedTensors::new(), scalars, 4).unwrap_err().to_string();
    assert!(e.contains("input `x: f32[B, 4]` was not given"), "{e}");
    let e = run_batched(&mut mock, "train", &inputs, scalars, 4).unwrap_err().to_string();
    assert!(e.contains("entry `train`"), "{e}");
    let e = run_batched(&mut mock, "nope", &inputs, scalars, 4).unwrap_err().to_string();
    assert!(e.contains("entry `nope`") && e.contains("no such entry point"), "{e}");

    // Evaluation counts every example once: 10 examples in calls of 4, 4 and 2 give the mean
    // of one call over all 10, and so do calls of 3.
    let r = evaluate(&mut mock, &all, 4, 1).unwrap();
    assert_eq!((r.examples, r.batches), (10, 3));
    let whole = evaluate(&mut mock, &all, 10, 1).unwrap();
    let thirds = evaluate(&mut mock, &all, 3, 1).unwrap();
    for other in [&whole, &thirds] {
        assert!((r.loss - other.loss).abs() <= 1e-6 * r.loss.abs(), "{} vs {}", r.loss, other.loss);
        assert!((r.metrics["mae"] - other.metrics["mae"]).abs() <= 1e-6, "{:?} vs {:?}", r.metrics, other.metrics);
    }
    let small = evaluate(&mut mock, &data(3), 4, 1).unwrap();
    assert_eq!((small.examples, small.batches), (3, 1));
    // Without parameters loaded, the backend says which is missing.
    let e = evaluate(&mut Mock::full(), &all, 4, 1).unwrap_err().to_string();
    assert!(e.contains(P_W), "{e}");
}

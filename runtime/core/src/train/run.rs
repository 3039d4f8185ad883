//! The training loop: feed batches to the `train` entry, carry parameters and optimizer state
//! from one step to the next, log, checkpoint, and leave the end-of-run artefacts.
//!
//! Step `s` (0-based) runs `train` on batch `s % batches_per_epoch` of epoch
//! `s / batches_per_epoch` (drop-last batching, order from `(seed, epoch)`), with the inputs
//! `step = s`, `seed`, `first_example = 0`, `base_lr`, `total_steps` and (when read) `batch`.
//! Parameters and optimizer state stay resident in the backend's [`Session`]: the loop loads
//! them once, passes only the batch and the scalars each step, gets back the loss and metrics,
//! and reads the parameters back only for checkpoints and the end of the run. With
//! `eval_every`, the loop also evaluates on the evaluation data every that many steps and after
//! the last one, with the session's current parameters (`eval.jsonl`).
//!
//! **Invariants**: a step whose loss is NaN or infinite changes nothing (the session keeps its
//! state, see `hg_exec::session`): it is not logged and no checkpoint is written from it. The
//! state carried between steps is exactly what a checkpoint stores, so a resumed run repeats
//! an uninterrupted one bit-for-bit (given a deterministic backend).

use super::batched::{EvalResult, evaluate, fitted_inputs};
use super::checkpointing::{CHECKPOINT_FILE, CheckpointMeta, load_checkpoint, save_checkpoint, validate_checkpoint};
use super::config::{TrainConfig, TrainStart};
use super::error::TrainError;
use super::metrics::{EVAL_LOG_FILE, EvalRecord, METRICS_FILE, MetricsLog, StepRecord};
use super::progress::{Closing, Progress};
use super::report::{Report, write_report};
use super::signature::{
    Scalar, check_tensors, entry_signature, is_param, metric_outputs, scalar_input, scalar_output, with_param_prefix,
    zeros_for,
};
use crate::data::{BatchConfig, BatchIter, Dataset};
use crate::fsutil::IoError;
use hg_abi::{EntrySignature, TensorSpec, names};
use hg_exec::{NamedTensors, Session, Tensor, TensorData};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ENTRY: &str = "train";

/// What a finished run did and left behind.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The step this session started at (0 for a fresh run).
    pub first_step: u64,
    /// Steps taken in this session.
    pub steps_run: u64,
    /// Steps completed in the whole run, `first_step + steps_run`.
    pub total_steps: u64,
    /// Loss of the last step taken in this session.
    pub final_loss: Option<f64>,
    /// The trained parameters, named `param:<path>`.
    pub params: NamedTensors,
    /// The evaluation on `eval_data`, when it was given.
    pub eval: Option<EvalResult>,
    /// Every file written to the output directory.
    pub files: Vec<PathBuf>,
    /// Things worth telling the user (settings taken from a checkpoint, pictures skipped).
    pub notes: Vec<String>,
    /// Time spent taking this session's steps (evaluations during the run excluded).
    pub train_time: Duration,
    /// Time of the whole call, end-of-run evaluation and pictures included.
    pub elapsed: Duration,
}

/// Trains with progress on stderr. See [`train_with_log`].
pub fn train(
    session: &mut dyn Session,
    data: &Dataset,
    init: TrainStart,
    cfg: &TrainConfig,
) -> Result<TrainSummary, TrainError> {
    train_with_log(session, data, init, cfg, &mut std::io::stderr())
}

/// Trains the model of `session` on `data`, writing plain progress lines and notes to `log` (a progress bar, when
/// chosen, always draws on stderr).
///
/// Files in `cfg.out_dir`: `metrics.jsonl` (one line per step), `eval.jsonl` (with
/// `eval_every`: one line per evaluation), `checkpoint.safetensors` (every
/// `checkpoint_every` steps and at the end, overwritten in place), `final.safetensors` (the
/// parameters under their bare paths), `eval.json` (with `eval_data`), `loss.png`, and
/// `reconstructions.png` / `samples.png` when the model has those entries and image-shaped
/// data.
pub fn train_with_log(
    session: &mut dyn Session,
    data: &Dataset,
    init: TrainStart,
    cfg: &TrainConfig,
    log: &mut dyn Write,
) -> Result<TrainSummary, TrainError> {
    let started = Instant::now();
    cfg.validate()?;
    let sig = entry_signature(session, ENTRY)?;
    let layout = session
        .manifest()
        .train
        .clone()
        .ok_or_else(|| TrainError::signature(ENTRY, "the model has no train-step layout"))?;
    let param_specs = session.manifest().param_specs();
    let state_specs = layout.state.clone();
    if param_specs.is_empty() {
        return Err(TrainError::signature(
            ENTRY,
            "the entry reads no parameters (`param:` inputs), so there is nothing to train",
        ));
    }
    let fitted = fitted_inputs(&sig, data)?;
    if fitted.is_empty() {
        return Err(TrainError::signature(ENTRY, "the entry reads no data inputs"));
    }
    if cfg.eval_every.is_some() && session.manifest().entry("eval").is_none() {
        return Err(TrainError::signature("eval", "the model has no `eval` entry to evaluate with during the run"));
    }
    let start = prepare_start(init, cfg, &sig, &param_specs, &state_specs, data.len)?;
    let plan = &start.plan;

    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| IoError::write(&cfg.out_dir, e))?;
    if let Some(record) = &plan.record {
        let mut json = record.to_json();
        json.push('\n');
        crate::fsutil::atomic_write(&cfg.out_dir.join(super::record::RUN_FILE), json.as_bytes())?;
    }
    let metrics_path = cfg.out_dir.join(METRICS_FILE);
    let (mut metrics, mut history) = if start.resumed {
        MetricsLog::resume(&metrics_path, plan.step)?
    } else {
        (MetricsLog::create(&metrics_path)?, Vec::new())
    };
    // `eval.jsonl`: continued on resume (cut at the resume step, even when this session does not
    // evaluate, so it never lists evaluations of a discarded future), started with `eval_every`.
    let eval_path = cfg.out_dir.join(EVAL_LOG_FILE);
    let (eval_log, evals) = if start.resumed && (cfg.eval_every.is_some() || eval_path.exists()) {
        let (log, kept) = MetricsLog::resume_eval(&eval_path, plan.step)?;
        (cfg.eval_every.map(|_| log), kept)
    } else if cfg.eval_every.is_some() {
        (Some(MetricsLog::create(&eval_path)?), Vec::new())
    } else {
        if !start.resumed && eval_path.exists() {
            std::fs::remove_file(&eval_path).map_err(|e| IoError::write(&eval_path, e))?;
        }
        (None, Vec::new())
    };
    let eval_logged = eval_log.is_some() || !evals.is_empty();

    let mut progress = Progress::new(cfg.progress, log, cfg.log_every, plan.step, plan.total_steps);
    for note in &start.notes {
        progress.note(note);
    }

    let (names_in, arrays): (Vec<String>, Vec<Tensor>) = fitted.into_iter().unzip();
    let batches = BatchIter::new(
        &arrays,
        BatchConfig {
            batch_size: plan.batch,
            shuffle: plan.shuffle,
            seed: plan.seed,
            drop_last: true,
            start_epoch: plan.epoch,
            start_position: plan.position,
            end_epoch: None,
        },
    )
    .map_err(|e| TrainError::Data(e.to_string()))?;

    let (params, state): (NamedTensors, NamedTensors) = start.tensors.into_iter().partition(|(n, _)| is_param(n));
    let loaded = session.load_params(params).and_then(|()| session.load_state(state));
    loaded.map_err(|source| TrainError::Exec { entry: ENTRY.into(), step: Some(plan.step), source })?;
    let mut live = NamedTensors::new();
    for spec in &sig.inputs {
        let value = match spec.name.as_str() {
            names::SEED => Scalar::Int(plan.seed),
            names::FIRST_EXAMPLE => Scalar::Int(0),
            names::BASE_LR => Scalar::Float(plan.base_lr),
            names::TOTAL_STEPS => Scalar::Int(plan.total_steps),
            names::BATCH => Scalar::Int(plan.batch as u64),
            _ => continue,
        };
        live.insert(spec.name.clone(), scalar_input(spec, value, ENTRY)?);
    }
    let step_spec = sig.inputs.iter().find(|s| s.name == names::STEP);
    let mut run =
        Run { step_spec, live, plan: plan.clone(), cfg, eval_log, evals, last_eval: None, eval_time: Duration::ZERO };

    let steps_started = Instant::now();
    let mut outcome = run.run_steps(session, batches, &names_in, &mut metrics, &mut progress, &mut history);
    // With `eval_every`, the curve ends with an evaluation of the final parameters.
    if outcome.is_ok()
        && cfg.eval_every.is_some()
        && run.evals.last().map(|r| r.step) != Some(plan.total_steps)
        && let Err(e) = run.evaluate_now(session, plan.total_steps, &mut progress)
    {
        outcome = Err(e);
    }
    let final_loss = match outcome {
        Ok(loss) => loss,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    let train_time = steps_started.elapsed().saturating_sub(run.eval_time);
    let steps_run = plan.total_steps - plan.step;
    run.checkpoint(session, plan.total_steps)?;
    progress.end_steps();

    let params =
        session.read_params().map_err(|source| TrainError::Exec { entry: ENTRY.into(), step: None, source })?;
    let mut files = Vec::new();
    if plan.record.is_some() {
        files.push(cfg.out_dir.join(super::record::RUN_FILE));
    }
    files.push(metrics_path);
    if eval_logged {
        files.push(eval_path);
    }
    files.push(cfg.out_dir.join(CHECKPOINT_FILE));
    let final_eval = run.last_eval.take().filter(|(step, _)| *step == plan.total_steps).map(|(_, r)| r);
    let report = write_report(
        session,
        &Report {
            train_data: data,
            cfg,
            params: &params,
            history: &history,
            evals: &run.evals,
            final_eval,
            seed: plan.seed,
            batch: plan.batch,
            step: plan.total_steps,
        },
    )?;
    for note in &report.notes {
        progress.note(note);
    }
    files.extend(report.files);
    let closing = Closing {
        first_step: plan.step,
        steps_run,
        batch: plan.batch,
        train_time,
        final_loss,
        eval: report.eval.as_ref(),
    };
    progress.close(&files, &cfg.out_dir, &closing);
    let mut notes = start.notes;
    notes.extend(report.notes);
    Ok(TrainSummary {
        first_step: plan.step,
        steps_run,
        total_steps: plan.total_steps,
        final_loss,
        params,
        eval: report.eval,
        files,
        notes,
        train_time,
        elapsed: started.elapsed(),
    })
}

/// The counters and settings of a run: what a checkpoint's metadata holds.
type Plan = CheckpointMeta;

/// Where a session starts: parameters and state (under their entry names), the plan, and notes
/// about settings a checkpoint overrode.
struct Start {
    tensors: NamedTensors,
    plan: Plan,
    resumed: bool,
    notes: Vec<String>,
}

fn prepare_start(
    init: TrainStart,
    cfg: &TrainConfig,
    sig: &EntrySignature,
    param_specs: &[TensorSpec],
    state_specs: &[TensorSpec],
    examples: usize,
) -> Result<Start, TrainError> {
    let batches_per_epoch = |batch: usize| -> Result<u64, TrainError> {
        match examples / batch {
            0 => Err(TrainError::Data(format!(
                "the data has {examples} examples, fewer than one batch of {batch} (incomplete batches are dropped)"
            ))),
            n => Ok(n as u64),
        }
    };
    match init {
        TrainStart::Fresh { params } => {
            let params = with_param_prefix(params);
            check_tensors(param_specs, &params, "parameter", false)
                .map_err(|problem| TrainError::Params { origin: "initial parameters".into(), problem })?;
            let bpe = batches_per_epoch(cfg.batch)?;
            let total_steps = cfg.planned_steps(bpe)?.ok_or_else(|| {
                TrainError::Config("give the length of the run as a number of steps or of epochs".into())
            })?;
            let mut tensors = params;
            tensors.extend(zeros_for(sig, state_specs)?);
            let plan = Plan {
                step: 0,
                epoch: 0,
                position: 0,
                seed: cfg.seed,
                base_lr: cfg.base_lr,
                total_steps,
                batch: cfg.batch,
                shuffle: cfg.shuffle,
                examples,
                record: cfg.record.clone(),
            };
            Ok(Start { tensors, plan, resumed: false, notes: Vec::new() })
        }
        TrainStart::Resume { checkpoint } => {
            let ckpt = load_checkpoint(&checkpoint)?;
            validate_checkpoint(&ckpt, param_specs, state_specs, &checkpoint)?;
            let mut plan = ckpt.meta;
            // The command line checked the recorded spec and settings against this run's.
            if cfg.record.is_some() {
                plan.record = cfg.record.clone();
            }
            let bad = |problem: String| TrainError::checkpoint(&checkpoint, problem);
            if plan.examples != examples {
                return Err(bad(format!(
                    "was written by a run on {} examples, but this data has {examples}; resume with the same data",
                    plan.examples
                )));
            }
            if plan.batch == 0 {
                return Err(bad("records a batch size of 0".into()));
            }
            let bpe = batches_per_epoch(plan.batch)?;
            let position_ok = plan.position % plan.batch == 0 && (plan.position / plan.batch) as u64 == plan.step % bpe;
            if !position_ok || plan.epoch != plan.step / bpe {
                return Err(bad(format!(
                    "its counters disagree: step {} does not fall at epoch {} position {} with {bpe} batches of {} per epoch",
                    plan.step, plan.epoch, plan.position, plan.batch
                )));
            }
            let mut notes = Vec::new();
            let mut differs = |what: &str, ours: String, theirs: String| {
                if ours != theirs {
                    notes.push(format!(
                        "resuming with the checkpoint's {what} {theirs} (not {ours}) so the run continues exactly"
                    ));
                }
            };
            differs("seed", cfg.seed.to_string(), plan.seed.to_string());
            differs("batch size", cfg.batch.to_string(), plan.batch.to_string());
            differs("shuffling", cfg.shuffle.to_string(), plan.shuffle.to_string());
            differs("learning rate", cfg.base_lr.to_string(), plan.base_lr.to_string());
            if let Some(total) = cfg.planned_steps(bpe)? {
                if total < plan.step {
                    return Err(TrainError::Config(format!(
                        "the checkpoint is already at step {}, past the {total} steps asked for",
                        plan.step
                    )));
                }
                if total != plan.total_steps {
                    notes.push(format!(
                        "the run now ends at step {total} instead of {}; the learning-rate schedule changes accordingly",
                        plan.total_steps
                    ));
                    plan.total_steps = total;
                }
            }
            if plan.step > plan.total_steps {
                return Err(bad(format!("is at step {}, past its own total of {}", plan.step, plan.total_steps)));
            }
            let mut tensors = ckpt.params;
            tensors.extend(ckpt.state);
            Ok(Start { tensors, plan, resumed: true, notes })
        }
    }
}

/// The running state of one training session.
struct Run<'a> {
    step_spec: Option<&'a TensorSpec>,
    /// The inputs of the train step besides parameters and state (which the session holds):
    /// the batch and the runtime scalars.
    live: NamedTensors,
    plan: Plan,
    cfg: &'a TrainConfig,
    /// `eval.jsonl`, open when the run evaluates every `eval_every` steps.
    eval_log: Option<MetricsLog>,
    /// Every evaluation of the run, resumed sessions included.
    evals: Vec<EvalRecord>,
    /// The latest evaluation of this session, and the step it was made at.
    last_eval: Option<(u64, EvalResult)>,
    /// Time spent in those evaluations.
    eval_time: Duration,
}

impl Run<'_> {
    /// Takes steps `plan.step..plan.total_steps`; returns the last loss.
    fn run_steps(
        &mut self,
        session: &mut dyn Session,
        mut batches: BatchIter<'_>,
        data_names: &[String],
        metrics: &mut MetricsLog,
        progress: &mut Progress<'_>,
        history: &mut Vec<StepRecord>,
    ) -> Result<Option<f64>, TrainError> {
        let mut last_loss = None;
        for step in self.plan.step..self.plan.total_steps {
            let tick = Instant::now();
            let (epoch, _, batch) = batches
                .next()
                .ok_or_else(|| TrainError::Data(format!("the data ran out of batches at step {step}")))?;
            for (name, t) in data_names.iter().zip(batch) {
                self.live.insert(name.clone(), t);
            }
            if let Some(spec) = self.step_spec {
                self.live.insert(spec.name.clone(), scalar_input(spec, Scalar::Int(step), ENTRY)?);
            }
            let out = session.train_step(&self.live).map_err(|source| TrainError::Exec {
                entry: ENTRY.into(),
                step: Some(step),
                source,
            })?;
            let loss = scalar_output(&out, names::LOSS, ENTRY)?
                .ok_or_else(|| TrainError::signature(ENTRY, "the backend did not return output `loss`"))?;
            if !loss.is_finite() {
                return Err(TrainError::NonFinite { step, loss });
            }
            let record = StepRecord {
                step,
                epoch,
                loss,
                metrics: metric_outputs(&out, ENTRY)?,
                lr: scalar_output(&out, names::LR, ENTRY)?,
                samples_per_s: self.plan.batch as f64 / tick.elapsed().as_secs_f64().max(1e-9),
            };
            metrics.append(&record)?;
            progress.step(&record);
            history.push(record);
            last_loss = Some(loss);
            let done = step + 1;
            if self.cfg.eval_every.is_some_and(|every| done.is_multiple_of(every)) {
                self.evaluate_now(session, done, progress)?;
            }
            if self.cfg.checkpoint_every.is_some_and(|every| done.is_multiple_of(every)) && done < self.plan.total_steps
            {
                self.checkpoint(session, done)?;
            }
            let asked_to_stop = self.cfg.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst));
            if asked_to_stop && done < self.plan.total_steps {
                self.checkpoint(session, done)?;
                return Err(TrainError::Interrupted {
                    steps_done: done,
                    total_steps: self.plan.total_steps,
                    checkpoint: self.cfg.out_dir.join(CHECKPOINT_FILE),
                });
            }
        }
        Ok(last_loss)
    }

    /// Evaluates the session's current parameters (those after `done` steps) on the evaluation
    /// data, and logs the result to `eval.jsonl` and the progress stream.
    fn evaluate_now(
        &mut self,
        session: &mut dyn Session,
        done: u64,
        progress: &mut Progress<'_>,
    ) -> Result<(), TrainError> {
        let cfg = self.cfg;
        let Some(data) = &cfg.eval_data else { return Ok(()) };
        let tick = Instant::now();
        let result = evaluate(session, data, self.plan.batch, self.plan.seed)?;
        let record =
            EvalRecord { step: done, loss: result.loss, metrics: result.metrics.clone(), examples: result.examples };
        if let Some(log) = &mut self.eval_log {
            log.append_eval(&record)?;
        }
        progress.eval(&record);
        self.evals.push(record);
        self.last_eval = Some((done, result));
        self.eval_time += tick.elapsed();
        Ok(())
    }

    /// Writes the checkpoint after `done` steps from the session's parameters and state,
    /// refusing to save non-finite tensors.
    fn checkpoint(&self, session: &dyn Session, done: u64) -> Result<(), TrainError> {
        let read = |r: Result<NamedTensors, hg_exec::ExecError>| {
            r.map_err(|source| TrainError::Exec { entry: ENTRY.into(), step: Some(done), source })
        };
        let (params, state) = (read(session.read_params())?, read(session.read_state())?);
        for (name, t) in params.iter().chain(&state) {
            if !all_finite(t) {
                return Err(TrainError::NonFiniteTensor { step: done.saturating_sub(1), name: name.clone() });
            }
        }
        let bpe = (self.plan.examples / self.plan.batch) as u64;
        let meta = CheckpointMeta {
            step: done,
            epoch: done / bpe,
            position: (done % bpe) as usize * self.plan.batch,
            ..self.plan.clone()
        };
        save_checkpoint(&self.cfg.out_dir.join(CHECKPOINT_FILE), &params, &state, &meta)
    }
}

fn all_finite(t: &Tensor) -> bool {
    match t.data() {
        TensorData::F32(v) => v.iter().all(|x| x.is_finite()),
        TensorData::F64(v) => v.iter().all(|x| x.is_finite()),
        TensorData::I32(_) | TensorData::I64(_) | TensorData::Bool(_) => true,
    }
}

//! What a training run is asked to do: [`TrainConfig`] and where it starts from
//! ([`TrainStart`]).
//!
//! **Resuming** continues the run stored in the checkpoint bit-for-bit, so the checkpoint's
//! seed, batch size, shuffling and base learning rate win over the configuration's (a
//! difference is reported as a note). Only the length of the run may change: leave both
//! `steps` and `epochs` unset to finish the planned run, or set one to lengthen or shorten it
//! (which changes the learning-rate schedule from the resume point on).

use super::error::TrainError;
use crate::data::Dataset;
use hg_exec::NamedTensors;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// How progress is shown on the log stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// An animated bar with loss, samples/s and ETA.
    Bar,
    /// One line every `log_every` steps (and at the first and last step).
    Plain,
    /// Nothing but notes that need attention: no step or evaluation lines, no closing line.
    Quiet,
}

/// Where the parameters and optimizer state of a run come from.
#[derive(Clone, Debug)]
pub enum TrainStart {
    /// Initial parameters, named `param:<path>` or by bare path; optimizer state starts at zero.
    Fresh { params: NamedTensors },
    /// A checkpoint written by an earlier run (`checkpoint.safetensors`).
    Resume { checkpoint: PathBuf },
}

/// The settings of one training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Number of optimizer steps; exclusive with `epochs`.
    pub steps: Option<u64>,
    /// Number of passes over the data (`steps = epochs * batches_per_epoch`); exclusive with `steps`.
    pub epochs: Option<u64>,
    /// Examples per step; the last incomplete batch of every epoch is dropped.
    pub batch: usize,
    pub base_lr: f64,
    /// Keys the data order and, through the `seed` input, every random draw of the model.
    pub seed: u64,
    /// Visit the examples in a new seeded order every epoch (otherwise in file order).
    pub shuffle: bool,
    /// Write `checkpoint.safetensors` after every this many steps (it is also written at the end).
    pub checkpoint_every: Option<u64>,
    /// Where `metrics.jsonl`, checkpoints, weights and pictures go (created when missing).
    pub out_dir: PathBuf,
    /// Evaluated with the `eval` entry at the end of the run (`eval.json`).
    pub eval_data: Option<Dataset>,
    /// Also evaluate on `eval_data` after every this many steps (and after the last), logging
    /// to `eval.jsonl` and drawing the curve in `loss.png`.
    pub eval_every: Option<u64>,
    /// Plain progress prints a line every this many steps.
    pub log_every: u64,
    pub progress: ProgressMode,
    /// What the run was asked to do, written to `run.json` and into every checkpoint.
    pub record: Option<super::record::RunRecord>,
    /// When set (by a Ctrl-C handler), the run finishes the step under way, writes a
    /// checkpoint and stops with [`TrainError::Interrupted`].
    pub stop: Option<&'static AtomicBool>,
}

impl TrainConfig {
    /// Defaults: batch 64, learning rate 1e-3, seed 0, shuffled, no intermediate checkpoints, a
    /// log line every 50 steps. The length of the run (`steps` or `epochs`) must still be set for
    /// a fresh run.
    pub fn new(out_dir: impl Into<PathBuf>) -> TrainConfig {
        TrainConfig {
            steps: None,
            epochs: None,
            batch: 64,
            base_lr: 1e-3,
            seed: 0,
            shuffle: true,
            checkpoint_every: None,
            out_dir: out_dir.into(),
            eval_data: None,
            eval_every: None,
            log_every: 50,
            progress: ProgressMode::Auto,
            stop: None,
            record: None,
        }
    }

    /// Checks the settings that do not depend on the data or the model.
    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(m.to_string()));
        if self.steps.is_some() && self.epochs.is_some() {
            return bad("give either a number of steps or a number of epochs, not both");
        }
        if self.batch == 0 {
            return bad("the batch size must be at least 1");
        }
        if self.log_every == 0 {
            return bad("the logging interval must be at least 1 step");
        }
        if self.checkpoint_every == Some(0) {
            return bad("the checkpoint interval must be at least 1 step");
        }
        if self.eval_every == Some(0) {
            return bad("the evaluation interval must be at least 1 step");
        }
        if self.eval_every.is_some() && self.eval_data.is_none() {
            return bad("evaluating during the run needs evaluation data");
        }
        if !self.base_lr.is_finite() {
            return bad("the learning rate must be a finite number");
        }
        Ok(())
    }

    /// The planned number of steps given the epoch length, or `None` when neither `steps` nor
    /// `epochs` is set.
    pub(crate) fn planned_steps(&self, batches_per_epoch: u64) -> Result<Option<u64>, TrainError> {
        match (self.steps, self.epochs) {
            (Some(s), _) => Ok(Some(s)),
            (None, Some(e)) => e.checked_mul(batches_per_epoch).map(Some).ok_or_else(|| {
                TrainError::Config(format!("{e} epochs of {batches_per_epoch} steps is too many steps"))
            }),
            (None, None) => Ok(None),
        }
    }
}

//! [`TrainError`]: everything that can stop a training run, an evaluation or a batched run.
//!
//! Messages are lowercase, complete and user-facing: each names the step, the tensor or the file
//! it is about, so the command line can print it as is.

use crate::fsutil::IoError;
use hg_exec::ExecError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The run's settings contradict each other or the data (no step count, zero batch, ...).
    #[error("invalid training settings: {0}")]
    Config(String),
    /// The model lacks an entry point, or its signature breaks the train-step contract.
    #[error("entry `{entry}`: {problem}")]
    Signature { entry: String, problem: String },
    /// Starting parameters (given or loaded) do not match the model.
    #[error("{origin}: {problem}")]
    Params { origin: String, problem: String },
    /// A checkpoint cannot be resumed from: wrong format, missing metadata, or tensors that do
    /// not match the model.
    #[error("checkpoint {}: {problem}", path.display())]
    Checkpoint { path: PathBuf, problem: String },
    /// The data set cannot feed the model's inputs.
    #[error("data: {0}")]
    Data(String),
    /// The executor failed while running an entry point.
    #[error("{entry}{}: {source}", step.map(|s| format!(" at step {s}")).unwrap_or_default())]
    Exec {
        entry: String,
        step: Option<u64>,
        #[source]
        source: ExecError,
    },
    /// The loss became NaN or infinite; nothing from this step was saved.
    #[error(
        "the loss is {loss} at step {step} (numbered from 0, as in metrics.jsonl); training stopped and the last checkpoint was kept"
    )]
    NonFinite { step: u64, loss: f64 },
    /// A parameter or state tensor holds NaN or infinity when a checkpoint was due, so the
    /// checkpoint was not written.
    #[error("tensor `{name}` holds non-finite values after step {step}; the checkpoint was not written")]
    NonFiniteTensor { step: u64, name: String },
    /// The run was asked to stop (Ctrl-C): the step under way finished and a checkpoint of it
    /// was written, so `--resume` continues exactly where it stopped.
    #[error(
        "interrupted after step {} ({steps_done}/{total_steps} done, numbered from 0 as in metrics.jsonl); checkpoint written to {}",
        steps_done.saturating_sub(1),
        checkpoint.display()
    )]
    Interrupted { steps_done: u64, total_steps: u64, checkpoint: PathBuf },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

impl TrainError {
    pub(crate) fn signature(entry: &str, problem: impl Into<String>) -> TrainError {
        TrainError::Signature { entry: entry.to_string(), problem: problem.into() }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> TrainError {
        TrainError::Checkpoint { path: path.into(), problem: problem.into() }
    }
}

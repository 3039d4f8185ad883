//! The training runtime: the loop that drives a model's `train` entry over a data set, its
//! checkpoints, logs and end-of-run artefacts, and the batched helpers the command line uses for
//! `eval`, `encode`, `decode` and `reconstruct` over whole files.
//!
//! **API boundary**: everything here talks to the model only through `hg_exec::Session` (and
//! the manifest and naming contract of `hg_abi`), so it trains the reference interpreter,
//! compiled CPU code and CUDA plans alike.
//!
//! **Invariant**: a run is a pure function of its data, starting parameters, seed and settings:
//! the data order comes from `(seed, epoch)`, every random draw inside the model from
//! `(seed, step)`, and a checkpoint records exactly the counters and tensors needed to continue,
//! so an interrupted and resumed run reproduces an uninterrupted one bit-for-bit.

mod batched;
mod checkpointing;
mod config;
mod error;
mod metrics;
mod progress;
mod record;
mod report;
mod run;
mod signature;
#[cfg(test)]
mod tests;

pub use batched::{EvalResult, evaluate, run_batched, run_generated};
pub use checkpointing::{
    CHECKPOINT_FILE, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, CheckpointMeta, load_checkpoint,
    load_checkpoint_meta, load_checkpoint_record, save_checkpoint,
};
pub use config::{ProgressMode, TrainConfig, TrainStart};
pub use error::TrainError;
pub use metrics::{EVAL_LOG_FILE, EvalRecord, METRICS_FILE, MetricsLog, StepRecord};
pub use record::{RUN_FILE, RunRecord, short_diff};
pub use report::{
    EVAL_FILE, EvalPictures, FINAL_WEIGHTS_FILE, LOSS_PLOT_FILE, MAX_METRIC_PANELS, RECONSTRUCTIONS_FILE, SAMPLES_FILE,
    WEIGHTS_FORMAT, eval_pictures,
};
pub use run::{TrainSummary, train, train_with_log};
pub use signature::{CallScalars, RUNTIME_SCALARS, model_inputs, with_param_prefix, without_param_prefix};

/// Every file a training run writes in its output folder (finished or interrupted), so a
/// caller can tell whether a folder holds a run, or clear one, without a second list to
/// keep in step.
pub const RUN_FILES: [&str; 9] = [
    record::RUN_FILE,
    METRICS_FILE,
    EVAL_LOG_FILE,
    CHECKPOINT_FILE,
    FINAL_WEIGHTS_FILE,
    EVAL_FILE,
    LOSS_PLOT_FILE,
    RECONSTRUCTIONS_FILE,
    SAMPLES_FILE,
];

//! Checkpoints: the complete state of a run, so that resuming continues bit-for-bit.
//!
//! `checkpoint.safetensors` holds every `param:<path>` and `state:<path>` tensor under its
//! entry-point name, and metadata with the counters that decide what comes next: the number of
//! completed steps (the next step's `step` input), the epoch and position within it that step
//! falls on (position counted in examples), the seed, base learning rate, planned total, batch size, shuffling and the number
//! of examples. Everything random in a run is a function of these (the graph draws from
//! `(seed, step)`, the data order from `(seed, epoch)`), so nothing else needs saving.
//!
//! **Invariants**: a checkpoint is written atomically (temporary file, fsync, rename), so a crash
//! mid-write leaves the previous one intact; only the latest checkpoint is kept, overwritten in
//! place. Loading validates the format marker, every metadata field, and each tensor against the
//! model's train signature, naming the file and the tensor in every error.

use super::error::TrainError;
use super::record::RunRecord;
use super::signature::check_tensors;
use crate::checkpoint::{load_safetensors, load_safetensors_metadata, save_safetensors};
use hg_abi::TensorSpec;
use hg_exec::NamedTensors;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// File name of the rolling checkpoint inside the output directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The `format` metadata value that marks a training checkpoint.
pub const CHECKPOINT_FORMAT: &str = "hourglass-checkpoint";
/// Bumped whenever the meaning of the metadata changes; older files are refused.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The counters and settings a checkpoint records.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointMeta {
    /// Steps completed; the resumed run's first `step` input.
    pub step: u64,
    /// Epoch of the next step.
    pub epoch: u64,
    /// Where the next step's batch starts within its epoch's order, in examples (a multiple of
    /// the batch size), as [`crate::data::BatchIter`] counts it.
    pub position: usize,
    pub seed: u64,
    pub base_lr: f64,
    pub total_steps: u64,
    pub batch: usize,
    pub shuffle: bool,
    /// Examples in the training data, so a resume on different data is caught.
    pub examples: usize,
    /// What the run was asked to do (spec, hyperparameters, optimizer, data, seed); absent in
    /// checkpoints of runs that did not record it.
    pub record: Option<RunRecord>,
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub params: NamedTensors,
    pub state: NamedTensors,
    pub meta: CheckpointMeta,
}

impl CheckpointMeta {
    fn to_metadata(&self) -> BTreeMap<String, String> {
        let fields = [
            ("format", CHECKPOINT_FORMAT.to_string()),
            ("format_version", CHECKPOINT_VERSION.to_string()),
            ("step", self.step.to_string()),
            ("epoch", self.epoch.to_string()),
            ("position", self.position.to_string()),
            ("seed", self.seed.to_string()),
            // `Display` of f64 is the shortest text that parses back to the same bits.
            ("base_lr", self.base_lr.to_string()),
            ("total_steps", self.total_steps.to_string()),
            ("batch", self.batch.to_string()),
            ("shuffle", self.shuffle.to_string()),
            ("examples", self.examples.to_string()),
        ];
        let mut meta: BTreeMap<String, String> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Some(r) = &self.record {
            meta.insert("run".into(), r.to_json());
        }
        meta
    }

    fn from_metadata(meta: &BTreeMap<String, String>, path: &Path) -> Result<CheckpointMeta, TrainError> {
        let bad = |problem: String| TrainError::checkpoint(path, problem);
        match meta.get("format").map(String::as_str) {
            Some(CHECKPOINT_FORMAT) => {}
            Some(other) => {
                return Err(bad(format!("format is `{other}`, not a training checkpoint (`{CHECKPOINT_FORMAT}`)")));
            }
            None => {
                return Err(bad(
                    "has no `format` metadata: it is not a training checkpoint (weights files cannot be resumed from)"
                        .into(),
                ));
            }
        }
        let version: u32 = field(meta, "format_version", path)?;
        if version != CHECKPOINT_VERSION {
            return Err(bad(format!(
                "format version {version} is not supported (this runtime reads version {CHECKPOINT_VERSION})"
            )));
        }
        Ok(CheckpointMeta {
            step: field(meta, "step", path)?,
            epoch: field(meta, "epoch", path)?,
            position: field(meta, "position", path)?,
            seed: field(meta, "seed", path)?,
            base_lr: field(meta, "base_lr", path)?,
            total_steps: field(meta, "total_steps", path)?,
            batch: field(meta, "batch", path)?,
            shuffle: field(meta, "shuffle", path)?,
            examples: field(meta, "examples", path)?,
            record: match meta.get("run") {
                None => None,
                Some(text) => Some(
                    RunRecord::from_json(text).ok_or_else(|| bad("metadata `run` is not a valid run record".into()))?,
                ),
            },
        })
    }
}

fn field<T: FromStr>(meta: &BTreeMap<String, String>, key: &str, path: &Path) -> Result<T, TrainError> {
    let text = meta.get(key).ok_or_else(|| TrainError::checkpoint(path, format!("metadata `{key}` is missing")))?;
    text.parse().map_err(|_| TrainError::checkpoint(path, format!("metadata `{key}` has the invalid value `{text}`")))
}

/// Writes a checkpoint atomically.
pub fn save_checkpoint(
    path: &Path,
    params: &NamedTensors,
    state: &NamedTensors,
    meta: &CheckpointMeta,
) -> Result<(), TrainError> {
    let mut tensors = params.clone();
    tensors.extend(state.iter().map(|(k, v)| (k.clone(), v.clone())));
    save_safetensors(path, &tensors, &meta.to_metadata())?;
    Ok(())
}

/// Reads a checkpoint and its metadata; tensors are split into parameters and state by their
/// prefix, and any other tensor is an error.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, TrainError> {
    let (tensors, metadata) = load_safetensors(path)?;
    let meta = CheckpointMeta::from_metadata(&metadata, path)?;
    let (mut params, mut state) = (NamedTensors::new(), NamedTensors::new());
    for (name, t) in tensors {
        if super::signature::is_param(&name) {
            params.insert(name, t);
        } else if super::signature::is_state(&name) {
            state.insert(name, t);
        } else {
            return Err(TrainError::checkpoint(
                path,
                format!("tensor `{name}` is neither a parameter (`param:`) nor optimizer state (`state:`)"),
            ));
        }
    }
    Ok(Checkpoint { params, state, meta })
}

/// The run record of a checkpoint (`None` when it has none), checking the format first, so the
/// command line can restore a run's settings before it compiles the spec.
pub fn load_checkpoint_record(path: &Path) -> Result<Option<RunRecord>, TrainError> {
    Ok(load_checkpoint_meta(path)?.record)
}

/// The counters and settings of a checkpoint, checking the format, so the command line can
/// say what a resumed run will do before it starts.
pub fn load_checkpoint_meta(path: &Path) -> Result<CheckpointMeta, TrainError> {
    let metadata = load_safetensors_metadata(path)?;
    CheckpointMeta::from_metadata(&metadata, path)
}

/// Checks a checkpoint's tensors against the model: every parameter and state tensor present
/// with the right dtype and shape, and nothing else.
pub(crate) fn validate_checkpoint(
    ckpt: &Checkpoint,
    param_specs: &[TensorSpec],
    state_specs: &[TensorSpec],
    path: &Path,
) -> Result<(), TrainError> {
    let mut problems = Vec::new();
    if let Err(p) = check_tensors(param_specs, &ckpt.params, "parameter", false) {
        problems.push(p);
    }
    if let Err(p) = check_tensors(state_specs, &ckpt.state, "optimizer state", false) {
        problems.push(p);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TrainError::checkpoint(path, format!("does not match the model: {}", problems.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_exec::tensor::Tensor;

    fn meta() -> CheckpointMeta {
        CheckpointMeta {
            step: 7,
            epoch: 1,
            position: 2,
            seed: u64::MAX,
            base_lr: 0.1 + 0.2,
            total_steps: 20,
            batch: 4,
            shuffle: true,
            examples: 21,
            record: None,
        }
    }

    #[test]
    fn metadata_round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let params: NamedTensors =
            [("param:w".to_string(), Tensor::from_f32(vec![2], vec![1.0, -2.0]).unwrap())].into();
        let state: NamedTensors =
            [("state:m.w".to_string(), Tensor::from_f32(vec![2], vec![0.5, 0.25]).unwrap())].into();
        save_checkpoint(&path, &params, &state, &meta()).unwrap();
        let ckpt = load_checkpoint(&path).unwrap();
        assert_eq!(ckpt.meta, meta());
        assert_eq!(ckpt.params, params);
        assert_eq!(ckpt.state, state);
    }

    #[test]
    fn foreign_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.safetensors");
        let t: BTreeMap<String, Tensor> = [("w".to_string(), Tensor::scalar_f32(1.0))].into();
        save_safetensors(&path, &t, &BTreeMap::new()).unwrap();
        let e = load_checkpoint(&path).unwrap_err().to_string();
        assert!(e.contains("weights.safetensors") && e.contains("not a training checkpoint"), "{e}");

        let mut m = meta().to_metadata();
        m.insert("format_version".into(), "99".into());
        save_safetensors(&path, &t, &m).unwrap();
        let e = load_checkpoint(&path).unwrap_err().to_string();
        assert!(e.contains("format version 99"), "{e}");

        let mut m = meta().to_metadata();
        m.insert("step".into(), "seven".into());
        save_safetensors(&path, &t, &m).unwrap();
        let e = load_checkpoint(&path).unwrap_err().to_string();
        assert!(e.contains("`step`") && e.contains("`seven`"), "{e}");

        save_safetensors(&path, &t, &meta().to_metadata()).unwrap();
        let e = load_checkpoint(&path).unwrap_err().to_string();
        assert!(e.contains("tensor `w` is neither"), "{e}");
    }
}

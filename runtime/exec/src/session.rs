//! The execution contract: a backend compiles a module once and opens a [`Session`] on it;
//! the session keeps the parameters and optimizer state resident in the backend's own memory
//! (host memory for CPU backends, device memory for CUDA) and is driven with batches and
//! runtime scalars only.
//!
//! Contract, for every backend:
//! - Tensors are named by the `hg_abi::names` convention and checked against the manifest's
//!   signatures; a missing or ill-shaped tensor is an [`ExecError`] naming it, never a panic.
//! - [`Session::train_step`] takes the batch and the scalars the `train` entry reads (`step`,
//!   `seed`, `first_example`, `base_lr`, `total_steps`, `batch`), and returns only the other
//!   outputs (`loss`, `metric:*`, `lr`). When the loss is finite the step's new parameters and
//!   state replace the resident ones (the old buffers are donated, nothing is copied back);
//!   when it is not, nothing changes, so a run that stops on a NaN keeps its last good state.
//! - Parameters and state cross to the host only through [`Session::read_params`] and
//!   [`Session::read_state`] (checkpoints, exports, the end of a run).
//! - Inference entries (`encode`, `decode`, `reconstruct`, `sample`, `eval`) run through
//!   [`Session::run`] on the resident parameters; their inputs are data and runtime scalars.

use crate::tensor::Tensor;
use hg_abi::{Manifest, TensorSpec};
use std::collections::BTreeMap;

/// Tensors keyed by their entry-point names (see `hg_abi::names`).
pub type NamedTensors = BTreeMap<String, Tensor>;

/// An error raised while running an entry point: a missing or ill-shaped input, or a failure
/// inside the backend. The message is complete and user-facing.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    pub message: String,
}

impl ExecError {
    pub fn new(message: impl Into<String>) -> Self {
        ExecError { message: message.into() }
    }
}

/// A compiled model opened on a backend, with its parameters and optimizer state resident.
pub trait Session {
    /// The backend's registry name (`interp`, ...).
    fn backend(&self) -> &str;
    /// What the model is: parameters, entry signatures, train-step layout.
    fn manifest(&self) -> &Manifest;
    /// Replaces the resident parameters by `params` (every parameter, `param:<path>`, of the
    /// manifest's dtype and shape). Takes ownership so a host backend keeps the buffers as
    /// they are.
    fn load_params(&mut self, params: NamedTensors) -> Result<(), ExecError>;
    /// Replaces the resident optimizer state (the train layout's `state` tensors).
    fn load_state(&mut self, state: NamedTensors) -> Result<(), ExecError>;
    /// Host copies of the resident parameters.
    fn read_params(&self) -> Result<NamedTensors, ExecError>;
    /// Host copies of the resident optimizer state.
    fn read_state(&self) -> Result<NamedTensors, ExecError>;
    /// One optimizer step on a batch; see the module doc.
    fn train_step(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError>;
    /// Runs an inference entry on the resident parameters; returns every output.
    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError>;
}

/// Whether `t` has exactly the dtype and (batch-free) shape of `spec`; `None` when it does, a
/// description of the difference otherwise.
pub fn mismatch(spec: &TensorSpec, t: &Tensor) -> Option<String> {
    let want = spec.resolve_shape(0);
    (t.dtype() != spec.dtype || t.shape() != want.as_slice())
        .then(|| format!("is {} {:?} but the model expects {} {:?}", t.dtype(), t.shape(), spec.dtype, want))
}

/// Checks that `tensors` holds the tensors `specs` describe, each with the right dtype and
/// (batch-free) shape, and (unless `allow_extra`) nothing else. The error lists every
/// problem, each naming its tensor.
pub fn check_tensors(
    specs: &[TensorSpec],
    tensors: &NamedTensors,
    what: &str,
    allow_extra: bool,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for spec in specs {
        match tensors.get(&spec.name) {
            None => problems.push(format!("{what} `{}` is missing", spec.name)),
            Some(t) => {
                if let Some(m) = mismatch(spec, t) {
                    problems.push(format!("{what} `{}` {m}", spec.name));
                }
            }
        }
    }
    for name in tensors.keys().filter(|_| !allow_extra) {
        if !specs.iter().any(|s| &s.name == name) {
            problems.push(format!("`{name}` is not a {what} of this model"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

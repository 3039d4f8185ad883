//! The one trait every executor implements, so that the training loop, `eval`, `encode` and the
//! rest work the same over the interpreter and over compiled code.

use crate::tensor::Tensor;
use hg_abi::EntrySignature;
use std::collections::BTreeMap;

/// Tensors keyed by their entry-point names (see `hg_abi::names`).
pub type NamedTensors = BTreeMap<String, Tensor>;

/// An error raised while running an entry point: a missing or ill-shaped input, or a failure
/// inside the executor. The message is complete and user-facing.
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

/// A model ready to run: a set of typed entry points.
pub trait Executable {
    /// Names of the entry points this model has (`encode`, `train`, ...).
    fn entries(&self) -> Vec<String>;
    /// Typed interface of one entry point, or `None` when the model has no such entry.
    fn signature(&self, entry: &str) -> Option<EntrySignature>;
    /// Runs an entry point. `inputs` must hold every input of the signature (extra ones are
    /// ignored); the result holds every output.
    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError>;
}

//! The contract between the Hourglass compiler and its runtime.
//!
//! Everything that crosses from `hgc` to an executor (the reference interpreter today, compiled
//! plans and standalone binaries later) is described here: element types, tensor signatures
//! with a symbolic batch dimension, and the naming convention of the tensors an entry point
//! reads and writes, and the [`artifact`] that carries a compiled model to a runtime, with the
//! [`cpu`] levels its kernel objects target. The runtime depends on this crate and never on
//! the compiler.
//!
//! **Invariant**: names are the only link between a graph's inputs/outputs and the runtime's
//! buffers. A train step reads `x` (model inputs), `param:<path>` and `state:<path>`, and writes
//! `loss`, `metric:<name>`, `param:<path>` and `state:<path>`; see [`names`].

use serde::{Deserialize, Serialize};
use std::fmt;

pub mod artifact;
pub mod cpu;
pub mod manifest;
pub mod ops;
pub mod plan;
pub mod scalar;
pub use artifact::{Artifact, ArtifactError, Section};
pub use cpu::CpuLevel;
pub use manifest::{Init, Manifest, ParamSpec, TrainLayout};

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I32,
    I64,
    Bool,
}

impl DType {
    pub const ALL: [DType; 7] = [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64, DType::Bool];

    /// The spelling used in specs, IR text and `info --json`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    pub fn from_name(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// Size of one element in bytes, as stored in npy/safetensors files.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dimension of a signature: fixed, or a multiple of the run-time batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DimSpec {
    Fixed(usize),
    /// `k * B`, where `B` is the batch size of the call.
    Batch(usize),
}

impl DimSpec {
    pub fn resolve(self, batch: usize) -> usize {
        match self {
            DimSpec::Fixed(n) => n,
            DimSpec::Batch(k) => k * batch,
        }
    }
}

impl fmt::Display for DimSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DimSpec::Fixed(n) => write!(f, "{n}"),
            DimSpec::Batch(1) => f.write_str("B"),
            DimSpec::Batch(k) => write!(f, "{k}*B"),
        }
    }
}

/// Name, element type and shape of one tensor an entry point reads or writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<DimSpec>,
}

impl TensorSpec {
    pub fn has_batch(&self) -> bool {
        self.shape.iter().any(|d| matches!(d, DimSpec::Batch(_)))
    }

    pub fn resolve_shape(&self, batch: usize) -> Vec<usize> {
        self.shape.iter().map(|d| d.resolve(batch)).collect()
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}[", self.name, self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The typed interface of one entry point (`encode`, `train`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySignature {
    pub name: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Naming conventions for the tensors that entry points exchange with the runtime.
pub mod names {
    /// Prefix of a trainable parameter: `param:encoder.mu.w`.
    pub const PARAM: &str = "param:";
    /// Prefix of optimizer state: `state:adam.m.encoder.mu.w`.
    pub const STATE: &str = "state:";
    /// Prefix of a metric output: `metric:kl`.
    pub const METRIC: &str = "metric:";
    /// Prefix of a picture output of `eval`: `picture:masked`, one image per example.
    pub const PICTURE: &str = "picture:";
    /// Scalar f32 loss output of `train` and `eval`.
    pub const LOSS: &str = "loss";
    /// Scalar f32 learning rate the train step used (after the schedule), for logging.
    pub const LR: &str = "lr";
    /// Scalar i64 input: the optimizer step about to be taken (0-based); the counter base of
    /// random draws (0 outside training).
    pub const STEP: &str = "step";
    /// Scalar i64 input: the run's seed, the Philox key of every random draw (with `step` and
    /// the draw's site). Declared by every entry that draws random numbers.
    pub const SEED: &str = "seed";
    /// Scalar i64 input of an entry that draws random numbers: the index, in the whole run, of
    /// the call's first example. A draw's stream starts there, so a batch split into several
    /// calls draws exactly the numbers of one call (0 for a train step).
    pub const FIRST_EXAMPLE: &str = "first_example";
    /// Scalar f32 input of `train`: the base learning rate, before the schedule (so `--lr`
    /// needs no recompilation).
    pub const BASE_LR: &str = "base_lr";
    /// Scalar i64 input of `train`: the planned number of steps (the schedules need it).
    pub const TOTAL_STEPS: &str = "total_steps";
    /// Scalar i64 input that binds the batch size `B` of an entry point whose other inputs do
    /// not (`sample` draws `batch` examples from the prior).
    pub const BATCH: &str = "batch";
    /// Scalar inputs the runtime itself provides to an entry point; no model input may take one
    /// of these names.
    pub const RUNTIME_SCALARS: [&str; 6] = [STEP, SEED, FIRST_EXAMPLE, BASE_LR, TOTAL_STEPS, BATCH];
    pub fn param(path: &str) -> String {
        format!("{PARAM}{path}")
    }
    pub fn state(path: &str) -> String {
        format!("{STATE}{path}")
    }
    pub fn metric(name: &str) -> String {
        format!("{METRIC}{name}")
    }
    pub fn picture(name: &str) -> String {
        format!("{PICTURE}{name}")
    }
}

//! The command line of a model, shared by `hgc run FILE ENTRY ...` (a spec compiled in memory)
//! and standalone executables (`NAME ENTRY ...`, the artifact they carry): the same entries,
//! options, data sets, checkpoints, resume, progress, pictures and timing, written once.
//!
//! - [`args`]: [`ModelArgs`], the entry and its options; [`options`] says which option applies
//!   to which entry (and refuses the others).
//! - [`model`]: [`ModelCard`], what the command line knows of a model without running it, and
//!   the [`Model`] trait a compiler or an artifact implements to open sessions.
//! - [`run`]: every entry; [`timing`]: `time`; [`header`]: what a training run prints first;
//!   [`memory`]: refusing a batch that does not fit; [`interrupt`]: Ctrl-C during training.
//!
//! Invariant: this crate depends on runtime crates only, so a standalone executable links it
//! without the compiler.

pub mod args;
pub mod artifact;
pub mod header;
pub mod interrupt;
pub mod memory;
pub mod model;
pub mod options;
pub mod run;
pub mod timing;

pub use args::{ModelArgs, ProgressArg};
pub use model::{MemoryCard, Model, ModelCard, ParamCard, SpecCard, TrainCard};
pub use run::{RunError, run};

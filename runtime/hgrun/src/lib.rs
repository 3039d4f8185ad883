//! `hgrun`, the Hourglass runtime command line, and the runner of every standalone executable.
//!
//! It runs built models: `hgrun NAME.hgx ENTRY ...` runs an artifact, and a copy of `hgrun`
//! with an artifact appended (what `hgc build -o NAME` writes) is that model's own command line
//! ([`standalone`]). It also works on the files models read and write: `inspect` (tensors,
//! statistics, checkpoint counters), `show` (image grids), `data` (built-in data sets to
//! `.npz`) and `diff` (tensor-by-tensor comparison).
//!
//! **Invariant**: this crate depends only on runtime crates (`hg-runtime`, `hg-cli`, `hg-cpu`,
//! `hg-abi`), never on the compiler, so a standalone executable runs on a machine without
//! Rust, LLVM or MLIR.
//! **API boundary**: every command is a function returning its output as a string or an
//! [`error::Error`]; only [`cli`] prints.

pub mod cli;
pub mod diff;
pub mod error;
pub mod export;
pub mod files;
pub mod inspect;
pub mod numfmt;
pub mod show;
pub mod standalone;
pub mod stats;
pub mod table;

//! `hgrun`, the Hourglass runtime command line, and later the entry point of every standalone
//! executable.
//!
//! Today it works on the files models read and write, without any compiled artifact:
//! `inspect` (tensors, statistics, checkpoint counters), `show` (image grids), `data` (built-in
//! data sets to `.npz`) and `diff` (tensor-by-tensor comparison). Running compiled artifacts
//! (`hgrun model.hgx train ...`) comes with the artifact format.
//!
//! **Invariant**: this crate depends only on runtime crates (`hg-runtime`, `hg-abi`), never on
//! the compiler, so a standalone executable runs on a machine without LLVM or MLIR.
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
pub mod stats;
pub mod table;

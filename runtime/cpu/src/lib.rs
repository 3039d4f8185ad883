//! The Hourglass CPU executor: what runs a compiled entry point's [`Plan`](hg_abi::plan::Plan)
//! on the host.
//!
//! - [`lib`]: the library kernels plans call by name (matrix products,
//!   convolutions, pooling, indexing, top-k, random fills), safe functions over slices that
//!   check their geometry.
//! - [`exec`]: the [`Executor`] of one plan: it sizes the buffers and the arena for a batch
//!   size, verifies every step against them, and runs generated kernels (split between threads
//!   where a kernel allows it) and library kernels in order, with denormals flushed.
//! - [`workers`]: the fork-join pool of worker threads that parallel steps and library calls
//!   split their work on (idle workers spin a while before they sleep).
//! - [`loader`]: [`LoadedObject`], an in-memory loader of relocatable x86-64 ELF objects, the
//!   form compiled kernel code is carried in, without a system linker.
//! - [`session`]: [`CpuSession`], the `hg_exec::Session` over a manifest, one plan per entry
//!   and the generated code, with parameters and optimizer state resident in its own memory.
//!
//! **Invariant**: no plan, geometry or input makes the executor panic or touch memory outside
//! a buffer: everything a step reads or writes is checked against the buffers' lengths before
//! the first step runs, and data-dependent indices are checked as they are read. Generated
//! kernels are trusted to stay inside the buffers their plan gives them (their code generator
//! proves it).

pub mod aligned;
pub mod error;
pub mod fpenv;
#[path = "lib/mod.rs"]
pub mod lib;
pub mod loader;
pub mod workers;

pub use error::CpuError;
pub use loader::{LoadError, LoadedObject};
pub mod exec;

pub use exec::{Executor, Kernels, Layout, Outcome, Peek, Ready, Threads};
pub mod session;

pub use session::CpuSession;

#[cfg(test)]
mod tests;

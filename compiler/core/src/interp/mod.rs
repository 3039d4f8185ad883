//! The reference interpreter: runs graph IR directly, one primitive at a time. It is the
//! oracle every backend is compared with, and gradient checks run it in f64.
//!
//! # Numbers
//!
//! Every value is a dense row-major buffer of `f64` ([`buf::Buf`]) whatever its dtype; after
//! each op the result is brought back to the node's dtype ("conformed"):
//!
//! - **floats**: in [`Precision::F32`] every result of dtype f32, f16 or bf16 is rounded to
//!   f32 (`x as f32 as f64`), so `+ - * /` and `sqrt` give exactly what f32 arithmetic gives;
//!   ops that accumulate (sums, matrix products, convolutions) accumulate in f64 and round once,
//!   which is at least as accurate as f32 accumulation. f16 and bf16 are computed at f32
//!   precision (the runtime stores them widened to f32 too). In [`Precision::F64`] nothing is
//!   rounded: f32 nodes carry full f64 values, which is what finite-difference gradient checks
//!   need. f64 nodes are never rounded.
//! - **integers** (i32, i64) are kept exactly as f64 values, which holds every integer of
//!   magnitude up to 2^53: results are truncated toward zero (so a float-to-int `cast`
//!   truncates), and a result that is not finite or does not fit (the i32 range, or ±2^53 for
//!   i64) is an error rather than a silently wrong number. i64 inputs beyond ±2^53 are refused.
//! - **bools** are 0.0 and 1.0; any non-zero value (NaN included) conforms to true.
//!
//! # Running a function
//!
//! [`run_function`] binds the inputs (see [`RunContext`] for the batch size, the seed and the
//! step), evaluates the live nodes in [`hg_ir::Function::topo_order`], frees each value after
//! its last use, checks every result's shape against the node's declared type (a mismatch is
//! a bug upstream and is reported with the node), and returns the outputs as runtime tensors.
//! [`estimate_peak_bytes`] tells, from the shapes alone, how much memory that takes at a batch
//! size, so a driver can refuse a batch the machine cannot hold before running.
//! Float outputs are f32 tensors (of the node's dtype) in [`Precision::F32`] and f64 tensors in
//! [`Precision::F64`], so gradient checks see full precision.
//!
//! **Invariant**: no input, graph or attribute makes the interpreter panic, and no size makes
//! it abort: every allocation whose size depends on the data is fallible (`buf::try_vec`), so a
//! machine without the memory gives an error naming the bytes; every failure is an
//! [`InterpError`] naming the input or the node (with its span) involved.

mod bind;
mod buf;
mod conv;
mod elementwise;
/// Scalar semantics of unary ops, shared with compile-time folding in expansion.
pub use elementwise::unary_scalar;
mod error;
mod eval;
mod index;
mod linalg;
mod memory;
mod random;
mod reduce;
mod session;
mod shape_ops;

#[cfg(test)]
mod fixtures_tests;
#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod testutil;

pub use buf::fmt_bytes;
pub use error::InterpError;
pub use eval::{run_function, run_function_layered};
pub use hg_exec::NamedTensors;
pub use hg_ir::scalar::{erf, erfc};
pub use memory::estimate_peak_bytes;
pub use session::InterpSession;

/// How float values of f32/f16/bf16 dtype are carried between ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Round after every op, as f32 hardware would.
    #[default]
    F32,
    /// Keep full f64 precision everywhere (gradient checks).
    F64,
}

/// Everything a run needs besides the graph and its inputs.
///
/// Randomness is not here: random ops read their key (`seed`) and counters (`step`, offset)
/// from operands, which the entry declares as inputs (`hg_abi::names`).
///
/// `batch` fixes the batch size `B` only when no input does: entries such as `sample`, whose
/// inputs do not mention `B`, need it. When an input fixes `B` and `batch` is also set, the
/// two must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RunContext {
    pub precision: Precision,
    pub batch: Option<usize>,
}

impl RunContext {
    pub fn new(precision: Precision) -> RunContext {
        RunContext { precision, ..RunContext::default() }
    }

    pub fn with_batch(self, batch: usize) -> RunContext {
        RunContext { batch: Some(batch), ..self }
    }
}

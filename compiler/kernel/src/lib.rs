//! The kernel IR and the stages that produce it from the graph IR: fusion into kernel groups,
//! lowering of each group to a loop-nest [`ir::Kernel`] or a library call, and memory planning
//! of the buffers into one arena. The result, a [`Program`] per entry point, is the single input
//! of every code generator (Cranelift, LLVM, MLIR) and, through its [`Plan`], of every executor.

pub mod call;
pub mod collapse;
pub mod eval;
pub mod fastmath;
pub mod ir;
pub mod lower;
pub mod math;
pub mod plan;
pub mod print;
pub mod program_text;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use eval::{Buffer, EvalError, Value, eval};
pub use print::{print_kernel, print_kernels};
pub use verify::{VerifyError, verify};

use hg_abi::plan::Plan;
pub use lower::{LowerError, lower_function};

/// One entry point compiled: the plan an executor runs and the kernels its `Step::Kernel`s
/// index.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub plan: Plan,
    pub kernels: Vec<ir::Kernel>,
    /// Per step (before scheduling), a label and the source spans of the graph values it
    /// computes, for `hgc ir --stage fused`.
    pub labels: Vec<(String, Vec<hg_ir::NodeSpan>)>,
}

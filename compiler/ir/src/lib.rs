//! The graph IR every stage after the front end shares.
//!
//! A [`Function`] is a `petgraph` `StableDiGraph` of primitive [`Op`]s: each node produces one
//! value with a dtype and a symbolic shape ([`TensorType`]); edges carry the operand position.
//! A [`Module`] holds one function per entry point plus the declared parameters.
//!
//! **Invariant**: the op set is closed and small; everything else (softmax, layers, losses,
//! bottlenecks) is standard-library code or a decomposition made during expansion. Every node
//! keeps the source span it came from, so any later error can point at the spec.

pub mod dim;
pub mod function;
pub mod infer;
pub mod op;
pub mod passes;
pub mod print;
pub mod reader;
/// The meaning of each elementwise op on one value (part of the runtime contract, in `hg_abi`).
pub use hg_abi::scalar;
pub mod types;
pub mod verify;

pub use dim::{Dim, Sym};
pub use function::{Function, Module, Node, NodeSpan, ParamDecl, ValueId};
pub use hg_abi::DType;
pub use infer::{InferError, infer_type};
pub use op::{BinaryOp, Init, Op, PoolKind, ReduceOp, UnaryOp};
pub use reader::{ReadError, read_function, read_module, read_type};
pub use types::{Shape, TensorType};
pub use verify::{VerifyError, verify_function, verify_module};

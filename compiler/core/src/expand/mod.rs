//! Expansion: from the resolved AST of one model to a typed IR [`hg_ir::Module`].
//!
//! `fn` calls are inlined with their own parameters (shared inside `repeat`), compile-time
//! values are folded, `if training` is resolved per entry point, records are flattened into
//! their fields, and every IR node keeps the span of the expression that made it. Type and
//! shape checking happen here, node by node, through `hg_ir::infer_type`.

pub mod ancestral;
pub mod buffers;
pub mod builtins;
pub mod ctx;
pub mod error;
pub mod eval;
pub mod index;
pub mod model;
pub mod program;
pub mod rank;
pub mod train;
pub mod types;
pub mod value;

pub use ctx::{ParamTable, ProgramView};
pub use error::ExpandError;
pub use model::{ENTRIES, Expanded, TRAIN_FORWARD, expand_model};
pub use train::{OptimizerSpec, ScheduleSpec, TrainDefaults, eval_train_block};
pub use value::Value;
#[cfg(test)]
mod tests;

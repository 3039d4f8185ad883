//! Type inference for one primitive: dtype and symbolic shape of a node from its operands.
//! (Being written: placeholder so the crate builds.)

use crate::op::Op;
use crate::types::TensorType;

/// Why an op cannot be applied to its operands. Spans are added by the caller.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InferError {
    pub message: String,
}

pub fn infer_type(op: &Op, operands: &[&TensorType], given: Option<&TensorType>) -> Result<TensorType, InferError> {
    let _ = operands;
    given.cloned().ok_or_else(|| InferError { message: format!("`{}`: type inference not available", op.mnemonic()) })
}

//! Vector-Jacobian products, one function per primitive, grouped by op family. The table in
//! `rules.rs` says which function differentiates which op.
//!
//! Every function receives the cotangent `g` of the node's value and returns, for each operand
//! position it was asked for (`needs`), a gradient of exactly that operand's type.

pub(crate) mod elementwise;
pub(crate) mod index;
pub(crate) mod linalg;
pub(crate) mod reduce;
pub(crate) mod shape;

use super::rules::Grads;

/// A gradient for operand 0 only.
pub(crate) fn first(g: Option<hg_ir::ValueId>) -> Grads {
    vec![g]
}

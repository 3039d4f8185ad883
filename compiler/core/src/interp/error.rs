//! Errors of the reference interpreter. Each names what it is about: the input (with the
//! expected type and the shape it got), the node (with its op and source span), or the
//! parameter; messages are lowercase and complete.

use hg_ir::{NodeSpan, ValueId};

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InterpError {
    /// An input of the signature (or a parameter the graph reads) was not given.
    #[error("missing input `{name}` (expected {expected})")]
    MissingInput { name: String, expected: String },
    /// A given input does not match its declared type, or its value is unusable.
    #[error("input `{name}`: expected {expected}, got {got}: {reason}")]
    BadInput { name: String, expected: String, got: String, reason: String },
    /// The batch size `B` cannot be determined, or two sources disagree on it.
    #[error("batch size `B`: {0}")]
    Batch(String),
    /// A node failed: bad operands or attributes, an out-of-range index, a result that does not
    /// match the node's declared type.
    #[error("node {node} (`{op}`): {message}")]
    Op { node: ValueId, op: &'static str, span: NodeSpan, message: String },
    /// The function itself is malformed (a cycle, an output that is not a node).
    #[error("function `{function}`: {message}")]
    Graph { function: String, message: String },
    /// A parameter cannot be initialised.
    #[error("parameter `{name}`: {message}")]
    Param { name: String, message: String },
}

//! Reverse-mode automatic differentiation as a graph-to-graph pass.
//!
//! [`differentiate`] adds the gradient nodes of a scalar (or any float) `loss` with respect to
//! chosen values to the same [`Function`], so the backward graph goes through CSE, fusion and
//! memory planning like the forward one. Algorithm:
//! 1. Reachability ([`reach`]): the *active* nodes are those on a gradient-carrying path from a
//!    `wrt` value to the loss; nothing else is differentiated.
//! 2. Seed the loss's cotangent with ones (`full 1.0` of its type; for a non-scalar loss this
//!    differentiates the sum of its elements).
//! 3. Visit the active nodes in reverse topological order (iteratively). Each node's cotangent
//!    is complete by then, since all its users come later in the forward order; its rule from
//!    the table in [`rules`] builds the operands' gradients, which are accumulated with `add`.
//! 4. Read off each `wrt` value's cotangent. A value that does not reach the loss at all gets a
//!    zero gradient (`full 0.0`) and is listed in [`GradResult::unused`]; one that reaches it
//!    only through non-differentiable ops is an error naming the blocking op.
//!
//! **Invariants**: a gradient has exactly its value's type; only float values carry
//! cotangents; every gradient node carries the span of the forward node it differentiates.
//! The forward nodes are never modified, so the function's outputs keep their meaning.

mod emit;
pub mod gradcheck;
mod params;
mod reach;
mod rules;
mod vjp;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

pub(crate) use emit::Emit;
pub use params::{BoundParams, GRAD_PREFIX, bind_params, gradient_function};

use hg_ir::{Function, NodeSpan, Op, TensorType, ValueId};
use reach::{Block, EdgeFlow, Reach, edge_flow};
use std::collections::HashMap;

/// Why gradients could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AutodiffError {
    #[error("the loss has type {ty}; gradients need a float loss")]
    NonFloatLoss { ty: TensorType, span: NodeSpan },
    #[error("{what} has type {ty}; only float values get gradients")]
    NonFloatWrt { what: String, ty: TensorType, span: NodeSpan },
    /// `span` is the blocking op's; `wrt_span` the differentiated value's.
    #[error("{what} reaches the loss only through `{op}` ({reason})")]
    Blocked { what: String, op: &'static str, reason: &'static str, span: NodeSpan, wrt_span: NodeSpan },
    #[error("cannot differentiate `{op}`: {reason}")]
    Unsupported { op: &'static str, reason: String, span: NodeSpan },
    /// A gradient rule built an ill-typed node: a bug in a rule or in the forward graph.
    #[error("internal error building gradient nodes for `{op}`: {message}")]
    Build { op: &'static str, span: NodeSpan, message: String },
    /// The IR verifier rejected the result of a pass: a compiler bug, reported with its node.
    #[error("internal error: {0}")]
    Verify(#[from] hg_ir::verify::VerifyError),
    #[error("the function has no `loss` output")]
    MissingLoss,
    #[error("parameter `{name}` is used with type {found} but declared as {declared}")]
    ParamType { name: String, declared: TensorType, found: TensorType, span: NodeSpan },
    #[error("parameter `{name}` is read but not declared")]
    UndeclaredParam { name: String, span: NodeSpan },
}

impl AutodiffError {
    /// The source span the error points at, when it has one.
    pub fn span(&self) -> Option<NodeSpan> {
        match self {
            AutodiffError::NonFloatLoss { span, .. }
            | AutodiffError::NonFloatWrt { span, .. }
            | AutodiffError::Blocked { span, .. }
            | AutodiffError::Unsupported { span, .. }
            | AutodiffError::Build { span, .. }
            | AutodiffError::ParamType { span, .. }
            | AutodiffError::UndeclaredParam { span, .. } => Some(*span),
            AutodiffError::Verify(e) => e.span,
            AutodiffError::MissingLoss => None,
        }
    }
}

/// Runs the IR clean-up pipeline (CSE, then dead-value elimination, verified in debug builds)
/// on a function this module built, so gradient and train-step graphs come out tidy.
pub(crate) fn run_passes(f: &mut Function) -> Result<(), AutodiffError> {
    hg_ir::passes::run_pipeline(f)?;
    Ok(())
}

/// The gradients [`differentiate`] added.
#[derive(Clone, Debug, PartialEq)]
pub struct GradResult {
    /// One gradient per `wrt` value, in order, each of that value's type.
    pub grads: Vec<ValueId>,
    /// `wrt` values that do not reach the loss at all: their gradient is a zero tensor. The
    /// caller decides whether to warn.
    pub unused: Vec<ValueId>,
}

/// How a differentiated value is named in messages: `parameter `enc.w``, `input `x``.
pub(crate) fn describe(f: &Function, v: ValueId) -> String {
    match f.op(v) {
        Op::Param { name } => format!("parameter `{name}`"),
        Op::Input { name } => match name.strip_prefix(hg_abi::names::PARAM) {
            Some(path) => format!("parameter `{path}`"),
            None => format!("input `{name}`"),
        },
        op => format!("value {v} (`{}`)", op.mnemonic()),
    }
}

/// Adds the gradient of `loss` with respect to each `wrt` value to `f`; see the module doc.
pub fn differentiate(f: &mut Function, loss: ValueId, wrt: &[ValueId]) -> Result<GradResult, AutodiffError> {
    let loss_node = f.node(loss).clone();
    if !loss_node.ty.dtype.is_float() {
        return Err(AutodiffError::NonFloatLoss { ty: loss_node.ty, span: loss_node.span });
    }
    for &w in wrt {
        if !f.ty(w).dtype.is_float() {
            return Err(AutodiffError::NonFloatWrt { what: describe(f, w), ty: f.ty(w).clone(), span: f.node(w).span });
        }
    }
    let reach = Reach::new(f, loss, wrt);
    for &w in wrt {
        if !reach.is_live(w) && reach.is_ancestor(w) {
            return Err(blocked_error(f, &reach, w));
        }
    }

    let mut cotangents: HashMap<ValueId, ValueId> = HashMap::new();
    let seed = Emit::new(f, loss_node.span, "loss").full(1.0, loss_node.ty.clone())?;
    cotangents.insert(loss, seed);
    for &v in reach.order.iter().rev() {
        if !reach.is_active(v) {
            continue;
        }
        let Some(&g) = cotangents.get(&v) else { continue };
        for (operand, grad) in pull_back(f, &reach, v, g)? {
            accumulate(f, &mut cotangents, operand, grad)?;
        }
    }

    let mut grads = Vec::with_capacity(wrt.len());
    let mut unused = Vec::new();
    for &w in wrt {
        match cotangents.get(&w) {
            Some(&g) => grads.push(g),
            None => {
                let node = f.node(w).clone();
                grads.push(Emit::new(f, node.span, node.op.mnemonic()).full(0.0, node.ty)?);
                unused.push(w);
            }
        }
    }
    Ok(GradResult { grads, unused })
}

/// Applies `v`'s rule to its cotangent `g`: the gradients of its active operands.
fn pull_back(
    f: &mut Function,
    reach: &Reach,
    v: ValueId,
    g: ValueId,
) -> Result<Vec<(ValueId, ValueId)>, AutodiffError> {
    let node = f.node(v).clone();
    let operands = f.operands(v);
    let mut needs = vec![false; operands.len()];
    for (pos, &x) in operands.iter().enumerate() {
        if !reach.is_active(x) {
            continue;
        }
        match edge_flow(f, v, pos, x) {
            EdgeFlow::Grad => needs[pos] = true,
            EdgeFlow::Blocked(_) => {}
            EdgeFlow::Unsupported(reason) => {
                return Err(AutodiffError::Unsupported {
                    op: node.op.mnemonic(),
                    reason: reason.to_string(),
                    span: node.span,
                });
            }
        }
    }
    let Some(vjp) = rules::rule(&node.op).vjp.filter(|_| needs.contains(&true)) else {
        return Ok(Vec::new());
    };
    let mut e = Emit::new(f, node.span, node.op.mnemonic());
    let args = rules::VjpArgs { op: &node.op, out: v, operands: &operands, g, needs: &needs };
    let grads = vjp(&mut e, &args)?;
    let mut out = Vec::new();
    for (pos, &x) in operands.iter().enumerate() {
        if !needs[pos] {
            continue;
        }
        let Some(grad) = grads.get(pos).copied().flatten() else {
            return Err(e.error(format!("no gradient built for operand {pos}")));
        };
        if e.f.ty(grad) != e.f.ty(x) {
            return Err(e.error(format!(
                "gradient for operand {pos} has type {}, expected {}",
                e.f.ty(grad),
                e.f.ty(x)
            )));
        }
        out.push((x, grad));
    }
    Ok(out)
}

fn accumulate(
    f: &mut Function,
    cotangents: &mut HashMap<ValueId, ValueId>,
    v: ValueId,
    grad: ValueId,
) -> Result<(), AutodiffError> {
    let total = match cotangents.get(&v) {
        Some(&prev) => {
            let span = f.node(v).span;
            let mnemonic = f.op(v).mnemonic();
            Emit::new(f, span, mnemonic).add(prev, grad)?
        }
        None => grad,
    };
    cotangents.insert(v, total);
    Ok(())
}

fn blocked_error(f: &Function, reach: &Reach, w: ValueId) -> AutodiffError {
    let what = describe(f, w);
    let wrt_span = f.node(w).span;
    match reach.blocker(f, w) {
        Some((op, why)) => AutodiffError::Blocked {
            what,
            op: f.op(op).mnemonic(),
            reason: match why {
                Block::NotDifferentiable => "not differentiable",
                Block::Stopped => "gradients are stopped there",
                Block::NotFloat => "only float values carry gradients",
            },
            span: f.node(op).span,
            wrt_span,
        },
        // `blocker` always finds an op when `w` reaches the loss without being live; keep a
        // sensible error should the two analyses ever disagree.
        None => AutodiffError::Blocked {
            what,
            op: f.op(w).mnemonic(),
            reason: "no differentiable path",
            span: wrt_span,
            wrt_span,
        },
    }
}

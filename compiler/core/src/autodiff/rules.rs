//! The gradient rule table: one entry per primitive.
//!
//! A [`Rule`] says which operand positions receive a gradient and names the vector-Jacobian
//! product ([`Vjp`]) that builds those gradients from the cotangent of the node's value. The
//! functions themselves live in the `vjp` modules, grouped by op family; this file is only the
//! table, so reading it answers "what is differentiable, with respect to what".
//!
//! Three kinds of operand:
//! - **gradient**: listed in `grads`; the vjp returns a value of the operand's exact type
//!   (broadcasting is undone by summing, see `Emit::sum_to`).
//! - **blocked**: the derivative is zero wherever it exists (indices, comparisons, logic,
//!   the piecewise-constant `sign`/`floor`/`round`, `stop_gradient`, the `forward` operand of
//!   `straight_through`). No gradient flows, which matches PyTorch's numbers; a parameter that
//!   reaches the loss *only* through such operands is reported as an error, because that is
//!   almost always a missing `straight_through`.
//! - **unsupported**: a real derivative exists but no rule builds it (second-order gradients
//!   through `max_pool2d_grad`). Reaching the loss through one is an error, never a silently
//!   wrong gradient.
//!
//! Whatever the table says, only float values carry cotangents: an operand or result of an
//! integer or bool dtype is treated as blocked by the caller.

use super::AutodiffError;
use super::emit::Emit;
use super::vjp::{elementwise as ew, index, linalg, reduce, shape};
use hg_ir::{BinaryOp, Op, PoolKind, UnaryOp, ValueId};

/// What a vjp sees: the forward op, its value, its operands and the cotangent of its value.
pub(crate) struct VjpArgs<'a> {
    pub op: &'a Op,
    /// The forward node's own value (`y`), reused by rules such as `exp` and `tanh`.
    pub out: ValueId,
    pub operands: &'a [ValueId],
    /// Cotangent of `out`, with `out`'s type.
    pub g: ValueId,
    /// `needs[i]`: operand `i` is on a path to the loss and wants a gradient; rules skip the
    /// others so no dead nodes are built.
    pub needs: &'a [bool],
}

impl VjpArgs<'_> {
    pub fn x(&self, i: usize) -> ValueId {
        self.operands[i]
    }
}

/// Gradients per operand position (`None`: not needed or blocked).
pub(crate) type Grads = Vec<Option<ValueId>>;

pub(crate) type Vjp = fn(&mut Emit, &VjpArgs) -> Result<Grads, AutodiffError>;

/// Which operand positions of an op receive a gradient.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Positions {
    All,
    Only(&'static [usize]),
}

impl Positions {
    fn contains(self, pos: usize) -> bool {
        match self {
            Positions::All => true,
            Positions::Only(list) => list.contains(&pos),
        }
    }
}

/// How the cotangent of a node flows into one operand (before the float-dtype check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Grad,
    Blocked,
    Unsupported(&'static str),
}

#[derive(Clone, Copy)]
pub(crate) struct Rule {
    pub grads: Positions,
    pub vjp: Option<Vjp>,
    /// An operand with a derivative but no rule, and why.
    pub unsupported: Option<(usize, &'static str)>,
}

impl Rule {
    pub fn flow(&self, pos: usize) -> Flow {
        if let Some((p, why)) = self.unsupported
            && p == pos
        {
            return Flow::Unsupported(why);
        }
        if self.vjp.is_some() && self.grads.contains(pos) { Flow::Grad } else { Flow::Blocked }
    }
}

const fn none() -> Rule {
    Rule { grads: Positions::Only(&[]), vjp: None, unsupported: None }
}

const fn all(vjp: Vjp) -> Rule {
    Rule { grads: Positions::All, vjp: Some(vjp), unsupported: None }
}

const fn only(positions: &'static [usize], vjp: Vjp) -> Rule {
    Rule { grads: Positions::Only(positions), vjp: Some(vjp), unsupported: None }
}

/// The rule for one primitive.
pub(crate) fn rule(op: &Op) -> Rule {
    match op {
        // Sources: nothing flows further back.
        Op::Input { .. } | Op::Param { .. } | Op::Const { .. } | Op::Full { .. } => none(),
        Op::DimValue { .. } | Op::Iota { .. } => none(),
        Op::RandomNormal { .. } | Op::RandomUniform { .. } | Op::Bernoulli { .. } => none(),

        Op::Unary(u) => unary_rule(*u),
        Op::Binary(b) => binary_rule(*b),
        Op::Where => only(&[1, 2], ew::select),
        Op::Cast { .. } => all(ew::cast),

        Op::Reduce { .. } => all(reduce::reduce),
        Op::ArgReduce { .. } => none(),

        Op::MatMul => all(linalg::matmul),
        Op::Conv2d { .. } => all(linalg::conv2d),
        Op::ConvTranspose2d { .. } => all(linalg::conv_transpose2d),
        Op::Conv2dWeightGrad { .. } => all(linalg::conv2d_weight_grad),
        Op::Pool2d { kind: PoolKind::Avg, .. } => all(linalg::avg_pool2d),
        Op::Pool2d { kind: PoolKind::Max, .. } => all(linalg::max_pool2d),
        // Linear in the routed gradient, piecewise constant in `x`; the adjoint of the routing
        // (a gather at each window's arg-max) has no primitive.
        Op::MaxPool2dGrad { .. } => Rule {
            grads: Positions::Only(&[]),
            vjp: None,
            unsupported: Some((1, "second-order gradients through max pooling are not supported")),
        },

        Op::Reshape => all(shape::reshape),
        Op::Transpose { .. } => all(shape::transpose),
        Op::BroadcastTo => all(shape::broadcast_to),
        Op::Concat { .. } => all(shape::concat),
        Op::Slice { .. } => all(shape::slice_op),
        Op::Pad { .. } => all(shape::pad),

        Op::Gather { .. } => only(&[0], index::gather),
        Op::ScatterAdd { .. } => only(&[0, 2], index::scatter_add),
        Op::TopKIndices { .. } | Op::OneHot { .. } => none(),

        Op::StopGradient => none(),
        Op::StraightThrough => only(&[1], ew::straight_through),
    }
}

fn unary_rule(u: UnaryOp) -> Rule {
    match u {
        UnaryOp::Neg => all(ew::neg),
        UnaryOp::Exp => all(ew::exp),
        UnaryOp::Log => all(ew::log),
        UnaryOp::Sqrt => all(ew::sqrt),
        UnaryOp::Rsqrt => all(ew::rsqrt),
        UnaryOp::Abs => all(ew::abs),
        UnaryOp::Tanh => all(ew::tanh),
        UnaryOp::Sigmoid => all(ew::sigmoid),
        UnaryOp::Relu => all(ew::relu),
        UnaryOp::Gelu => all(ew::gelu),
        UnaryOp::Softplus => all(ew::softplus),
        UnaryOp::Sin => all(ew::sin),
        UnaryOp::Cos => all(ew::cos),
        // Piecewise constant: zero derivative almost everywhere (PyTorch's numbers).
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Round => none(),
        UnaryOp::Not => none(),
    }
}

fn binary_rule(b: BinaryOp) -> Rule {
    match b {
        BinaryOp::Add => all(ew::add),
        BinaryOp::Sub => all(ew::sub),
        BinaryOp::Mul => all(ew::mul),
        BinaryOp::Div => all(ew::div),
        BinaryOp::Pow => all(ew::pow),
        BinaryOp::Maximum => all(ew::maximum),
        BinaryOp::Minimum => all(ew::minimum),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => none(),
        BinaryOp::And | BinaryOp::Or => none(),
    }
}

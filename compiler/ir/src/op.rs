//! The closed set of primitive operations.
//!
//! Conventions shared by every stage (type inference, interpreter, autodiff, code generators):
//! - Axes in attributes are already normalised (non-negative, in range) by expansion.
//! - Elementwise binary ops broadcast numpy-style; both operands have the same dtype
//!   (expansion inserts casts and materialises scalar literals as [`Op::Const`]).
//! - Images are NCHW; `conv2d` weights are `[O, I/groups, KH, KW]`, `conv_transpose2d`
//!   weights are `[I, O/groups, KH, KW]` (as in PyTorch).
//! - `gather`/`scatter_add` follow `torch.gather`/`torch.scatter_add` (take-along-axis):
//!   indices have the operand's rank; `embedding` is expressed with them by expansion.
//! - A node yields exactly one value; multi-result built-ins (`topk`, `split`) become several
//!   nodes.

use crate::dim::Dim;
use hg_abi::DType;

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    // ---- sources -------------------------------------------------------------------------
    /// An entry-point input (model input, latent fed to `decode`, optimizer scalars).
    Input {
        name: String,
    },
    /// A trainable parameter, by hierarchical path (`encoder.mu.w`).
    Param {
        name: String,
    },
    /// A scalar constant of the node's dtype, broadcast by its users.
    Const {
        value: f64,
    },
    /// A tensor of the node's type filled with `value` (shape may mention `B`).
    Full {
        value: f64,
    },
    /// The run-time value of a symbolic dimension (e.g. the batch size) as a scalar.
    DimValue {
        dim: Dim,
    },
    /// `0, 1, ..., n-1` along `axis` of the node's shape, broadcast over the other axes (i64).
    Iota {
        axis: usize,
    },

    // ---- elementwise ----------------------------------------------------------------------
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`: operands (bool, T, T), broadcast.
    Where,
    Cast {
        to: DType,
    },

    // ---- reductions -----------------------------------------------------------------------
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// Index of the first maximum (`max = true`) or minimum along `axis`; i64 result.
    ArgReduce {
        max: bool,
        axis: usize,
        keepdims: bool,
    },

    // ---- linear algebra and convolution -----------------------------------------------------
    /// Matrix product over the last two axes, broadcast over leading axes. Rank-1 operands
    /// follow numpy (`[K] @ [K, N]`, `[M, K] @ [K]`).
    MatMul,
    Conv2d {
        stride: [usize; 2],
        padding: [usize; 2],
        groups: usize,
    },
    ConvTranspose2d {
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        groups: usize,
    },
    /// Gradient of `conv2d` with respect to its weight: operands (x, grad_out); the node's
    /// type is the weight's.
    Conv2dWeightGrad {
        stride: [usize; 2],
        padding: [usize; 2],
        groups: usize,
    },
    Pool2d {
        kind: PoolKind,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Gradient of `max_pool2d` with respect to its input: operands (x, grad_out), routed to
    /// the first maximum of each window.
    MaxPool2dGrad {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },

    // ---- shape ----------------------------------------------------------------------------
    /// Same elements, the node's shape (equal products, proved by the checker).
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    /// Numpy broadcast to the node's shape.
    BroadcastTo,
    Concat {
        axis: usize,
    },
    /// `x[start:end:step]` along one axis (start/end in range, step ≥ 1).
    Slice {
        axis: usize,
        start: usize,
        end: usize,
        step: usize,
    },
    /// Constant padding: `(before, after)` per axis.
    Pad {
        pads: Vec<(usize, usize)>,
        value: f64,
    },

    // ---- indexing -------------------------------------------------------------------------
    /// `out[i][j] = x[idx[i][j]][j]` for axis 0 (torch.gather); operands (x, idx).
    Gather {
        axis: usize,
    },
    /// `out = x; out[idx[i][j]][j] += v[i][j]` for axis 0; operands (x, idx, v).
    ScatterAdd {
        axis: usize,
    },
    /// Indices of the `k` largest entries along `axis`, largest first (ties: lower index
    /// first); i64 result. Values come from a [`Op::Gather`].
    TopKIndices {
        k: usize,
        axis: usize,
    },
    /// `one_hot(idx, n)`: f32 result with a new last axis of size `n`.
    OneHot {
        n: usize,
    },

    // ---- randomness (Philox; keyed by the run's seed and step and this site) ----------------
    /// Random draws take three i64 scalar operands, `(seed, step, offset)`: element `i` of the
    /// result (row-major) is element `offset + i` of the Philox draw site `{seed, step, site}`
    /// (`hg_runtime::philox`). Randomness is data: a backend reads the key and the counter base
    /// like any operand. Expansion makes `offset` the index of the call's first element in the
    /// whole run (`first_example * elements per example` for a batch-leading draw, 0 for a
    /// fixed-shape one), so a batch split into calls draws the numbers of one call.
    RandomNormal {
        site: u32,
    },
    RandomUniform {
        site: u32,
        lo: f64,
        hi: f64,
    },
    Bernoulli {
        site: u32,
        p: f64,
    },

    // ---- gradient control -----------------------------------------------------------------
    /// Identity forward; no gradient flows back.
    StopGradient,
    /// Operands (forward, backward): value of `forward`, gradient goes to `backward`.
    StraightThrough,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Avg,
    Max,
}

/// How a parameter's initial value is drawn: part of the runtime contract (a compiled model
/// initialises its parameters without the compiler), so it lives in `hg_abi`.
pub use hg_abi::Init;
/// The elementwise ops: their codes and meaning are part of the contract with the runtime
/// functions compiled code calls, so they live in `hg_abi` too.
pub use hg_abi::ops::{BinaryOp, UnaryOp};

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}

impl Op {
    /// The op's mnemonic in the IR text form.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Const { .. } => "const",
            Op::Full { .. } => "full",
            Op::DimValue { .. } => "dim_value",
            Op::Iota { .. } => "iota",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast { .. } => "cast",
            Op::Reduce { op, .. } => op.name(),
            Op::ArgReduce { max: true, .. } => "argmax",
            Op::ArgReduce { max: false, .. } => "argmin",
            Op::MatMul => "matmul",
            Op::Conv2d { .. } => "conv2d",
            Op::ConvTranspose2d { .. } => "conv_transpose2d",
            Op::Conv2dWeightGrad { .. } => "conv2d_weight_grad",
            Op::Pool2d { kind: PoolKind::Avg, .. } => "avg_pool2d",
            Op::Pool2d { kind: PoolKind::Max, .. } => "max_pool2d",
            Op::MaxPool2dGrad { .. } => "max_pool2d_grad",
            Op::Reshape => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::BroadcastTo => "broadcast_to",
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::TopKIndices { .. } => "topk_indices",
            Op::OneHot { .. } => "one_hot",
            Op::RandomNormal { .. } => "random_normal",
            Op::RandomUniform { .. } => "random_uniform",
            Op::Bernoulli { .. } => "bernoulli",
            Op::StopGradient => "stop_gradient",
            Op::StraightThrough => "straight_through",
        }
    }

    /// Number of operands the op takes; `None` for variadic ops (`concat`).
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Input { .. }
            | Op::Param { .. }
            | Op::Const { .. }
            | Op::Full { .. }
            | Op::DimValue { .. }
            | Op::Iota { .. } => 0,
            Op::Unary(_)
            | Op::Cast { .. }
            | Op::Reduce { .. }
            | Op::ArgReduce { .. }
            | Op::Pool2d { .. }
            | Op::Reshape
            | Op::Transpose { .. }
            | Op::BroadcastTo
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::TopKIndices { .. }
            | Op::OneHot { .. }
            | Op::StopGradient => 1,
            Op::Binary(_)
            | Op::MatMul
            | Op::Conv2d { .. }
            | Op::ConvTranspose2d { .. }
            | Op::Conv2dWeightGrad { .. }
            | Op::MaxPool2dGrad { .. }
            | Op::Gather { .. }
            | Op::StraightThrough => 2,
            Op::Where
            | Op::ScatterAdd { .. }
            | Op::RandomNormal { .. }
            | Op::RandomUniform { .. }
            | Op::Bernoulli { .. } => 3,
            Op::Concat { .. } => return None,
        })
    }

    /// Ops whose result depends on more than their operands (inputs, parameters, randomness):
    /// never merged by CSE unless their attributes are equal, never folded.
    pub fn is_source(&self) -> bool {
        matches!(self, Op::Input { .. } | Op::Param { .. })
    }

    /// The Philox site of a random draw.
    pub fn random_site(&self) -> Option<u32> {
        match self {
            Op::RandomNormal { site } | Op::RandomUniform { site, .. } | Op::Bernoulli { site, .. } => Some(*site),
            _ => None,
        }
    }

    pub fn is_random(&self) -> bool {
        matches!(self, Op::RandomNormal { .. } | Op::RandomUniform { .. } | Op::Bernoulli { .. })
    }
}

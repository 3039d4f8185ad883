//! The kernel IR: loop nests over buffers, the one input of every code generator.
//!
//! A [`Kernel`] is a function of its buffer arguments (`args[i]`, typed, no aliasing except an
//! in-place update that reads and writes the same element), the batch size `B`, and a
//! `lo..hi` range of its outermost loop (so an executor can split a parallel kernel between
//! threads). Its body is structured: counted loops whose extents are affine in `B`, SSA scalar
//! values (`Let`), stores and loads at affine indices, and mutable scalar locals for
//! accumulators. No pointers, no control flow but loops: that is what lets each backend lower
//! it without analysis:
//!
//! | construct | Cranelift | LLVM IR | MLIR |
//! | --- | --- | --- | --- |
//! | `Loop` | blocks with a counter | a counted loop (phi), `noalias` args | `scf.for` over `i64`; the outermost parallel loop runs `lo..hi` (CPU) or a grid-stride loop over every thread (GPU) |
//! | `Let` of `Expr` | one instruction or a call of a runtime math function | instruction / intrinsic | `arith` / `math` op; the runtime's math functions on the CPU, libdevice's (`__nv_*`) on the GPU |
//! | `Load` / `Store` at an [`Index`] | `load`/`store` at base + 4·index | `getelementptr` + load/store | `memref.load` / `memref.store` (index computed in `i64`, then `index_cast`) |
//! | `Local` / `Assign` | a `Variable` of `FunctionBuilder` | `alloca` + mem2reg | an `iter_args` value of the loop that assigns it |
//! | `Random` | a call of the runtime's Philox | a call of the runtime's Philox | inline Philox rounds (`arith`); normal draws' Box-Muller calls `log` and `cos` (the C library's on the CPU, libdevice's on the GPU) |
//!
//! **Invariant**: indices are affine in the loop variables with coefficients affine in `B`, and
//! every loop extent is affine in `B` (an argument's length may be quadratic: a `[B, B]`
//! buffer); the lowering proves every access in bounds for every `B`
//! (`verify`), so generated code needs no bounds checks.

use hg_abi::DType;
use hg_abi::plan::{Affine, Quadratic, RandomKind};
pub use hg_ir::{BinaryOp, ReduceOp, UnaryOp};

/// A loop variable (an i64 counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub u32);

/// An SSA scalar value, defined once by a `Let`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(pub u32);

/// A mutable scalar (a reduction's accumulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Local(pub u32);

/// Element types kernels compute in. Booleans are stored as one byte (0 or 1). `F64` appears
/// only in scalar computations that the graph keeps in f64 for accuracy (Adam's bias
/// corrections, `1 - β^t`), never in tensors of more than one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    F32,
    F64,
    I64,
    Bool,
}

impl Scalar {
    pub fn of(dtype: DType) -> Option<Scalar> {
        match dtype {
            DType::F32 => Some(Scalar::F32),
            DType::F64 => Some(Scalar::F64),
            DType::I64 => Some(Scalar::I64),
            DType::Bool => Some(Scalar::Bool),
            _ => None,
        }
    }

    pub fn dtype(self) -> DType {
        match self {
            Scalar::F32 => DType::F32,
            Scalar::F64 => DType::F64,
            Scalar::I64 => DType::I64,
            Scalar::Bool => DType::Bool,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::I64 => "i64",
            Scalar::Bool => "bool",
        }
    }

    /// Bytes per element in memory.
    pub fn size(self) -> usize {
        match self {
            Scalar::F32 => 4,
            Scalar::F64 | Scalar::I64 => 8,
            Scalar::Bool => 1,
        }
    }
}

/// `offset + Σ var·stride`, in elements of the buffer's type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    pub terms: Vec<(Var, Affine)>,
    pub offset: Affine,
}

impl Index {
    pub fn constant(offset: Affine) -> Index {
        Index { terms: Vec::new(), offset }
    }
}

/// A scalar computation; its operands are earlier values.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant of the given type (bool: 0 or 1; i64: exact integers up to 2^53).
    Const(Scalar, f64),
    /// `args[arg][index]`.
    Load {
        arg: u32,
        index: Index,
    },
    /// The current value of a local.
    Get(Local),
    /// A loop variable's value (i64).
    Var(Var),
    /// The batch size `B` (i64).
    Batch,
    Unary(UnaryOp, Val),
    /// Both operands of the same type; comparisons and `and`/`or` give bool.
    Binary(BinaryOp, Val, Val),
    /// `cond ? a : b`.
    Select(Val, Val, Val),
    Cast(Scalar, Val),
    /// Element `counter` of Philox draw site `{seed, step, site}` (i64 operands) in `kind`'s
    /// distribution, as f32 (`hg_exec::philox`).
    Random {
        kind: RandomKind,
        site: u32,
        seed: Val,
        step: Val,
        counter: Val,
    },
}

/// One statement of a kernel body.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `for var in 0..extent { body }`. A kernel's outermost loop with `Kernel::parallel` runs
    /// over the executor's `lo..hi` instead.
    Loop {
        var: Var,
        extent: Affine,
        body: Vec<Stmt>,
    },
    Let {
        dst: Val,
        ty: Scalar,
        expr: Expr,
    },
    Store {
        arg: u32,
        index: Index,
        value: Val,
    },
    /// Declares a local with its initial value (visible in the rest of the enclosing block).
    Local {
        local: Local,
        ty: Scalar,
        init: Val,
    },
    Assign {
        local: Local,
        value: Val,
    },
}

/// A kernel argument: a buffer of `len` elements of `ty`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub ty: Scalar,
    pub len: Quadratic,
    /// Whether the kernel writes it.
    pub written: bool,
}

/// A generated kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub name: String,
    pub args: Vec<Arg>,
    pub body: Vec<Stmt>,
    /// When true, the body is one `Loop` whose iterations are independent: an executor may run
    /// any `lo..hi` part of its range, on any thread.
    pub parallel: bool,
}

impl Kernel {
    /// The extent of the outermost loop of a parallel kernel.
    pub fn parallel_extent(&self) -> Option<Affine> {
        match (self.parallel, self.body.as_slice()) {
            (true, [Stmt::Loop { extent, .. }]) => Some(*extent),
            _ => None,
        }
    }
}

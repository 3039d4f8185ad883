//! A small node builder for graph-to-graph passes (gradient rules, optimizer updates).
//!
//! Every node it adds carries one source span (the forward node being differentiated, or the
//! loss for optimizer arithmetic) so later errors still point at the spec. Types come from
//! `hg_ir::infer_type`; a rule that builds an ill-typed node gets an [`AutodiffError::Build`]
//! naming the op being differentiated, never a panic. Helpers skip no-op nodes (a reshape to
//! the same shape, a sum over no axes) so the gradient graph stays readable before CSE.

use super::AutodiffError;
use hg_ir::{BinaryOp, DType, Dim, Function, NodeSpan, Op, ReduceOp, TensorType, UnaryOp, ValueId};

pub(crate) struct Emit<'f> {
    pub f: &'f mut Function,
    pub span: NodeSpan,
    /// Mnemonic of the forward op whose gradient is being built (for error messages).
    pub context: &'static str,
}

impl<'f> Emit<'f> {
    pub fn new(f: &'f mut Function, span: NodeSpan, context: &'static str) -> Emit<'f> {
        Emit { f, span, context }
    }

    pub fn ty(&self, v: ValueId) -> TensorType {
        self.f.ty(v).clone()
    }

    pub fn shape(&self, v: ValueId) -> Vec<Dim> {
        self.f.ty(v).shape.clone()
    }

    pub fn dtype(&self, v: ValueId) -> DType {
        self.f.ty(v).dtype
    }

    /// A rule built something ill-typed or met an operand it cannot handle.
    pub fn error(&self, message: impl Into<String>) -> AutodiffError {
        AutodiffError::Build { op: self.context, span: self.span, message: message.into() }
    }

    /// The op has a derivative, but this case of it has no rule.
    pub fn unsupported(&self, reason: impl Into<String>) -> AutodiffError {
        AutodiffError::Unsupported { op: self.context, span: self.span, reason: reason.into() }
    }

    /// Adds a node whose type is inferred from its operands.
    pub fn op(&mut self, op: Op, operands: &[ValueId]) -> Result<ValueId, AutodiffError> {
        self.f.add(op, operands, self.span).map_err(|e| AutodiffError::Build {
            op: self.context,
            span: self.span,
            message: e.message,
        })
    }

    /// Adds a node whose type is an attribute (sources, reshape, broadcast, weight gradients).
    pub fn typed(&mut self, op: Op, operands: &[ValueId], ty: TensorType) -> Result<ValueId, AutodiffError> {
        self.f.add_with_type(op, operands, ty, self.span).map_err(|e| AutodiffError::Build {
            op: self.context,
            span: self.span,
            message: e.message,
        })
    }

    /// A scalar constant of `dtype`, broadcast by its users.
    pub fn scalar(&mut self, value: f64, dtype: DType) -> Result<ValueId, AutodiffError> {
        self.typed(Op::Const { value }, &[], TensorType::scalar(dtype))
    }

    pub fn full(&mut self, value: f64, ty: TensorType) -> Result<ValueId, AutodiffError> {
        self.typed(Op::Full { value }, &[], ty)
    }

    pub fn unary(&mut self, u: UnaryOp, x: ValueId) -> Result<ValueId, AutodiffError> {
        self.op(Op::Unary(u), &[x])
    }

    pub fn binary(&mut self, b: BinaryOp, x: ValueId, y: ValueId) -> Result<ValueId, AutodiffError> {
        self.op(Op::Binary(b), &[x, y])
    }

    pub fn add(&mut self, x: ValueId, y: ValueId) -> Result<ValueId, AutodiffError> {
        self.binary(BinaryOp::Add, x, y)
    }

    pub fn sub(&mut self, x: ValueId, y: ValueId) -> Result<ValueId, AutodiffError> {
        self.binary(BinaryOp::Sub, x, y)
    }

    pub fn mul(&mut self, x: ValueId, y: ValueId) -> Result<ValueId, AutodiffError> {
        self.binary(BinaryOp::Mul, x, y)
    }

    pub fn div(&mut self, x: ValueId, y: ValueId) -> Result<ValueId, AutodiffError> {
        self.binary(BinaryOp::Div, x, y)
    }

    pub fn neg(&mut self, x: ValueId) -> Result<ValueId, AutodiffError> {
        self.unary(UnaryOp::Neg, x)
    }

    /// `x * c` for a compile-time number `c` (in `x`'s dtype).
    pub fn scale(&mut self, x: ValueId, c: f64) -> Result<ValueId, AutodiffError> {
        let k = self.scalar(c, self.dtype(x))?;
        self.mul(x, k)
    }

    pub fn select(&mut self, cond: ValueId, a: ValueId, b: ValueId) -> Result<ValueId, AutodiffError> {
        self.op(Op::Where, &[cond, a, b])
    }

    pub fn cast(&mut self, x: ValueId, to: DType) -> Result<ValueId, AutodiffError> {
        if self.dtype(x) == to {
            return Ok(x);
        }
        self.op(Op::Cast { to }, &[x])
    }

    pub fn reshape(&mut self, x: ValueId, shape: Vec<Dim>) -> Result<ValueId, AutodiffError> {
        if self.f.ty(x).shape == shape {
            return Ok(x);
        }
        let ty = TensorType::new(self.dtype(x), shape);
        self.typed(Op::Reshape, &[x], ty)
    }

    pub fn broadcast_to(&mut self, x: ValueId, shape: Vec<Dim>) -> Result<ValueId, AutodiffError> {
        if self.f.ty(x).shape == shape {
            return Ok(x);
        }
        let ty = TensorType::new(self.dtype(x), shape);
        self.typed(Op::BroadcastTo, &[x], ty)
    }

    pub fn transpose(&mut self, x: ValueId, perm: Vec<usize>) -> Result<ValueId, AutodiffError> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        self.op(Op::Transpose { perm }, &[x])
    }

    pub fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axes: Vec<usize>,
        keepdims: bool,
    ) -> Result<ValueId, AutodiffError> {
        if axes.is_empty() {
            return Ok(x);
        }
        self.op(Op::Reduce { op, axes, keepdims }, &[x])
    }

    pub fn sum(&mut self, x: ValueId, axes: Vec<usize>, keepdims: bool) -> Result<ValueId, AutodiffError> {
        self.reduce(ReduceOp::Sum, x, axes, keepdims)
    }

    /// Sum of every element, as a scalar.
    pub fn sum_all(&mut self, x: ValueId) -> Result<ValueId, AutodiffError> {
        let axes = (0..self.f.ty(x).rank()).collect();
        self.sum(x, axes, false)
    }

    /// Reduces a gradient of a broadcast result back to an operand's shape: sums over the
    /// leading axes the operand lacks and over axes where the operand has the constant size 1
    /// but the result does not, then reshapes (numpy broadcasting read backwards).
    pub fn sum_to(&mut self, g: ValueId, shape: &[Dim]) -> Result<ValueId, AutodiffError> {
        let g_shape = self.shape(g);
        if g_shape.as_slice() == shape {
            return Ok(g);
        }
        if g_shape.len() < shape.len() {
            return Err(self.error(format!(
                "cannot reduce a gradient of shape {} to the larger operand shape {}",
                TensorType::new(self.dtype(g), g_shape.clone()),
                TensorType::new(self.dtype(g), shape.to_vec())
            )));
        }
        let lead = g_shape.len() - shape.len();
        let one = Dim::constant(1);
        let mut axes: Vec<usize> = (0..lead).collect();
        for (i, d) in shape.iter().enumerate() {
            if *d == one && g_shape[lead + i] != one {
                axes.push(lead + i);
            }
        }
        let summed = self.sum(g, axes, false)?;
        self.reshape(summed, shape.to_vec())
    }

    /// The run-time value of a (possibly symbolic) element count, as a scalar of `dtype`.
    pub fn dim_value(&mut self, d: Dim, dtype: DType) -> Result<ValueId, AutodiffError> {
        match d.as_const() {
            Some(n) => self.scalar(n as f64, dtype),
            None => self.typed(Op::DimValue { dim: d }, &[], TensorType::scalar(dtype)),
        }
    }
}

/// The product of dimensions (`None` on overflow).
pub(crate) fn product(dims: &[Dim]) -> Option<Dim> {
    dims.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d))
}

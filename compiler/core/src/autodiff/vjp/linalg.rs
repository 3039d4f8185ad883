//! Gradients of matrix products, convolutions and pooling.
//!
//! Convolutions are differentiated with their adjoints: the input gradient of `conv2d` is a
//! `conv_transpose2d` of the cotangent with the same weight (the output padding restores the
//! rows a strided window skipped), and the weight gradient is `conv2d_weight_grad`. Because
//! `conv_transpose2d(x, w)` is the adjoint of `conv2d(·, w)` (same stride, padding, groups and
//! weight layout), its gradients are the same three ops with the roles of input and output
//! swapped: the input gradient is `conv2d(g, w)`, and the weight gradient is
//! `conv2d_weight_grad(g, x)` (the transpose's output plays the convolution's input). Average
//! pooling (PyTorch's default `count_include_pad = true`, every window divided by `kh * kw`) is
//! a convolution with a constant kernel, applied per channel by folding channels into the
//! batch, so its gradient is a `conv_transpose2d` with that kernel.

use crate::autodiff::AutodiffError;
use crate::autodiff::emit::{Emit, product};
use crate::autodiff::rules::{Grads, VjpArgs};
use hg_ir::{Dim, Op, ValueId};

type R = Result<Grads, AutodiffError>;

/// Swaps the last two axes.
fn transpose_last2(e: &mut Emit, v: ValueId) -> Result<ValueId, AutodiffError> {
    let r = e.f.ty(v).rank();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    e.transpose(v, perm)
}

/// `y = a @ b` with numpy's rank-1 rules: a rank-1 `a` is the row `[1, K]`, a rank-1 `b` the
/// column `[K, 1]`; the gradients are computed for the rank-2 forms (`g @ bᵀ`, `aᵀ @ g`),
/// summed over broadcast batch axes and reshaped back.
pub(crate) fn matmul(e: &mut Emit, a: &VjpArgs) -> R {
    let (x, w) = (a.x(0), a.x(1));
    let (x_shape, w_shape) = (e.shape(x), e.shape(w));
    let one = Dim::constant(1);
    let x2 = if x_shape.len() == 1 { e.reshape(x, vec![one.clone(), x_shape[0].clone()])? } else { x };
    let w2 = if w_shape.len() == 1 { e.reshape(w, vec![w_shape[0].clone(), one.clone()])? } else { w };
    let mut g_shape = e.shape(a.g);
    if x_shape.len() == 1 {
        let at = g_shape.len() - usize::from(w_shape.len() != 1);
        g_shape.insert(at, one.clone());
    }
    if w_shape.len() == 1 {
        g_shape.push(one);
    }
    let g2 = e.reshape(a.g, g_shape)?;
    let mut out = vec![None, None];
    if a.needs[0] {
        let wt = transpose_last2(e, w2)?;
        let gx = e.op(Op::MatMul, &[g2, wt])?;
        let x2_shape = e.shape(x2);
        let gx = e.sum_to(gx, &x2_shape)?;
        out[0] = Some(e.reshape(gx, x_shape)?);
    }
    if a.needs[1] {
        let xt = transpose_last2(e, x2)?;
        let gw = e.op(Op::MatMul, &[xt, g2])?;
        let w2_shape = e.shape(w2);
        let gw = e.sum_to(gw, &w2_shape)?;
        out[1] = Some(e.reshape(gw, w_shape)?);
    }
    Ok(out)
}

/// The `output_padding` that makes `conv_transpose2d` of a `conv2d` result recover the input's
/// spatial size: `(H + 2p - K) mod s` per axis.
fn output_padding(
    e: &Emit,
    input: ValueId,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<[usize; 2], AutodiffError> {
    let shape = e.shape(input);
    let mut out = [0usize; 2];
    for i in 0..2 {
        let size = shape
            .get(2 + i)
            .and_then(Dim::as_const)
            .and_then(|h| usize::try_from(h).ok())
            .ok_or_else(|| e.error(format!("spatial size {} is not a constant", e.f.ty(input))))?;
        let span = size + 2 * padding[i];
        if span < kernel[i] || stride[i] == 0 {
            return Err(e.error(format!("kernel {kernel:?} does not fit {}", e.f.ty(input))));
        }
        out[i] = (span - kernel[i]) % stride[i];
    }
    Ok(out)
}

/// The kernel size `[KH, KW]` of a rank-4 weight.
fn kernel_of(e: &Emit, w: ValueId) -> Result<[usize; 2], AutodiffError> {
    let shape = e.shape(w);
    let dim = |i: usize| shape.get(i).and_then(Dim::as_const).and_then(|k| usize::try_from(k).ok());
    match (dim(2), dim(3)) {
        (Some(kh), Some(kw)) => Ok([kh, kw]),
        _ => Err(e.error(format!("kernel size of {} is not constant", e.f.ty(w)))),
    }
}

pub(crate) fn conv2d(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Conv2d { stride, padding, groups } = a.op else {
        return Err(e.error("conv2d rule applied to another op"));
    };
    let (x, w) = (a.x(0), a.x(1));
    let mut out = vec![None, None];
    if a.needs[0] {
        let output_padding = output_padding(e, x, kernel_of(e, w)?, stride, padding)?;
        out[0] = Some(e.op(Op::ConvTranspose2d { stride, padding, output_padding, groups }, &[a.g, w])?);
    }
    if a.needs[1] {
        let ty = e.ty(w);
        out[1] = Some(e.typed(Op::Conv2dWeightGrad { stride, padding, groups }, &[x, a.g], ty)?);
    }
    Ok(out)
}

pub(crate) fn conv_transpose2d(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::ConvTranspose2d { stride, padding, groups, .. } = a.op else {
        return Err(e.error("conv_transpose2d rule applied to another op"));
    };
    let (x, w) = (a.x(0), a.x(1));
    let mut out = vec![None, None];
    if a.needs[0] {
        out[0] = Some(e.op(Op::Conv2d { stride, padding, groups }, &[a.g, w])?);
    }
    if a.needs[1] {
        let ty = e.ty(w);
        out[1] = Some(e.typed(Op::Conv2dWeightGrad { stride, padding, groups }, &[a.g, x], ty)?);
    }
    Ok(out)
}

/// `W = conv2d_weight_grad(x, gy)` is bilinear: with `G` the cotangent of `W`, the gradient
/// for `x` is the input gradient of `conv2d(x, G)` and the gradient for `gy` is `conv2d(x, G)`.
pub(crate) fn conv2d_weight_grad(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Conv2dWeightGrad { stride, padding, groups } = a.op else {
        return Err(e.error("conv2d_weight_grad rule applied to another op"));
    };
    let x = a.x(0);
    let mut out = vec![None, None];
    if a.needs[0] {
        let output_padding = output_padding(e, x, kernel_of(e, a.out)?, stride, padding)?;
        out[0] = Some(e.op(Op::ConvTranspose2d { stride, padding, output_padding, groups }, &[a.x(1), a.g])?);
    }
    if a.needs[1] {
        out[1] = Some(e.op(Op::Conv2d { stride, padding, groups }, &[x, a.g])?);
    }
    Ok(out)
}

pub(crate) fn avg_pool2d(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Pool2d { kernel, stride, padding, .. } = a.op else {
        return Err(e.error("avg_pool2d rule applied to another op"));
    };
    let x = a.x(0);
    let x_shape = e.shape(x);
    let g_shape = e.shape(a.g);
    if x_shape.len() != 4 || g_shape.len() != 4 {
        return Err(e.error(format!("expected NCHW operands, found {}", e.f.ty(x))));
    }
    let dt = e.dtype(x);
    // Fold channels into the batch so one [1, 1, KH, KW] kernel serves every channel, even
    // when the channel count is symbolic.
    let images = product(&x_shape[..2]).ok_or_else(|| e.error("batch times channels overflows"))?;
    let one = Dim::constant(1);
    let g1 = e.reshape(a.g, vec![images.clone(), one.clone(), g_shape[2].clone(), g_shape[3].clone()])?;
    let kernel_dims = vec![one.clone(), one, Dim::constant(kernel[0] as i64), Dim::constant(kernel[1] as i64)];
    let weight = e.full(1.0 / (kernel[0] * kernel[1]) as f64, hg_ir::TensorType::new(dt, kernel_dims))?;
    let output_padding = output_padding(e, x, kernel, stride, padding)?;
    let gx1 = e.op(Op::ConvTranspose2d { stride, padding, output_padding, groups: 1 }, &[g1, weight])?;
    Ok(vec![Some(e.reshape(gx1, x_shape)?)])
}

/// Routed to the first maximum of each window, as PyTorch's `max_pool2d` does.
pub(crate) fn max_pool2d(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Pool2d { kernel, stride, padding, .. } = a.op else {
        return Err(e.error("max_pool2d rule applied to another op"));
    };
    Ok(vec![Some(e.op(Op::MaxPool2dGrad { kernel, stride, padding }, &[a.x(0), a.g])?)])
}

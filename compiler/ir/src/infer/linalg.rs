//! Matrix product, convolutions and pooling.
//!
//! Images are NCHW. The batch `N` and the channel counts may be symbolic (channel checks use
//! exact division of [`Dim`]s), but spatial sizes and kernel sizes must be constants: the
//! output size `(H + 2p - K) / s + 1` floors, and flooring a symbolic size has no normal form.
//! Arithmetic on attributes is checked, so absurd strides or paddings give errors, not
//! overflow.

use super::elementwise::broadcast;
use super::{InferError, fail, is_numeric, same_dtype};
use crate::dim::Dim;
use crate::op::Op;
use crate::types::TensorType;

pub(super) fn matmul(op: &Op, a: &TensorType, b: &TensorType) -> Result<TensorType, InferError> {
    same_dtype(op, a, b)?;
    if !is_numeric(a.dtype) {
        return fail(op, format!("needs numeric operands, found {a} and {b}"));
    }
    if a.rank() == 0 || b.rank() == 0 {
        return fail(op, format!("operands must have rank at least 1, found {a} @ {b}"));
    }
    // Numpy: a rank-1 left operand is a row `[1, K]`, a rank-1 right operand a column
    // `[K, 1]`; the added axis is removed from the result.
    let a_inner = &a.shape[a.rank() - 1];
    let b_inner = if b.rank() == 1 { &b.shape[0] } else { &b.shape[b.rank() - 2] };
    if a_inner != b_inner {
        return fail(op, format!("inner dimensions differ: {a} @ {b}"));
    }
    let a_batch = TensorType::new(a.dtype, a.shape[..a.rank().saturating_sub(2)].to_vec());
    let b_batch = TensorType::new(b.dtype, b.shape[..b.rank().saturating_sub(2)].to_vec());
    let mut shape = broadcast(op, &[&a_batch, &b_batch])
        .map_err(|_| super::InferError { message: format!("matmul: batch dimensions do not broadcast: {a} @ {b}") })?;
    if a.rank() >= 2 {
        shape.push(a.shape[a.rank() - 2].clone());
    }
    if b.rank() >= 2 {
        shape.push(b.shape[b.rank() - 1].clone());
    }
    Ok(TensorType::new(a.dtype, shape))
}

pub(super) fn conv2d(
    op: &Op,
    x: &TensorType,
    w: &TensorType,
    stride: [usize; 2],
    padding: [usize; 2],
    groups: usize,
) -> Result<TensorType, InferError> {
    image_operands(op, x, w)?;
    check_stride_groups(op, stride, groups)?;
    let (c, o) = (&x.shape[1], &w.shape[0]);
    let per_group = w.shape[1].checked_mul(&Dim::constant(to_i64(op, groups)?));
    if per_group.as_ref() != Some(c) {
        return fail(op, format!("weight {w} with groups={groups} does not match {} input channels of {x}", c));
    }
    divisible(op, o, groups, "output channels", w)?;
    let (hw, k) = (spatial(op, x)?, spatial(op, w)?);
    let mut out = [0i64; 2];
    for i in 0..2 {
        out[i] = window_count(op, hw[i], k[i], stride[i], padding[i], x, w)?;
    }
    Ok(TensorType::new(x.dtype, vec![x.shape[0].clone(), o.clone(), Dim::constant(out[0]), Dim::constant(out[1])]))
}

pub(super) fn conv_transpose2d(
    op: &Op,
    x: &TensorType,
    w: &TensorType,
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    groups: usize,
) -> Result<TensorType, InferError> {
    image_operands(op, x, w)?;
    check_stride_groups(op, stride, groups)?;
    let c = &x.shape[1];
    if &w.shape[0] != c {
        return fail(op, format!("weight {w} does not match {c} input channels of {x}"));
    }
    divisible(op, c, groups, "input channels", x)?;
    let o = w.shape[1].checked_mul(&Dim::constant(to_i64(op, groups)?)).ok_or_else(|| overflow(op))?;
    let (hw, k) = (spatial(op, x)?, spatial(op, w)?);
    let mut out = [0i64; 2];
    for i in 0..2 {
        if output_padding[i] >= stride[i] {
            return fail(op, format!("output_padding {} must be smaller than stride {}", output_padding[i], stride[i]));
        }
        // (H - 1) * s - 2p + K + output_padding
        let size = (|| {
            (hw[i] - 1)
                .checked_mul(to_i64_opt(stride[i])?)?
                .checked_sub(to_i64_opt(padding[i])?.checked_mul(2)?)?
                .checked_add(k[i])?
                .checked_add(to_i64_opt(output_padding[i])?)
        })()
        .ok_or_else(|| overflow(op))?;
        if hw[i] < 1 || size < 1 {
            return fail(
                op,
                format!("output would be empty: {x} with weight {w}, stride {stride:?}, padding {padding:?}"),
            );
        }
        out[i] = size;
    }
    Ok(TensorType::new(x.dtype, vec![x.shape[0].clone(), o, Dim::constant(out[0]), Dim::constant(out[1])]))
}

/// The weight type of `conv2d_weight_grad(x, grad_out)` is declared (`given`); it is
/// consistent when `conv2d(x, weight)` has exactly the type of `grad_out`.
pub(super) fn conv2d_weight_grad(
    op: &Op,
    x: &TensorType,
    grad_out: &TensorType,
    weight: &TensorType,
    stride: [usize; 2],
    padding: [usize; 2],
    groups: usize,
) -> Result<(), InferError> {
    let forward = conv2d(op, x, weight, stride, padding, groups)?;
    if &forward != grad_out {
        return fail(
            op,
            format!("gradient {grad_out} does not match conv2d output {forward} of {x} with weight {weight}"),
        );
    }
    Ok(())
}

pub(super) fn pool2d(
    op: &Op,
    x: &TensorType,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<TensorType, InferError> {
    if x.rank() != 4 || !x.dtype.is_float() {
        return fail(op, format!("needs a float NCHW operand of rank 4, found {x}"));
    }
    let hw = spatial(op, x)?;
    let mut out = [0i64; 2];
    for i in 0..2 {
        if kernel[i] == 0 || stride[i] == 0 {
            return fail(op, format!("kernel {kernel:?} and stride {stride:?} must be at least 1"));
        }
        // As in PyTorch: a window must always overlap the input.
        if padding[i] > kernel[i] / 2 {
            return fail(op, format!("padding {padding:?} must be at most half the kernel {kernel:?}"));
        }
        let k = to_i64(op, kernel[i])?;
        out[i] = window_count(op, hw[i], k, stride[i], padding[i], x, x)?;
    }
    let mut shape = x.shape[..2].to_vec();
    shape.extend([Dim::constant(out[0]), Dim::constant(out[1])]);
    Ok(TensorType::new(x.dtype, shape))
}

pub(super) fn max_pool2d_grad(
    op: &Op,
    x: &TensorType,
    grad_out: &TensorType,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<TensorType, InferError> {
    let forward = pool2d(op, x, kernel, stride, padding)?;
    if &forward != grad_out {
        return fail(op, format!("gradient {grad_out} does not match max_pool2d output {forward} of {x}"));
    }
    Ok(x.clone())
}

/// Both operands are rank-4 floats of one dtype.
fn image_operands(op: &Op, x: &TensorType, w: &TensorType) -> Result<(), InferError> {
    if x.rank() != 4 || w.rank() != 4 {
        return fail(op, format!("needs rank-4 NCHW input and weight, found {x} and {w}"));
    }
    same_dtype(op, x, w)?;
    if !x.dtype.is_float() {
        return fail(op, format!("needs float operands, found {x} and {w}"));
    }
    Ok(())
}

fn check_stride_groups(op: &Op, stride: [usize; 2], groups: usize) -> Result<(), InferError> {
    if stride.contains(&0) {
        return fail(op, format!("stride {stride:?} must be at least 1"));
    }
    if groups == 0 {
        return fail(op, "groups must be at least 1");
    }
    Ok(())
}

fn divisible(op: &Op, d: &Dim, groups: usize, what: &str, of: &TensorType) -> Result<(), InferError> {
    if d.div_exact(&Dim::constant(to_i64(op, groups)?)).is_none() {
        return fail(op, format!("groups={groups} does not divide the {d} {what} of {of}"));
    }
    Ok(())
}

/// The two trailing (spatial) dimensions of a rank-4 type, which must be constants.
fn spatial(op: &Op, t: &TensorType) -> Result<[i64; 2], InferError> {
    match (t.shape[2].as_const(), t.shape[3].as_const()) {
        (Some(h), Some(w)) => Ok([h, w]),
        _ => fail(op, format!("spatial dimensions must be constant, found {t}")),
    }
}

/// Number of windows of size `k` with stride `s` over `size + 2p` elements.
fn window_count(
    op: &Op,
    size: i64,
    k: i64,
    s: usize,
    p: usize,
    x: &TensorType,
    w: &TensorType,
) -> Result<i64, InferError> {
    let padded =
        to_i64_opt(p).and_then(|p| p.checked_mul(2)).and_then(|p2| size.checked_add(p2)).ok_or_else(|| overflow(op))?;
    if k < 1 || padded < k {
        let what = if x == w { format!("{x}") } else { format!("{x} with weight {w}") };
        return fail(op, format!("kernel size {k} exceeds padded input size {padded}: {what}"));
    }
    Ok((padded - k) / to_i64(op, s)? + 1)
}

fn to_i64_opt(v: usize) -> Option<i64> {
    i64::try_from(v).ok()
}

fn to_i64(op: &Op, v: usize) -> Result<i64, InferError> {
    to_i64_opt(v).ok_or_else(|| overflow(op))
}

fn overflow(op: &Op) -> InferError {
    InferError { message: format!("{}: attribute arithmetic overflows", op.mnemonic()) }
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::op::{Op, PoolKind};

    fn run(op: &Op, tys: &[&str]) -> Result<String, String> {
        let tys: Vec<_> = tys.iter().map(|s| ty(s)).collect();
        let refs: Vec<_> = tys.iter().collect();
        infer_type(op, &refs, None).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn matmul_rank_rules() {
        let m = Op::MatMul;
        assert_eq!(run(&m, &["f32[B, 784]", "f32[784, 512]"]).unwrap(), "f32[B, 512]");
        assert_eq!(run(&m, &["f32[4]", "f32[4]"]).unwrap(), "f32[]");
        assert_eq!(run(&m, &["f32[4]", "f32[B, 4, 5]"]).unwrap(), "f32[B, 5]");
        assert_eq!(run(&m, &["f32[B, 3, 4]", "f32[4]"]).unwrap(), "f32[B, 3]");
        assert_eq!(run(&m, &["f32[B, 1, 3, 4]", "f32[7, 4, 5]"]).unwrap(), "f32[B, 7, 3, 5]");
        assert_eq!(run(&m, &["i32[2, 3]", "i32[3, 2]"]).unwrap(), "i32[2, 2]");
    }

    #[test]
    fn matmul_errors() {
        let m = Op::MatMul;
        assert_eq!(
            run(&m, &["f32[B, 784]", "f32[512, 256]"]).unwrap_err(),
            "matmul: inner dimensions differ: f32[B, 784] @ f32[512, 256]"
        );
        assert_eq!(
            run(&m, &["f32[]", "f32[3]"]).unwrap_err(),
            "matmul: operands must have rank at least 1, found f32[] @ f32[3]"
        );
        assert_eq!(
            run(&m, &["f32[2, 3]", "f64[3, 2]"]).unwrap_err(),
            "matmul: operand dtypes differ: f32[2, 3] and f64[3, 2]"
        );
        assert_eq!(
            run(&m, &["bool[2, 3]", "bool[3, 2]"]).unwrap_err(),
            "matmul: needs numeric operands, found bool[2, 3] and bool[3, 2]"
        );
        assert_eq!(
            run(&m, &["f32[2, 2, 3]", "f32[4, 3, 2]"]).unwrap_err(),
            "matmul: batch dimensions do not broadcast: f32[2, 2, 3] @ f32[4, 3, 2]"
        );
    }

    #[test]
    fn conv2d_shapes_and_errors() {
        let c = Op::Conv2d { stride: [2, 2], padding: [1, 1], groups: 1 };
        assert_eq!(run(&c, &["f32[B, 1, 28, 28]", "f32[32, 1, 3, 3]"]).unwrap(), "f32[B, 32, 14, 14]");
        let g = Op::Conv2d { stride: [1, 1], padding: [0, 0], groups: 2 };
        assert_eq!(run(&g, &["f32[B, 4, 5, 5]", "f32[6, 2, 3, 3]"]).unwrap(), "f32[B, 6, 3, 3]");
        assert_eq!(
            run(&g, &["f32[B, 4, 5, 5]", "f32[5, 2, 3, 3]"]).unwrap_err(),
            "conv2d: groups=2 does not divide the 5 output channels of f32[5, 2, 3, 3]"
        );
        assert_eq!(
            run(&c, &["f32[B, 3, 28, 28]", "f32[32, 1, 3, 3]"]).unwrap_err(),
            "conv2d: weight f32[32, 1, 3, 3] with groups=1 does not match 3 input channels of f32[B, 3, 28, 28]"
        );
        assert_eq!(
            run(&c, &["f32[B, 1, H, 28]", "f32[32, 1, 3, 3]"]).unwrap_err(),
            "conv2d: spatial dimensions must be constant, found f32[B, 1, H, 28]"
        );
        assert_eq!(
            run(&c, &["f32[B, 1, 2, 2]", "f32[32, 1, 5, 5]"]).unwrap_err(),
            "conv2d: kernel size 5 exceeds padded input size 4: f32[B, 1, 2, 2] with weight f32[32, 1, 5, 5]"
        );
        assert!(run(&c, &["f32[B, 1, 28]", "f32[32, 1, 3, 3]"]).unwrap_err().starts_with("conv2d: needs rank-4"));
        let z = Op::Conv2d { stride: [0, 1], padding: [0, 0], groups: 1 };
        assert_eq!(
            run(&z, &["f32[B, 1, 8, 8]", "f32[2, 1, 3, 3]"]).unwrap_err(),
            "conv2d: stride [0, 1] must be at least 1"
        );
    }

    #[test]
    fn conv_transpose2d_shapes_and_errors() {
        let c = Op::ConvTranspose2d { stride: [2, 2], padding: [1, 1], output_padding: [1, 1], groups: 1 };
        assert_eq!(run(&c, &["f32[B, 32, 7, 7]", "f32[32, 16, 3, 3]"]).unwrap(), "f32[B, 16, 14, 14]");
        let g = Op::ConvTranspose2d { stride: [1, 1], padding: [0, 0], output_padding: [0, 0], groups: 2 };
        assert_eq!(run(&g, &["f32[B, 4, 5, 5]", "f32[4, 3, 2, 2]"]).unwrap(), "f32[B, 6, 6, 6]");
        assert_eq!(
            run(&c, &["f32[B, 8, 7, 7]", "f32[32, 16, 3, 3]"]).unwrap_err(),
            "conv_transpose2d: weight f32[32, 16, 3, 3] does not match 8 input channels of f32[B, 8, 7, 7]"
        );
        let bad = Op::ConvTranspose2d { stride: [1, 1], padding: [0, 0], output_padding: [1, 0], groups: 1 };
        assert_eq!(
            run(&bad, &["f32[B, 8, 7, 7]", "f32[8, 16, 3, 3]"]).unwrap_err(),
            "conv_transpose2d: output_padding 1 must be smaller than stride 1"
        );
        let g3 = Op::ConvTranspose2d { stride: [1, 1], padding: [0, 0], output_padding: [0, 0], groups: 3 };
        assert!(run(&g3, &["f32[B, 4, 5, 5]", "f32[4, 3, 2, 2]"]).unwrap_err().contains("does not divide"));
        let pad = Op::ConvTranspose2d { stride: [1, 1], padding: [5, 5], output_padding: [0, 0], groups: 1 };
        assert!(run(&pad, &["f32[B, 8, 2, 2]", "f32[8, 16, 3, 3]"]).unwrap_err().contains("output would be empty"));
    }

    #[test]
    fn conv2d_weight_grad_checks_given() {
        let op = Op::Conv2dWeightGrad { stride: [2, 2], padding: [1, 1], groups: 1 };
        let (x, g, w) = (ty("f32[B, 1, 28, 28]"), ty("f32[B, 32, 14, 14]"), ty("f32[32, 1, 3, 3]"));
        assert_eq!(infer_type(&op, &[&x, &g], Some(&w)).unwrap(), w);
        let err = infer_type(&op, &[&x, &g], None).unwrap_err();
        assert_eq!(
            err.message,
            "conv2d_weight_grad: result type must be declared (operands f32[B, 1, 28, 28], f32[B, 32, 14, 14])"
        );
        let err = infer_type(&op, &[&x, &ty("f32[B, 32, 13, 13]")], Some(&w)).unwrap_err();
        assert_eq!(
            err.message,
            "conv2d_weight_grad: gradient f32[B, 32, 13, 13] does not match conv2d output f32[B, 32, 14, 14] \
             of f32[B, 1, 28, 28] with weight f32[32, 1, 3, 3]"
        );
    }

    #[test]
    fn pooling() {
        let p = Op::Pool2d { kind: PoolKind::Max, kernel: [2, 2], stride: [2, 2], padding: [0, 0] };
        assert_eq!(run(&p, &["f32[B, 3, 28, 28]"]).unwrap(), "f32[B, 3, 14, 14]");
        let a = Op::Pool2d { kind: PoolKind::Avg, kernel: [3, 3], stride: [1, 1], padding: [1, 1] };
        assert_eq!(run(&a, &["f64[2, C, 5, 7]"]).unwrap(), "f64[2, C, 5, 7]");
        let bad = Op::Pool2d { kind: PoolKind::Avg, kernel: [2, 2], stride: [1, 1], padding: [2, 0] };
        assert_eq!(
            run(&bad, &["f32[B, 3, 8, 8]"]).unwrap_err(),
            "avg_pool2d: padding [2, 0] must be at most half the kernel [2, 2]"
        );
        assert_eq!(
            run(&p, &["i32[B, 3, 8, 8]"]).unwrap_err(),
            "max_pool2d: needs a float NCHW operand of rank 4, found i32[B, 3, 8, 8]"
        );
        assert!(run(&p, &["f32[B, 3, 1, 8]"]).unwrap_err().contains("exceeds padded input size 1"));
        let g = Op::MaxPool2dGrad { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };
        assert_eq!(run(&g, &["f32[B, 3, 28, 28]", "f32[B, 3, 14, 14]"]).unwrap(), "f32[B, 3, 28, 28]");
        assert_eq!(
            run(&g, &["f32[B, 3, 28, 28]", "f32[B, 3, 28, 28]"]).unwrap_err(),
            "max_pool2d_grad: gradient f32[B, 3, 28, 28] does not match max_pool2d output f32[B, 3, 14, 14] of f32[B, 3, 28, 28]"
        );
    }
}

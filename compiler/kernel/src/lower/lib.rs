//! Library calls: matrix products (transposes and broadcasts folded into strides), convolutions,
//! pooling, indexing and random draws, each with the geometry the runtime's kernel checks.

use super::kernels::copy_into;
use super::shape;
use super::sparse::Product;
use super::{Built, LowerError, Lowering, Repr};
use hg_abi::plan::{Affine, BufId, Conv2dGeom, LibCall, MatStrides, SparseForm, Step};
use hg_ir::{Op, PoolKind, ValueId};

/// A contiguous buffer holding `v` from element 0, copying it there when its layout is other.
fn contiguous(lw: &mut Lowering, v: ValueId) -> Result<BufId, LowerError> {
    let shape = lw.shape(v)?;
    if let Some(Repr::Strided { buf, strides, offset }) = lw.reprs.get(&v)
        && *offset == Affine::ZERO
        && *strides == shape::row_major(&shape)?
    {
        return Ok(*buf);
    }
    let tmp = lw.temp_for_copy(v)?;
    copy_into(lw, v, tmp, "contiguous")?;
    Ok(tmp)
}

fn push_lib(lw: &mut Lowering, v: ValueId, call: LibCall, args: Vec<BufId>, label: &str) {
    let span = lw.f.node(v).span;
    lw.steps.push(Built {
        step: Step::Lib { call, args },
        kernel: None,
        sources: vec![span],
        label: label.to_string(),
    });
}

fn dims4(lw: &Lowering, v: ValueId) -> Result<[Affine; 4], LowerError> {
    let s = lw.shape(v)?;
    <[Affine; 4]>::try_from(s.as_slice()).map_err(|_| lw.unsupported(v, "expects a rank-4 NCHW tensor"))
}

fn fixed(lw: &Lowering, v: ValueId, d: Affine) -> Result<usize, LowerError> {
    d.as_const()
        .and_then(|c| usize::try_from(c).ok())
        .ok_or_else(|| lw.unsupported(v, format!("needs a fixed size here, found {d}")))
}

/// `[outer, axis, inner]` sizes of a shape around `axis`.
fn around(shape: &[Affine], axis: usize) -> Result<(Affine, Affine, Affine), LowerError> {
    let outer = shape::numel_affine(&shape[..axis])?;
    let inner = shape::numel_affine(&shape[axis + 1..])?;
    Ok((outer, shape[axis], inner))
}

pub fn lower_lib(lw: &mut Lowering, v: ValueId) -> Result<(), LowerError> {
    if let Some(p) = lw.sparse.products.get(&v).copied() {
        return sparse_product(lw, v, p);
    }
    let op = lw.f.op(v).clone();
    let ops = lw.f.operands(v);
    if let Op::MatMul = op {
        return matmul(lw, v, ops[0], ops[1]);
    }
    let out = lw.temp_for(v)?;
    let (call, mut args, label) = match &op {
        Op::Conv2d { stride, padding, groups } => {
            let [n, c, h, w] = dims4(lw, ops[0])?;
            let [o, _, kh, kw] = dims4(lw, ops[1])?;
            let [_, _, oh, ow] = dims4(lw, v)?;
            let geom = geom(lw, v, n, [c, h, w], [o, oh, ow], [kh, kw], *stride, *padding, *groups)?;
            (LibCall::Conv2d(geom), vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?], "conv2d")
        }
        Op::ConvTranspose2d { stride, padding, groups, .. } => {
            // Described as the forward convolution from the result back to the input.
            let [n, c, h, w] = dims4(lw, ops[0])?;
            let [_, _, kh, kw] = dims4(lw, ops[1])?;
            let [_, o, oh, ow] = dims4(lw, v)?;
            let geom = geom(lw, v, n, [o, oh, ow], [c, h, w], [kh, kw], *stride, *padding, *groups)?;
            (LibCall::ConvTranspose2d(geom), vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?], "conv_transpose2d")
        }
        Op::Conv2dWeightGrad { stride, padding, groups } => {
            let [n, c, h, w] = dims4(lw, ops[0])?;
            let [_, o, oh, ow] = dims4(lw, ops[1])?;
            let [_, _, kh, kw] = dims4(lw, v)?;
            let geom = geom(lw, v, n, [c, h, w], [o, oh, ow], [kh, kw], *stride, *padding, *groups)?;
            (
                LibCall::Conv2dWeightGrad(geom),
                vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?],
                "conv2d_weight_grad",
            )
        }
        Op::Pool2d { kind, kernel, stride, padding } => {
            let [n, c, h, w] = dims4(lw, ops[0])?;
            let [_, _, oh, ow] = dims4(lw, v)?;
            let k = [Affine::constant(kernel[0] as i64), Affine::constant(kernel[1] as i64)];
            let cc = fixed(lw, v, c)?;
            let geom = geom(lw, v, n, [c, h, w], [c, oh, ow], k, *stride, *padding, cc)?;
            (LibCall::Pool2d { geom, max: *kind == PoolKind::Max }, vec![contiguous(lw, ops[0])?], "pool2d")
        }
        Op::MaxPool2dGrad { kernel, stride, padding } => {
            let [n, c, h, w] = dims4(lw, ops[0])?;
            let [_, _, oh, ow] = dims4(lw, ops[1])?;
            let k = [Affine::constant(kernel[0] as i64), Affine::constant(kernel[1] as i64)];
            let cc = fixed(lw, v, c)?;
            let geom = geom(lw, v, n, [c, h, w], [c, oh, ow], k, *stride, *padding, cc)?;
            (LibCall::MaxPool2dGrad(geom), vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?], "max_pool2d_grad")
        }
        Op::Gather { axis } => {
            let xs = lw.shape(ops[0])?;
            let is = lw.shape(ops[1])?;
            same_outside(lw, v, &xs, &is, *axis)?;
            let (outer, ax, inner) = around(&xs, *axis)?;
            let call = LibCall::Gather { outer, axis: ax, idx_axis: is[*axis], inner };
            (call, vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?], "gather")
        }
        Op::ScatterAdd { axis } => {
            let xs = lw.shape(ops[0])?;
            let is = lw.shape(ops[1])?;
            same_outside(lw, v, &xs, &is, *axis)?;
            let (outer, ax, inner) = around(&xs, *axis)?;
            let call = LibCall::ScatterAdd { outer, axis: ax, idx_axis: is[*axis], inner };
            let args = vec![contiguous(lw, ops[0])?, contiguous(lw, ops[1])?, contiguous(lw, ops[2])?];
            (call, args, "scatter_add")
        }
        Op::TopKIndices { k, axis } => {
            let xs = lw.shape(ops[0])?;
            let (outer, ax, inner) = around(&xs, *axis)?;
            (LibCall::TopK { outer, axis: ax, inner, k: *k }, vec![contiguous(lw, ops[0])?], "topk")
        }
        Op::ArgReduce { max, axis, .. } => {
            let xs = lw.shape(ops[0])?;
            let (outer, ax, inner) = around(&xs, *axis)?;
            (LibCall::ArgReduce { outer, axis: ax, inner, max: *max }, vec![contiguous(lw, ops[0])?], "arg_reduce")
        }
        _ => return Err(lw.unsupported(v, "has no library kernel")),
    };
    args.push(out);
    push_lib(lw, v, call, args, label);
    Ok(())
}

fn same_outside(lw: &Lowering, v: ValueId, xs: &[Affine], is: &[Affine], axis: usize) -> Result<(), LowerError> {
    if super::legalize::differs_outside(xs, is, axis) {
        return Err(lw.unsupported(
            v,
            "indices smaller than the operand outside the indexed axis by a batch-dependent extent are not compiled",
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn geom(
    lw: &Lowering,
    v: ValueId,
    n: Affine,
    input: [Affine; 3],
    output: [Affine; 3],
    k: [Affine; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    groups: usize,
) -> Result<Conv2dGeom, LowerError> {
    Ok(Conv2dGeom {
        n,
        c: fixed(lw, v, input[0])?,
        h: fixed(lw, v, input[1])?,
        w: fixed(lw, v, input[2])?,
        o: fixed(lw, v, output[0])?,
        oh: fixed(lw, v, output[1])?,
        ow: fixed(lw, v, output[2])?,
        kh: fixed(lw, v, k[0])?,
        kw: fixed(lw, v, k[1])?,
        stride,
        padding,
        groups,
    })
}

/// The strides of a matrix operand whose leading axes broadcast to `batch` (the result's
/// leading axes), or `None` when they do not fold: into one batch stride, or with `split` into
/// one stride for all but the last batch axis and the inner stride for the last.
fn mat_strides(
    shape: &[Affine],
    strides: &[Affine],
    batch: &[Affine],
    vector_is_row: bool,
    split: bool,
) -> Option<MatStrides> {
    let (row, col, lead) = match shape.len() {
        1 if vector_is_row => (Affine::ZERO, strides[0], 0),
        1 => (strides[0], Affine::ZERO, 0),
        r => (strides[r - 2], strides[r - 1], r - 2),
    };
    // Per result batch axis, this operand's stride (0 where it broadcasts).
    let offset = batch.len().checked_sub(lead)?;
    let mut per_axis: Vec<Affine> = (0..batch.len())
        .map(|j| {
            if j < offset {
                Affine::ZERO
            } else {
                let k = j - offset;
                if shape[k] == Affine::ONE && batch[j] != Affine::ONE { Affine::ZERO } else { strides[k] }
            }
        })
        .collect();
    let mut dims = batch.to_vec();
    let inner = if split {
        dims.pop()?;
        per_axis.pop()?
    } else {
        Affine::ZERO
    };
    if per_axis.iter().all(|s| *s == Affine::ZERO) {
        return Some(MatStrides { batch: Affine::ZERO, inner, row, col });
    }
    // One stride S with per_axis[j] = S * prod(dims[j+1..]).
    let s = *per_axis.last()?;
    let mut p = Affine::ONE;
    for j in (0..dims.len()).rev() {
        if per_axis[j] != s.checked_mul(p)? {
            return None;
        }
        p = p.checked_mul(dims[j])?;
    }
    Some(MatStrides { batch: s, inner, row, col })
}

fn matmul(lw: &mut Lowering, v: ValueId, a: ValueId, b: ValueId) -> Result<(), LowerError> {
    let (ash, bsh) = (lw.shape(a)?, lw.shape(b)?);
    let out_shape = lw.shape(v)?;
    let (m, k) = match ash.len() {
        1 => (Affine::ONE, ash[0]),
        r => (ash[r - 2], ash[r - 1]),
    };
    let n = match bsh.len() {
        1 => Affine::ONE,
        r => bsh[r - 1],
    };
    let batch_rank = ash.len().max(bsh.len()).saturating_sub(2);
    let batch_dims: Vec<Affine> = out_shape[..batch_rank.min(out_shape.len())].to_vec();
    let split = two_batch_levels(lw, a, b, &batch_dims);
    let (batch, inner_batch) = match (split, batch_dims.split_last()) {
        (true, Some((last, outer))) => (shape::numel_affine(outer)?, *last),
        _ => (shape::numel_affine(&batch_dims)?, Affine::ONE),
    };
    let (abuf, ast) = mat_operand(lw, v, a, &batch_dims, true, split)?;
    let (bbuf, bst) = mat_operand(lw, v, b, &batch_dims, false, split)?;
    if !split
        && let Some(sum) = summed_over_batch(lw, v, ash.len(), bsh.len())
        && ast.batch != Affine::ZERO
        && bst.batch != Affine::ZERO
        && Some(ast.batch) == k.checked_mul(ast.col)
        && Some(bst.batch) == k.checked_mul(bst.row)
    {
        // sum over i of a[i] @ b[i] = [a[0] a[1] ...] @ [b[0]; b[1]; ...]: one product whose
        // inner size runs over the whole batch (a weight gradient over [B, N, D] tokens),
        // instead of a [B, m, n] temporary and a reduction.
        let inner = shape::mul(batch, k)?;
        let out = lw.temp_for(sum)?;
        let fold = |s: MatStrides| MatStrides { batch: Affine::ZERO, ..s };
        let call = LibCall::MatMul {
            batch: Affine::ONE,
            inner_batch: Affine::ONE,
            m,
            n,
            k: inner,
            a: fold(ast),
            b: fold(bst),
            accumulate: false,
        };
        push_lib(lw, sum, call, vec![abuf, bbuf, out], "matmul_batch_sum");
        return Ok(());
    }
    let out = lw.temp_for(v)?;
    let call = LibCall::MatMul { batch, inner_batch, m, n, k, a: ast, b: bst, accumulate: false };
    push_lib(lw, v, call, vec![abuf, bbuf, out], "matmul");
    Ok(())
}

/// Whether a product reads its operands with two batch levels: when one of them folds only so
/// in place and both are batched (attention heads read from `[B, N, heads, d]`). An operand
/// shared by the whole batch (a weight) is better served by a copy of the other into one tall
/// matrix: the batch then folds into the rows of a single product.
fn two_batch_levels(lw: &Lowering, a: ValueId, b: ValueId, batch_dims: &[Affine]) -> bool {
    // `None`: the layout does not fold; `Some(None)`: no layout yet (a copy, which folds
    // either way); `Some(Some(s))`: read in place through `s`.
    let read = |x: ValueId, row_vec: bool, split: bool| match lw.reprs.get(&x) {
        Some(Repr::Strided { strides, offset, .. }) if *offset == Affine::ZERO => {
            lw.shape(x).ok().and_then(|xs| mat_strides(&xs, strides, batch_dims, row_vec, split)).map(Some)
        }
        _ => Some(None),
    };
    let batched = |r: Option<MatStrides>| r.is_none_or(|s| s.batch != Affine::ZERO || s.inner != Affine::ZERO);
    let one_level = read(a, true, false).is_some() && read(b, false, false).is_some();
    match (read(a, true, true), read(b, false, true)) {
        (Some(ra), Some(rb)) => batch_dims.len() >= 2 && !one_level && batched(ra) && batched(rb),
        _ => false,
    }
}

/// A buffer and strides through which the product `v` reads its matrix operand `x` (its
/// leading axes broadcast to `batch_dims`), copying `x` when its layout does not fold.
fn mat_operand(
    lw: &mut Lowering,
    v: ValueId,
    x: ValueId,
    batch_dims: &[Affine],
    row_vec: bool,
    split: bool,
) -> Result<(BufId, MatStrides), LowerError> {
    let xs = lw.shape(x)?;
    if let Some(Repr::Strided { buf, strides, offset }) = lw.reprs.get(&x).cloned()
        && offset == Affine::ZERO
        && let Some(ms) = mat_strides(&xs, &strides, batch_dims, row_vec, split)
    {
        return Ok((buf, ms));
    }
    let buf = contiguous(lw, x)?;
    let strides = shape::row_major(&xs)?;
    match mat_strides(&xs, &strides, batch_dims, row_vec, split) {
        Some(ms) => Ok((buf, ms)),
        None => Err(lw.unsupported(v, "operand batch axes that broadcast partially are not compiled yet")),
    }
}

/// A product that reads a top-k code sparsely (`super::sparse`).
fn sparse_product(lw: &mut Lowering, v: ValueId, p: Product) -> Result<(), LowerError> {
    let (call, args, label) = match p {
        Product::Sparse { form, idx, vals, n, dense } => {
            let is = lw.shape(idx)?;
            let ds = lw.shape(dense)?;
            let nnz = fixed(lw, v, is[1])?;
            let cols = if form == SparseForm::ScatterCols { ds[0] } else { ds[1] };
            let ib = contiguous(lw, idx)?;
            let vb = contiguous(lw, vals)?;
            let (db, d) = mat_operand(lw, v, dense, &[], false, false)?;
            let call = LibCall::SparseMatMul { form, rows: is[0], nnz, n: Affine::constant(n as i64), cols, d };
            (call, vec![ib, vb, db], "sparse_matmul")
        }
        Product::Sampled { idx, a, b } => {
            let is = lw.shape(idx)?;
            let (as_, bs) = (lw.shape(a)?, lw.shape(b)?);
            let nnz = fixed(lw, v, is[1])?;
            let ib = contiguous(lw, idx)?;
            let (ab, ast) = mat_operand(lw, v, a, &[], false, false)?;
            let (bb, bst) = mat_operand(lw, v, b, &[], false, false)?;
            let call = LibCall::SampledMatMul { rows: is[0], nnz, n: bs[1], inner: as_[1], a: ast, b: bst };
            (call, vec![ib, ab, bb], "sampled_matmul")
        }
    };
    let out = lw.temp_for(v)?;
    let mut args = args;
    args.push(out);
    push_lib(lw, v, call, args, label);
    Ok(())
}

/// Fails the step when a class index of the one-hot `v` is out of range, as the interpreter
/// does (the fused one-hot compares indices and would give a zero row). Nothing to check when
/// the indices come from an arg-max or top-k over the same classes.
pub fn check_one_hot(lw: &mut Lowering, v: ValueId) -> Result<(), LowerError> {
    let Op::OneHot { n } = *lw.f.op(v) else { return Ok(()) };
    let idx = *lw.f.operands(v).first().ok_or_else(|| LowerError::Malformed(format!("{v} has no operand")))?;
    if super::sparse::indices_in_range(lw.f, idx, n) {
        return Ok(());
    }
    let len = shape::numel_affine(&lw.shape(idx)?)?;
    let buf = contiguous(lw, idx)?;
    push_lib(lw, v, LibCall::CheckIndices { len, n }, vec![buf], "check_indices");
    Ok(())
}

/// The reduction `sum(v, axis 0)` when it is the only reader of the batched product `v`
/// (`[B, m, n]` from operands of rank 3).
fn summed_over_batch(lw: &Lowering, v: ValueId, a_rank: usize, b_rank: usize) -> Option<ValueId> {
    let f = lw.f;
    if a_rank != 3 || b_rank != 3 || f.ty(v).rank() != 3 || super::is_output(f, v) {
        return None;
    }
    let [r] = f.users(v)[..] else { return None };
    match f.op(r) {
        Op::Reduce { op: hg_ir::ReduceOp::Sum, axes, .. } if axes[..] == [0] => Some(r),
        _ => None,
    }
}

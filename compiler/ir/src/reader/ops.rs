//! Parsing one op: its mnemonic, the name of an `input`/`param`, and its `{key=value}`
//! attributes, in exactly the order the printer writes them.

use super::ReadError;
use super::cursor::Cursor;
use crate::op::{BinaryOp, Op, PoolKind, ReduceOp, UnaryOp};

/// Parses the attribute list `{k1=v1, k2=v2}` by calling `body` between the braces; ops
/// without attributes take no braces.
fn braces<T>(c: &mut Cursor<'_>, body: impl FnOnce(&mut Cursor<'_>) -> Result<T, ReadError>) -> Result<T, ReadError> {
    c.expect("{")?;
    let v = body(c)?;
    c.expect("}")?;
    Ok(v)
}

/// `key=` (preceded by `, ` unless it is the first attribute).
fn key(c: &mut Cursor<'_>, name: &str, first: bool) -> Result<(), ReadError> {
    if !first {
        c.expect(",")?;
    }
    c.expect(name)?;
    c.expect("=")
}

/// The op named `mnemonic`; an `input`/`param` name is read here, attributes are read after
/// the operands by [`attributes`].
pub(super) fn op_head(c: &mut Cursor<'_>, mnemonic: &str, start: usize) -> Result<Op, ReadError> {
    if let Some(u) = UnaryOp::from_name(mnemonic) {
        return Ok(Op::Unary(u));
    }
    if let Some(b) = BinaryOp::from_name(mnemonic) {
        return Ok(Op::Binary(b));
    }
    let reduce = |op| Op::Reduce { op, axes: Vec::new(), keepdims: false };
    let pool = |kind| Op::Pool2d { kind, kernel: [0; 2], stride: [0; 2], padding: [0; 2] };
    // Attribute fields are placeholders until `attributes` fills them in.
    Ok(match mnemonic {
        "input" => Op::Input { name: c.string()? },
        "param" => Op::Param { name: c.string()? },
        "const" => Op::Const { value: 0.0 },
        "full" => Op::Full { value: 0.0 },
        "dim_value" => Op::DimValue { dim: crate::dim::Dim::constant(0) },
        "iota" => Op::Iota { axis: 0 },
        "where" => Op::Where,
        "cast" => Op::Cast { to: hg_abi::DType::F32 },
        "sum" => reduce(ReduceOp::Sum),
        "mean" => reduce(ReduceOp::Mean),
        "max" => reduce(ReduceOp::Max),
        "min" => reduce(ReduceOp::Min),
        "argmax" => Op::ArgReduce { max: true, axis: 0, keepdims: false },
        "argmin" => Op::ArgReduce { max: false, axis: 0, keepdims: false },
        "matmul" => Op::MatMul,
        "conv2d" => Op::Conv2d { stride: [0; 2], padding: [0; 2], groups: 0 },
        "conv_transpose2d" => {
            Op::ConvTranspose2d { stride: [0; 2], padding: [0; 2], output_padding: [0; 2], groups: 0 }
        }
        "conv2d_weight_grad" => Op::Conv2dWeightGrad { stride: [0; 2], padding: [0; 2], groups: 0 },
        "avg_pool2d" => pool(PoolKind::Avg),
        "max_pool2d" => pool(PoolKind::Max),
        "max_pool2d_grad" => Op::MaxPool2dGrad { kernel: [0; 2], stride: [0; 2], padding: [0; 2] },
        "reshape" => Op::Reshape,
        "transpose" => Op::Transpose { perm: Vec::new() },
        "broadcast_to" => Op::BroadcastTo,
        "concat" => Op::Concat { axis: 0 },
        "slice" => Op::Slice { axis: 0, start: 0, end: 0, step: 0 },
        "pad" => Op::Pad { pads: Vec::new(), value: 0.0 },
        "gather" => Op::Gather { axis: 0 },
        "scatter_add" => Op::ScatterAdd { axis: 0 },
        "topk_indices" => Op::TopKIndices { k: 0, axis: 0 },
        "one_hot" => Op::OneHot { n: 0 },
        "random_normal" => Op::RandomNormal { site: 0 },
        "random_uniform" => Op::RandomUniform { site: 0, lo: 0.0, hi: 0.0 },
        "bernoulli" => Op::Bernoulli { site: 0, p: 0.0 },
        "stop_gradient" => Op::StopGradient,
        "straight_through" => Op::StraightThrough,
        other => return Err(c.error_at(start, format!("unknown op `{other}`"))),
    })
}

/// Reads the `{...}` attributes of `op` (none for ops without attributes).
pub(super) fn attributes(c: &mut Cursor<'_>, op: &mut Op) -> Result<(), ReadError> {
    match op {
        Op::Const { value } | Op::Full { value } => braces(c, |c| {
            key(c, "value", true)?;
            *value = c.float()?;
            Ok(())
        }),
        Op::DimValue { dim } => braces(c, |c| {
            key(c, "dim", true)?;
            *dim = c.dim()?;
            Ok(())
        }),
        Op::Iota { axis } | Op::Concat { axis } | Op::Gather { axis } | Op::ScatterAdd { axis } => braces(c, |c| {
            key(c, "axis", true)?;
            *axis = c.uint()?;
            Ok(())
        }),
        Op::Cast { to } => braces(c, |c| {
            key(c, "to", true)?;
            *to = c.dtype()?;
            Ok(())
        }),
        Op::Reduce { axes, keepdims, .. } => braces(c, |c| {
            key(c, "axes", true)?;
            *axes = c.uint_list()?;
            key(c, "keepdims", false)?;
            *keepdims = c.boolean()?;
            Ok(())
        }),
        Op::ArgReduce { axis, keepdims, .. } => braces(c, |c| {
            key(c, "axis", true)?;
            *axis = c.uint()?;
            key(c, "keepdims", false)?;
            *keepdims = c.boolean()?;
            Ok(())
        }),
        Op::Conv2d { stride, padding, groups } | Op::Conv2dWeightGrad { stride, padding, groups } => braces(c, |c| {
            key(c, "stride", true)?;
            *stride = c.uint_pair()?;
            key(c, "padding", false)?;
            *padding = c.uint_pair()?;
            key(c, "groups", false)?;
            *groups = c.uint()?;
            Ok(())
        }),
        Op::ConvTranspose2d { stride, padding, output_padding, groups } => braces(c, |c| {
            key(c, "stride", true)?;
            *stride = c.uint_pair()?;
            key(c, "padding", false)?;
            *padding = c.uint_pair()?;
            key(c, "output_padding", false)?;
            *output_padding = c.uint_pair()?;
            key(c, "groups", false)?;
            *groups = c.uint()?;
            Ok(())
        }),
        Op::Pool2d { kernel, stride, padding, .. } | Op::MaxPool2dGrad { kernel, stride, padding } => braces(c, |c| {
            key(c, "kernel", true)?;
            *kernel = c.uint_pair()?;
            key(c, "stride", false)?;
            *stride = c.uint_pair()?;
            key(c, "padding", false)?;
            *padding = c.uint_pair()?;
            Ok(())
        }),
        Op::Transpose { perm } => braces(c, |c| {
            key(c, "perm", true)?;
            *perm = c.uint_list()?;
            Ok(())
        }),
        Op::Slice { axis, start, end, step } => braces(c, |c| {
            key(c, "axis", true)?;
            *axis = c.uint()?;
            key(c, "start", false)?;
            *start = c.uint()?;
            key(c, "end", false)?;
            *end = c.uint()?;
            key(c, "step", false)?;
            *step = c.uint()?;
            Ok(())
        }),
        Op::Pad { pads, value } => braces(c, |c| {
            key(c, "pads", true)?;
            c.expect("[")?;
            if !c.eat("]") {
                loop {
                    c.expect("(")?;
                    let before = c.uint()?;
                    c.expect(",")?;
                    let after = c.uint()?;
                    c.expect(")")?;
                    pads.push((before, after));
                    if c.eat("]") {
                        break;
                    }
                    c.expect(",")?;
                }
            }
            key(c, "value", false)?;
            *value = c.float()?;
            Ok(())
        }),
        Op::TopKIndices { k, axis } => braces(c, |c| {
            key(c, "k", true)?;
            *k = c.uint()?;
            key(c, "axis", false)?;
            *axis = c.uint()?;
            Ok(())
        }),
        Op::OneHot { n } => braces(c, |c| {
            key(c, "n", true)?;
            *n = c.uint()?;
            Ok(())
        }),
        Op::RandomNormal { site } => braces(c, |c| {
            key(c, "site", true)?;
            *site = c.uint()?;
            Ok(())
        }),
        Op::RandomUniform { site, lo, hi } => braces(c, |c| {
            key(c, "site", true)?;
            *site = c.uint()?;
            key(c, "lo", false)?;
            *lo = c.float()?;
            key(c, "hi", false)?;
            *hi = c.float()?;
            Ok(())
        }),
        Op::Bernoulli { site, p } => braces(c, |c| {
            key(c, "site", true)?;
            *site = c.uint()?;
            key(c, "p", false)?;
            *p = c.float()?;
            Ok(())
        }),
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::MatMul
        | Op::Reshape
        | Op::BroadcastTo
        | Op::StopGradient
        | Op::StraightThrough => Ok(()),
    }
}

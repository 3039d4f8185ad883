//! The evaluation loop: live nodes in topological order, one kernel per op, each result
//! checked against the node's declared shape and conformed to its dtype, every value dropped
//! after its last use.

use super::bind::{Bound, EXACT_INT, Layers, bind_inputs, concrete_dim, concrete_shape};
use super::buf::{Buf, fmt_shape, try_collect};
use super::error::InterpError;
use super::{Precision, RunContext, conv, elementwise, index, linalg, random, reduce, shape_ops};
use hg_abi::DType;
use hg_exec::philox::DrawSite;
use hg_exec::{NamedTensors, Tensor, TensorData};
use hg_ir::{Function, Node, Op, PoolKind, ValueId};
use std::collections::{HashMap, HashSet};

/// Runs `f` on `inputs`; see the module docs of `interp` for the numbers, [`RunContext`] for
/// the batch size, seed and step, and `bind` for how inputs are checked.
pub fn run_function(f: &Function, inputs: &NamedTensors, ctx: &RunContext) -> Result<NamedTensors, InterpError> {
    run_function_layered(f, &[inputs], ctx)
}

/// [`run_function`] with the inputs spread over several maps (first match wins).
pub fn run_function_layered(
    f: &Function,
    inputs: &[&NamedTensors],
    ctx: &RunContext,
) -> Result<NamedTensors, InterpError> {
    let graph_err = |message: String| InterpError::Graph { function: f.name.clone(), message };
    if let Some((name, v)) = f.outputs.iter().find(|(_, v)| !f.graph.contains_node(v.0)) {
        return Err(graph_err(format!("output `{name}` refers to {v}, which is not a node")));
    }
    let order = f.topo_order();
    if order.len() != f.len() {
        return Err(graph_err("the graph has a cycle".into()));
    }
    let live = live_values(f);
    let mut bound = bind_inputs(f, Layers(inputs), ctx, &live)?;
    // Remaining reads of each value: one per operand slot of a live user, one per output.
    let mut uses: HashMap<ValueId, usize> = HashMap::new();
    for &v in order.iter().filter(|v| live.contains(v)) {
        for o in f.operands(v) {
            *uses.entry(o).or_default() += 1;
        }
    }
    for (_, v) in &f.outputs {
        *uses.entry(*v).or_default() += 1;
    }
    let mut values: HashMap<ValueId, Buf> = HashMap::new();
    for &v in order.iter().filter(|v| live.contains(v)) {
        let node = f.node(v);
        let operands = f.operands(v);
        // Ops that pass their first operand through take it instead of copying it when this
        // is its last read.
        let owned = match operands.first() {
            Some(o) if passes_through(&node.op) && uses.get(o) == Some(&1) => values.remove(o),
            _ => None,
        };
        let result = {
            let args: Vec<&Buf> = operands.iter().filter_map(|o| values.get(o)).collect();
            let n_args = args.len() + usize::from(owned.is_some());
            if n_args != operands.len() {
                return Err(graph_err(format!("{v} is evaluated before one of its operands")));
            }
            let int_operands = operands.first().is_some_and(|o| f.ty(*o).dtype.is_int());
            evaluate(v, node, &operands, args, owned, int_operands, &mut bound, ctx.precision)
        };
        let result =
            result.map_err(|message| InterpError::Op { node: v, op: node.op.mnemonic(), span: node.span, message })?;
        for o in &operands {
            if let Some(u) = uses.get_mut(o) {
                *u -= 1;
                if *u == 0 {
                    values.remove(o);
                }
            }
        }
        values.insert(v, result);
    }
    // Outputs are converted while every buffer is still held: dropping large buffers one by one
    // here lets the allocator give memory back to the system and fault it in again next call
    // (measured: 70% more page faults per train step of the VAE).
    let mut out = NamedTensors::new();
    for (name, v) in &f.outputs {
        let dtype =
            if ctx.precision == Precision::F64 && f.ty(*v).dtype.is_float() { DType::F64 } else { f.ty(*v).dtype };
        let t = values
            .get(v)
            .ok_or_else(|| format!("{v} has no value"))
            .and_then(|buf| to_tensor(dtype, buf))
            .map_err(|e| graph_err(format!("output `{name}` ({v}): {e}")))?;
        out.insert(name.clone(), t);
    }
    Ok(out)
}

/// An output buffer as a runtime tensor of `dtype` (rounded or truncated to it), allocated
/// through `try_vec`.
fn to_tensor(dtype: DType, buf: &Buf) -> Result<Tensor, String> {
    let (n, v) = (buf.len(), &buf.data);
    let data = match dtype {
        DType::F32 | DType::F16 | DType::BF16 => TensorData::F32(try_collect(n, v.iter().map(|&x| x as f32))?),
        DType::F64 => TensorData::F64(try_collect(n, v.iter().copied())?),
        DType::I32 => TensorData::I32(try_collect(n, v.iter().map(|&x| x as i32))?),
        DType::I64 => TensorData::I64(try_collect(n, v.iter().map(|&x| x as i64))?),
        DType::Bool => TensorData::Bool(try_collect(n, v.iter().map(|&x| x != 0.0))?),
    };
    Tensor::new(dtype, buf.shape.clone(), data).map_err(|e| e.to_string())
}

/// Values some output depends on.
pub(super) fn live_values(f: &Function) -> HashSet<ValueId> {
    let mut live = HashSet::new();
    let mut stack: Vec<ValueId> = f.outputs.iter().map(|(_, v)| *v).collect();
    while let Some(v) = stack.pop() {
        if live.insert(v) {
            stack.extend(f.operands(v));
        }
    }
    live
}

/// Ops whose result is their first operand's elements unchanged.
pub(super) fn passes_through(op: &Op) -> bool {
    matches!(op, Op::Reshape | Op::Cast { .. } | Op::StopGradient | Op::StraightThrough)
}

/// One node: arity check, kernel, shape check against the declared type, dtype conformance.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    v: ValueId,
    node: &Node,
    operands: &[ValueId],
    args: Vec<&Buf>,
    owned: Option<Buf>,
    int_operands: bool,
    bound: &mut Bound,
    precision: Precision,
) -> Result<Buf, String> {
    let n_args = args.len() + usize::from(owned.is_some());
    match node.op.arity() {
        Some(n) if n != n_args => return Err(format!("expects {n} operands, has {n_args}")),
        None if n_args == 0 => return Err("expects at least one operand, has none".into()),
        _ => {}
    }
    let declared = concrete_shape(&node.ty, bound.batch)?;
    // `owned` stands for operand 0 when present; `a(i)` reads operand i either way.
    let first_owned = owned.is_some();
    let a = |i: usize| -> &Buf { if first_owned { args[i - 1] } else { args[i] } };
    // What a pass-through op returns: the operand it was given to own, or a copy.
    let take_or_copy = |owned: Option<Buf>| match owned {
        Some(b) => Ok(b),
        None => a(0).try_clone(),
    };
    // A random draw's `(seed, step, offset)` operands: exact integers (a seed uses all 64 bits).
    let draw = |site: u32| -> Result<(DrawSite, u64), String> {
        let int = |i: usize| -> Result<u64, String> {
            if let Some(x) = bound.exact_ints.get(&operands[i]) {
                return Ok(*x);
            }
            match a(i).data.as_slice() {
                [x] if *x >= 0.0 => Ok(*x as u64),
                [x] if *x < 0.0 => Ok(*x as i64 as u64),
                _ => Err(format!("operand {i} must be one integer, it has shape {}", fmt_shape(&a(i).shape))),
            }
        };
        Ok((DrawSite { seed: int(0)?, step: int(1)?, site }, int(2)?))
    };
    let mut out = match &node.op {
        Op::Input { .. } | Op::Param { .. } => bound.sources.remove(&v).ok_or("no value is bound to this source")?,
        Op::Const { value } | Op::Full { value } => Buf::filled(&declared, *value)?,
        Op::DimValue { dim } => Buf::filled(&declared, concrete_dim(dim, bound.batch)? as f64)?,
        Op::Iota { axis } => index::iota(&declared, *axis)?,
        Op::Unary(u) => elementwise::unary(*u, a(0))?,
        Op::Binary(b) => elementwise::binary(*b, a(0), a(1), int_operands)?,
        Op::Where => elementwise::select(a(0), a(1), a(2))?,
        Op::Reduce { op, axes, keepdims } => reduce::reduce(*op, a(0), axes, *keepdims)?,
        Op::ArgReduce { max, axis, keepdims } => reduce::arg_reduce(a(0), *max, *axis, *keepdims)?,
        Op::MatMul => linalg::matmul(a(0), a(1))?,
        Op::Conv2d { stride, padding, groups } => conv::conv2d(a(0), a(1), *stride, *padding, *groups)?,
        Op::ConvTranspose2d { stride, padding, output_padding, groups } => {
            conv::conv_transpose2d(a(0), a(1), *stride, *padding, *output_padding, *groups)?
        }
        Op::Conv2dWeightGrad { stride, padding, groups } => {
            conv::conv2d_weight_grad(a(0), a(1), &declared, *stride, *padding, *groups)?
        }
        Op::Pool2d { kind: PoolKind::Avg, kernel, stride, padding } => {
            conv::avg_pool2d(a(0), *kernel, *stride, *padding)?
        }
        Op::Pool2d { kind: PoolKind::Max, kernel, stride, padding } => {
            conv::max_pool2d(a(0), *kernel, *stride, *padding)?
        }
        Op::MaxPool2dGrad { kernel, stride, padding } => conv::max_pool2d_grad(a(0), a(1), *kernel, *stride, *padding)?,
        Op::Reshape => shape_ops::reshape(take_or_copy(owned)?, &declared)?,
        Op::Transpose { perm } => shape_ops::transpose(a(0), perm)?,
        Op::BroadcastTo => shape_ops::broadcast_to(a(0), &declared)?,
        Op::Concat { axis } => {
            let all: Vec<&Buf> = owned.iter().chain(args.iter().copied()).collect();
            shape_ops::concat(&all, *axis)?
        }
        Op::Slice { axis, start, end, step } => shape_ops::slice(a(0), *axis, *start, *end, *step)?,
        Op::Pad { pads, value } => shape_ops::pad(a(0), pads, *value)?,
        Op::Gather { axis } => index::gather(a(0), a(1), *axis)?,
        Op::ScatterAdd { axis } => index::scatter_add(a(0), a(1), a(2), *axis)?,
        Op::TopKIndices { k, axis } => reduce::topk_indices(a(0), *k, *axis)?,
        Op::OneHot { n } => index::one_hot(a(0), *n)?,
        Op::RandomNormal { site } => random::random_normal(&declared, draw(*site)?)?,
        Op::RandomUniform { site, lo, hi } => random::random_uniform(&declared, draw(*site)?, *lo, *hi)?,
        Op::Bernoulli { site, p } => random::bernoulli(&declared, draw(*site)?, *p)?,
        Op::Cast { .. } | Op::StopGradient | Op::StraightThrough => take_or_copy(owned)?,
    };
    if out.shape != declared {
        return Err(format!(
            "the result has shape {}, but the node's type {} is {}",
            fmt_shape(&out.shape),
            node.ty,
            fmt_shape(&declared)
        ));
    }
    // A seed is a full 64-bit key that only random draws read, exactly (`Bound::exact_ints`);
    // its f64 copy is never used as a number.
    let seed = matches!(&node.op, Op::Input { name } if name == hg_abi::names::SEED);
    if !seed {
        conform(&mut out.data, node.ty.dtype, precision)?;
    }
    Ok(out)
}

/// Brings computed values to the node's dtype (see the `interp` module docs).
pub fn conform(data: &mut [f64], dtype: DType, precision: Precision) -> Result<(), String> {
    match dtype {
        DType::F64 => {}
        DType::F32 | DType::F16 | DType::BF16 => {
            if precision == Precision::F32 {
                data.iter_mut().for_each(|x| *x = *x as f32 as f64);
            }
        }
        DType::I32 | DType::I64 => {
            let (lo, hi) =
                if dtype == DType::I32 { (f64::from(i32::MIN), f64::from(i32::MAX)) } else { (-EXACT_INT, EXACT_INT) };
            for x in data.iter_mut() {
                if !x.is_finite() {
                    return Err(format!("the {dtype} result holds {x}, which is not an integer"));
                }
                // `+ 0.0` turns -0 into 0.
                let t = x.trunc() + 0.0;
                if t < lo || t > hi {
                    let range = if dtype == DType::I32 {
                        "the i32 range"
                    } else {
                        "±2^53, the interpreter's exact integer range"
                    };
                    return Err(format!("the {dtype} result holds {t}, outside {range}"));
                }
                *x = t;
            }
        }
        DType::Bool => data.iter_mut().for_each(|x| *x = if *x != 0.0 { 1.0 } else { 0.0 }),
    }
    Ok(())
}

//! One step per stored value: loop kernels for elementwise roots, reductions, concat and pad;
//! library calls (in `lib`) for the rest; views of stored values become strides.

use super::builder::KernelBuilder;
use super::classify::{self, Kind};
use super::expr::{self, value_at};
use super::shape::{self, constant, var};
use super::{Built, LowerError, Lowering, Repr, lib, op_name};
use crate::ir::{Expr, Index, Scalar, Stmt, Val};
use hg_abi::plan::{Affine, BufId, Quadratic, Step};
use hg_ir::{BinaryOp, Op, ReduceOp, ValueId};

/// Gives `v` its representation, adding the step that computes it where it is stored.
pub fn lower_value(lw: &mut Lowering, v: ValueId) -> Result<(), LowerError> {
    let op = lw.f.op(v).clone();
    if let Op::OneHot { .. } = op {
        super::lib::check_one_hot(lw, v)?;
    }
    let stored = lw.stored.contains(&v);
    match classify::kind(&op) {
        Kind::View if !stored => {
            let src = *lw.f.operands(v).first().ok_or_else(|| LowerError::Malformed(format!("{v} has no operand")))?;
            let repr = match lw.reprs.get(&src).cloned() {
                Some(Repr::Strided { buf, strides, offset }) => view_of_strided(lw, v, &op, buf, strides, offset)?,
                _ => Repr::Inline,
            };
            let repr = match repr {
                // A reshape of a non-contiguous layout: copy the operand first.
                Repr::Inline if matches!(op, Op::Reshape) && !classify::is_unit_reshape(lw.f, v) => {
                    let tmp = lw.temp_for_copy(src)?;
                    copy_into(lw, src, tmp, "contiguous")?;
                    let s = lw.shape(v)?;
                    Repr::Strided { buf: tmp, strides: shape::row_major(&s)?, offset: Affine::ZERO }
                }
                r => r,
            };
            lw.reprs.insert(v, repr);
            Ok(())
        }
        // A stored reshape that is more than a unit-axis change (an entry returns it): its
        // elements in row-major order are its operand's, so the operand is copied into its buffer.
        Kind::View if matches!(op, Op::Reshape) && !classify::is_unit_reshape(lw.f, v) => {
            let src = *lw.f.operands(v).first().ok_or_else(|| LowerError::Malformed(format!("{v} has no operand")))?;
            let buf = lw.temp_for(v)?;
            copy_into(lw, src, buf, "reshape")
        }
        Kind::Elementwise if lw.side_stored.contains(&v) => {
            let buf = lw.temp_for(v)?;
            lw.reprs.insert(v, Repr::InlineStored { buf });
            Ok(())
        }
        Kind::Cheap | Kind::Elementwise if !stored => {
            lw.reprs.insert(v, Repr::Inline);
            Ok(())
        }
        Kind::Source => Ok(()),
        Kind::Cheap | Kind::Elementwise | Kind::View => {
            let buf = lw.temp_for(v)?;
            // Computed through the inline rules into its buffer.
            lw.reprs.insert(v, Repr::Inline);
            let name = op_name(&op).to_lowercase();
            copy_into(lw, v, buf, &name)?;
            let s = lw.shape(v)?;
            lw.reprs.insert(v, Repr::Strided { buf, strides: shape::row_major(&s)?, offset: Affine::ZERO });
            Ok(())
        }
        Kind::Reduce => reduce(lw, v),
        Kind::Assemble => assemble(lw, v),
        Kind::Lib => lib::lower_lib(lw, v),
    }
}

impl Lowering<'_> {
    /// A contiguous temporary for a copy of `v` (its representation is left unchanged).
    pub fn temp_for_copy(&mut self, v: ValueId) -> Result<BufId, LowerError> {
        let shape = self.shape(v)?;
        let len = shape::numel(&shape)?;
        Ok(self.new_buffer(self.scalar(v)?, len, hg_abi::plan::BufRole::Temp { offset: hg_abi::plan::Quadratic::ZERO }))
    }
}

/// The strides of a view of a stored value; `Inline` when the view needs a copy.
fn view_of_strided(
    lw: &Lowering,
    v: ValueId,
    op: &Op,
    buf: BufId,
    strides: Vec<Affine>,
    offset: Affine,
) -> Result<Repr, LowerError> {
    let src = lw.f.operands(v)[0];
    let src_shape = lw.shape(src)?;
    let out_shape = lw.shape(v)?;
    let strided = |strides: Vec<Affine>, offset: Affine| Ok(Repr::Strided { buf, strides, offset });
    match op {
        Op::StopGradient | Op::StraightThrough => strided(strides, offset),
        Op::Transpose { perm } => strided(perm.iter().map(|&p| strides[p]).collect(), offset),
        Op::BroadcastTo => {
            let lead = out_shape.len() - src_shape.len();
            let mut s = vec![Affine::ZERO; out_shape.len()];
            for (k, d) in src_shape.iter().enumerate() {
                s[lead + k] =
                    if shape::is_unit(*d) && !shape::is_unit(out_shape[lead + k]) { Affine::ZERO } else { strides[k] };
            }
            strided(s, offset)
        }
        Op::Slice { axis, start, step, .. } => {
            let mut s = strides.clone();
            let base = strides[*axis].checked_mul(Affine::constant(*start as i64)).ok_or(LowerError::Overflow)?;
            s[*axis] = strides[*axis].checked_mul(Affine::constant(*step as i64)).ok_or(LowerError::Overflow)?;
            strided(s, offset.checked_add(base).ok_or(LowerError::Overflow)?)
        }
        Op::Reshape => {
            if strides == shape::row_major(&src_shape)? {
                return strided(shape::row_major(&out_shape)?, offset);
            }
            if classify::is_unit_reshape(lw.f, v) {
                let mut kept = src_shape.iter().zip(&strides).filter(|(d, _)| !shape::is_unit(**d)).map(|(_, s)| *s);
                let s = out_shape
                    .iter()
                    .map(|d| if shape::is_unit(*d) { Affine::ZERO } else { kept.next().unwrap_or(Affine::ZERO) })
                    .collect();
                return strided(s, offset);
            }
            Ok(Repr::Inline)
        }
        _ => Err(lw.unsupported(v, "is not a view")),
    }
}

/// Opens loops over `shape` and returns their index forms.
fn open_loops(kb: &mut KernelBuilder, shape: &[Affine]) -> Vec<Index> {
    shape.iter().map(|d| var(kb.begin_loop(*d))).collect()
}

fn close_loops(kb: &mut KernelBuilder, n: usize) {
    for _ in 0..n {
        kb.end_loop();
    }
}

/// Adds a kernel step: `kb`'s kernel over its buffers.
pub fn push_kernel(lw: &mut Lowering, kb: KernelBuilder, parallel: bool, sources: Vec<ValueId>, label: String) {
    let (mut kernel, bufs) = kb.finish(parallel);
    crate::collapse::collapse(&mut kernel);
    let par = kernel.parallel_extent();
    let spans = sources.iter().map(|v| lw.f.node(*v).span).collect();
    // The label names the fused ops, producers first.
    let mut ops: Vec<String> = sources.iter().rev().map(|v| op_label(lw.f.op(*v))).collect();
    ops.dedup();
    let label = format!("{label} [{}]", ops.join(" "));
    lw.steps.push(Built {
        step: Step::Kernel { kernel: 0, args: bufs, parallel: par },
        kernel: Some(kernel),
        sources: spans,
        label,
    });
}

/// A short name of an op for labels (`relu`, `add`, `sum`).
fn op_label(op: &Op) -> String {
    match op {
        Op::Unary(u) => u.name().to_string(),
        Op::Binary(b) => b.name().to_string(),
        Op::Reduce { op, .. } => op.name().to_string(),
        other => op_name(other).to_lowercase(),
    }
}

/// A loop kernel storing `v` (computed through its representation) into contiguous `buf`.
pub fn copy_into(lw: &mut Lowering, v: ValueId, buf: BufId, name: &str) -> Result<(), LowerError> {
    let shape = lw.shape(v)?;
    let ty = lw.scalar(v)?;
    let len = lw.buffers[buf.0 as usize].len;
    let mut kb = KernelBuilder::new(format!("k{}_{name}", lw.steps.len()));
    let out = kb.arg(buf, ty, len, true);
    let idx = open_loops(&mut kb, &shape);
    let val = value_at(lw, &mut kb, v, &idx)?;
    let index = shape::flatten(&idx, &shape::row_major(&shape)?, Affine::ZERO)?;
    kb.push(Stmt::Store { arg: out, index, value: val });
    close_loops(&mut kb, shape.len());
    let sources = fused_sources(lw, v);
    push_kernel(lw, kb, true, sources, name.to_string());
    Ok(())
}

/// The graph values computed inside the kernel of `root` (itself and the inline values it
/// reads), for `--stage fused`.
pub fn fused_sources(lw: &Lowering, root: ValueId) -> Vec<ValueId> {
    let mut out = vec![root];
    let mut stack = lw.f.operands(root);
    while let Some(v) = stack.pop() {
        if matches!(lw.reprs.get(&v), Some(Repr::Inline | Repr::InlineStored { .. })) && !out.contains(&v) {
            out.push(v);
            stack.extend(lw.f.operands(v));
        }
    }
    out
}

/// Partial sums of a row reduction (see [`accumulate_run`]).
const SUM_LANES: usize = 4;

/// The fewest elements an f32 sum accumulates in f64 (see [`accumulate_run`]).
const WIDE_SUM: i64 = 1024;

/// Whether the value computed inline at `x` calls a transcendental function: its loop is then
/// bound by that function, which code generators vectorise over consecutive elements, so the
/// reduction keeps one running sum (partial sums over strided elements would defeat that).
fn prologue_has_math(lw: &Lowering, x: ValueId) -> bool {
    use hg_ir::UnaryOp::*;
    let inline = matches!(lw.reprs.get(&x), Some(Repr::Inline | Repr::InlineStored { .. }));
    inline
        && fused_sources(lw, x)
            .iter()
            .any(|v| matches!(lw.f.op(*v), Op::Unary(Exp | Log | Sigmoid | Tanh | Softplus | Gelu)))
}

/// The reduction of `x` over the trailing axes `run` (all reduced) at the outer index `idx`
/// (entries of `run` are overwritten): loops with local accumulators, returning the total.
/// A sum whose last axis has a fixed length keeps [`SUM_LANES`] partial sums, combined as
/// `(s0 + s1) + (s2 + s3)` (one chain of dependent additions is bound by the adder's latency).
/// An f32 sum of at least [`WIDE_SUM`] elements, or of a number that grows with the batch (a
/// loss averaged over the batch, a `[B, B]` mean), accumulates in f64 and rounds once, as the
/// interpreter does: in f32, the rounding error of an n-term running sum grows with n (up to
/// n·2⁻²⁴ relative). The conversions sit off the chain of additions, whose latency is the same
/// in f64.
fn accumulate_run(
    lw: &Lowering,
    kb: &mut KernelBuilder,
    x: ValueId,
    op: ReduceOp,
    ty: Scalar,
    idx: &mut [Index],
    run: &[usize],
) -> Result<Val, LowerError> {
    let xs = lw.shape(x)?;
    let count = shape::numel(&run.iter().map(|&a| xs[a]).collect::<Vec<_>>())?;
    let wide = matches!(op, ReduceOp::Sum | ReduceOp::Mean)
        && ty == Scalar::F32
        && count.as_affine().and_then(Affine::as_const).is_none_or(|n| n >= WIDE_SUM);
    let acc_ty = if wide { Scalar::F64 } else { ty };
    let init = kb.constant(acc_ty, reduce_init(op));
    let inner = run.last().and_then(|&a| xs[a].as_const()).unwrap_or(0);
    let lanes = if matches!(op, ReduceOp::Sum | ReduceOp::Mean)
        && ty == Scalar::F32
        && inner >= 2 * SUM_LANES as i64
        && !prologue_has_math(lw, x)
    {
        SUM_LANES
    } else {
        1
    };
    let accs: Vec<_> = (0..lanes).map(|_| kb.local(acc_ty, init)).collect();
    let (outer, last) = run.split_at(run.len().saturating_sub(1));
    let ridx = open_loops(kb, &outer.iter().map(|&a| xs[a]).collect::<Vec<_>>());
    for (a, i) in outer.iter().zip(&ridx) {
        idx[*a] = i.clone();
    }
    let add = |kb: &mut KernelBuilder, idx: &[Index], acc| -> Result<(), LowerError> {
        let mut x_val = value_at(lw, kb, x, idx)?;
        if wide {
            x_val = expr::cast(kb, x_val, acc_ty);
        }
        let cur = kb.let_(acc_ty, Expr::Get(acc));
        let next = combine(kb, op, acc_ty, cur, x_val);
        kb.push(Stmt::Assign { local: acc, value: next });
        Ok(())
    };
    if let [axis] = last {
        if lanes > 1 {
            let n = lanes as i64;
            let (full, rest) = (inner / n, inner % n);
            let j = kb.begin_loop(Affine::constant(full));
            for (l, acc) in accs.iter().enumerate() {
                idx[*axis] = Index { terms: vec![(j, Affine::constant(n))], offset: Affine::constant(l as i64) };
                add(kb, idx, *acc)?;
            }
            kb.end_loop();
            if rest > 0 {
                let t = kb.begin_loop(Affine::constant(rest));
                idx[*axis] = Index { terms: vec![(t, Affine::ONE)], offset: Affine::constant(full * n) };
                add(kb, idx, accs[0])?;
                kb.end_loop();
            }
        } else {
            idx[*axis] = var(kb.begin_loop(xs[*axis]));
            add(kb, idx, accs[0])?;
            kb.end_loop();
        }
    } else {
        add(kb, idx, accs[0])?;
    }
    close_loops(kb, outer.len());
    let mut parts: Vec<Val> = accs.iter().map(|a| kb.let_(acc_ty, Expr::Get(*a))).collect();
    while parts.len() > 1 {
        parts =
            parts.chunks(2).map(|p| if p.len() == 2 { combine(kb, op, acc_ty, p[0], p[1]) } else { p[0] }).collect();
    }
    Ok(if wide { expr::cast(kb, parts[0], ty) } else { parts[0] })
}

fn reduce_init(op: ReduceOp) -> f64 {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
    }
}

/// A reduction kernel with the elementwise prologue of its operand fused in. Reducing the
/// innermost axes keeps a running value in a register per output element (parallel over the
/// kept axes); reducing outer axes (a bias gradient over the batch) streams the input once and
/// accumulates into the output row, which keeps the inner loop contiguous.
fn reduce(lw: &mut Lowering, v: ValueId) -> Result<(), LowerError> {
    let Op::Reduce { op, axes, .. } = lw.f.op(v).clone() else { unreachable!("reduce() is called for reductions") };
    let x = lw.f.operands(v)[0];
    let xs = lw.shape(x)?;
    let ty = lw.scalar(v)?;
    let buf = lw.temp_for(v)?;
    lw.reprs.insert(v, Repr::Inline);
    let len = lw.buffers[buf.0 as usize].len;
    let count = shape::numel(&axes.iter().map(|&a| xs[a]).collect::<Vec<_>>())?;
    let kept: Vec<usize> = (0..xs.len()).filter(|a| !axes.contains(a)).collect();
    let kept_shape: Vec<Affine> = kept.iter().map(|&a| xs[a]).collect();
    let out_strides = shape::row_major(&kept_shape)?;
    let mut kb = KernelBuilder::new(format!("k{}_reduce_{}", lw.steps.len(), op.name()));
    let out = kb.arg(buf, ty, len, true);
    // Row form when every reduced axis comes after every kept axis: one total per output
    // element, accumulated in locals.
    let row_form = kept.iter().all(|k| axes.iter().all(|a| a > k));
    let parallel;
    if row_form {
        let kidx = open_loops(&mut kb, &kept_shape);
        let mut idx = vec![constant(Affine::ZERO); xs.len()];
        for (k, i) in kept.iter().zip(&kidx) {
            idx[*k] = i.clone();
        }
        let mut run = axes.clone();
        run.sort_unstable();
        let total = accumulate_run(lw, &mut kb, x, op, ty, &mut idx, &run)?;
        let result = finish_mean(&mut kb, op, ty, total, count);
        let index = shape::flatten(&kidx, &out_strides, Affine::ZERO)?;
        kb.push(Stmt::Store { arg: out, index, value: result });
        close_loops(&mut kb, kept.len());
        parallel = !kept.is_empty();
    } else {
        // Initialise, then accumulate in input order into the output (the reduced axes after
        // the last kept one in locals first: a conv bias gradient sums each image's plane,
        // then adds it), then scale a mean.
        let kidx = open_loops(&mut kb, &kept_shape);
        let init_v = kb.constant(ty, reduce_init(op));
        let oi = shape::flatten(&kidx, &out_strides, Affine::ZERO)?;
        kb.push(Stmt::Store { arg: out, index: oi, value: init_v });
        close_loops(&mut kb, kept.len());
        let last_kept = kept.last().copied().unwrap_or(0);
        let mut idx = open_loops(&mut kb, &xs[..=last_kept]);
        idx.resize(xs.len(), constant(Affine::ZERO));
        let run: Vec<usize> = (last_kept + 1..xs.len()).collect();
        let x_val = if run.is_empty() {
            value_at(lw, &mut kb, x, &idx)?
        } else {
            accumulate_run(lw, &mut kb, x, op, ty, &mut idx, &run)?
        };
        let k_of: Vec<Index> = kept.iter().map(|&k| idx[k].clone()).collect();
        let oi = shape::flatten(&k_of, &out_strides, Affine::ZERO)?;
        let cur = kb.let_(ty, Expr::Load { arg: out, index: oi.clone() });
        let next = combine(&mut kb, op, ty, cur, x_val);
        kb.push(Stmt::Store { arg: out, index: oi, value: next });
        close_loops(&mut kb, last_kept + 1);
        if op == ReduceOp::Mean {
            let kidx = open_loops(&mut kb, &kept_shape);
            let oi = shape::flatten(&kidx, &out_strides, Affine::ZERO)?;
            let cur = kb.let_(ty, Expr::Load { arg: out, index: oi.clone() });
            let r = finish_mean(&mut kb, op, ty, cur, count);
            kb.push(Stmt::Store { arg: out, index: oi, value: r });
            close_loops(&mut kb, kept.len());
        }
        parallel = false;
    }
    let sources = fused_sources(lw, v);
    push_kernel(lw, kb, parallel, sources, format!("reduce_{}", op.name()));
    let s = lw.shape(v)?;
    lw.reprs.insert(v, Repr::Strided { buf, strides: shape::row_major(&s)?, offset: Affine::ZERO });
    Ok(())
}

/// One step of a reduction: `acc ⊕ x`. `max`/`min` propagate NaN as the interpreter does.
fn combine(kb: &mut KernelBuilder, op: ReduceOp, ty: Scalar, acc: Val, x: Val) -> Val {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => kb.let_(ty, Expr::Binary(BinaryOp::Add, acc, x)),
        ReduceOp::Max | ReduceOp::Min => {
            let cmp = if op == ReduceOp::Max { BinaryOp::Gt } else { BinaryOp::Lt };
            let better = kb.let_(Scalar::Bool, Expr::Binary(cmp, x, acc));
            let take = if ty == Scalar::F32 {
                let nan = kb.let_(Scalar::Bool, Expr::Binary(BinaryOp::Ne, x, x));
                kb.let_(Scalar::Bool, Expr::Binary(BinaryOp::Or, better, nan))
            } else {
                better
            };
            kb.let_(ty, Expr::Select(take, x, acc))
        }
    }
}

fn finish_mean(kb: &mut KernelBuilder, op: ReduceOp, ty: Scalar, total: Val, count: Quadratic) -> Val {
    if op != ReduceOp::Mean {
        return total;
    }
    let n = kb.quadratic_value(count);
    let n = expr::cast(kb, n, ty);
    kb.let_(ty, Expr::Binary(BinaryOp::Div, total, n))
}

/// Concat (each operand copied to its slice of the result) and pad (fill, then copy the
/// interior).
fn assemble(lw: &mut Lowering, v: ValueId) -> Result<(), LowerError> {
    let op = lw.f.op(v).clone();
    let ty = lw.scalar(v)?;
    let out_shape = lw.shape(v)?;
    let strides = shape::row_major(&out_shape)?;
    let buf = lw.temp_for(v)?;
    lw.reprs.insert(v, Repr::Inline);
    let len = lw.buffers[buf.0 as usize].len;
    let mut kb = KernelBuilder::new(format!("k{}_{}", lw.steps.len(), op_name(&op).to_lowercase()));
    let out = kb.arg(buf, ty, len, true);
    let operands = lw.f.operands(v);
    match &op {
        Op::Concat { axis } => {
            let mut start = Affine::ZERO;
            for x in &operands {
                let xs = lw.shape(*x)?;
                let idx = open_loops(&mut kb, &xs);
                let val = value_at(lw, &mut kb, *x, &idx)?;
                let mut oidx = idx.clone();
                oidx[*axis] = shape::add(&idx[*axis], &constant(start))?;
                let index = shape::flatten(&oidx, &strides, Affine::ZERO)?;
                kb.push(Stmt::Store { arg: out, index, value: val });
                close_loops(&mut kb, xs.len());
                start = start.checked_add(xs[*axis]).ok_or(LowerError::Overflow)?;
            }
        }
        Op::Pad { pads, value } => {
            let idx = open_loops(&mut kb, &out_shape);
            let fill = kb.constant(ty, *value);
            let index = shape::flatten(&idx, &strides, Affine::ZERO)?;
            kb.push(Stmt::Store { arg: out, index, value: fill });
            close_loops(&mut kb, out_shape.len());
            let x = operands[0];
            let xs = lw.shape(x)?;
            let idx = open_loops(&mut kb, &xs);
            let val = value_at(lw, &mut kb, x, &idx)?;
            let oidx: Vec<Index> = idx
                .iter()
                .zip(pads)
                .map(|(i, (before, _))| shape::add(i, &constant(Affine::constant(*before as i64))))
                .collect::<Result<_, _>>()?;
            let index = shape::flatten(&oidx, &strides, Affine::ZERO)?;
            kb.push(Stmt::Store { arg: out, index, value: val });
            close_loops(&mut kb, xs.len());
        }
        _ => return Err(lw.unsupported(v, "is not concat or pad")),
    }
    let sources = fused_sources(lw, v);
    push_kernel(lw, kb, false, sources, op_name(&op).to_lowercase());
    lw.reprs.insert(v, Repr::Strided { buf, strides, offset: Affine::ZERO });
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::eval::{Buffer, eval};
    use crate::ir::{Scalar, Stmt};
    use hg_abi::plan::{BufRole, Step};

    /// Runs every kernel step of a lowered function with the reference evaluator.
    fn run(f: &hg_ir::Function, batch: usize, inputs: &[(&str, Vec<f32>)]) -> (crate::Program, Vec<Buffer>) {
        let program = crate::lower_function(f, &[]).unwrap();
        let mut bufs: Vec<Buffer> = program
            .plan
            .buffers
            .iter()
            .map(|b| {
                let ty = Scalar::of(b.dtype).unwrap();
                let mut buf = Buffer::zeros(ty, b.len.eval(batch).unwrap() as usize);
                if let (BufRole::Input(name), Buffer::F32(data)) = (&b.role, &mut buf) {
                    data.clone_from(&inputs.iter().find(|(n, _)| n == name).unwrap().1);
                }
                buf
            })
            .collect();
        for step in &program.plan.steps {
            let Step::Kernel { kernel, args, parallel } = step else { panic!("a library call: {step:?}") };
            let mut local: Vec<Buffer> = args.iter().map(|a| bufs[a.0 as usize].clone()).collect();
            let hi = parallel.map_or(0, |p| p.eval(batch).unwrap());
            eval(&program.kernels[*kernel as usize], &mut local, batch as i64, 0, hi).unwrap();
            for (a, b) in args.iter().zip(local) {
                bufs[a.0 as usize] = b;
            }
        }
        (program, bufs)
    }

    fn output(program: &crate::Program, bufs: &[Buffer], name: &str) -> Vec<f32> {
        let k = program.plan.buffers.iter().position(|b| b.role == BufRole::Output(name.into())).unwrap();
        match &bufs[k] {
            Buffer::F32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn has_f64_local(stmts: &[Stmt]) -> bool {
        stmts.iter().any(|s| match s {
            Stmt::Loop { body, .. } => has_f64_local(body),
            Stmt::Local { ty, .. } => *ty == Scalar::F64,
            _ => false,
        })
    }

    /// Sums of at least `WIDE_SUM` f32 elements, or of a number that grows with the batch,
    /// round once, as the interpreter's do; a short row keeps its f32 accumulators. The data
    /// make a running f32 sum visibly wrong, so the test fails without the wide accumulator.
    #[test]
    fn long_f32_sums_accumulate_in_f64_and_round_once() {
        let f = hg_ir::read_function(
            r#"
fn f(x: f32[B, 3000], y: f32[B, 8]) -> (rows: f32[B], all: f32[], short: f32[B]) {
  %0 = input "x" : f32[B, 3000]
  %1 = input "y" : f32[B, 8]
  %2 = sum %0 {axes=[1], keepdims=false} : f32[B]
  %3 = mean %0 {axes=[0, 1], keepdims=false} : f32[]
  %4 = sum %1 {axes=[1], keepdims=false} : f32[B]
  return rows=%2, all=%3, short=%4
}
"#,
        )
        .unwrap();
        let batch = 3;
        let x: Vec<f32> = (0..batch * 3000).map(|k| 0.1 + (k % 7) as f32 * 0.0131 + (k % 11) as f32 * 1e-4).collect();
        let y: Vec<f32> = (0..batch * 8).map(|k| k as f32 * 0.25).collect();
        let (program, bufs) = run(&f, batch, &[("x", x.clone()), ("y", y.clone())]);
        let exact = |xs: &[f32]| xs.iter().map(|&v| f64::from(v)).sum::<f64>();
        let rows = output(&program, &bufs, "rows");
        let mut naive_differs = false;
        for (r, row) in x.chunks(3000).enumerate() {
            assert_eq!(rows[r], exact(row) as f32, "row {r}");
            naive_differs |= row.iter().sum::<f32>() != exact(row) as f32;
        }
        assert!(naive_differs, "the data must tell a running f32 sum from the exact one");
        assert_eq!(output(&program, &bufs, "all")[0], exact(&x) as f32 / (batch * 3000) as f32);
        let short = output(&program, &bufs, "short");
        for (r, row) in y.chunks(8).enumerate() {
            assert_eq!(short[r], exact(row) as f32);
        }
        let wide: Vec<bool> = program.kernels.iter().map(|k| has_f64_local(&k.body)).collect();
        assert_eq!(wide.iter().filter(|w| **w).count(), 2, "{wide:?}");
    }
}

//! Row-sparse operands: the rewrites that let a top-k code's products read `k` of `n` rows.
//!
//! A top-k code is `scatter_add(zeros, idx, v)` (`std.bottleneck.TopK`): a dense `[rows, n]`
//! value with `nnz` entries per row. An eager framework multiplies it as a dense matrix; here
//! the lowering sees the whole train step and replaces each product that reads it, forward and
//! backward, by a library call that touches only the nonzeros.
//!
//! Graph rewrites ([`rewrite`]), each exact (the rewritten graph computes the same values; the
//! interpreter checks it in the tests), as a rule table:
//!
//! | rule | from | to | when |
//! | --- | --- | --- | --- |
//! | `unary_into_scatter` | `u(scatter_add(0, idx, v))` | `scatter_add(0, idx, u(v))` | `u(0) = 0`, indices distinct per row |
//! | `gather_through_elementwise` | `gather(e(x, y, ...), idx)` | `e(gather(x, idx), gather(y, idx), ...)` | `e` elementwise, read only by the gather; operands of `e`'s shape or scalars |
//! | `gather_of_own_scatter` | `gather(scatter_add(0, idx, v), idx)` | `v` | the same indices, distinct per row |
//! | `one_hot_as_code` | `reshape(one_hot(idx, K))` (`[R, G·K]`, or `[R, K]`) read by a product | `scatter_add(0, idx + K·g, 1)` | indices in range: from `argmax`/`argmin`/`topk_indices` over `K` |
//!
//! The last makes `one_hot(i) @ W` a gather of `G` rows of `W` (and its weight gradient a
//! scatter); `straight_through` and `stop_gradient` are looked through (after autodiff they
//! are identities).
//! Indices are distinct per row when they come from `topk_indices` along that axis.
//!
//! Lowering patterns ([`find`]), on the rewritten graph, rank-2 products only:
//!
//! | pattern | library call |
//! | --- | --- |
//! | `S @ D` | `SparseMatMul` `GatherRows` |
//! | `transpose(S) @ D` | `SparseMatMul` `ScatterRows` |
//! | `D @ S` | `SparseMatMul` `ScatterCols` |
//! | `gather(A @ B, idx)`, every reader of `A @ B` such a gather | `SampledMatMul` |
//!
//! where `S = scatter_add(zeros, idx, v)` along axis 1 with `nnz ≤ n / 4` (else the dense
//! product is as fast). A scatter or product that only these calls read is never computed.

use super::is_output;
use hg_abi::plan::SparseForm;
use hg_ir::passes::eliminate_dead_values;
use hg_ir::{BinaryOp, DType, Dim, Function, Op, TensorType, UnaryOp, ValueId};
use std::collections::{HashMap, HashSet};

/// `(idx, v)` of `scatter_add(zeros, idx, v)` along the last axis of a rank-2 value.
pub fn zero_scatter(f: &Function, s: ValueId) -> Option<(ValueId, ValueId)> {
    let Op::ScatterAdd { axis: 1 } = f.op(s) else { return None };
    if f.ty(s).rank() != 2 {
        return None;
    }
    let ops = f.operands(s);
    match f.op(*ops.first()?) {
        Op::Full { value } if *value == 0.0 => Some((ops[1], ops[2])),
        _ => None,
    }
}

/// Whether the indices are distinct along `axis` of each row: they come from a top-k.
fn distinct(f: &Function, idx: ValueId, axis: usize) -> bool {
    matches!(f.op(idx), Op::TopKIndices { axis: a, .. } if *a == axis)
}

fn zero_preserving(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(op, Relu | Neg | Abs | Sqrt | Sign | Tanh | Sin | Gelu | Floor | Round)
}

fn elementwise(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. })
}

/// `gather(e(xs), idx)` → `e(gather(x, idx) for x in xs)`; `None` when a condition fails.
fn gather_through_elementwise(f: &mut Function, g: ValueId, axis: usize) -> Option<ValueId> {
    let ops = f.operands(g);
    let (e, idx) = (*ops.first()?, *ops.get(1)?);
    if !elementwise(f.op(e)) || f.users(e).len() != 1 || is_output(f, e) {
        return None;
    }
    let shape = f.ty(e).shape.clone();
    let operands = f.operands(e);
    if !operands.iter().all(|x| f.ty(*x).shape == shape || f.ty(*x).rank() == 0) {
        return None;
    }
    let span = f.node(g).span;
    let mut new_operands = Vec::with_capacity(operands.len());
    for x in operands {
        new_operands.push(if f.ty(x).rank() == 0 { x } else { f.add(Op::Gather { axis }, &[x, idx], span).ok()? });
    }
    let op = f.op(e).clone();
    let new = f.add(op, &new_operands, f.node(e).span).ok()?;
    (f.ty(new) == f.ty(g)).then_some(new)
}

/// The forward value of `v`: through `straight_through` and `stop_gradient`.
fn forward(f: &Function, mut v: ValueId) -> ValueId {
    while matches!(f.op(v), Op::StraightThrough | Op::StopGradient) {
        match f.operands(v).first() {
            Some(&x) => v = x,
            None => break,
        }
    }
    v
}

/// Whether every index in `idx` is certainly in `0..n`: it is an `argmax`, `argmin` or
/// `topk_indices` along an axis of size `n`.
pub fn indices_in_range(f: &Function, idx: ValueId, n: usize) -> bool {
    match f.op(idx) {
        Op::ArgReduce { axis, .. } | Op::TopKIndices { axis, .. } => f
            .operands(idx)
            .first()
            .is_some_and(|&src| f.ty(src).shape.get(*axis).and_then(|d| d.as_const()) == Some(n as i64)),
        _ => false,
    }
}

/// `(idx, K)` when `x` is a rank-2 `[R, G·K]` view of `one_hot(idx, K)` with `idx` `[R, G]` (or
/// `[R]`) certainly in `0..K`.
fn one_hot_rows(f: &Function, x: ValueId) -> Option<(ValueId, usize)> {
    if f.ty(x).rank() != 2 {
        return None;
    }
    let mut h = forward(f, x);
    if matches!(f.op(h), Op::Reshape) {
        h = forward(f, *f.operands(h).first()?);
    }
    let Op::OneHot { n } = *f.op(h) else { return None };
    let idx = *f.operands(h).first()?;
    let in_range = indices_in_range(f, idx, n);
    let (rows, groups) = match f.ty(idx).shape[..] {
        [ref r] => (r.clone(), 1),
        [ref r, ref g] => (r.clone(), usize::try_from(g.as_const()?).ok()?),
        _ => return None,
    };
    let want = [rows, Dim::constant(i64::try_from(groups.checked_mul(n)?).ok()?)];
    (in_range && f.ty(x).shape[..] == want).then_some((idx, n))
}

/// `scatter_add(0, idx + K·g, 1)`: the code form of a one-hot matrix `x` (see [`one_hot_rows`]).
fn one_hot_as_code(f: &mut Function, x: ValueId, idx: ValueId, k: usize) -> ValueId {
    let span = f.node(x).span;
    let rows = f.ty(idx).shape[0].clone();
    let groups = f.ty(idx).shape.get(1).cloned().unwrap_or(Dim::constant(1));
    let nz = TensorType::new(DType::I64, vec![rows.clone(), groups.clone()]);
    let cols = if f.ty(idx).rank() == 1 {
        f.add_typed(Op::Reshape, &[idx], nz, span)
    } else {
        let iota = f.add_typed(Op::Iota { axis: 1 }, &[], nz.clone(), span);
        let width = f.add_typed(Op::Const { value: k as f64 }, &[], TensorType::new(DType::I64, vec![]), span);
        let base = f.add_typed(Op::Binary(BinaryOp::Mul), &[iota, width], nz.clone(), span);
        f.add_typed(Op::Binary(BinaryOp::Add), &[idx, base], nz, span)
    };
    let zeros = f.add_typed(Op::Full { value: 0.0 }, &[], f.ty(x).clone(), span);
    let ones = f.add_typed(Op::Full { value: 1.0 }, &[], TensorType::new(DType::F32, vec![rows, groups]), span);
    f.add_typed(Op::ScatterAdd { axis: 1 }, &[zeros, cols, ones], f.ty(x).clone(), span)
}

/// Whether a matrix product reads `x` (directly or through a transpose).
fn read_by_product(f: &Function, x: ValueId) -> bool {
    f.users(x).iter().any(|&u| match f.op(u) {
        Op::MatMul => true,
        Op::Transpose { .. } => f.users(u).iter().any(|&w| matches!(f.op(w), Op::MatMul)),
        _ => false,
    })
}

/// Applies the rule table to a copy of `f`; `None` when no rule applies.
pub fn rewrite(f: &Function) -> Option<Function> {
    let one_hots: Vec<(ValueId, ValueId, usize)> = f
        .values()
        .filter(|&v| read_by_product(f, v))
        .filter_map(|v| one_hot_rows(f, v).map(|(idx, k)| (v, idx, k)))
        .collect();
    // Otherwise only graphs with a zero scatter on distinct indices have anything to gain.
    let has_code = f.values().any(|v| zero_scatter(f, v).is_some_and(|(idx, _)| distinct(f, idx, 1)));
    if !has_code && one_hots.is_empty() {
        return None;
    }
    let mut g = f.clone();
    let mut changed = false;
    for (x, idx, k) in one_hots {
        let code = one_hot_as_code(&mut g, x, idx, k);
        g.replace_all_uses(x, code);
        changed = true;
    }
    // Gathers first (to a fixed point: a pushed gather may meet another elementwise op).
    for _round in 0..64 {
        let mut progress = false;
        for v in g.topo_order() {
            if !g.graph.contains_node(v.0) {
                continue;
            }
            let Op::Gather { axis } = *g.op(v) else { continue };
            let ops = g.operands(v);
            let [src, idx] = ops[..] else { continue };
            let replacement = match zero_scatter(&g, src) {
                Some((sidx, vals)) if sidx == idx && axis == 1 && distinct(&g, idx, 1) => Some(vals),
                _ => gather_through_elementwise(&mut g, v, axis),
            };
            if let Some(new) = replacement {
                g.replace_all_uses(v, new);
                progress = true;
            }
        }
        if !progress {
            break;
        }
        changed = true;
        eliminate_dead_values(&mut g);
    }
    // Zero-preserving unary ops move into the code's values.
    for v in g.topo_order() {
        if !g.graph.contains_node(v.0) {
            continue;
        }
        let Op::Unary(op) = *g.op(v) else { continue };
        let Some(&s) = g.operands(v).first() else { continue };
        let Some((idx, vals)) = zero_scatter(&g, s) else { continue };
        if !zero_preserving(op) || !distinct(&g, idx, 1) {
            continue;
        }
        let zeros = g.operands(s)[0];
        let span = g.node(v).span;
        let Ok(mapped) = g.add(Op::Unary(op), &[vals], span) else { continue };
        let Ok(code) = g.add(Op::ScatterAdd { axis: 1 }, &[zeros, idx, mapped], span) else { continue };
        g.replace_all_uses(v, code);
        changed = true;
    }
    if !changed {
        return None;
    }
    eliminate_dead_values(&mut g);
    Some(g)
}

/// How a value is computed instead of by its own op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Product {
    /// A [`hg_abi::plan::LibCall::SparseMatMul`] with the code `(idx, v)` and dense operand `d`.
    Sparse { form: SparseForm, idx: ValueId, vals: ValueId, n: usize, dense: ValueId },
    /// A [`hg_abi::plan::LibCall::SampledMatMul`]: the entries `idx` of `a @ b`.
    Sampled { idx: ValueId, a: ValueId, b: ValueId },
}

impl Product {
    /// The values the call reads.
    pub fn operands(&self) -> Vec<ValueId> {
        match *self {
            Product::Sparse { idx, vals, dense, .. } => vec![idx, vals, dense],
            Product::Sampled { idx, a, b } => vec![idx, a, b],
        }
    }
}

/// The sparse products of a function and the values nothing needs computed any more.
#[derive(Clone, Debug, Default)]
pub struct SparsePlan {
    pub products: HashMap<ValueId, Product>,
    pub absorbed: HashSet<ValueId>,
}

/// A code worth reading sparsely: `(idx, vals, n)` with `nnz ≤ n / 4`.
fn sparse_code(f: &Function, s: ValueId) -> Option<(ValueId, ValueId, usize)> {
    let (idx, vals) = zero_scatter(f, s)?;
    let n = usize::try_from(f.ty(s).shape[1].as_const()?).ok()?;
    let nnz = usize::try_from(f.ty(idx).shape[1].as_const()?).ok()?;
    (nnz.saturating_mul(4) <= n).then_some((idx, vals, n))
}

fn rank2(f: &Function, vs: &[ValueId]) -> bool {
    vs.iter().all(|v| f.ty(*v).rank() == 2)
}

/// Finds the lowering patterns of the module docs.
pub fn find(f: &Function) -> SparsePlan {
    let mut plan = SparsePlan::default();
    for v in f.values() {
        match f.op(v) {
            Op::MatMul => {
                let ops = f.operands(v);
                let [a, b] = ops[..] else { continue };
                if !rank2(f, &[a, b, v]) {
                    continue;
                }
                let transposed = |x: ValueId| match f.op(x) {
                    Op::Transpose { perm } if perm[..] == [1, 0] => f.operands(x).first().copied(),
                    _ => None,
                };
                let product = if let Some((idx, vals, n)) = sparse_code(f, a) {
                    Product::Sparse { form: SparseForm::GatherRows, idx, vals, n, dense: b }
                } else if let Some((idx, vals, n)) = transposed(a).and_then(|s| sparse_code(f, s)) {
                    Product::Sparse { form: SparseForm::ScatterRows, idx, vals, n, dense: b }
                } else if let Some((idx, vals, n)) = sparse_code(f, b) {
                    Product::Sparse { form: SparseForm::ScatterCols, idx, vals, n, dense: a }
                } else {
                    continue;
                };
                plan.products.insert(v, product);
            }
            Op::Gather { axis: 1 } => {
                let ops = f.operands(v);
                let [m, idx] = ops[..] else { continue };
                if !matches!(f.op(m), Op::MatMul) || is_output(f, m) {
                    continue;
                }
                let mops = f.operands(m);
                let [a, b] = mops[..] else { continue };
                let n = f.ty(m).shape.get(1).and_then(|d| d.as_const());
                let nnz = f.ty(idx).shape.get(1).and_then(|d| d.as_const());
                let worth = matches!((n, nnz), (Some(n), Some(k)) if k.saturating_mul(4) <= n);
                let only_gathers = f.users(m).iter().all(|u| matches!(f.op(*u), Op::Gather { axis: 1 }));
                if worth && only_gathers && rank2(f, &[a, b, m, idx]) {
                    plan.products.insert(v, Product::Sampled { idx, a, b });
                }
            }
            _ => {}
        }
    }
    // A matrix product whose readers are all sampled is not computed; nor is a code whose
    // readers (directly or through a transpose) are all sparse products.
    let sampled_only = |m: ValueId| {
        matches!(f.op(m), Op::MatMul)
            && !is_output(f, m)
            && f.users(m).iter().all(|u| matches!(plan.products.get(u), Some(Product::Sampled { .. })))
    };
    let read_sparsely = |s: ValueId| {
        !is_output(f, s)
            && f.users(s).iter().all(|u| {
                matches!(plan.products.get(u), Some(Product::Sparse { .. }))
                    || (matches!(f.op(*u), Op::Transpose { .. })
                        && !is_output(f, *u)
                        && f.users(*u).iter().all(|w| matches!(plan.products.get(w), Some(Product::Sparse { .. }))))
            })
    };
    let absorbed: Vec<ValueId> =
        f.values().filter(|&v| (zero_scatter(f, v).is_some() && read_sparsely(v)) || sampled_only(v)).collect();
    plan.absorbed.extend(absorbed);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_ir::read_function;

    /// The SAE's pattern: a top-k code, relu'd, multiplied forward; its gradient masked and
    /// gathered back to the values.
    const CODE: &str = r#"
fn f(x: f32[B, 16], w: f32[16, 8], d: f32[B, 8]) -> (y: f32[B, 8], gw: f32[16, 8], gv: f32[B, 2]) {
  %0 = input "x" : f32[B, 16]
  %1 = input "w" : f32[16, 8]
  %2 = input "d" : f32[B, 8]
  %3 = full {value=0.0} : f32[B, 16]
  %4 = topk_indices %0 {k=2, axis=1} : i64[B, 2]
  %5 = gather %0, %4 {axis=1} : f32[B, 2]
  %6 = scatter_add %3, %4, %5 {axis=1} : f32[B, 16]
  %7 = relu %6 : f32[B, 16]
  %8 = matmul %7, %1 : f32[B, 8]
  %9 = transpose %7 {perm=[1, 0]} : f32[16, B]
  %10 = matmul %9, %2 : f32[16, 8]
  %11 = transpose %1 {perm=[1, 0]} : f32[8, 16]
  %12 = matmul %2, %11 : f32[B, 16]
  %13 = const {value=0.0} : f32[]
  %14 = gt %6, %13 : bool[B, 16]
  %15 = where %14, %12, %13 : f32[B, 16]
  %16 = gather %15, %4 {axis=1} : f32[B, 2]
  return y=%8, gw=%10, gv=%16
}
"#;

    /// The interpreter (f64) gives identical outputs for both functions, batch 5, on inputs
    /// with ties and negative values.
    fn same_results(f: &Function, g: &Function, inputs: &[(&str, usize)]) {
        use hg_core::interp::{Precision, RunContext, run_function};
        let mut named = hg_core::interp::NamedTensors::new();
        for (k, (name, cols)) in inputs.iter().enumerate() {
            let rows = if *name == "w" { 16 } else { 5 };
            let data = (0..rows * cols).map(|i| ((i * 7 + k * 3) % 11) as f32 - 5.0).collect();
            named.insert(name.to_string(), hg_exec::Tensor::from_f32(vec![rows, *cols], data).unwrap());
        }
        let ctx = RunContext::new(Precision::F64);
        let want = run_function(f, &named, &ctx).unwrap();
        let got = run_function(g, &named, &ctx).unwrap();
        assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
        for (name, w) in &want {
            assert_eq!(w.to_f64_vec(), got[name].to_f64_vec(), "output {name}");
        }
    }

    #[test]
    fn the_rules_rewrite_the_code_and_its_gradient() {
        let f = read_function(CODE).unwrap();
        let g = rewrite(&f).expect("rules apply");
        hg_ir::verify_function(&g).unwrap();
        let text = g.to_string();
        same_results(&f, &g, &[("x", 16), ("w", 8), ("d", 8)]);
        // The masked gradient is gathered before the mask: no dense `where` over [B, 16].
        assert!(!text.contains("where") || !text.contains("bool[B, 16]"), "{text}");
        assert!(text.contains("relu") && text.contains("f32[B, 2]"), "{text}");
        let plan = find(&g);
        let forms: Vec<String> = plan.products.values().map(|p| format!("{p:?}")).collect();
        let count = |s: &str| forms.iter().filter(|f| f.contains(s)).count();
        assert_eq!(count("GatherRows"), 1, "{forms:?}");
        assert_eq!(count("ScatterRows"), 1, "{forms:?}");
        assert_eq!(count("Sampled"), 1, "{forms:?}");
        // The code and the sampled dense product are never computed.
        assert!(plan.absorbed.iter().any(|v| matches!(g.op(*v), Op::ScatterAdd { .. })));
        assert!(plan.absorbed.iter().any(|v| matches!(g.op(*v), Op::MatMul)));
    }

    #[test]
    fn one_hot_products_become_gathers() {
        // Gumbel's hard sample: groups of one-hots, flattened, into a linear layer; and its
        // weight gradient.
        let f = read_function(
            r#"
fn f(x: f32[B, 16], w: f32[16, 8], d: f32[B, 8]) -> (y: f32[B, 8], gw: f32[16, 8]) {
  %0 = input "x" : f32[B, 16]
  %1 = input "w" : f32[16, 8]
  %2 = input "d" : f32[B, 8]
  %3 = reshape %0 : f32[B, 4, 4]
  %4 = argmax %3 {axis=2, keepdims=false} : i64[B, 4]
  %5 = one_hot %4 {n=4} : f32[B, 4, 4]
  %6 = straight_through %5, %3 : f32[B, 4, 4]
  %7 = reshape %6 : f32[B, 16]
  %8 = matmul %7, %1 : f32[B, 8]
  %9 = transpose %7 {perm=[1, 0]} : f32[16, B]
  %10 = matmul %9, %2 : f32[16, 8]
  return y=%8, gw=%10
}
"#,
        )
        .unwrap();
        let g = rewrite(&f).expect("the one-hot becomes a code");
        hg_ir::verify_function(&g).unwrap();
        same_results(&f, &g, &[("x", 16), ("w", 8), ("d", 8)]);
        let plan = find(&g);
        let forms: Vec<String> = plan.products.values().map(|p| format!("{p:?}")).collect();
        assert_eq!(forms.len(), 2, "{forms:?}");
        assert!(forms.iter().any(|f| f.contains("GatherRows")) && forms.iter().any(|f| f.contains("ScatterRows")));
        // A one-hot of indices that may be out of range (an input) stays dense: one_hot gives a
        // zero row where the gather would fail.
        let h = read_function(
            r#"
fn f(i: i64[B], w: f32[16, 8]) -> (y: f32[B, 8]) {
  %0 = input "i" : i64[B]
  %1 = input "w" : f32[16, 8]
  %2 = one_hot %0 {n=16} : f32[B, 16]
  %3 = matmul %2, %1 : f32[B, 8]
  return y=%3
}
"#,
        )
        .unwrap();
        assert!(rewrite(&h).is_none());
    }

    #[test]
    fn no_rule_without_distinct_indices() {
        // Indices from an input may repeat: relu(scatter) stays, and nothing is rewritten.
        let f = read_function(
            r#"
fn f(i: i64[B, 2], v: f32[B, 2], w: f32[16, 8]) -> (y: f32[B, 8]) {
  %0 = input "i" : i64[B, 2]
  %1 = input "v" : f32[B, 2]
  %2 = input "w" : f32[16, 8]
  %3 = full {value=0.0} : f32[B, 16]
  %4 = scatter_add %3, %0, %1 {axis=1} : f32[B, 16]
  %5 = relu %4 : f32[B, 16]
  %6 = matmul %5, %2 : f32[B, 8]
  return y=%6
}
"#,
        )
        .unwrap();
        assert!(rewrite(&f).is_none());
        // The product of the relu'd code is dense; that of a raw code would be sparse.
        assert!(find(&f).products.is_empty());
    }
}

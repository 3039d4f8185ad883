//! How much memory one call of a function needs in the interpreter, found without running it,
//! so a driver can refuse a batch the machine cannot hold before starting.
//!
//! Algorithm ([`estimate_peak_bytes`]): replay the evaluator's bookkeeping (`eval.rs`) on
//! shapes alone, at batch size `B`, keeping a running total of bytes and its maximum:
//! 1. the caller's host tensors of every source the call binds (data, parameters, optimizer
//!    state), at their storage size, are held for the whole call;
//! 2. binding converts every source to an f64 buffer before the first node runs (8 bytes per
//!    element);
//! 3. each live node in topological order allocates its f64 result (none for a pass-through op
//!    that takes over its operand's buffer) and the scratch its kernel needs (the index maps of
//!    broadcasting kernels and of reductions), then frees the scratch and every operand read
//!    for the last time;
//! 4. the outputs become runtime tensors (an f64 buffer moves, any other is converted), each
//!    buffer freed after its last output.
//!
//! Only allocations whose size depends on the shapes are counted, so the figure is slightly
//! below what the process uses; the shapes are the declared ones, which the evaluator checks
//! every result against.

use super::bind::{concrete_shape, sources};
use super::eval::{live_values, passes_through};
use hg_abi::DType;
use hg_ir::{Function, Op, ValueId};
use std::collections::HashMap;

/// Peak bytes the interpreter holds during one call of `f` at batch size `batch` (see the
/// module docs). A malformed function (a cycle, an input that is not a source) is estimated as
/// far as it goes; running it fails anyway.
pub fn estimate_peak_bytes(f: &Function, batch: usize) -> u64 {
    let shape = |v: ValueId| concrete_shape(f.ty(v), Some(batch)).ok();
    let elements = |v: ValueId| element_count(shape(v).as_deref());
    let f64_bytes = |v: ValueId| elements(v) * 8;
    let live = live_values(f);
    let sources = sources(f, &live).unwrap_or_default();
    let host: u128 = sources.iter().map(|(_, v)| elements(*v) * host_bytes(f.ty(*v).dtype)).sum();
    let mut current: u128 = sources.iter().map(|(_, v)| f64_bytes(*v)).sum();
    let mut peak = current;

    let order: Vec<ValueId> = f.topo_order().into_iter().filter(|v| live.contains(v)).collect();
    let mut uses: HashMap<ValueId, usize> = HashMap::new();
    for &v in &order {
        for o in f.operands(v) {
            *uses.entry(o).or_default() += 1;
        }
    }
    for (_, v) in &f.outputs {
        *uses.entry(*v).or_default() += 1;
    }
    for &v in &order {
        let op = f.op(v);
        let operands = f.operands(v);
        if matches!(op, Op::Input { .. } | Op::Param { .. }) {
            // The bound buffer moves into the value map: already counted.
            continue;
        }
        let owned = match operands.first() {
            Some(o) if passes_through(op) && uses.get(o) == Some(&1) => Some(*o),
            _ => None,
        };
        let result = if owned.is_some() { 0 } else { f64_bytes(v) };
        let scratch = scratch_bytes(op, &operands, v, &shape);
        peak = peak.max(current + result + scratch);
        current += result;
        for o in &operands {
            if let Some(u) = uses.get_mut(o) {
                *u -= 1;
                // A taken operand's buffer is now the result's.
                if *u == 0 && owned != Some(*o) {
                    current -= f64_bytes(*o);
                }
            }
        }
    }
    for (_, v) in &f.outputs {
        let dtype = f.ty(*v).dtype;
        let last = uses.get_mut(v).is_some_and(|u| {
            *u -= 1;
            *u == 0
        });
        if last && dtype == DType::F64 {
            continue;
        }
        peak = peak.max(current + elements(*v) * host_bytes(dtype));
        current += elements(*v) * host_bytes(dtype);
        if last {
            current -= f64_bytes(*v);
        }
    }
    u64::try_from(host + peak).unwrap_or(u64::MAX)
}

/// Bytes per element of a host tensor (`hg_exec::Tensor`: f16 and bf16 are kept as f32).
fn host_bytes(dtype: DType) -> u128 {
    match dtype {
        DType::F64 | DType::I64 => 8,
        DType::F32 | DType::F16 | DType::BF16 | DType::I32 => 4,
        DType::Bool => 1,
    }
}

/// Elements of a concrete shape; a shape that cannot be evaluated (a dimension overflows at
/// this batch size) counts as 2^64, more than any machine holds. Capped there, sums of a
/// graph's values cannot overflow `u128`.
fn element_count(shape: Option<&[usize]>) -> u128 {
    const HUGE: u128 = 1 << 64;
    match shape {
        Some(s) => s.iter().try_fold(1u128, |acc, &d| acc.checked_mul(d as u128)).map_or(HUGE, |n| n.min(HUGE)),
        None => HUGE,
    }
}

/// Scratch of a node's kernel: the `usize` index maps of `broadcast_map`.
fn scratch_bytes(op: &Op, operands: &[ValueId], v: ValueId, shape: &dyn Fn(ValueId) -> Option<Vec<usize>>) -> u128 {
    let elements = |v: ValueId| element_count(shape(v).as_deref());
    match op {
        // `binary` maps both operands unless their shapes match or one is a single element.
        Op::Binary(_) => match operands {
            [a, b] => {
                let (sa, sb) = (shape(*a).unwrap_or_default(), shape(*b).unwrap_or_default());
                let (ea, eb) = (elements(*a), elements(*b));
                let mapped = sa != sb && !(eb == 1 && sb.len() <= sa.len()) && !(ea == 1 && sa.len() <= sb.len());
                if mapped { 2 * 8 * elements(v) } else { 0 }
            }
            _ => 0,
        },
        Op::Where => 3 * 8 * elements(v),
        Op::BroadcastTo => 8 * elements(v),
        // One slot per input element.
        Op::Reduce { .. } => operands.first().map_or(0, |o| 8 * elements(*o)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Graph;
    use super::*;
    use hg_ir::{ReduceOp, UnaryOp};

    /// `z = sum(exp(x), axis = 1)` with `x: f32[B, 4]`.
    fn exp_sum() -> Graph {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, "B, 4");
        let y = g.node(Op::Unary(UnaryOp::Exp), &[x], DType::F32, "B, 4");
        let z = g.node(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: false }, &[y], DType::F32, "B");
        g.output("z", z);
        g
    }

    #[test]
    fn the_peak_follows_the_evaluator() {
        // Per example: the host `x` (16 bytes) for the whole call; then `x` as f64 (32), `exp`
        // allocates 32 more (64; `x` is freed after), the sum allocates 8 and a slot map of 32
        // beside `y` (32 + 8 + 32 = 72, the peak), and the f32 output adds 4 to the 8 left.
        let g = exp_sum();
        for b in [1, 2, 1000] {
            assert_eq!(estimate_peak_bytes(&g.f, b), 88 * b as u64, "B = {b}");
        }
    }

    #[test]
    fn a_reshape_of_a_last_use_allocates_nothing() {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, "B, 4");
        let r = g.node(Op::Reshape, &[x], DType::F64, "4*B");
        g.output("r", r);
        // Host x (32) + its buffer (32); the reshape takes it and the f64 output moves it.
        assert_eq!(estimate_peak_bytes(&g.f, 3), 3 * 64);
        // Read twice, the reshape copies it.
        let mut g2 = Graph::new();
        let x = g2.input("x", DType::F64, "B, 4");
        let r = g2.node(Op::Reshape, &[x], DType::F64, "4*B");
        g2.output("r", r);
        g2.output("x", x);
        assert_eq!(estimate_peak_bytes(&g2.f, 3), 3 * 96);
    }

    #[test]
    fn the_estimate_grows_with_the_batch_and_counts_constants() {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, "B, 8");
        let w = g.node(Op::Full { value: 1.0 }, &[], DType::F32, "8, 1000");
        let y = g.node(Op::MatMul, &[x, w], DType::F32, "B, 1000");
        g.output("y", y);
        let at = |b| estimate_peak_bytes(&g.f, b);
        assert!(at(1) >= 8 * 8000, "the constant is counted");
        assert!(at(1) < at(2) && at(2) < at(100));
        // Linear beyond the constant part: the same step for each added example.
        assert_eq!(at(3) - at(2), at(2) - at(1));
        // Absurd batches saturate instead of overflowing.
        assert!(at(usize::MAX) >= at(1 << 40));
    }
}

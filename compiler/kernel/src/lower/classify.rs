//! What each graph op becomes, and which values get a buffer of their own.
//!
//! Fusion is decided here, before any kernel is built, from the graph alone:
//! - **cheap** values (constants, `full`, `iota`, the batch size) are recomputed wherever they
//!   are read and never stored; one an entry returns is copied into its output;
//! - **elementwise** ops and **views** (transpose, broadcast, slice, reshape) are computed inside
//!   the kernel of their single consumer (a loop kernel, a reduction's prologue) when that
//!   consumer iterates over the same number of elements; a value read by several kernels, read
//!   through a broadcast that would recompute it, returned, or handed to a library call is
//!   stored (it becomes the root of its own loop kernel);
//! - **reductions**, **concat** and **pad** are the roots of their own kernels;
//! - **library** ops (matrix products, convolutions, pooling, indexing, random draws) are calls
//!   of the runtime's kernels on buffers. Random draws are elementwise: each element is drawn
//!   from its Philox counter inside the kernel that reads it.

use super::shape::{affine, numel};
use super::sparse::SparsePlan;
use hg_ir::{Function, Op, ValueId};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Source,
    Cheap,
    Elementwise,
    View,
    Reduce,
    Lib,
    /// Concat and pad: kernels of several loop nests.
    Assemble,
}

pub fn kind(op: &Op) -> Kind {
    match op {
        Op::Input { .. } | Op::Param { .. } => Kind::Source,
        Op::Const { .. } | Op::Full { .. } | Op::DimValue { .. } | Op::Iota { .. } => Kind::Cheap,
        // Random draws are elementwise too: element `i` is Philox counter `offset + i`, drawn
        // inside the kernel that reads it (the stream is counter based).
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast { .. }
        | Op::OneHot { .. }
        | Op::RandomNormal { .. }
        | Op::RandomUniform { .. }
        | Op::Bernoulli { .. } => Kind::Elementwise,
        Op::Reshape
        | Op::Transpose { .. }
        | Op::BroadcastTo
        | Op::Slice { .. }
        | Op::StopGradient
        | Op::StraightThrough => Kind::View,
        Op::Reduce { .. } => Kind::Reduce,
        Op::Concat { .. } | Op::Pad { .. } => Kind::Assemble,
        Op::ArgReduce { .. }
        | Op::MatMul
        | Op::Conv2d { .. }
        | Op::ConvTranspose2d { .. }
        | Op::Conv2dWeightGrad { .. }
        | Op::Pool2d { .. }
        | Op::MaxPool2dGrad { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::TopKIndices { .. } => Kind::Lib,
    }
}

/// Whether a reshape only adds or removes axes of size one (then it is an index remapping that
/// a fused kernel can follow; any other reshape needs its operand laid out contiguously).
pub fn is_unit_reshape(f: &Function, v: ValueId) -> bool {
    let Some(&src) = f.operands(v).first() else { return false };
    let non_unit = |dims: &[hg_ir::Dim]| -> Option<Vec<hg_abi::plan::Affine>> {
        dims.iter().map(|d| affine(d).ok()).filter(|d| *d != Some(hg_abi::plan::Affine::ONE)).collect()
    };
    match (non_unit(&f.ty(src).shape), non_unit(&f.ty(v).shape)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The fusion decision for a function: which values are stored.
pub struct Decisions {
    pub stored: HashSet<ValueId>,
    /// Returned values computed inside the kernel of their one consumer, which also stores them
    /// (an optimizer's new moment, read by the parameter update and carried to the next step):
    /// one pass over memory instead of two.
    pub side_stored: HashSet<ValueId>,
}

pub fn decide(f: &Function, order: &[ValueId], sparse: &SparsePlan) -> Decisions {
    let outputs: HashSet<ValueId> = f.outputs.iter().map(|(_, v)| *v).collect();
    // Values whose consumers need them in memory: library operands, operands of a reshape that
    // is more than a unit-axis change.
    let mut needs_memory: HashSet<ValueId> = HashSet::new();
    for &v in order {
        if sparse.absorbed.contains(&v) {
            continue;
        }
        if let Some(p) = sparse.products.get(&v) {
            needs_memory.extend(p.operands());
            continue;
        }
        let op = f.op(v);
        let wants = match kind(op) {
            Kind::Lib => true,
            Kind::View => matches!(op, Op::Reshape) && !is_unit_reshape(f, v),
            _ => false,
        };
        if wants {
            needs_memory.extend(f.operands(v));
        }
    }
    // Consumers counted through views, in reverse order so a view's count is known first.
    let mut readers: HashMap<ValueId, usize> = HashMap::new();
    for &v in order.iter().rev() {
        let mut n = f.outputs.iter().filter(|(_, o)| *o == v).count();
        for u in f.users(v) {
            n += if kind(f.op(u)) == Kind::View && !needs_memory.contains(&u) {
                readers.get(&u).copied().unwrap_or(1).max(1)
            } else {
                1
            };
        }
        readers.insert(v, n);
    }
    let mut stored = HashSet::new();
    let mut side_stored = HashSet::new();
    for &v in order {
        let op = f.op(v);
        if sparse.absorbed.contains(&v) {
            continue;
        }
        let store = match kind(op) {
            Kind::Source => false,
            Kind::Reduce | Kind::Lib | Kind::Assemble => true,
            // Recomputed by every reader, even when returned: the output (or the carried new
            // value, a buffer's constant update) gets a copy of its own, so no reader waits for
            // that copy (a train step's readers of a new value run after the commit point).
            Kind::Cheap => false,
            Kind::View => outputs.contains(&v),
            Kind::Elementwise => {
                outputs.contains(&v)
                    || needs_memory.contains(&v)
                    || readers.get(&v).copied().unwrap_or(0) > 1
                    || broadcast_by_reader(f, v)
            }
        };
        if store && kind(op) == Kind::Elementwise && outputs.contains(&v) && !needs_memory.contains(&v) {
            let users = f.users(v);
            if let [u] = users.as_slice()
                && kind(f.op(*u)) == Kind::Elementwise
                && f.ty(*u).shape == f.ty(v).shape
                && !broadcast_by_reader(f, v)
            {
                side_stored.insert(v);
                continue;
            }
        }
        if store {
            stored.insert(v);
        }
    }
    Decisions { stored, side_stored }
}

/// Whether the (single) reader of `v` iterates over more elements than `v` has, so computing `v`
/// inside it would repeat the work.
fn broadcast_by_reader(f: &Function, v: ValueId) -> bool {
    let own = numel(&f.ty(v).shape.iter().filter_map(|d| affine(d).ok()).collect::<Vec<_>>()).ok();
    let mut frontier = f.users(v);
    while let Some(u) = frontier.pop() {
        let space = match f.op(u) {
            // A reduction iterates over its operand.
            Op::Reduce { .. } => continue,
            _ => numel(&f.ty(u).shape.iter().filter_map(|d| affine(d).ok()).collect::<Vec<_>>()).ok(),
        };
        if space != own {
            return true;
        }
        if kind(f.op(u)) == Kind::View {
            frontier.extend(f.users(u));
        }
    }
    false
}

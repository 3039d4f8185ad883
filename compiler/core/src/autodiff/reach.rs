//! Which nodes the reverse sweep visits, and why a value gets no gradient.
//!
//! Three reachability sets over the forward graph, each one linear pass over a topological
//! order (iterative, so deep graphs cannot overflow the stack):
//! - `ancestor`: the node reaches the loss along any edges;
//! - `live`: it reaches the loss along edges that carry cotangents (see [`edge_flow`]);
//! - `from_wrt`: a `wrt` value reaches it along such edges.
//!
//! Nodes that are both `live` and `from_wrt` are *active*: only they get cotangents, and a rule
//! is asked only for the gradients of active operands. A `wrt` value that is an `ancestor` but
//! not `live` reaches the loss only through blocked edges; [`Reach::blocker`] finds the first
//! op on such a path, so the error can name it.

use super::rules::{Flow, rule};
use hg_ir::{Function, ValueId};
use petgraph::Direction;
use petgraph::visit::{EdgeRef, NodeIndexable};

/// Why an edge carries no cotangent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// The op's derivative with respect to this operand is zero wherever it exists.
    NotDifferentiable,
    /// `stop_gradient`, or the `forward` operand of `straight_through`.
    Stopped,
    /// The operand or the result is not a float value.
    NotFloat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EdgeFlow {
    Grad,
    Blocked(Block),
    Unsupported(&'static str),
}

/// How a cotangent of `user` flows into its operand at `pos`.
pub(crate) fn edge_flow(f: &Function, user: ValueId, pos: usize, operand: ValueId) -> EdgeFlow {
    let op = f.op(user);
    match rule(op).flow(pos) {
        Flow::Blocked => {
            let stopped = matches!(op, hg_ir::Op::StopGradient | hg_ir::Op::StraightThrough);
            EdgeFlow::Blocked(if stopped { Block::Stopped } else { Block::NotDifferentiable })
        }
        _ if !f.ty(user).dtype.is_float() || !f.ty(operand).dtype.is_float() => EdgeFlow::Blocked(Block::NotFloat),
        Flow::Grad => EdgeFlow::Grad,
        Flow::Unsupported(why) => EdgeFlow::Unsupported(why),
    }
}

/// Operand edges of `v`: (position, operand).
fn operand_edges(f: &Function, v: ValueId) -> Vec<(usize, ValueId)> {
    f.graph.edges_directed(v.0, Direction::Incoming).map(|e| (*e.weight() as usize, ValueId(e.source()))).collect()
}

/// User edges of `v`: (user, position).
fn user_edges(f: &Function, v: ValueId) -> Vec<(ValueId, usize)> {
    f.graph.edges_directed(v.0, Direction::Outgoing).map(|e| (ValueId(e.target()), *e.weight() as usize)).collect()
}

pub(crate) struct Reach {
    /// Topological order of the forward graph (operands first).
    pub order: Vec<ValueId>,
    ancestor: Vec<bool>,
    live: Vec<bool>,
    from_wrt: Vec<bool>,
}

impl Reach {
    pub fn new(f: &Function, loss: ValueId, wrt: &[ValueId]) -> Reach {
        let order = f.topo_order();
        let n = f.graph.node_bound();
        let (mut ancestor, mut live, mut from_wrt) = (vec![false; n], vec![false; n], vec![false; n]);
        ancestor[loss.index()] = true;
        live[loss.index()] = true;
        // Users come after their operands, so a reverse sweep sees every user first.
        for &v in order.iter().rev() {
            for (user, pos) in user_edges(f, v) {
                ancestor[v.index()] |= ancestor[user.index()];
                if live[user.index()] && !matches!(edge_flow(f, user, pos, v), EdgeFlow::Blocked(_)) {
                    live[v.index()] = true;
                }
            }
        }
        for &w in wrt {
            from_wrt[w.index()] = true;
        }
        for &v in &order {
            for (pos, operand) in operand_edges(f, v) {
                if from_wrt[operand.index()] && !matches!(edge_flow(f, v, pos, operand), EdgeFlow::Blocked(_)) {
                    from_wrt[v.index()] = true;
                }
            }
        }
        Reach { order, ancestor, live, from_wrt }
    }

    /// The node gets a cotangent in the sweep.
    pub fn is_active(&self, v: ValueId) -> bool {
        self.live.get(v.index()).copied().unwrap_or(false) && self.from_wrt.get(v.index()).copied().unwrap_or(false)
    }

    pub fn is_live(&self, v: ValueId) -> bool {
        self.live.get(v.index()).copied().unwrap_or(false)
    }

    pub fn is_ancestor(&self, v: ValueId) -> bool {
        self.ancestor.get(v.index()).copied().unwrap_or(false)
    }

    /// For a `wrt` value that reaches the loss but is not live: the first op (in topological
    /// order) where a path from `w` along gradient-carrying edges meets a blocked edge that
    /// still leads to the loss, with the reason.
    pub fn blocker(&self, f: &Function, w: ValueId) -> Option<(ValueId, Block)> {
        let mut reached = vec![false; self.live.len()];
        reached[w.index()] = true;
        for &v in &self.order {
            for (pos, operand) in operand_edges(f, v) {
                if !reached[operand.index()] || !self.ancestor[v.index()] {
                    continue;
                }
                match edge_flow(f, v, pos, operand) {
                    EdgeFlow::Blocked(why) => return Some((v, why)),
                    _ => reached[v.index()] = true,
                }
            }
        }
        None
    }
}

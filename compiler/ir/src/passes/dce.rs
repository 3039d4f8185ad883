//! Dead-value elimination: keeps the nodes the outputs depend on, and the declared inputs.
//!
//! Inputs stay even when unused, because they are part of the entry point's signature (the
//! runtime feeds every declared input). The walk uses an explicit stack, not recursion.

use crate::function::{Function, ValueId};
use petgraph::Direction;
use std::collections::HashSet;

/// Removes every node that no output depends on, except declared inputs.
pub fn eliminate_dead_values(f: &mut Function) {
    let mut live: HashSet<ValueId> = HashSet::with_capacity(f.len());
    let mut stack: Vec<ValueId> = f.outputs.iter().map(|(_, v)| *v).chain(f.inputs.iter().map(|(_, v)| *v)).collect();
    while let Some(v) = stack.pop() {
        if !f.graph.contains_node(v.0) || !live.insert(v) {
            continue;
        }
        stack.extend(f.graph.neighbors_directed(v.0, Direction::Incoming).map(ValueId));
    }
    let dead: Vec<ValueId> = f.values().filter(|v| !live.contains(v)).collect();
    for v in dead {
        f.remove(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::NodeSpan;
    use crate::infer::test_util::ty;
    use crate::op::{BinaryOp, Op, UnaryOp};

    #[test]
    fn removes_unused_chains_and_keeps_inputs() {
        let sp = NodeSpan::default();
        let mut f = Function::new("f");
        let x = f.add_input("x", ty("f32[B]"), sp);
        let _unused_input = f.add_input("step", ty("i64[]"), sp);
        let dead1 = f.add(Op::Unary(UnaryOp::Exp), &[x], sp).unwrap();
        let _dead2 = f.add(Op::Binary(BinaryOp::Mul), &[dead1, x], sp).unwrap();
        let y = f.add(Op::Unary(UnaryOp::Tanh), &[x], sp).unwrap();
        f.outputs.push(("y".into(), y));
        let before = f.to_string();
        eliminate_dead_values(&mut f);
        crate::verify::verify_function(&f).unwrap();
        insta::assert_snapshot!(format!("{before}\n{f}"));
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn deep_graphs_do_not_overflow() {
        let sp = NodeSpan::default();
        let mut f = Function::new("deep");
        let x = f.add_input("x", ty("f32[B]"), sp);
        let mut v = x;
        for _ in 0..100_000 {
            v = f.add(Op::Unary(UnaryOp::Neg), &[v], sp).unwrap();
        }
        let dead = f.add(Op::Unary(UnaryOp::Exp), &[v], sp).unwrap();
        f.outputs.push(("y".into(), v));
        eliminate_dead_values(&mut f);
        assert_eq!(f.len(), 100_001);
        assert!(!f.graph.contains_node(dead.0));
    }
}

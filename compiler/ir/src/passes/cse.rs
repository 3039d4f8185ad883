//! Common-subexpression elimination by hash-consing `(op, operands, type)`.
//!
//! Nodes are visited in topological order, so a node's operands are already canonical when
//! it is keyed. Two nodes merge when their ops are equal attribute for attribute (floats by
//! their exact `{:?}` spelling, so `0.0` and `-0.0` stay apart), their operands are the same
//! values in the same positions (in any order for the exactly commutative `add mul eq ne and
//! or`), and their types are equal. Consequences: `param` nodes merge only with the same
//! name, random draws only with the same site (a site names one stream, so equal sites give
//! equal numbers), `const`/`full` with the same value and type. `input` nodes never merge:
//! each is a declared entry of the signature. The first node in topological order survives.

use crate::function::{Function, ValueId};
use crate::op::{BinaryOp, Op};
use crate::types::TensorType;
use std::collections::HashMap;

#[derive(PartialEq, Eq, Hash)]
struct Key {
    op: String,
    operands: Vec<ValueId>,
    ty: TensorType,
}

/// Merges structurally equal nodes (see the module doc).
pub fn eliminate_common_subexpressions(f: &mut Function) {
    let mut seen: HashMap<Key, ValueId> = HashMap::new();
    for v in f.topo_order() {
        let op = f.op(v);
        if matches!(op, Op::Input { .. }) {
            continue;
        }
        let mut operands = f.operands(v);
        if is_commutative(op) {
            operands.sort();
        }
        let key = Key { op: format!("{op:?}"), operands, ty: f.ty(v).clone() };
        match seen.get(&key) {
            Some(&first) => {
                f.replace_all_uses(v, first);
                f.remove(v);
            }
            None => {
                seen.insert(key, v);
            }
        }
    }
}

/// Ops whose result does not depend on operand order, bit for bit (IEEE `+` and `*` are
/// commutative; `maximum`/`minimum` are not listed because NaN handling may pick a side).
fn is_commutative(op: &Op) -> bool {
    matches!(op, Op::Binary(BinaryOp::Add | BinaryOp::Mul | BinaryOp::Eq | BinaryOp::Ne | BinaryOp::And | BinaryOp::Or))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::NodeSpan;
    use crate::infer::test_util::ty;
    use crate::op::UnaryOp;

    fn sp() -> NodeSpan {
        NodeSpan::default()
    }

    #[test]
    fn merges_duplicates_and_keeps_distinct_sources() {
        let mut f = Function::new("f");
        let x = f.add_input("x", ty("f32[B, 4]"), sp());
        let x2 = f.add_input("x2", ty("f32[B, 4]"), sp());
        let w1 = f.add_with_type(Op::Param { name: "w".into() }, &[], ty("f32[4]"), sp()).unwrap();
        let w2 = f.add_with_type(Op::Param { name: "w".into() }, &[], ty("f32[4]"), sp()).unwrap();
        let v = f.add_with_type(Op::Param { name: "v".into() }, &[], ty("f32[4]"), sp()).unwrap();
        let a = f.add(Op::Binary(BinaryOp::Add), &[x, w1], sp()).unwrap();
        let b = f.add(Op::Binary(BinaryOp::Add), &[w2, x], sp()).unwrap();
        let c = f.add(Op::Binary(BinaryOp::Add), &[x, v], sp()).unwrap();
        let d = f.add(Op::Binary(BinaryOp::Sub), &[x, w1], sp()).unwrap();
        let e = f.add(Op::Binary(BinaryOp::Sub), &[w1, x], sp()).unwrap();
        let seed = f.add_input("seed", ty("i64[]"), sp());
        let key = [seed, seed, seed];
        let n1 = f.add_with_type(Op::RandomNormal { site: 1 }, &key, ty("f32[B, 4]"), sp()).unwrap();
        let n2 = f.add_with_type(Op::RandomNormal { site: 2 }, &key, ty("f32[B, 4]"), sp()).unwrap();
        let k1 = f.add_with_type(Op::Const { value: 0.0 }, &[], ty("f32[]"), sp()).unwrap();
        let k2 = f.add_with_type(Op::Const { value: 0.0 }, &[], ty("f32[]"), sp()).unwrap();
        let k3 = f.add_with_type(Op::Const { value: -0.0 }, &[], ty("f32[]"), sp()).unwrap();
        let k4 = f.add_with_type(Op::Const { value: 0.0 }, &[], ty("f64[]"), sp()).unwrap();
        let ea = f.add(Op::Unary(UnaryOp::Exp), &[a], sp()).unwrap();
        let eb = f.add(Op::Unary(UnaryOp::Exp), &[b], sp()).unwrap();
        let outs = [("ea", ea), ("eb", eb), ("c", c), ("d", d), ("e", e), ("n1", n1), ("n2", n2)];
        for (name, val) in outs.into_iter().chain([("k1", k1), ("k2", k2), ("k3", k3), ("k4", k4), ("x2", x2)]) {
            f.outputs.push((name.into(), val));
        }
        let before = f.to_string();
        eliminate_common_subexpressions(&mut f);
        crate::verify::verify_function(&f).unwrap();
        assert_eq!(f.output("ea"), f.output("eb"));
        assert_eq!(f.output("k1"), f.output("k2"));
        assert_ne!(f.output("k1"), f.output("k3"));
        assert_ne!(f.output("k1"), f.output("k4"));
        assert_ne!(f.output("n1"), f.output("n2"));
        assert_ne!(f.output("d"), f.output("e"));
        insta::assert_snapshot!(format!("{before}\n{f}"));
    }

    #[test]
    fn inputs_never_merge() {
        let mut f = Function::new("f");
        let a = f.add_input("a", ty("f32[B]"), sp());
        let b = f.add_input("b", ty("f32[B]"), sp());
        let s = f.add(Op::Binary(BinaryOp::Add), &[a, b], sp()).unwrap();
        f.outputs.push(("s".into(), s));
        eliminate_common_subexpressions(&mut f);
        assert_eq!(f.len(), 3);
        crate::verify::verify_function(&f).unwrap();
    }

    #[test]
    fn long_duplicate_chains_merge_iteratively() {
        let mut f = Function::new("f");
        let x = f.add_input("x", ty("f32[B]"), sp());
        let (mut p, mut q) = (x, x);
        for _ in 0..50_000 {
            p = f.add(Op::Unary(UnaryOp::Tanh), &[p], sp()).unwrap();
            q = f.add(Op::Unary(UnaryOp::Tanh), &[q], sp()).unwrap();
        }
        f.outputs.push(("p".into(), p));
        f.outputs.push(("q".into(), q));
        eliminate_common_subexpressions(&mut f);
        assert_eq!(f.len(), 50_001);
        assert_eq!(f.output("p"), f.output("q"));
    }
}

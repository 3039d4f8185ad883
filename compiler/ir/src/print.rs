//! The IR text form: `Display` for [`Function`] and [`Module`]; `reader` parses it back.
//!
//! ```text
//! module Vae
//! param encoder.mu.w: f32[512, 32] = glorot_uniform
//!
//! fn encode(x: f32[B, 784]) -> (z: f32[B, 32]) {
//!   %0 = input "x" : f32[B, 784]
//!   %1 = param "encoder.mu.w" : f32[784, 512]
//!   %2 = matmul %0, %1 : f32[B, 512]
//!   %3 = sum %2 {axes=[1], keepdims=false} : f32[B]
//!   return z=%3
//! }
//! ```
//!
//! **Invariant**: the output depends only on the graph's structure, not on node indices:
//! values are renumbered densely in [`Function::topo_order`] (ties broken by index, so the
//! order is deterministic). Floats print with `{:?}`, which round-trips exactly. Names that
//! are not dotted identifiers are quoted with Rust string escapes; spans are not printed.
//! Nodes of a malformed graph that no topological order reaches (a cycle) are printed last,
//! so a broken graph can still be dumped.

use crate::function::{Function, Module, ValueId};
use crate::op::Op;
use std::collections::HashMap;
use std::fmt::{self, Write};

/// Dense value numbers for printing, in topological order (then leftover nodes by index).
pub fn print_numbering(f: &Function) -> (Vec<ValueId>, HashMap<ValueId, usize>) {
    let mut order = f.topo_order();
    if order.len() != f.len() {
        let placed: std::collections::HashSet<ValueId> = order.iter().copied().collect();
        let rest: Vec<ValueId> = f.values().filter(|v| !placed.contains(v)).collect();
        order.extend(rest);
    }
    let numbers = order.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    (order, numbers)
}

/// A name as written in the text form: bare when it is a dotted identifier, quoted otherwise.
pub fn format_name(name: &str) -> String {
    if is_bare_name(name) { name.to_string() } else { format!("{name:?}") }
}

/// `[A-Za-z_][A-Za-z0-9_]*` segments joined by single dots.
pub fn is_bare_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

impl fmt::Display for Function {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (order, numbers) = print_numbering(self);
        let value = |v: &ValueId| match numbers.get(v) {
            Some(n) => format!("%{n}"),
            // An output or operand naming a removed node: visible, and rejected by the reader.
            None => format!("%?{}", v.index()),
        };
        let sig = |list: &[(String, ValueId)]| {
            let parts: Vec<String> = list
                .iter()
                .map(|(name, v)| match self.graph.node_weight(v.0) {
                    Some(node) => format!("{}: {}", format_name(name), node.ty),
                    None => format!("{}: ?", format_name(name)),
                })
                .collect();
            parts.join(", ")
        };
        writeln!(out, "fn {}({}) -> ({}) {{", format_name(&self.name), sig(&self.inputs), sig(&self.outputs))?;
        for v in &order {
            let node = self.node(*v);
            let mut line = format!("  {} = {}", value(v), node.op.mnemonic());
            if let Op::Input { name } | Op::Param { name } = &node.op {
                write!(line, " {name:?}")?;
            }
            let operands: Vec<String> = self.operands(*v).iter().map(value).collect();
            if !operands.is_empty() {
                write!(line, " {}", operands.join(", "))?;
            }
            let attrs = attributes(&node.op);
            if !attrs.is_empty() {
                write!(line, " {{{attrs}}}")?;
            }
            writeln!(out, "{line} : {}", node.ty)?;
        }
        let rets: Vec<String> = self.outputs.iter().map(|(n, v)| format!("{}={}", format_name(n), value(v))).collect();
        if rets.is_empty() {
            writeln!(out, "  return")?;
        } else {
            writeln!(out, "  return {}", rets.join(", "))?;
        }
        writeln!(out, "}}")
    }
}

impl fmt::Display for Module {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "module {}", format_name(&self.model))?;
        for p in &self.params {
            let keyword = if p.trainable { "param" } else { "buffer" };
            writeln!(out, "{keyword} {}: {} = {}", format_name(&p.name), p.ty, p.init)?;
        }
        for f in &self.functions {
            writeln!(out)?;
            write!(out, "{f}")?;
        }
        Ok(())
    }
}

/// The `key=value` list printed in braces (empty for ops without attributes; the names of
/// `input`/`param` and the kind of a pool are part of the mnemonic position instead).
fn attributes(op: &Op) -> String {
    fn list<T: fmt::Display>(xs: &[T]) -> String {
        let parts: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
        format!("[{}]", parts.join(", "))
    }
    match op {
        Op::Const { value } | Op::Full { value } => format!("value={value:?}"),
        Op::DimValue { dim } => format!("dim={dim}"),
        Op::Iota { axis } | Op::Concat { axis } | Op::Gather { axis } | Op::ScatterAdd { axis } => {
            format!("axis={axis}")
        }
        Op::Cast { to } => format!("to={to}"),
        Op::Reduce { axes, keepdims, .. } => format!("axes={}, keepdims={keepdims}", list(axes)),
        Op::ArgReduce { axis, keepdims, .. } => format!("axis={axis}, keepdims={keepdims}"),
        Op::Conv2d { stride, padding, groups } | Op::Conv2dWeightGrad { stride, padding, groups } => {
            format!("stride={}, padding={}, groups={groups}", list(stride), list(padding))
        }
        Op::ConvTranspose2d { stride, padding, output_padding, groups } => format!(
            "stride={}, padding={}, output_padding={}, groups={groups}",
            list(stride),
            list(padding),
            list(output_padding)
        ),
        Op::Pool2d { kernel, stride, padding, .. } | Op::MaxPool2dGrad { kernel, stride, padding } => {
            format!("kernel={}, stride={}, padding={}", list(kernel), list(stride), list(padding))
        }
        Op::Transpose { perm } => format!("perm={}", list(perm)),
        Op::Slice { axis, start, end, step } => format!("axis={axis}, start={start}, end={end}, step={step}"),
        Op::Pad { pads, value } => {
            let pairs: Vec<String> = pads.iter().map(|(b, a)| format!("({b}, {a})")).collect();
            format!("pads=[{}], value={value:?}", pairs.join(", "))
        }
        Op::TopKIndices { k, axis } => format!("k={k}, axis={axis}"),
        Op::OneHot { n } => format!("n={n}"),
        Op::RandomNormal { site } => format!("site={site}"),
        Op::RandomUniform { site, lo, hi } => format!("site={site}, lo={lo:?}, hi={hi:?}"),
        Op::Bernoulli { site, p } => format!("site={site}, p={p:?}"),
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::MatMul
        | Op::Reshape
        | Op::BroadcastTo
        | Op::StopGradient
        | Op::StraightThrough => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Dim;
    use crate::function::{NodeSpan, ParamDecl};
    use crate::infer::test_util::ty;
    use crate::op::{BinaryOp, Init, PoolKind, ReduceOp, UnaryOp};

    fn sp() -> NodeSpan {
        NodeSpan::default()
    }

    /// A small VAE-like encoder: linear, relu, mean head, and a reparameterised sample.
    pub(crate) fn encoder_module() -> Module {
        encoder_module_with_hole(false)
    }

    /// With `hole`, an unused node is added early and removed at the end, leaving a gap in
    /// the node indices.
    fn encoder_module_with_hole(hole: bool) -> Module {
        let mut f = Function::new("encode");
        let x = f.add_input("x", ty("f32[B, 784]"), sp());
        let junk = hole.then(|| f.add(Op::Unary(UnaryOp::Neg), &[x], sp()).unwrap());
        let w = f.add_with_type(Op::Param { name: "encoder.w".into() }, &[], ty("f32[784, 32]"), sp()).unwrap();
        let b = f.add_with_type(Op::Param { name: "encoder.b".into() }, &[], ty("f32[32]"), sp()).unwrap();
        let h = f.add(Op::MatMul, &[x, w], sp()).unwrap();
        let h = f.add(Op::Binary(BinaryOp::Add), &[h, b], sp()).unwrap();
        let h = f.add(Op::Unary(UnaryOp::Relu), &[h], sp()).unwrap();
        let seed = f.add_input("seed", ty("i64[]"), sp());
        let step = f.add_input("step", ty("i64[]"), sp());
        let offset = f.add_with_type(Op::Const { value: 0.0 }, &[], ty("i64[]"), sp()).unwrap();
        let eps = f.add_with_type(Op::RandomNormal { site: 7 }, &[seed, step, offset], ty("f32[B, 32]"), sp()).unwrap();
        let half = f.add_with_type(Op::Const { value: 0.5 }, &[], ty("f32[]"), sp()).unwrap();
        let s = f.add(Op::Binary(BinaryOp::Mul), &[eps, half], sp()).unwrap();
        let z = f.add(Op::Binary(BinaryOp::Add), &[h, s], sp()).unwrap();
        let k = f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: false }, &[z], sp()).unwrap();
        f.outputs.push(("z".into(), z));
        f.outputs.push(("kl".into(), k));
        if let Some(j) = junk {
            f.remove(j);
        }
        let params = vec![
            ParamDecl {
                name: "encoder.w".into(),
                ty: ty("f32[784, 32]"),
                init: Init::GlorotUniform,
                span: sp(),
                trainable: true,
            },
            ParamDecl { name: "encoder.b".into(), ty: ty("f32[32]"), init: Init::Zeros, span: sp(), trainable: true },
        ];
        Module { model: "Vae".into(), params, functions: vec![f] }
    }

    /// One node of (nearly) every attribute shape, to pin the spelling of each.
    pub(crate) fn attribute_zoo() -> Function {
        let mut f = Function::new("zoo");
        let img = f.add_input("img", ty("f32[B, 1, 28, 28]"), sp());
        let w = f.add_input("param:conv.w", ty("f32[8, 1, 3, 3]"), sp());
        let c = f.add(Op::Conv2d { stride: [2, 2], padding: [1, 1], groups: 1 }, &[img, w], sp()).unwrap();
        let p = f
            .add(Op::Pool2d { kind: PoolKind::Max, kernel: [2, 2], stride: [2, 2], padding: [0, 0] }, &[c], sp())
            .unwrap();
        let flat = f.add_with_type(Op::Reshape, &[p], ty("f32[B, 392]"), sp()).unwrap();
        let sl = f.add(Op::Slice { axis: 1, start: 0, end: 390, step: 3 }, &[flat], sp()).unwrap();
        let pd = f.add(Op::Pad { pads: vec![(0, 0), (1, 1)], value: -0.25 }, &[sl], sp()).unwrap();
        let cat = f.add(Op::Concat { axis: 0 }, &[pd, pd], sp()).unwrap();
        let tr = f.add(Op::Transpose { perm: vec![1, 0] }, &[cat], sp()).unwrap();
        let top = f.add(Op::TopKIndices { k: 4, axis: 0 }, &[tr], sp()).unwrap();
        let g = f.add(Op::Gather { axis: 0 }, &[tr, top], sp()).unwrap();
        let am = f.add(Op::ArgReduce { max: true, axis: 0, keepdims: false }, &[g], sp()).unwrap();
        let oh = f.add(Op::OneHot { n: 10 }, &[am], sp()).unwrap();
        let n = f.add_with_type(Op::DimValue { dim: Dim::batch() }, &[], ty("i64[]"), sp()).unwrap();
        let nf = f.add(Op::Cast { to: hg_abi::DType::F32 }, &[n], sp()).unwrap();
        let key: Vec<ValueId> = ["seed", "step", "offset"].iter().map(|k| f.add_input(k, ty("i64[]"), sp())).collect();
        let u =
            f.add_with_type(Op::RandomUniform { site: 1, lo: -1.0, hi: 1e-7 }, &key, ty("f32[2*B, 10]"), sp()).unwrap();
        let bern = f.add_with_type(Op::Bernoulli { site: 2, p: 0.1 }, &key, ty("f32[2*B, 10]"), sp()).unwrap();
        let prod = f.add(Op::Binary(BinaryOp::Mul), &[u, bern], sp()).unwrap();
        let io = f.add_with_type(Op::Iota { axis: 1 }, &[], ty("i64[2*B, 10]"), sp()).unwrap();
        let full = f.add_with_type(Op::Full { value: f64::NEG_INFINITY }, &[], ty("f32[2*B, 10]"), sp()).unwrap();
        let lt = f.add(Op::Binary(BinaryOp::Lt), &[prod, full], sp()).unwrap();
        let wh = f.add(Op::Where, &[lt, prod, full], sp()).unwrap();
        let st = f.add(Op::StopGradient, &[wh], sp()).unwrap();
        let stt = f.add(Op::StraightThrough, &[st, wh], sp()).unwrap();
        f.outputs.push(("onehot".into(), oh));
        f.outputs.push(("n".into(), nf));
        f.outputs.push(("iota".into(), io));
        f.outputs.push(("mixed".into(), stt));
        f
    }

    #[test]
    fn module_text() {
        insta::assert_snapshot!(encoder_module().to_string());
    }

    #[test]
    fn attribute_spellings() {
        insta::assert_snapshot!(attribute_zoo().to_string());
    }

    #[test]
    fn numbering_ignores_removed_node_holes() {
        let dense = encoder_module();
        let holey = encoder_module_with_hole(true);
        let xs: Vec<usize> = holey.functions[0].values().map(|v| v.index()).collect();
        assert!(!xs.contains(&1), "index 1 is a hole: {xs:?}");
        assert_eq!(holey.to_string(), dense.to_string());
    }

    #[test]
    fn names_are_quoted_when_needed() {
        assert_eq!(format_name("encoder.mu.w"), "encoder.mu.w");
        assert_eq!(format_name("param:encoder.w"), "\"param:encoder.w\"");
        assert_eq!(format_name("a..b"), "\"a..b\"");
        assert_eq!(format_name("1x"), "\"1x\"");
        assert_eq!(format_name(""), "\"\"");
    }
}

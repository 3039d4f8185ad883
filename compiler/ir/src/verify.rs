//! The IR verifier: structural and type invariants every pass must preserve.
//!
//! A function is well formed when its graph is acyclic; every node has as many operands as
//! its op takes (`concat` at least one), at positions `0..n` with no gap or repeat; every
//! node's type is what [`infer_type`] gives for its operands (with the node's type as the
//! declared one); the declared inputs are `input` nodes of the same name, listed once each,
//! and every `input` node is declared; the outputs name existing nodes, once each; and no two
//! random draws share a site (two draws of one site would give the same numbers, a silent
//! correlation no backend could detect). A module adds unique function and parameter names, and `param` nodes that match a declared
//! parameter's type.
//!
//! Everything is iterative, so graphs of any depth verify without deep recursion.

use crate::function::{Function, Module, NodeSpan, ValueId};
use crate::infer::infer_type;
use crate::op::Op;
use crate::types::TensorType;
use petgraph::Direction;
use petgraph::visit::EdgeRef;
use std::collections::{HashMap, HashSet};

/// A broken invariant, located at a function and (where there is one) a node.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct VerifyError {
    /// The function's name (empty for module-level errors).
    pub function: String,
    /// The offending node, by graph index.
    pub value: Option<ValueId>,
    /// The offending node's source span.
    pub span: Option<NodeSpan>,
    pub message: String,
}

impl VerifyError {
    fn render(&self) -> String {
        match (self.function.is_empty(), self.value) {
            (true, _) => self.message.clone(),
            (false, None) => format!("in `{}`: {}", self.function, self.message),
            (false, Some(v)) => format!("in `{}`, node {v}: {}", self.function, self.message),
        }
    }
}

/// Checks every invariant of one function (see the module doc).
pub fn verify_function(f: &Function) -> Result<(), VerifyError> {
    let at = |v: Option<ValueId>, message: String| VerifyError {
        function: f.name.clone(),
        value: v,
        span: v.and_then(|v| f.graph.node_weight(v.0)).map(|n| n.span),
        message,
    };
    let order = f.topo_order();
    if order.len() != f.graph.node_count() {
        let in_order: HashSet<ValueId> = order.iter().copied().collect();
        let stuck = f.values().find(|v| !in_order.contains(v));
        return Err(at(stuck, "the graph has a cycle through this node".into()));
    }
    let mut sites: HashMap<u32, ValueId> = HashMap::new();
    for v in order {
        check_node(f, v).map_err(|m| at(Some(v), m))?;
        if let Some(site) = f.op(v).random_site()
            && let Some(first) = sites.insert(site, v)
        {
            return Err(at(
                Some(v),
                format!(
                    "random site {site} is drawn twice in one function (also by {first}); each draw needs its own stream"
                ),
            ));
        }
    }
    check_inputs(f).map_err(|(v, m)| at(v, m))?;
    let mut names = HashSet::new();
    for (name, v) in &f.outputs {
        if !f.graph.contains_node(v.0) {
            return Err(at(None, format!("output `{name}` refers to {v}, which does not exist")));
        }
        if !names.insert(name.as_str()) {
            return Err(at(None, format!("output `{name}` is declared twice")));
        }
    }
    Ok(())
}

/// Operand count and positions, then the type.
fn check_node(f: &Function, v: ValueId) -> Result<(), String> {
    let node = f.node(v);
    let mut edges: Vec<(u32, ValueId)> =
        f.graph.edges_directed(v.0, Direction::Incoming).map(|e| (*e.weight(), ValueId(e.source()))).collect();
    edges.sort_by_key(|(pos, _)| *pos);
    for (i, (pos, _)) in edges.iter().enumerate() {
        if *pos as usize != i {
            let found: Vec<u32> = edges.iter().map(|(p, _)| *p).collect();
            return Err(format!(
                "`{}` has operand positions {found:?}, expected 0..{}",
                node.op.mnemonic(),
                edges.len()
            ));
        }
    }
    let arity_ok = match node.op.arity() {
        Some(n) => edges.len() == n,
        None => !edges.is_empty(),
    };
    if !arity_ok {
        let expected = node.op.arity().map_or("at least 1".to_string(), |n| n.to_string());
        return Err(format!("`{}` has {} operands, expected {expected}", node.op.mnemonic(), edges.len()));
    }
    let tys: Vec<&TensorType> = edges.iter().map(|(_, u)| f.ty(*u)).collect();
    let inferred = infer_type(&node.op, &tys, Some(&node.ty)).map_err(|e| e.message)?;
    if inferred != node.ty {
        return Err(format!("type {} differs from inferred type {inferred}", node.ty));
    }
    Ok(())
}

/// Declared inputs and `input` nodes correspond one to one, by name.
fn check_inputs(f: &Function) -> Result<(), (Option<ValueId>, String)> {
    let mut declared: HashMap<ValueId, &str> = HashMap::new();
    let mut names = HashSet::new();
    for (name, v) in &f.inputs {
        let Some(node) = f.graph.node_weight(v.0) else {
            return Err((None, format!("input `{name}` refers to {v}, which does not exist")));
        };
        match &node.op {
            Op::Input { name: n } if n == name => {}
            other => {
                return Err((
                    Some(*v),
                    format!("input `{name}` is a `{}` node, expected `input \"{name}\"`", other.mnemonic()),
                ));
            }
        }
        if !names.insert(name.as_str()) || declared.insert(*v, name).is_some() {
            return Err((Some(*v), format!("input `{name}` is declared twice")));
        }
    }
    for v in f.values() {
        if let Op::Input { name } = f.op(v)
            && !declared.contains_key(&v)
        {
            return Err((Some(v), format!("`input \"{name}\"` is not among the function's inputs")));
        }
    }
    Ok(())
}

/// Checks every function, unique names, and `param` nodes against the declarations.
pub fn verify_module(m: &Module) -> Result<(), VerifyError> {
    let module_err = |message: String| VerifyError { function: String::new(), value: None, span: None, message };
    let mut params: HashMap<&str, &TensorType> = HashMap::new();
    for p in &m.params {
        if params.insert(p.name.as_str(), &p.ty).is_some() {
            return Err(VerifyError {
                span: Some(p.span),
                ..module_err(format!("parameter `{}` is declared twice", p.name))
            });
        }
    }
    let mut fn_names = HashSet::new();
    for f in &m.functions {
        if !fn_names.insert(f.name.as_str()) {
            return Err(module_err(format!("function `{}` is defined twice", f.name)));
        }
        verify_function(f)?;
        for v in f.values() {
            let node = f.node(v);
            let Op::Param { name } = &node.op else {
                continue;
            };
            let message = match params.get(name.as_str()) {
                None => format!("`param \"{name}\"` is not a declared parameter"),
                Some(ty) if **ty != node.ty => {
                    format!("`param \"{name}\"` has type {}, declared {ty}", node.ty)
                }
                Some(_) => continue,
            };
            return Err(VerifyError { function: f.name.clone(), value: Some(v), span: Some(node.span), message });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::test_util::ty;
    use crate::op::{BinaryOp, Init, UnaryOp};
    use crate::{Dim, ParamDecl};

    fn sp() -> NodeSpan {
        NodeSpan::default()
    }

    /// `y = exp(x) + x` with a `param` bias.
    fn sample() -> (Module, ValueId, ValueId) {
        let mut f = Function::new("f");
        let x = f.add_input("x", ty("f32[B, 3]"), sp());
        let b = f.add_with_type(Op::Param { name: "b".into() }, &[], ty("f32[3]"), sp()).unwrap();
        let e = f.add(Op::Unary(UnaryOp::Exp), &[x], sp()).unwrap();
        let y = f.add(Op::Binary(BinaryOp::Add), &[e, b], sp()).unwrap();
        f.outputs.push(("y".into(), y));
        let params =
            vec![ParamDecl { name: "b".into(), ty: ty("f32[3]"), init: Init::Zeros, span: sp(), trainable: true }];
        (Module { model: "M".into(), params, functions: vec![f] }, e, y)
    }

    #[test]
    fn well_formed_module_verifies() {
        let (m, _, _) = sample();
        verify_module(&m).unwrap();
    }

    #[test]
    fn wrong_type_is_reported_at_the_node() {
        let (mut m, e, _) = sample();
        let f = &mut m.functions[0];
        f.graph[e.0].ty = ty("f32[B, 4]");
        let err = verify_function(f).unwrap_err();
        assert_eq!(err.value, Some(e));
        assert_eq!(
            err.to_string(),
            format!(
                "in `f`, node {e}: exp: declared type f32[B, 4] differs from inferred type f32[B, 3] (operands f32[B, 3])"
            )
        );
    }

    #[test]
    fn a_random_site_is_drawn_once() {
        let mut f = Function::new("f");
        let key = |f: &mut Function, name: &str| f.add_input(name, ty("i64[]"), sp());
        let (seed, step, offset) = (key(&mut f, "seed"), key(&mut f, "step"), key(&mut f, "offset"));
        let a = f.add_with_type(Op::RandomNormal { site: 4 }, &[seed, step, offset], ty("f32[3]"), sp()).unwrap();
        let b = f.add_with_type(Op::Bernoulli { site: 4, p: 0.5 }, &[seed, step, offset], ty("f32[3]"), sp()).unwrap();
        let y = f.add(Op::Binary(BinaryOp::Add), &[a, b], sp()).unwrap();
        f.outputs.push(("y".into(), y));
        let err = verify_function(&f).unwrap_err();
        assert_eq!(err.value, Some(b));
        assert!(err.message.starts_with("random site 4 is drawn twice in one function"), "{err}");
        f.graph[b.0].op = Op::Bernoulli { site: 5, p: 0.5 };
        verify_function(&f).unwrap();
    }

    #[test]
    fn operand_count_and_positions() {
        let (mut m, e, y) = sample();
        let f = &mut m.functions[0];
        let x = f.input("x").unwrap();
        f.graph.add_edge(x.0, e.0, 1);
        assert_eq!(verify_function(f).unwrap_err().message, "`exp` has 2 operands, expected 1");
        let (mut m, _, _) = sample();
        let f = &mut m.functions[0];
        let edge = f.graph.edges_directed(y.0, Direction::Incoming).find(|e| *e.weight() == 1).unwrap().id();
        f.graph[edge] = 2;
        assert_eq!(verify_function(f).unwrap_err().message, "`add` has operand positions [0, 2], expected 0..2");
    }

    #[test]
    fn cycles_are_found() {
        let (mut m, e, y) = sample();
        let f = &mut m.functions[0];
        // Make `exp` read `add`'s result: exp -> add -> exp.
        let x = f.input("x").unwrap();
        let edge = f.graph.find_edge(x.0, e.0).unwrap();
        f.graph.remove_edge(edge);
        f.graph.add_edge(y.0, e.0, 0);
        let err = verify_function(f).unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");
    }

    #[test]
    fn inputs_and_outputs() {
        let (mut m, e, _) = sample();
        let f = &mut m.functions[0];
        f.inputs.push(("e".into(), e));
        assert_eq!(verify_function(f).unwrap_err().message, "input `e` is a `exp` node, expected `input \"e\"`");

        let (mut m, _, _) = sample();
        let f = &mut m.functions[0];
        f.inputs.clear();
        assert_eq!(verify_function(f).unwrap_err().message, "`input \"x\"` is not among the function's inputs");

        let (mut m, _, y) = sample();
        let f = &mut m.functions[0];
        f.outputs.push(("y".into(), y));
        assert_eq!(verify_function(f).unwrap_err().message, "output `y` is declared twice");

        let (mut m, _, y) = sample();
        let f = &mut m.functions[0];
        f.remove(y);
        assert!(verify_function(f).unwrap_err().message.starts_with("output `y` refers to"));

        let (mut m, _, _) = sample();
        let f = &mut m.functions[0];
        let x = f.input("x").unwrap();
        f.inputs.push(("x".into(), x));
        assert_eq!(verify_function(f).unwrap_err().message, "input `x` is declared twice");
    }

    #[test]
    fn module_checks_params_and_names() {
        let (mut m, _, _) = sample();
        m.params[0].ty = ty("f32[4]");
        assert_eq!(verify_module(&m).unwrap_err().message, "`param \"b\"` has type f32[3], declared f32[4]");
        let (mut m, _, _) = sample();
        m.params[0].name = "c".into();
        assert_eq!(verify_module(&m).unwrap_err().message, "`param \"b\"` is not a declared parameter");
        let (mut m, _, _) = sample();
        m.params.push(m.params[0].clone());
        assert_eq!(verify_module(&m).unwrap_err().to_string(), "parameter `b` is declared twice");
        let (mut m, _, _) = sample();
        m.functions.push(m.functions[0].clone());
        assert_eq!(verify_module(&m).unwrap_err().to_string(), "function `f` is defined twice");
    }

    #[test]
    fn deep_chains_verify_without_recursion() {
        let mut f = Function::new("deep");
        let mut v = f.add_input("x", TensorType::new(hg_abi::DType::F32, vec![Dim::batch()]), sp());
        for _ in 0..100_000 {
            v = f.add(Op::Unary(UnaryOp::Neg), &[v], sp()).unwrap();
        }
        f.outputs.push(("y".into(), v));
        verify_function(&f).unwrap();
    }
}

//! Functions (one per entry point) and modules (the functions of one model plus its parameters).

use crate::infer::{InferError, infer_type};
use crate::op::{Init, Op};
use crate::types::TensorType;
use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use std::fmt;

/// A value in a [`Function`]: the node that produces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub NodeIndex<u32>);

impl ValueId {
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0.index())
    }
}

/// Where a node came from in the source: file index and byte range (the front end's span,
/// kept as plain numbers so the IR does not depend on the front end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NodeSpan {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub ty: TensorType,
    pub span: NodeSpan,
}

/// A declared parameter: trainable (`param`), or a buffer (`buffer`), state that the train
/// step replaces by the value of its `update` instead of an optimizer step, and that every
/// entry reads like a parameter (running statistics, EMA codebooks, counters).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    pub name: String,
    pub ty: TensorType,
    pub init: Init,
    pub span: NodeSpan,
    pub trainable: bool,
}

/// A dataflow graph with named inputs and outputs.
///
/// Edges go from operand to user and carry the operand position, so operand order survives
/// node removals (`StableDiGraph` keeps ids stable).
#[derive(Clone, Debug, Default)]
pub struct Function {
    pub name: String,
    pub graph: StableDiGraph<Node, u32, u32>,
    /// Entry-point inputs in signature order (model inputs, `step`, `param:` ...).
    pub inputs: Vec<(String, ValueId)>,
    /// Entry-point outputs in signature order.
    pub outputs: Vec<(String, ValueId)>,
}

impl Function {
    pub fn new(name: impl Into<String>) -> Function {
        Function { name: name.into(), ..Function::default() }
    }

    /// Adds a node whose type is inferred from its operands.
    pub fn add(&mut self, op: Op, operands: &[ValueId], span: NodeSpan) -> Result<ValueId, InferError> {
        let tys: Vec<&TensorType> = operands.iter().map(|v| &self.graph[v.0].ty).collect();
        let ty = infer_type(&op, &tys, None)?;
        Ok(self.add_typed(op, operands, ty, span))
    }

    /// Adds a node whose result type is given by the caller (sources, `reshape`,
    /// `broadcast_to`, `full`: ops whose type is an attribute). The type is still checked
    /// against the operands.
    pub fn add_with_type(
        &mut self,
        op: Op,
        operands: &[ValueId],
        ty: TensorType,
        span: NodeSpan,
    ) -> Result<ValueId, InferError> {
        let tys: Vec<&TensorType> = operands.iter().map(|v| &self.graph[v.0].ty).collect();
        let ty = infer_type(&op, &tys, Some(&ty))?;
        Ok(self.add_typed(op, operands, ty, span))
    }

    /// Adds a node without checking (for readers and passes that already know the type).
    pub fn add_typed(&mut self, op: Op, operands: &[ValueId], ty: TensorType, span: NodeSpan) -> ValueId {
        let id = self.graph.add_node(Node { op, ty, span });
        for (pos, v) in operands.iter().enumerate() {
            self.graph.add_edge(v.0, id, pos as u32);
        }
        ValueId(id)
    }

    /// Adds a named input of the function.
    pub fn add_input(&mut self, name: &str, ty: TensorType, span: NodeSpan) -> ValueId {
        let v = self.add_typed(Op::Input { name: name.to_string() }, &[], ty, span);
        self.inputs.push((name.to_string(), v));
        v
    }

    pub fn node(&self, v: ValueId) -> &Node {
        &self.graph[v.0]
    }

    pub fn ty(&self, v: ValueId) -> &TensorType {
        &self.graph[v.0].ty
    }

    pub fn op(&self, v: ValueId) -> &Op {
        &self.graph[v.0].op
    }

    /// Operands of a node, in position order.
    pub fn operands(&self, v: ValueId) -> Vec<ValueId> {
        let mut edges: Vec<(u32, ValueId)> =
            self.graph.edges_directed(v.0, Direction::Incoming).map(|e| (*e.weight(), ValueId(e.source()))).collect();
        edges.sort_by_key(|(pos, _)| *pos);
        edges.into_iter().map(|(_, v)| v).collect()
    }

    /// Users of a value (with repetition when a user reads it twice).
    pub fn users(&self, v: ValueId) -> Vec<ValueId> {
        self.graph.edges_directed(v.0, Direction::Outgoing).map(|e| ValueId(e.target())).collect()
    }

    pub fn values(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.graph.node_indices().map(ValueId)
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn output(&self, name: &str) -> Option<ValueId> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    pub fn input(&self, name: &str) -> Option<ValueId> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Nodes in a topological order (operands before users), deterministic: ties are broken
    /// by node index, so printing and interpretation are stable. Iterative (no recursion), so
    /// very deep graphs do not overflow the stack.
    pub fn topo_order(&self) -> Vec<ValueId> {
        let mut indegree: std::collections::HashMap<NodeIndex<u32>, usize> =
            self.graph.node_indices().map(|n| (n, self.graph.edges_directed(n, Direction::Incoming).count())).collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<NodeIndex<u32>>> =
            indegree.iter().filter(|(_, d)| **d == 0).map(|(n, _)| std::cmp::Reverse(*n)).collect();
        let mut order = Vec::with_capacity(indegree.len());
        while let Some(std::cmp::Reverse(n)) = ready.pop() {
            order.push(ValueId(n));
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                let d = indegree.get_mut(&e.target()).expect("edge target is a node");
                *d -= 1;
                if *d == 0 {
                    ready.push(std::cmp::Reverse(e.target()));
                }
            }
        }
        order
    }

    /// Replaces every use of `old` by `new` (including outputs).
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        let uses: Vec<(petgraph::stable_graph::EdgeIndex<u32>, NodeIndex<u32>, u32)> =
            self.graph.edges_directed(old.0, Direction::Outgoing).map(|e| (e.id(), e.target(), *e.weight())).collect();
        for (e, target, pos) in uses {
            self.graph.remove_edge(e);
            self.graph.add_edge(new.0, target, pos);
        }
        for (_, v) in self.outputs.iter_mut() {
            if *v == old {
                *v = new;
            }
        }
    }

    pub fn remove(&mut self, v: ValueId) {
        self.graph.remove_node(v.0);
    }
}

/// All entry points of one model and its parameters.
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub model: String,
    /// Parameters in declaration order.
    pub params: Vec<ParamDecl>,
    pub functions: Vec<Function>,
}

impl Module {
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    pub fn function_mut(&mut self, name: &str) -> Option<&mut Function> {
        self.functions.iter_mut().find(|f| f.name == name)
    }

    pub fn param(&self, name: &str) -> Option<&ParamDecl> {
        self.params.iter().find(|p| p.name == name)
    }
}

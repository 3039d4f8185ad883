//! Helpers for the interpreter's tests: building small typed graphs and tensors.

use hg_exec::{NamedTensors, Tensor};
use hg_ir::{DType, Dim, Function, NodeSpan, Op, TensorType, ValueId};

/// A type from a compact shape spelling: `"B, 3"`, `"2*B"`, `""` (scalar).
pub fn ty(dtype: DType, shape: &str) -> TensorType {
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('*') {
            Some((k, "B")) => Dim::constant(k.parse().expect("test shape")).checked_mul(&Dim::batch()).expect("dim"),
            None if s == "B" => Dim::batch(),
            _ => Dim::constant(s.parse().expect("test shape")),
        })
        .collect();
    TensorType::new(dtype, dims)
}

/// A function under construction.
pub struct Graph {
    pub f: Function,
}

impl Graph {
    pub fn new() -> Graph {
        Graph { f: Function::new("test") }
    }

    pub fn input(&mut self, name: &str, dtype: DType, shape: &str) -> ValueId {
        self.f.add_input(name, ty(dtype, shape), NodeSpan::default())
    }

    pub fn node(&mut self, op: Op, operands: &[ValueId], dtype: DType, shape: &str) -> ValueId {
        self.f.add_typed(op, operands, ty(dtype, shape), NodeSpan::default())
    }

    /// The `(seed, step, offset)` operands of random draws: `seed` and `step` inputs and an
    /// `offset` input (i64 scalars), declared on first use.
    pub fn random_key(&mut self) -> [ValueId; 3] {
        ["seed", "step", "offset"].map(|name| match self.f.input(name) {
            Some(v) => v,
            None => self.input(name, DType::I64, ""),
        })
    }

    pub fn output(&mut self, name: &str, v: ValueId) {
        self.f.outputs.push((name.to_string(), v));
    }
}

pub fn f32s(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), data.to_vec()).expect("test tensor")
}

pub fn inputs(pairs: &[(&str, Tensor)]) -> NamedTensors {
    pairs.iter().map(|(n, t)| (n.to_string(), t.clone())).collect()
}

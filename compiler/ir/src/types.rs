//! Tensor types: a dtype and a symbolic shape.

use crate::dim::Dim;
use hg_abi::{DType, DimSpec};
use std::fmt;

pub type Shape = Vec<Dim>;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Shape) -> TensorType {
        TensorType { dtype, shape }
    }

    pub fn scalar(dtype: DType) -> TensorType {
        TensorType { dtype, shape: Vec::new() }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn with_dtype(&self, dtype: DType) -> TensorType {
        TensorType { dtype, shape: self.shape.clone() }
    }

    /// Concrete shape for a batch size; `None` if a dimension is negative or not a function of `B`.
    pub fn concrete_shape(&self, batch: usize) -> Option<Vec<usize>> {
        self.shape.iter().map(|d| d.eval_batch(batch).and_then(|v| usize::try_from(v).ok())).collect()
    }

    /// Signature form for the runtime: fixed sizes or multiples of `B`.
    pub fn dim_specs(&self) -> Option<Vec<DimSpec>> {
        self.shape
            .iter()
            .map(|d| match (d.as_const(), d.as_batch_multiple()) {
                (Some(n), _) => usize::try_from(n).ok().map(DimSpec::Fixed),
                (None, Some(k)) => usize::try_from(k).ok().map(DimSpec::Batch),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

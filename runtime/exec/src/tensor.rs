//! Host tensors: a dtype, a row-major shape and the elements.
//!
//! f16 and bf16 tensors keep their elements widened to f32 in memory (their dtype says how they
//! are stored on disk); every other dtype keeps its own element type.

use hg_abi::DType;
use std::fmt;

/// Elements of a tensor, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage variant a dtype uses.
    fn matches(&self, dtype: DType) -> bool {
        matches!(
            (self, dtype),
            (TensorData::F32(_), DType::F32 | DType::F16 | DType::BF16)
                | (TensorData::F64(_), DType::F64)
                | (TensorData::I32(_), DType::I32)
                | (TensorData::I64(_), DType::I64)
                | (TensorData::Bool(_), DType::Bool)
        )
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("tensor of shape {shape:?} needs {expected} elements, got {got}")]
    Size { shape: Vec<usize>, expected: usize, got: usize },
    #[error("elements stored as {stored} do not fit dtype {dtype}")]
    Storage { dtype: DType, stored: &'static str },
    #[error("shape {0:?} has more elements than fit in memory")]
    Overflow(Vec<usize>),
}

/// A dense host tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: TensorData,
}

/// Number of elements of a shape, or `None` on overflow.
pub fn num_elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    pub fn new(dtype: DType, shape: Vec<usize>, data: TensorData) -> Result<Tensor, TensorError> {
        let expected = num_elements(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        if data.len() != expected {
            return Err(TensorError::Size { shape, expected, got: data.len() });
        }
        if !data.matches(dtype) {
            let stored = match data {
                TensorData::F32(_) => "f32",
                TensorData::F64(_) => "f64",
                TensorData::I32(_) => "i32",
                TensorData::I64(_) => "i64",
                TensorData::Bool(_) => "bool",
            };
            return Err(TensorError::Storage { dtype, stored });
        }
        Ok(Tensor { dtype, shape, data })
    }

    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor, TensorError> {
        Tensor::new(DType::F32, shape, TensorData::F32(data))
    }

    pub fn from_f64(shape: Vec<usize>, data: Vec<f64>) -> Result<Tensor, TensorError> {
        Tensor::new(DType::F64, shape, TensorData::F64(data))
    }

    pub fn from_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Tensor, TensorError> {
        Tensor::new(DType::I64, shape, TensorData::I64(data))
    }

    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor { dtype: DType::F32, shape: vec![], data: TensorData::F32(vec![v]) }
    }

    pub fn scalar_i64(v: i64) -> Tensor {
        Tensor { dtype: DType::I64, shape: vec![], data: TensorData::I64(vec![v]) }
    }

    /// A tensor of zeros of any dtype.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        let n = num_elements(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        let data = match dtype {
            DType::F32 | DType::F16 | DType::BF16 => TensorData::F32(vec![0.0; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        };
        Ok(Tensor { dtype, shape, data })
    }

    /// Builds a tensor of `dtype` from f64 values (rounded/truncated to the dtype).
    pub fn from_f64_values(dtype: DType, shape: Vec<usize>, values: &[f64]) -> Result<Tensor, TensorError> {
        let data = match dtype {
            DType::F32 | DType::F16 | DType::BF16 => TensorData::F32(values.iter().map(|&v| v as f32).collect()),
            DType::F64 => TensorData::F64(values.to_vec()),
            DType::I32 => TensorData::I32(values.iter().map(|&v| v as i32).collect()),
            DType::I64 => TensorData::I64(values.iter().map(|&v| v as i64).collect()),
            DType::Bool => TensorData::Bool(values.iter().map(|&v| v != 0.0).collect()),
        };
        Tensor::new(dtype, shape, data)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut TensorData {
        &mut self.data
    }

    pub fn into_data(self) -> TensorData {
        self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Every element widened to f64 (bools as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The value of a one-element tensor, widened to f64.
    pub fn scalar_value(&self) -> Option<f64> {
        (self.len() == 1).then(|| self.to_f64_vec()[0])
    }

    /// Same elements, new shape with the same number of elements.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        let expected = num_elements(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        if expected != self.len() {
            return Err(TensorError::Size { shape, expected, got: self.len() });
        }
        self.shape = shape;
        Ok(self)
    }

    /// Rows `start..end` along the first axis (a batch slice).
    pub fn slice_rows(&self, start: usize, end: usize) -> Tensor {
        let row: usize = self.shape.iter().skip(1).product();
        let (a, b) = (start * row, end * row);
        let data = match &self.data {
            TensorData::F32(v) => TensorData::F32(v[a..b].to_vec()),
            TensorData::F64(v) => TensorData::F64(v[a..b].to_vec()),
            TensorData::I32(v) => TensorData::I32(v[a..b].to_vec()),
            TensorData::I64(v) => TensorData::I64(v[a..b].to_vec()),
            TensorData::Bool(v) => TensorData::Bool(v[a..b].to_vec()),
        };
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        Tensor { dtype: self.dtype, shape, data }
    }

    /// Gathers rows by index along the first axis (shuffled batches).
    pub fn gather_rows(&self, rows: &[usize]) -> Tensor {
        let row: usize = self.shape.iter().skip(1).product();
        fn pick<T: Copy>(v: &[T], rows: &[usize], row: usize) -> Vec<T> {
            rows.iter().flat_map(|&r| v[r * row..(r + 1) * row].iter().copied()).collect()
        }
        let data = match &self.data {
            TensorData::F32(v) => TensorData::F32(pick(v, rows, row)),
            TensorData::F64(v) => TensorData::F64(pick(v, rows, row)),
            TensorData::I32(v) => TensorData::I32(pick(v, rows, row)),
            TensorData::I64(v) => TensorData::I64(pick(v, rows, row)),
            TensorData::Bool(v) => TensorData::Bool(pick(v, rows, row)),
        };
        let mut shape = self.shape.clone();
        shape[0] = rows.len();
        Tensor { dtype: self.dtype, shape, data }
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_checked() {
        assert!(Tensor::from_f32(vec![2, 3], vec![0.0; 5]).is_err());
        assert!(Tensor::from_f32(vec![2, 3], vec![0.0; 6]).is_ok());
        assert!(Tensor::new(DType::I64, vec![1], TensorData::F32(vec![1.0])).is_err());
        assert!(Tensor::zeros(DType::F32, vec![usize::MAX, 2]).is_err());
    }

    #[test]
    fn rows_are_sliced_and_gathered() {
        let t = Tensor::from_f32(vec![3, 2], vec![0., 1., 2., 3., 4., 5.]).unwrap();
        assert_eq!(t.slice_rows(1, 3).to_f64_vec(), vec![2., 3., 4., 5.]);
        assert_eq!(t.gather_rows(&[2, 0]).to_f64_vec(), vec![4., 5., 0., 1.]);
    }
}

//! Host memory the executor owns: 64-byte aligned byte buffers (the arena, resident parameters
//! and state), and the element types plans use (f32, i64, and bool as one byte 0/1).

use crate::error::{CpuError, bail};
use hg_abi::DType;
use hg_exec::{Tensor, TensorData};

/// One cache line: the unit of allocation, so every buffer starts 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A zero-initialised, 64-byte aligned block of bytes whose size can only grow.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    lines: Vec<Line>,
}

impl AlignedBuf {
    /// `bytes` zero bytes, or an error when the machine cannot give them.
    pub fn zeroed(bytes: usize) -> Result<AlignedBuf, CpuError> {
        let mut b = AlignedBuf::default();
        b.grow_to(bytes)?;
        Ok(b)
    }

    /// Capacity in bytes.
    pub fn len_bytes(&self) -> usize {
        self.lines.len() * 64
    }

    /// Makes the buffer at least `bytes` long (new bytes are zero); true when it grew. The
    /// old contents are not kept in place: pointers taken before a growth are invalid.
    pub fn grow_to(&mut self, bytes: usize) -> Result<bool, CpuError> {
        let lines = bytes.div_ceil(64);
        if lines <= self.lines.len() {
            return Ok(false);
        }
        let mut fresh = Vec::new();
        if fresh.try_reserve_exact(lines).is_err() {
            bail!("out of memory: cannot allocate {bytes} bytes");
        }
        fresh.resize(lines, Line([0; 64]));
        self.lines = fresh;
        Ok(true)
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.lines.as_ptr().cast()
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.lines.as_mut_ptr().cast()
    }

    /// The first `len` elements as `T`.
    pub fn view<T: Elem>(&self, len: usize) -> Option<&[T]> {
        let bytes = len.checked_mul(size_of::<T>())?;
        // SAFETY: in bounds (checked), aligned (64 is a multiple of every element's alignment)
        // and every bit pattern is a valid `T` (`Elem` is implemented for f32, i64 and u8 only).
        (bytes <= self.len_bytes()).then(|| unsafe { std::slice::from_raw_parts(self.as_ptr().cast::<T>(), len) })
    }

    /// The first `len` elements as `T`, mutable.
    pub fn view_mut<T: Elem>(&mut self, len: usize) -> Option<&mut [T]> {
        let bytes = len.checked_mul(size_of::<T>())?;
        // SAFETY: as in `view`, with exclusive access through `&mut self`.
        (bytes <= self.len_bytes())
            .then(|| unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr().cast::<T>(), len) })
    }
}

/// Element types a plan's buffers hold: every bit pattern is a value.
pub trait Elem: Copy + Send + Sync + 'static {}
impl Elem for f32 {}
impl Elem for i64 {}
impl Elem for u8 {}

/// The in-memory element type of a plan buffer.
pub fn elem_size(dtype: DType) -> Result<usize, CpuError> {
    match dtype {
        DType::F32 => Ok(4),
        DType::I64 => Ok(8),
        DType::Bool => Ok(1),
        other => bail!("the CPU executor has no {other} buffers (f32, i64 and bool only)"),
    }
}

/// A tensor's elements in host memory the executor owns: a resident parameter or state
/// tensor (`dtype` f32, i64 or bool; f16/bf16 tensors keep their f32 values).
#[derive(Clone)]
pub struct HostBuf {
    pub dtype: DType,
    pub len: usize,
    pub data: AlignedBuf,
}

impl HostBuf {
    /// A copy of a tensor's elements.
    pub fn from_tensor(t: &Tensor) -> Result<HostBuf, CpuError> {
        let len = t.len();
        let (dtype, bytes) = match t.data() {
            TensorData::F32(_) => (DType::F32, len.checked_mul(4)),
            TensorData::I64(_) => (DType::I64, len.checked_mul(8)),
            TensorData::Bool(_) => (DType::Bool, Some(len)),
            _ => bail!("the CPU executor keeps no {} tensors (f32, i64 and bool only)", t.dtype()),
        };
        let mut data = AlignedBuf::zeroed(bytes.ok_or_else(|| CpuError::new("tensor too large"))?)?;
        match t.data() {
            TensorData::F32(v) => data.view_mut::<f32>(len).expect("sized above").copy_from_slice(v),
            TensorData::I64(v) => data.view_mut::<i64>(len).expect("sized above").copy_from_slice(v),
            TensorData::Bool(v) => {
                for (d, &b) in data.view_mut::<u8>(len).expect("sized above").iter_mut().zip(v) {
                    *d = u8::from(b);
                }
            }
            _ => unreachable!("refused above"),
        }
        Ok(HostBuf { dtype, len, data })
    }

    /// `len` zeroed elements of `dtype` (f32, i64 or bool).
    pub fn zeroed(dtype: DType, len: usize) -> Result<HostBuf, CpuError> {
        let bytes = len.checked_mul(elem_size(dtype)?).ok_or_else(|| CpuError::new("tensor too large"))?;
        Ok(HostBuf { dtype, len, data: AlignedBuf::zeroed(bytes)? })
    }

    /// The number of bytes of the elements.
    fn byte_len(&self) -> Result<usize, CpuError> {
        self.len.checked_mul(elem_size(self.dtype)?).ok_or_else(|| CpuError::new("tensor too large"))
    }

    /// The elements as bytes (booleans one byte each, 0 or 1), for copies to a device.
    pub fn bytes(&self) -> Result<&[u8], CpuError> {
        let n = self.byte_len()?;
        self.data.view::<u8>(n).ok_or_else(|| CpuError::new(format!("a buffer of {n} bytes holds fewer")))
    }

    /// The elements as bytes, for copies from a device (booleans must be 0 or 1).
    pub fn bytes_mut(&mut self) -> Result<&mut [u8], CpuError> {
        let n = self.byte_len()?;
        self.data.view_mut::<u8>(n).ok_or_else(|| CpuError::new(format!("a buffer of {n} bytes holds fewer")))
    }

    /// A host tensor of `dtype` and `shape` holding a copy of the elements.
    pub fn to_tensor(&self, dtype: DType, shape: Vec<usize>) -> Result<Tensor, CpuError> {
        let data = match self.dtype {
            DType::F32 => TensorData::F32(self.data.view::<f32>(self.len).expect("sized").to_vec()),
            DType::I64 => TensorData::I64(self.data.view::<i64>(self.len).expect("sized").to_vec()),
            _ => TensorData::Bool(self.data.view::<u8>(self.len).expect("sized").iter().map(|&b| b != 0).collect()),
        };
        Tensor::new(dtype, shape, data).map_err(|e| CpuError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_grow() {
        let mut b = AlignedBuf::zeroed(100).unwrap();
        assert_eq!(b.len_bytes(), 128);
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert!(b.view::<f32>(32).unwrap().iter().all(|&x| x == 0.0));
        assert!(b.view::<f32>(33).is_none());
        assert!(!b.grow_to(128).unwrap());
        assert!(b.grow_to(129).unwrap());
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert!(AlignedBuf::zeroed(usize::MAX - 64).is_err());
    }

    #[test]
    fn host_buffers_round_trip_tensors() {
        let t = Tensor::from_f32(vec![2, 2], vec![1.0, -2.0, 3.5, 0.0]).unwrap();
        assert_eq!(HostBuf::from_tensor(&t).unwrap().to_tensor(DType::F32, vec![2, 2]).unwrap(), t);
        let b = Tensor::new(DType::Bool, vec![3], TensorData::Bool(vec![true, false, true])).unwrap();
        assert_eq!(HostBuf::from_tensor(&b).unwrap().to_tensor(DType::Bool, vec![3]).unwrap(), b);
        let i = Tensor::from_i64(vec![1], vec![-7]).unwrap();
        assert_eq!(HostBuf::from_tensor(&i).unwrap().to_tensor(DType::I64, vec![1]).unwrap(), i);
        assert!(HostBuf::from_tensor(&Tensor::from_f64(vec![1], vec![1.0]).unwrap()).is_err());
    }
}

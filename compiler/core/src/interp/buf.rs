//! The interpreter's value: a concrete row-major shape and its elements as `f64`, plus the
//! index arithmetic the kernels share (strides, numpy broadcasting, walking an index space).
//!
//! Kernels return `Result<Buf, String>`: the message says what is wrong with the operands and
//! the evaluator adds the node and its span.
//!
//! **Invariant**: `data.len()` is the product of `shape` (checked when a buffer is allocated
//! from a shape, [`MAX_ELEMENTS`] at most, so a huge declared shape is an error and not an
//! allocation failure).
//!
//! **Invariant**: every allocation whose size depends on the data goes through [`try_vec`]
//! (or the helpers built on it: [`try_filled`], [`try_collect`], [`Buf::filled`],
//! [`Buf::try_zeros`], [`Buf::collect`], [`Buf::try_clone`]), so a machine without the memory
//! gives an error naming the bytes, never an abort of the process.

/// The largest buffer the interpreter allocates (2^31 elements, 16 GiB of f64): it runs small
/// models, and a larger size almost surely comes from a wrong shape.
pub const MAX_ELEMENTS: usize = 1 << 31;

pub type KernelResult = Result<Buf, String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Buf {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Buf {
    /// A buffer from elements already laid out for `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Buf {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "buffer size mismatch");
        Buf { shape, data }
    }

    /// A buffer of `shape` with every element `value`.
    pub fn filled(shape: &[usize], value: f64) -> KernelResult {
        let n = num_elements(shape)?;
        // Zeros come from the allocator already zeroed (as `vec![0.0; n]` does): for the large
        // buffers kernels accumulate into, that saves a whole pass over memory.
        let data = if value.to_bits() == 0 { try_zeroed(n)? } else { try_filled(n, value)? };
        Ok(Buf { shape: shape.to_vec(), data })
    }

    /// A buffer of `shape` holding zeros.
    pub fn try_zeros(shape: &[usize]) -> KernelResult {
        Buf::filled(shape, 0.0)
    }

    /// A buffer of `shape` from its elements in row-major order (exactly as many as `shape` holds).
    pub fn collect(shape: Vec<usize>, items: impl IntoIterator<Item = f64>) -> KernelResult {
        let data = try_collect(num_elements(&shape)?, items)?;
        Ok(Buf::new(shape, data))
    }

    /// A copy, or an error when the machine cannot hold it.
    pub fn try_clone(&self) -> KernelResult {
        Ok(Buf { shape: self.shape.clone(), data: try_collect(self.len(), self.data.iter().copied())? })
    }

    #[cfg(test)]
    pub fn scalar(value: f64) -> Buf {
        Buf { shape: Vec::new(), data: vec![value] }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }
}

/// Number of elements of a shape, refusing overflow and sizes above [`MAX_ELEMENTS`].
pub fn num_elements(shape: &[usize]) -> Result<usize, String> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(format!(
            "a tensor of shape {} is larger than the interpreter's limit of {MAX_ELEMENTS} elements",
            fmt_shape(shape)
        )),
    }
}

/// An empty vector with room for `n` elements; when the machine cannot give the memory, an
/// error naming the bytes instead of the process aborting.
pub fn try_vec<T>(n: usize) -> Result<Vec<T>, String> {
    let mut v = Vec::new();
    match v.try_reserve_exact(n) {
        Ok(()) => Ok(v),
        Err(_) => Err(out_of_memory(n as u128 * std::mem::size_of::<T>() as u128)),
    }
}

/// `vec![0.0; n]` without aborting: memory the allocator hands out zeroed (the bits of `+0.0`
/// are all zero), or an error when it cannot.
pub fn try_zeroed(n: usize) -> Result<Vec<f64>, String> {
    let fail = || out_of_memory(n as u128 * std::mem::size_of::<f64>() as u128);
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f64>(n).map_err(|_| fail())?;
    // SAFETY: the layout has a non-zero size; a null pointer is checked; the memory is zeroed,
    // which is a valid `f64` (+0.0) for each of the `n` elements, and it was allocated by the
    // global allocator with exactly the layout `Vec<f64>` of capacity `n` uses.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<f64>();
        if ptr.is_null() {
            return Err(fail());
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

/// `vec![value; n]` through [`try_vec`].
pub fn try_filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>, String> {
    let mut v = try_vec(n)?;
    v.resize(n, value);
    Ok(v)
}

/// The `n` items of `items` collected through [`try_vec`] (`n` must be their exact count, so
/// the vector never grows past its reservation).
pub fn try_collect<T>(n: usize, items: impl IntoIterator<Item = T>) -> Result<Vec<T>, String> {
    let mut v = try_vec(n)?;
    v.extend(items);
    debug_assert_eq!(v.len(), n, "try_collect: wrong item count");
    Ok(v)
}

/// The message of a failed allocation.
pub fn out_of_memory(bytes: u128) -> String {
    format!("out of memory: cannot allocate {bytes} bytes ({})", fmt_bytes(bytes))
}

pub use hg_exec::units::fmt_bytes;

/// Row-major strides (in elements) of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// `[2, 3]`: the spelling of concrete shapes in messages.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The numpy broadcast of two shapes (axes aligned on the right; equal sizes or one of them 1).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        *o = match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => {
                return Err(format!("shapes {} and {} do not broadcast", fmt_shape(a), fmt_shape(b)));
            }
        };
    }
    Ok(out)
}

/// Checks that `from` broadcasts to exactly `to` (numpy `broadcast_to` rules).
pub fn check_broadcasts_to(from: &[usize], to: &[usize]) -> Result<(), String> {
    let ok = from.len() <= to.len() && from.iter().zip(&to[to.len() - from.len()..]).all(|(&f, &t)| f == t || f == 1);
    if ok { Ok(()) } else { Err(format!("shape {} does not broadcast to {}", fmt_shape(from), fmt_shape(to))) }
}

/// For each element of `out_shape` in row-major order, the offset of the element of a tensor
/// of shape `in_shape` that broadcasting reads. `in_shape` must broadcast to `out_shape`.
pub fn broadcast_map(in_shape: &[usize], out_shape: &[usize]) -> Result<Vec<usize>, String> {
    let rank = out_shape.len();
    let in_strides = strides(in_shape);
    // Effective stride per output axis: 0 where the input is missing or has size 1.
    let mut eff = vec![0; rank];
    for (i, (&d, &s)) in in_shape.iter().zip(&in_strides).enumerate() {
        eff[rank - in_shape.len() + i] = if d == 1 { 0 } else { s };
    }
    let n: usize = out_shape.iter().product();
    let mut map = try_vec(n)?;
    let mut idx = vec![0; rank];
    let mut off = 0;
    for _ in 0..n {
        map.push(off);
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += eff[d];
            if idx[d] < out_shape[d] {
                break;
            }
            off -= eff[d] * out_shape[d];
            idx[d] = 0;
        }
    }
    Ok(map)
}

/// Calls `f` with every multi-index of `shape` in row-major order (and its flat position).
pub fn walk(shape: &[usize], mut f: impl FnMut(&[usize], usize) -> Result<(), String>) -> Result<(), String> {
    let n: usize = shape.iter().product();
    let mut idx = vec![0; shape.len()];
    for flat in 0..n {
        f(&idx, flat)?;
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

/// Splits a shape around `axis` into `(outer, size, inner)` element counts.
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Checks that `axis` names an axis of a rank-`rank` operand.
pub fn check_axis(axis: usize, rank: usize) -> Result<(), String> {
    if axis < rank { Ok(()) } else { Err(format!("axis {axis} is out of range for an operand of rank {rank}")) }
}

/// Reads an element that must hold an integer index (an i32/i64 value) as `i64`.
pub fn as_index(v: f64) -> Result<i64, String> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= 9.007_199_254_740_992e15 {
        Ok(v as i64)
    } else {
        Err(format!("index value {v} is not an integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(strides(&[]), Vec::<usize>::new());
        assert_eq!(strides(&[5]), vec![1]);
    }

    #[test]
    fn shapes_broadcast_like_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert_eq!(broadcast_shapes(&[], &[3]).unwrap(), vec![3]);
        assert_eq!(broadcast_shapes(&[0], &[1]).unwrap(), vec![0]);
        assert!(broadcast_shapes(&[2, 3], &[3, 2]).unwrap_err().contains("[2, 3] and [3, 2]"));
        assert!(check_broadcasts_to(&[3, 1], &[2, 3, 4]).is_ok());
        assert!(check_broadcasts_to(&[2, 3], &[3]).is_err());
        assert!(check_broadcasts_to(&[3], &[3, 2]).is_err());
    }

    #[test]
    fn broadcast_map_repeats_size_one_axes() {
        assert_eq!(broadcast_map(&[2, 1], &[2, 3]).unwrap(), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_map(&[3], &[2, 3]).unwrap(), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_map(&[], &[2]).unwrap(), vec![0, 0]);
        assert_eq!(broadcast_map(&[2, 2], &[2, 2]).unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn huge_shapes_are_refused() {
        assert!(num_elements(&[usize::MAX, 2]).is_err());
        assert!(num_elements(&[1 << 20, 1 << 20]).unwrap_err().contains("limit"));
        assert_eq!(num_elements(&[]).unwrap(), 1);
    }

    #[test]
    fn failed_allocations_are_errors() {
        // 2^60 bytes: no machine has them, and the request is refused instead of aborting.
        let e = try_vec::<f64>(1 << 57).unwrap_err();
        assert!(e.contains("cannot allocate 1152921504606846976 bytes"), "{e}");
        // More than `isize::MAX` bytes is a capacity overflow, refused the same way.
        assert!(try_filled::<f64>(usize::MAX / 4, 0.0).unwrap_err().contains("out of memory"));
        assert_eq!(try_filled(3, 1.5).unwrap(), vec![1.5; 3]);
        assert_eq!(try_collect(2, [1, 2]).unwrap(), vec![1, 2]);
        let b = Buf::collect(vec![2], [1.0, 2.0]).unwrap();
        assert_eq!(b.try_clone().unwrap(), b);
        assert_eq!(Buf::try_zeros(&[2, 1]).unwrap().data, vec![0.0, 0.0]);
        assert!(try_zeroed(1 << 57).unwrap_err().contains("out of memory"));
        assert!(try_zeroed(usize::MAX / 4).unwrap_err().contains("out of memory"));
        let z = try_zeroed(1000).unwrap();
        assert!(z.len() == 1000 && z.iter().all(|x| x.to_bits() == 0));
        // -0.0 is not all-zero bits: it is filled, not taken zeroed.
        assert!(Buf::filled(&[2], -0.0).unwrap().data.iter().all(|x| x.to_bits() == (-0.0f64).to_bits()));
    }

    #[test]
    fn indices_must_be_integers() {
        assert_eq!(as_index(3.0).unwrap(), 3);
        assert_eq!(as_index(-2.0).unwrap(), -2);
        assert!(as_index(1.5).is_err());
        assert!(as_index(f64::NAN).is_err());
    }
}

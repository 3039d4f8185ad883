//! Indexing kernels with `torch.gather` / `torch.scatter_add` semantics (take-along-axis: the
//! index tensor has the operand's rank), `one_hot` and `iota`.
//!
//! Every index is checked: a negative or too large index, or one that is not an integer, is an
//! error naming its position, never a wrapped or clamped read (PyTorch refuses them as well;
//! `one_hot` refuses out-of-range classes like `torch.nn.functional.one_hot`).

use super::buf::{Buf, KernelResult, as_index, check_axis, fmt_shape, strides, try_vec, walk};

/// Reads index element `flat` (at multi-index `idx`) and checks it against `size`.
fn checked_index(v: f64, idx: &[usize], size: usize, what: &str) -> Result<usize, String> {
    let i = as_index(v).map_err(|e| format!("{e} at position {idx:?}"))?;
    if i < 0 || i as u64 >= size as u64 {
        return Err(format!("{what} {i} at position {idx:?} is out of range 0..{size}"));
    }
    Ok(i as usize)
}

/// Checks that `idx` has the operand's rank and is no larger outside `axis` (and, for
/// `scatter_add`, no larger than the values anywhere).
fn check_index_shape(x: &Buf, idx: &Buf, axis: usize) -> Result<(), String> {
    check_axis(axis, x.rank())?;
    let fits =
        idx.rank() == x.rank() && idx.shape.iter().zip(&x.shape).enumerate().all(|(d, (&i, &n))| d == axis || i <= n);
    if fits {
        Ok(())
    } else {
        Err(format!(
            "index shape {} must have the rank of the operand {} and be no larger outside axis {axis}",
            fmt_shape(&idx.shape),
            fmt_shape(&x.shape)
        ))
    }
}

/// `out[i][j] = x[idx[i][j]][j]` for axis 0, and so on.
pub fn gather(x: &Buf, idx: &Buf, axis: usize) -> KernelResult {
    check_index_shape(x, idx, axis)?;
    let xs = strides(&x.shape);
    let mut data = try_vec(idx.len())?;
    walk(&idx.shape, |pos, flat| {
        let i = checked_index(idx.data[flat], pos, x.shape[axis], "index")?;
        let at: usize =
            pos.iter().zip(&xs).enumerate().map(|(d, (&p, &s))| if d == axis { i * s } else { p * s }).sum();
        data.push(x.data[at]);
        Ok(())
    })?;
    Ok(Buf::new(idx.shape.clone(), data))
}

/// `out = x; out[idx[i][j]][j] += v[i][j]` for axis 0, and so on.
pub fn scatter_add(x: &Buf, idx: &Buf, v: &Buf, axis: usize) -> KernelResult {
    check_index_shape(x, idx, axis)?;
    if v.rank() != idx.rank() || idx.shape.iter().zip(&v.shape).any(|(&i, &n)| i > n) {
        return Err(format!(
            "values {} must have the index's rank and be at least as large as the index {}",
            fmt_shape(&v.shape),
            fmt_shape(&idx.shape)
        ));
    }
    let xs = strides(&x.shape);
    let vs = strides(&v.shape);
    let mut out = x.try_clone()?;
    walk(&idx.shape, |pos, flat| {
        let i = checked_index(idx.data[flat], pos, x.shape[axis], "index")?;
        let at: usize =
            pos.iter().zip(&xs).enumerate().map(|(d, (&p, &s))| if d == axis { i * s } else { p * s }).sum();
        let from: usize = pos.iter().zip(&vs).map(|(&p, &s)| p * s).sum();
        out.data[at] += v.data[from];
        Ok(())
    })?;
    Ok(out)
}

/// A new last axis of size `n` holding 1 at each index's class.
pub fn one_hot(idx: &Buf, n: usize) -> KernelResult {
    let mut shape = idx.shape.clone();
    shape.push(n);
    let mut out = Buf::try_zeros(&shape)?;
    walk(&idx.shape, |pos, flat| {
        let c = checked_index(idx.data[flat], pos, n, "class")?;
        out.data[flat * n + c] = 1.0;
        Ok(())
    })?;
    Ok(out)
}

/// `0, 1, ..., n-1` along `axis` of `shape`, repeated over the other axes.
pub fn iota(shape: &[usize], axis: usize) -> KernelResult {
    check_axis(axis, shape.len())?;
    let mut out = Buf::try_zeros(shape)?;
    walk(shape, |pos, flat| {
        out.data[flat] = pos[axis] as f64;
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(shape: &[usize], data: &[f64]) -> Buf {
        Buf::new(shape.to_vec(), data.to_vec())
    }

    #[test]
    fn gather_takes_along_axis() {
        let x = buf(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let g1 = gather(&x, &buf(&[2, 2], &[2.0, 0.0, 1.0, 1.0]), 1).unwrap();
        assert_eq!((g1.shape, g1.data), (vec![2, 2], vec![3.0, 1.0, 5.0, 5.0]));
        let g0 = gather(&x, &buf(&[1, 3], &[1.0, 0.0, 1.0]), 0).unwrap();
        assert_eq!(g0.data, vec![4.0, 2.0, 6.0]);
        // The index may be longer than the operand along the gathered axis.
        let g = gather(&x, &buf(&[1, 4], &[0.0, 0.0, 2.0, 2.0]), 1).unwrap();
        assert_eq!(g.data, vec![1.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn bad_indices_are_errors() {
        let x = buf(&[2, 3], &[0.0; 6]);
        let e = gather(&x, &buf(&[1, 1], &[3.0]), 1).unwrap_err();
        assert!(e.contains("index 3 at position [0, 0] is out of range 0..3"), "{e}");
        assert!(gather(&x, &buf(&[1, 1], &[-1.0]), 1).unwrap_err().contains("-1"));
        assert!(gather(&x, &buf(&[1, 1], &[0.5]), 1).unwrap_err().contains("not an integer"));
        assert!(gather(&x, &buf(&[3, 1], &[0.0; 3]), 1).unwrap_err().contains("no larger"));
        assert!(gather(&x, &buf(&[3], &[0.0; 3]), 0).is_err());
        assert!(gather(&x, &buf(&[1, 1], &[0.0]), 2).is_err());
        let v = buf(&[1, 1], &[1.0]);
        assert!(scatter_add(&x, &buf(&[1, 1], &[7.0]), &v, 1).is_err());
        assert!(scatter_add(&x, &buf(&[1, 2], &[0.0, 1.0]), &v, 1).unwrap_err().contains("values"));
        assert!(one_hot(&buf(&[2], &[0.0, 4.0]), 4).unwrap_err().contains("class 4"));
        assert!(one_hot(&buf(&[1], &[-1.0]), 4).is_err());
    }

    #[test]
    fn scatter_add_accumulates_duplicates() {
        let x = buf(&[2, 3], &[0.0; 6]);
        let idx = buf(&[2, 2], &[0.0, 0.0, 2.0, 1.0]);
        let v = buf(&[2, 3], &[1.0, 2.0, 99.0, 3.0, 4.0, 99.0]);
        let s = scatter_add(&x, &idx, &v, 1).unwrap();
        assert_eq!(s.data, vec![3.0, 0.0, 0.0, 0.0, 4.0, 3.0]);
        let s0 =
            scatter_add(&buf(&[2, 2], &[1.0; 4]), &buf(&[1, 2], &[1.0, 0.0]), &buf(&[1, 2], &[5.0, 6.0]), 0).unwrap();
        assert_eq!(s0.data, vec![1.0, 7.0, 6.0, 1.0]);
    }

    #[test]
    fn one_hot_and_iota() {
        let o = one_hot(&buf(&[2], &[2.0, 0.0]), 3).unwrap();
        assert_eq!((o.shape, o.data), (vec![2, 3], vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]));
        let i = iota(&[2, 3], 1).unwrap();
        assert_eq!(i.data, vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
        assert_eq!(iota(&[2, 3], 0).unwrap().data, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert!(iota(&[2], 1).is_err());
    }
}

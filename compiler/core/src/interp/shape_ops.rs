//! Data-movement kernels: `reshape`, `transpose`, `broadcast_to`, `concat`, `slice`, `pad`.
//! None of them changes a value; each checks its attributes against the operand's concrete
//! shape, since the IR's symbolic checks cannot see every run-time size.

use super::buf::{
    Buf, KernelResult, broadcast_map, check_axis, check_broadcasts_to, fmt_shape, num_elements, split_at_axis, strides,
    try_vec, walk,
};

/// Same elements in row-major order, the given shape (in place: the buffer is taken).
pub fn reshape(mut x: Buf, shape: &[usize]) -> KernelResult {
    if num_elements(shape)? != x.len() {
        return Err(format!("cannot reshape {} ({} elements) to {}", fmt_shape(&x.shape), x.len(), fmt_shape(shape)));
    }
    x.shape = shape.to_vec();
    Ok(x)
}

/// `out.shape[i] = x.shape[perm[i]]`.
pub fn transpose(x: &Buf, perm: &[usize]) -> KernelResult {
    let rank = x.rank();
    let mut seen = vec![false; rank];
    if perm.len() != rank || !perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true)) {
        return Err(format!("{perm:?} is not a permutation of the axes of a rank-{rank} operand"));
    }
    let in_strides = strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let step: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut data = try_vec(x.len())?;
    walk(&shape, |idx, _| {
        data.push(x.data[idx.iter().zip(&step).map(|(i, s)| i * s).sum::<usize>()]);
        Ok(())
    })?;
    Ok(Buf::new(shape, data))
}

/// Numpy broadcast of `x` to `shape`.
pub fn broadcast_to(x: &Buf, shape: &[usize]) -> KernelResult {
    check_broadcasts_to(&x.shape, shape)?;
    num_elements(shape)?;
    Buf::collect(shape.to_vec(), broadcast_map(&x.shape, shape)?.into_iter().map(|i| x.data[i]))
}

pub fn concat(xs: &[&Buf], axis: usize) -> KernelResult {
    let first = xs.first().ok_or("needs at least one operand")?;
    check_axis(axis, first.rank())?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for x in xs {
        let same_rest = x.rank() == first.rank()
            && x.shape.iter().zip(&first.shape).enumerate().all(|(d, (a, b))| d == axis || a == b);
        if !same_rest {
            return Err(format!(
                "operands {} and {} differ outside axis {axis}",
                fmt_shape(&first.shape),
                fmt_shape(&x.shape)
            ));
        }
        shape[axis] += x.shape[axis];
    }
    let total = num_elements(&shape)?;
    let (outer, _, inner) = split_at_axis(&shape, axis);
    let mut data = try_vec(total)?;
    for o in 0..outer {
        for x in xs {
            let chunk = x.shape[axis] * inner;
            data.extend_from_slice(&x.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(Buf::new(shape, data))
}

/// `x[start:end:step]` along `axis`.
pub fn slice(x: &Buf, axis: usize, start: usize, end: usize, step: usize) -> KernelResult {
    check_axis(axis, x.rank())?;
    let (outer, n, inner) = split_at_axis(&x.shape, axis);
    if step == 0 || start > end || end > n {
        return Err(format!(
            "slice {start}:{end}:{step} is out of range for axis {axis} of size {n} (need start <= end <= size, step >= 1)"
        ));
    }
    let len = (end - start).div_ceil(step);
    let mut shape = x.shape.clone();
    shape[axis] = len;
    let mut data = try_vec(outer * len * inner)?;
    for o in 0..outer {
        for j in (start..end).step_by(step) {
            let at = (o * n + j) * inner;
            data.extend_from_slice(&x.data[at..at + inner]);
        }
    }
    Ok(Buf::new(shape, data))
}

/// Constant padding, `(before, after)` per axis.
pub fn pad(x: &Buf, pads: &[(usize, usize)], value: f64) -> KernelResult {
    if pads.len() != x.rank() {
        return Err(format!("{} (before, after) pairs given for an operand of rank {}", pads.len(), x.rank()));
    }
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(pads)
        .map(|(&d, &(b, a))| d.checked_add(b).and_then(|v| v.checked_add(a)))
        .collect::<Option<_>>()
        .ok_or("padded size overflows")?;
    let mut out = Buf::filled(&shape, value)?;
    let out_strides = strides(&shape);
    let base: usize = pads.iter().zip(&out_strides).map(|(&(b, _), s)| b * s).sum();
    walk(&x.shape, |idx, flat| {
        let at = base + idx.iter().zip(&out_strides).map(|(i, s)| i * s).sum::<usize>();
        out.data[at] = x.data[flat];
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(shape: &[usize]) -> Buf {
        let n: usize = shape.iter().product();
        Buf::new(shape.to_vec(), (0..n).map(|i| i as f64).collect())
    }

    #[test]
    fn reshape_keeps_order() {
        let r = reshape(iota(&[2, 3]), &[3, 1, 2]).unwrap();
        assert_eq!(r.shape, vec![3, 1, 2]);
        assert_eq!(r.data, iota(&[6]).data);
        assert!(reshape(iota(&[2, 3]), &[4]).unwrap_err().contains("cannot reshape"));
    }

    #[test]
    fn transpose_permutes_axes() {
        let t = transpose(&iota(&[2, 3]), &[1, 0]).unwrap();
        assert_eq!((t.shape, t.data), (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
        let t3 = transpose(&iota(&[2, 3, 4]), &[2, 0, 1]).unwrap();
        assert_eq!(t3.shape, vec![4, 2, 3]);
        // out[k][i][j] = x[i][j][k]: out[1][1][2] = x[1][2][1] = 12 + 8 + 1.
        assert_eq!(t3.data[6 + 3 + 2], 21.0);
        assert!(transpose(&iota(&[2, 3]), &[0, 0]).is_err());
        assert!(transpose(&iota(&[2, 3]), &[0]).is_err());
        assert!(transpose(&iota(&[2, 3]), &[0, 2]).is_err());
    }

    #[test]
    fn broadcast_to_repeats() {
        let b = broadcast_to(&iota(&[2, 1]), &[3, 2, 2]).unwrap();
        assert_eq!(b.data, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert!(broadcast_to(&iota(&[2]), &[3]).is_err());
    }

    #[test]
    fn concat_along_axes() {
        let a = iota(&[2, 2]);
        let b = Buf::new(vec![2, 1], vec![9.0, 8.0]);
        let c = concat(&[&a, &b], 1).unwrap();
        assert_eq!((c.shape, c.data), (vec![2, 3], vec![0.0, 1.0, 9.0, 2.0, 3.0, 8.0]));
        let d = concat(&[&a, &a], 0).unwrap();
        assert_eq!(d.shape, vec![4, 2]);
        assert_eq!(&d.data[4..], &[0.0, 1.0, 2.0, 3.0]);
        assert!(concat(&[&a, &b], 0).unwrap_err().contains("differ"));
        assert!(concat(&[], 0).is_err());
    }

    #[test]
    fn slice_with_step() {
        let s = slice(&iota(&[2, 5]), 1, 1, 5, 2).unwrap();
        assert_eq!((s.shape, s.data), (vec![2, 2], vec![1.0, 3.0, 6.0, 8.0]));
        let t = slice(&iota(&[5]), 0, 0, 5, 3).unwrap();
        assert_eq!(t.data, vec![0.0, 3.0]);
        assert_eq!(slice(&iota(&[5]), 0, 2, 2, 1).unwrap().shape, vec![0]);
        assert!(slice(&iota(&[5]), 0, 0, 6, 1).is_err());
        assert!(slice(&iota(&[5]), 0, 3, 2, 1).is_err());
        assert!(slice(&iota(&[5]), 0, 0, 5, 0).is_err());
    }

    #[test]
    fn pad_places_the_input() {
        let p = pad(&iota(&[2, 2]), &[(1, 0), (0, 2)], -1.0).unwrap();
        assert_eq!(p.shape, vec![3, 4]);
        assert_eq!(p.data, vec![-1., -1., -1., -1., 0., 1., -1., -1., 2., 3., -1., -1.]);
        assert!(pad(&iota(&[2, 2]), &[(1, 0)], 0.0).is_err());
        let s = pad(&Buf::scalar(5.0), &[], 0.0).unwrap();
        assert_eq!(s.data, vec![5.0]);
    }
}

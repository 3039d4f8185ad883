//! Matrix product with numpy's `matmul` rules: the last two axes multiply, leading axes
//! broadcast; a rank-1 left operand is a row vector and a rank-1 right operand a column
//! vector, and their added axis is dropped from the result.
//!
//! The loop order is i-k-j (a row of the result is accumulated from rows of the right operand)
//! so the innermost loop runs over contiguous memory; sums accumulate in f64.

use super::buf::{Buf, KernelResult, broadcast_map, broadcast_shapes, fmt_shape, num_elements, try_zeroed};

pub fn matmul(a: &Buf, b: &Buf) -> KernelResult {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(format!(
            "operands must have rank 1 or more, got {} and {}",
            fmt_shape(&a.shape),
            fmt_shape(&b.shape)
        ));
    }
    let a_vec = a.rank() == 1;
    let b_vec = b.rank() == 1;
    let a_shape: Vec<usize> = if a_vec { vec![1, a.shape[0]] } else { a.shape.clone() };
    let b_shape: Vec<usize> = if b_vec { vec![b.shape[0], 1] } else { b.shape.clone() };
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k) = (a_shape[ra - 2], a_shape[ra - 1]);
    let (k2, n) = (b_shape[rb - 2], b_shape[rb - 1]);
    if k != k2 {
        return Err(format!("contracted axes differ: {} @ {} ({k} vs {k2})", fmt_shape(&a.shape), fmt_shape(&b.shape)));
    }
    let (batch_a, batch_b) = (&a_shape[..ra - 2], &b_shape[..rb - 2]);
    let batch = broadcast_shapes(batch_a, batch_b)
        .map_err(|_| format!("batch axes of {} and {} do not broadcast", fmt_shape(&a.shape), fmt_shape(&b.shape)))?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let mut out = try_zeroed(num_elements(&out_shape)?)?;
    let map_a = broadcast_map(batch_a, &batch)?;
    let map_b = broadcast_map(batch_b, &batch)?;
    for (bi, (&ia, &ib)) in map_a.iter().zip(&map_b).enumerate() {
        let a_mat = &a.data[ia * m * k..(ia + 1) * m * k];
        let b_mat = &b.data[ib * k * n..(ib + 1) * k * n];
        let o_mat = &mut out[bi * m * n..(bi + 1) * m * n];
        for i in 0..m {
            let o_row = &mut o_mat[i * n..(i + 1) * n];
            for p in 0..k {
                // No skipping of zero entries: 0 * inf and 0 * NaN must still give NaN.
                let av = a_mat[i * k + p];
                for (o, &bv) in o_row.iter_mut().zip(&b_mat[p * n..(p + 1) * n]) {
                    *o += av * bv;
                }
            }
        }
    }
    let mut shape = batch;
    if !a_vec {
        shape.push(m);
    }
    if !b_vec {
        shape.push(n);
    }
    Ok(Buf::new(shape, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(shape: &[usize]) -> Buf {
        let n: usize = shape.iter().product();
        Buf::new(shape.to_vec(), (0..n).map(|i| i as f64).collect())
    }

    #[test]
    fn matrix_times_matrix() {
        let a = Buf::new(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = Buf::new(vec![3, 2], vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        let c = matmul(&a, &b).unwrap();
        assert_eq!((c.shape, c.data), (vec![2, 2], vec![58.0, 64.0, 139.0, 154.0]));
    }

    #[test]
    fn vectors_follow_numpy() {
        let v = Buf::new(vec![3], vec![1.0, 2.0, 3.0]);
        let m = iota(&[3, 2]);
        let vm = matmul(&v, &m).unwrap();
        assert_eq!((vm.shape, vm.data), (vec![2], vec![16.0, 22.0]));
        let mt = iota(&[2, 3]);
        let mv = matmul(&mt, &v).unwrap();
        assert_eq!((mv.shape, mv.data), (vec![2], vec![8.0, 26.0]));
        let dot = matmul(&v, &v).unwrap();
        assert_eq!((dot.shape, dot.data), (vec![], vec![14.0]));
        // A vector against a batch of matrices: [3] @ [2, 3, 2] -> [2, 2].
        let bm = matmul(&v, &iota(&[2, 3, 2])).unwrap();
        assert_eq!((bm.shape, bm.data), (vec![2, 2], vec![16.0, 22.0, 52.0, 58.0]));
    }

    #[test]
    fn batches_broadcast() {
        let a = iota(&[2, 1, 2, 2]);
        let b = iota(&[3, 2, 1]);
        let c = matmul(&a, &b).unwrap();
        assert_eq!(c.shape, vec![2, 3, 2, 1]);
        // a[1, 0] = [[4, 5], [6, 7]], b[2] = [[4], [5]] -> [[41], [59]].
        assert_eq!(&c.data[10..12], &[41.0, 59.0]);
        // a[0, 0] = [[0, 1], [2, 3]], b[0] = [[0], [1]] -> [[1], [3]].
        assert_eq!(&c.data[0..2], &[1.0, 3.0]);
    }

    #[test]
    fn nan_and_inf_are_not_skipped() {
        let a = Buf::new(vec![1, 2], vec![0.0, 1.0]);
        let b = Buf::new(vec![2, 1], vec![f64::INFINITY, 1.0]);
        assert!(matmul(&a, &b).unwrap().data[0].is_nan());
    }

    #[test]
    fn mismatches_are_errors() {
        assert!(matmul(&iota(&[2, 3]), &iota(&[2, 3])).unwrap_err().contains("contracted"));
        assert!(matmul(&iota(&[2, 2, 3]), &iota(&[3, 3, 1])).unwrap_err().contains("batch"));
        assert!(matmul(&Buf::scalar(1.0), &iota(&[2])).is_err());
        let e = matmul(&iota(&[2, 0]), &iota(&[0, 3])).unwrap();
        assert_eq!((e.shape, e.data), (vec![2, 3], vec![0.0; 6]));
    }
}

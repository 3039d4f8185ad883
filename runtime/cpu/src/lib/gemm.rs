//! Matrix products through `faer`, on strided operands (a transposed operand is a view with
//! swapped strides, a broadcast batch a batch stride of 0: nothing is copied).
//!
//! Parallelism: a product of at least [`PAR_MIN_MACS`] multiply-adds is cut into `threads`
//! blocks of rows or columns of the result (whichever side is longer), each a sequential faer
//! product, forked and joined on the current rayon pool; a batch of smaller products is split by
//! batch item instead; anything smaller runs on the calling thread, where waking another thread
//! costs more than it saves. faer's own parallel mode (`Par::Rayon`) was measured slower than
//! this on two cores shared with other work (its workers spin while they wait), and never faster.

use super::{MatMulGeom, parts_for, split_mut};
use crate::error::{CpuError, bail, fits};
use faer::{Accum, MatMut, MatRef, Par};

/// Multiply-adds from which one product is split between threads. Measured on 2 cores: a
/// sequential 64^3 product takes about 10 us, which a fork and join of two threads does not
/// repay; from about 100^3 (tens of microseconds) it does.
pub const PAR_MIN_MACS: usize = 1 << 20;

/// Rows or columns below which a block of the result is not cut further.
const MIN_BLOCK: usize = 16;

/// A strided read-only matrix inside a slice.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub off: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// One more than the largest offset of a `rows x cols` view, or 0 when it is empty.
fn end(off: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    off.checked_add((rows - 1).checked_mul(rs)?)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

fn isize_of(v: usize) -> Result<isize, CpuError> {
    isize::try_from(v).map_err(|_| CpuError::new(format!("stride {v} is too large")))
}

impl View<'_> {
    fn check(&self, what: &str) -> Result<(), CpuError> {
        match end(self.off, self.rows, self.cols, self.rs, self.cs) {
            Some(e) if e <= self.data.len() => Ok(()),
            _ => bail!(
                "{what}: a {}x{} view at {} with strides ({}, {}) does not fit {} elements",
                self.rows,
                self.cols,
                self.off,
                self.rs,
                self.cs,
                self.data.len()
            ),
        }
    }

    fn faer(&self) -> Result<MatRef<'_, f32>, CpuError> {
        self.check("matmul operand")?;
        // Strides of an axis of size 1 are never used: 0 keeps them in range.
        let rs = if self.rows > 1 { isize_of(self.rs)? } else { 0 };
        let cs = if self.cols > 1 { isize_of(self.cs)? } else { 0 };
        // SAFETY: every element (off + i*rs + j*cs, i < rows, j < cols) is inside `data`
        // (checked above), which outlives the view.
        Ok(unsafe { MatRef::from_raw_parts(self.data.as_ptr().add(self.off), self.rows, self.cols, rs, cs) })
    }
}

/// `c = a @ b` (`+ c` when `accumulate`) with `c` a row-major `a.rows x b.cols` block of
/// `c_data` starting at `c_off` with row stride `c_rs`.
pub(crate) fn gemm(
    c_data: &mut [f32],
    c_off: usize,
    c_rs: usize,
    a: View<'_>,
    b: View<'_>,
    accumulate: bool,
    threads: usize,
) -> Result<(), CpuError> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        bail!("matmul: inner sizes differ ({k} and {})", b.rows);
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    // Rows must not overlap, so the destination is a valid mutable view.
    let c_end = end(c_off, m, n, c_rs, 1);
    if c_rs < n || c_end.is_none_or(|e| e > c_data.len()) {
        bail!("matmul: a {m}x{n} result with row stride {c_rs} at {c_off} does not fit {} elements", c_data.len());
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c_data[c_off + i * c_rs..][..n].fill(0.0);
            }
        }
        return Ok(());
    }
    let (lhs, rhs) = (a.faer()?, b.faer()?);
    let rs = if m > 1 { isize_of(c_rs)? } else { 0 };
    // SAFETY: rows `c_off + i*c_rs .. + n` are inside `c_data` (checked above) and disjoint
    // (c_rs >= n), and `c_data` is borrowed mutably for the call.
    let dst = unsafe { MatMut::from_raw_parts_mut(c_data.as_mut_ptr().add(c_off), m, n, rs, 1) };
    let beta = if accumulate { Accum::Add } else { Accum::Replace };
    let parts = if threads > 1 && m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MACS { threads } else { 1 };
    product(dst, beta, lhs, rhs, parts);
    Ok(())
}

/// `dst (+)= lhs @ rhs` in `parts` blocks of the longer side of `dst`, on the current rayon pool.
fn product(dst: MatMut<'_, f32>, beta: Accum, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>, parts: usize) {
    let (m, n) = (dst.nrows(), dst.ncols());
    if parts <= 1 || m.max(n) < 2 * MIN_BLOCK {
        faer::linalg::matmul::matmul(dst, beta, lhs, rhs, 1.0f32, Par::Seq);
        return;
    }
    let half = parts / 2;
    if n >= m {
        let at = n * half / parts;
        let (d0, d1) = dst.split_at_col_mut(at);
        let (r0, r1) = rhs.split_at_col(at);
        rayon::join(|| product(d0, beta, lhs, r0, half), || product(d1, beta, lhs, r1, parts - half));
    } else {
        let at = m * half / parts;
        let (d0, d1) = dst.split_at_row_mut(at);
        let (l0, l1) = lhs.split_at_row(at);
        rayon::join(|| product(d0, beta, l0, rhs, half), || product(d1, beta, l1, rhs, parts - half));
    }
}

/// `c[i] = a[i] @ b[i]` (`+ c[i]` when `accumulate`) for every batch item (see [`MatMulGeom`]).
pub fn matmul(g: &MatMulGeom, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [na, nb, nc] = g.lens()?;
    fits("matmul a", a.len(), na)?;
    fits("matmul b", b.len(), nb)?;
    fits("matmul c", c.len(), nc)?;
    let (m, n, k) = (g.m, g.n, g.k);
    // Items `t = i * inner + j` in row-major order; an operand's item starts at
    // `i * batch stride + j * inner stride`.
    let items = g.batch * g.inner;
    let start = |s: super::Strides, t: usize| (t / g.inner) * s.batch + (t % g.inner) * s.inner;
    let item = |t: usize, c_item: &mut [f32], threads: usize| {
        let av = View { data: a, off: start(g.a, t), rows: m, cols: k, rs: g.a.row, cs: g.a.col };
        let bv = View { data: b, off: start(g.b, t), rows: k, cols: n, rs: g.b.row, cs: g.b.col };
        gemm(c_item, 0, n, av, bv, g.accumulate, threads)
    };
    // A batch of products with one shared right operand whose left rows follow each other
    // evenly (a linear layer over [B, N, D] tokens) is one product of batch * m rows.
    if g.inner == 1 && g.batch > 1 && g.b.batch == 0 && (m == 1 || g.a.batch == m * g.a.row) {
        let rs = if m == 1 { g.a.batch } else { g.a.row };
        let av = View { data: a, off: 0, rows: g.batch * m, cols: k, rs, cs: g.a.col };
        let bv = View { data: b, off: 0, rows: k, cols: n, rs: g.b.row, cs: g.b.col };
        return gemm(c, 0, n, av, bv, g.accumulate, threads);
    }
    let macs = m.saturating_mul(n).saturating_mul(k);
    if macs >= PAR_MIN_MACS || items < 2 {
        for t in 0..items {
            item(t, &mut c[t * m * n..(t + 1) * m * n], threads)?;
        }
        return Ok(());
    }
    // Small products: whole items per thread.
    let parts = parts_for(threads, macs.saturating_mul(items), PAR_MIN_MACS);
    split_mut(c, items, m * n, parts, |range, run| {
        for (j, t) in range.enumerate() {
            item(t, &mut run[j * m * n..(j + 1) * m * n], 1)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lib::Strides;

    /// Deterministic values in [-1, 1) with few bits, so f32 sums of a few of them are exact.
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 17) as f32 / 8.0 - 1.0).collect()
    }

    fn naive(g: &MatMulGeom, a: &[f32], b: &[f32], c: &mut [f32]) {
        for t in 0..g.batch * g.inner {
            let (i, j) = (t / g.inner, t % g.inner);
            let (ao, bo) = (i * g.a.batch + j * g.a.inner, i * g.b.batch + j * g.b.inner);
            for r in 0..g.m {
                for col in 0..g.n {
                    let mut s = 0.0f64;
                    for p in 0..g.k {
                        let av = a[ao + r * g.a.row + p * g.a.col];
                        let bv = b[bo + p * g.b.row + col * g.b.col];
                        s += f64::from(av) * f64::from(bv);
                    }
                    let o = &mut c[(t * g.m + r) * g.n + col];
                    *o = if g.accumulate { (f64::from(*o) + s) as f32 } else { s as f32 };
                }
            }
        }
    }

    #[test]
    fn inner_batches_read_heads_in_place() {
        // a: [3, 5, 4, 6] read as [3, 4] items of 5 x 6 (attention heads); b: [3, 6, 4, 7]
        // read as [3, 4] items of 6 x 7; and b shared over the outer batch.
        let (batch, inner, m, k, n) = (3, 4, 5, 6, 7);
        let a = Strides { batch: m * inner * k, inner: k, row: inner * k, col: 1 };
        let b = Strides { batch: k * inner * n, inner: n, row: inner * n, col: 1 };
        let g = MatMulGeom { batch, inner, m, n, k, a, b, accumulate: false };
        for threads in [1, 2] {
            check(g, threads);
            check(MatMulGeom { b: Strides { batch: 0, ..b }, ..g }, threads);
            check(MatMulGeom { accumulate: true, ..g }, threads);
        }
    }

    fn check(g: MatMulGeom, threads: usize) {
        let [na, nb, nc] = g.lens().unwrap();
        let (a, b) = (values(na, 1), values(nb, 2));
        let mut want = values(nc, 3);
        let mut got = want.clone();
        naive(&g, &a, &b, &mut want);
        matmul(&g, &a, &b, &mut got, threads).unwrap();
        assert_eq!(got, want, "{g:?} on {threads} threads");
    }

    fn row_major(rows: usize, cols: usize) -> Strides {
        Strides { batch: rows * cols, inner: 0, row: cols, col: 1 }
    }

    /// A row-major `cols x rows` matrix read transposed.
    fn transposed(rows: usize, cols: usize) -> Strides {
        Strides { batch: rows * cols, inner: 0, row: 1, col: rows }
    }

    #[test]
    fn products_match_a_naive_loop() {
        for (batch, m, n, k) in [(1, 1, 1, 1), (1, 3, 5, 7), (2, 9, 13, 11), (3, 1, 17, 5), (1, 33, 1, 65)] {
            for accumulate in [false, true] {
                for threads in [1, 2] {
                    let g = MatMulGeom { batch, inner: 1, m, n, k, a: row_major(m, k), b: row_major(k, n), accumulate };
                    check(g, threads);
                    check(MatMulGeom { a: transposed(m, k), ..g }, threads);
                    check(MatMulGeom { b: transposed(k, n), ..g }, threads);
                    // A broadcast right operand: one matrix for every batch item.
                    check(MatMulGeom { b: Strides { batch: 0, ..g.b }, ..g }, threads);
                }
            }
        }
    }

    #[test]
    fn large_products_split_between_threads() {
        // Above the threshold (faer parallel) and a batch of small products (split by item).
        let big = MatMulGeom {
            batch: 1,
            inner: 1,
            m: 97,
            n: 131,
            k: 101,
            a: row_major(97, 101),
            b: transposed(101, 131),
            accumulate: true,
        };
        const { assert!(97 * 131 * 101 >= PAR_MIN_MACS) };
        check(big, 2);
        // Taller than wide: cut by rows.
        check(MatMulGeom { m: 131, n: 97, a: row_major(131, 101), b: row_major(101, 97), ..big }, 3);
        let many = MatMulGeom {
            batch: 37,
            inner: 1,
            m: 31,
            n: 33,
            k: 9,
            a: row_major(31, 9),
            b: Strides { batch: 0, inner: 0, row: 33, col: 1 },
            accumulate: false,
        };
        check(many, 2);
    }

    #[test]
    fn empty_and_bad_geometry() {
        // k = 0: c = 0, or unchanged when accumulating.
        let g = MatMulGeom {
            batch: 2,
            inner: 1,
            m: 2,
            n: 3,
            k: 0,
            a: row_major(2, 0),
            b: row_major(0, 3),
            accumulate: false,
        };
        let mut c = vec![5.0; 12];
        matmul(&g, &[], &[], &mut c, 1).unwrap();
        assert_eq!(c, vec![0.0; 12]);
        let mut c = vec![5.0; 12];
        matmul(&MatMulGeom { accumulate: true, ..g }, &[], &[], &mut c, 1).unwrap();
        assert_eq!(c, vec![5.0; 12]);
        let g = MatMulGeom {
            batch: 1,
            inner: 1,
            m: 2,
            n: 2,
            k: 2,
            a: row_major(2, 2),
            b: row_major(2, 2),
            accumulate: false,
        };
        assert!(matmul(&g, &[0.0; 3], &[0.0; 4], &mut [0.0; 4], 1).unwrap_err().to_string().contains("matmul a"));
        assert!(matmul(&g, &[0.0; 4], &[0.0; 4], &mut [0.0; 3], 1).is_err());
        let huge = MatMulGeom { a: Strides { batch: 0, inner: 0, row: usize::MAX / 2, col: 1 }, ..g };
        assert!(matmul(&huge, &[0.0; 4], &[0.0; 4], &mut [0.0; 4], 1).is_err());
        // NaN and infinity are not skipped: 0 * inf is NaN.
        let mut c = [0.0; 4];
        matmul(&g, &[0.0, 1.0, 1.0, 1.0], &[f32::INFINITY, 1.0, 1.0, 1.0], &mut c, 1).unwrap();
        assert!(c[0].is_nan());
    }
}

//! Matrix products with a row-sparse operand, the compiled form of top-k codes: a sparse
//! autoencoder's decoder reads 32 of 4096 rows of its weight per example, so its product, the
//! weight's gradient and the code's gradient cost `nnz/n` of the dense ones.
//!
//! `S` (`rows x n`) is given as `idx`, `v` (`rows x nnz`): row `r` holds `v[r, j]` at column
//! `idx[r, j]`, repeated columns adding. Every index is checked to lie in `0..n` before
//! anything is written. Accumulation is in f32 (a blocked order, like the dense products).

use super::{Strides, check_indices, parts_for, split_mut};
use crate::error::{CpuError, product};
use hg_abi::plan::SparseForm;

/// Multiply-adds below which a product runs on one thread.
const PAR_MIN_WORK: usize = 1 << 15;

/// [`hg_abi::plan::LibCall::SparseMatMul`] in concrete sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseGeom {
    pub form: SparseForm,
    pub rows: usize,
    pub nnz: usize,
    pub n: usize,
    pub cols: usize,
    pub d: Strides,
}

/// [`hg_abi::plan::LibCall::SampledMatMul`] in concrete sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledGeom {
    pub rows: usize,
    pub nnz: usize,
    pub n: usize,
    pub inner: usize,
    pub a: Strides,
    pub b: Strides,
}

/// Elements a `rows x cols` operand with these strides spans (0 when empty).
fn span(rows: usize, cols: usize, s: Strides) -> Option<usize> {
    super::span(1, rows, cols, s)
}

impl SparseGeom {
    /// Elements of `idx`, `v`, `d` and `y` the product touches.
    pub fn lens(&self) -> Result<[usize; 4], CpuError> {
        let nz = product(&[self.rows, self.nnz], "sparse matmul indices")?;
        let (d_rows, d_cols, y) = match self.form {
            SparseForm::GatherRows => (self.n, self.cols, [self.rows, self.cols]),
            SparseForm::ScatterRows => (self.rows, self.cols, [self.n, self.cols]),
            SparseForm::ScatterCols => (self.cols, self.rows, [self.cols, self.n]),
        };
        let d = span(d_rows, d_cols, self.d)
            .ok_or_else(|| CpuError::new(format!("sparse matmul: the geometry {self:?} overflows")))?;
        Ok([nz, nz, d, product(&y, "sparse matmul result")?])
    }
}

impl SampledGeom {
    /// Elements of `idx`, `a`, `b` and `y` the product touches.
    pub fn lens(&self) -> Result<[usize; 4], CpuError> {
        let nz = product(&[self.rows, self.nnz], "sampled matmul indices")?;
        let overflow = || CpuError::new(format!("sampled matmul: the geometry {self:?} overflows"));
        let a = span(self.rows, self.inner, self.a).ok_or_else(overflow)?;
        let b = span(self.inner, self.n, self.b).ok_or_else(overflow)?;
        Ok([nz, a, b, nz])
    }
}

/// Runs `band(b)` for `b < bands`, on the executor's pool when there are several.
fn for_each_band(bands: usize, band: impl Fn(usize) + Sync + Send) {
    crate::workers::for_each(bands, band);
}

/// `y += w * x` over equal lengths.
#[inline(always)]
fn axpy(y: &mut [f32], w: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += w * *x;
    }
}

/// `Σ a[i] b[i]` in eight interleaved partial sums (so it vectorises).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y = S op d` (see [`SparseForm`]).
pub fn sparse_matmul(
    g: &SparseGeom,
    idx: &[i64],
    v: &[f32],
    d: &[f32],
    y: &mut [f32],
    threads: usize,
) -> Result<(), CpuError> {
    let [nz, _, nd, ny] = g.lens()?;
    crate::error::fits("sparse matmul indices", idx.len(), nz)?;
    crate::error::fits("sparse matmul values", v.len(), nz)?;
    crate::error::fits("sparse matmul dense operand", d.len(), nd)?;
    crate::error::fits("sparse matmul result", y.len(), ny)?;
    check_indices("sparse matmul index", &idx[..nz], g.n)?;
    let (rows, nnz, n, cols, s) = (g.rows, g.nnz, g.n, g.cols, g.d);
    let parts = parts_for(threads, nz.saturating_mul(cols), PAR_MIN_WORK);
    match g.form {
        // y[r, :] = Σ_j v[r, j] d[idx[r, j], :]
        SparseForm::GatherRows if s.col == 1 => split_mut(y, rows, cols, parts, |range, out| {
            for (r, yr) in range.zip(out.chunks_mut(cols.max(1))) {
                yr.fill(0.0);
                for j in 0..nnz {
                    let (i, w) = (idx[r * nnz + j] as usize, v[r * nnz + j]);
                    axpy(yr, w, &d[i * s.row..i * s.row + cols]);
                }
            }
            Ok(())
        }),
        // A column-major `d` (a transposed weight): threads own bands of columns; each column
        // index `c` copies its line of `d` (a row of the stored matrix, read sequentially
        // once in all) and gathers from that copy, which stays in L1. Four rows of `y` at once
        // keep four independent sums in flight.
        SparseForm::GatherRows => {
            let bands = parts.min(cols.div_ceil(16)).max(1);
            let yp = SendPtr(y.as_mut_ptr());
            let run = |b: usize| {
                let mut line = vec![0.0f32; n];
                // Checked in range above, so the gathers below need no bounds checks.
                let cols_of: Vec<u32> = idx[..nz].iter().map(|&i| i as u32).collect();
                for c in cols * b / bands..cols * (b + 1) / bands {
                    if s.row == 1 {
                        line.copy_from_slice(&d[c * s.col..c * s.col + n]);
                    } else {
                        for (i, x) in line.iter_mut().enumerate() {
                            *x = d[i * s.row + c * s.col];
                        }
                    }
                    let gather = |e: usize| {
                        // SAFETY: `cols_of[e] < n = line.len()` (every index was checked to lie
                        // in `0..n`), and `e < nz = cols_of.len() = v.len()` at every call.
                        unsafe { *v.get_unchecked(e) * *line.get_unchecked(*cols_of.get_unchecked(e) as usize) }
                    };
                    let put = |r: usize, value: f32| {
                        // SAFETY: `r < rows`, `c < cols`: inside y (checked length); column
                        // `c` belongs to this band only.
                        unsafe { *yp.at(r * cols + c) = value };
                    };
                    let mut r = 0;
                    while r + 4 <= rows {
                        let mut acc = [0.0f32; 4];
                        for j in 0..nnz {
                            for (l, a) in acc.iter_mut().enumerate() {
                                *a += gather((r + l) * nnz + j);
                            }
                        }
                        for (l, a) in acc.into_iter().enumerate() {
                            put(r + l, a);
                        }
                        r += 4;
                    }
                    for r in r..rows {
                        put(r, (0..nnz).map(|j| gather(r * nnz + j)).sum());
                    }
                }
            };
            for_each_band(bands, run);
            Ok(())
        }
        // y[idx[r, j], :] += v[r, j] d[r, :]: threads own column ranges of y.
        SparseForm::ScatterRows => {
            y[..ny].fill(0.0);
            let bands = parts.min(cols.div_ceil(64)).max(1);
            let band = |b: usize| cols * b / bands..cols * (b + 1) / bands;
            let yp = SendPtr(y.as_mut_ptr());
            let run = |b: usize| {
                let cr = band(b);
                for r in 0..rows {
                    for j in 0..nnz {
                        let (i, w) = (idx[r * nnz + j] as usize, v[r * nnz + j]);
                        // SAFETY: row `i < n` of y (checked), columns `cr` of this band only:
                        // bands are disjoint, so no two threads touch one element.
                        let yr = unsafe { std::slice::from_raw_parts_mut(yp.at(i * cols + cr.start), cr.len()) };
                        if s.col == 1 {
                            axpy(yr, w, &d[r * s.row + cr.start..r * s.row + cr.end]);
                        } else {
                            for (k, yk) in yr.iter_mut().enumerate() {
                                *yk += w * d[r * s.row + (cr.start + k) * s.col];
                            }
                        }
                    }
                }
            };
            for_each_band(bands, run);
            Ok(())
        }
        // y[c, idx[r, j]] += d[c, r] v[r, j]: one row of y at a time.
        SparseForm::ScatterCols => split_mut(y, cols, n, parts, |range, out| {
            let cols_of: Vec<u32> = idx[..nz].iter().map(|&i| i as u32).collect();
            for (c, yc) in range.zip(out.chunks_mut(n.max(1))) {
                yc.fill(0.0);
                for r in 0..rows {
                    let dc = d[c * s.row + r * s.col];
                    for e in r * nnz..(r + 1) * nnz {
                        // SAFETY: `e < nz`, the length of `cols_of` and `v`; `cols_of[e] < n`,
                        // the length of `yc` (every index was checked to lie in `0..n`).
                        unsafe {
                            *yc.get_unchecked_mut(*cols_of.get_unchecked(e) as usize) += dc * *v.get_unchecked(e);
                        }
                    }
                }
            }
            Ok(())
        }),
    }
}

/// A raw pointer the scatter's bands share; each writes only its own columns.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to write disjoint element ranges from different threads (see the caller).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn at(self, offset: usize) -> *mut f32 {
        // SAFETY of the caller's use: `offset` is within the result slice.
        self.0.wrapping_add(offset)
    }
}

/// `y[r, j] = Σ_c a[r, c] b[c, idx[r, j]]`.
pub fn sampled_matmul(
    g: &SampledGeom,
    idx: &[i64],
    a: &[f32],
    b: &[f32],
    y: &mut [f32],
    threads: usize,
) -> Result<(), CpuError> {
    let [nz, na, nb, _] = g.lens()?;
    crate::error::fits("sampled matmul indices", idx.len(), nz)?;
    crate::error::fits("sampled matmul a", a.len(), na)?;
    crate::error::fits("sampled matmul b", b.len(), nb)?;
    crate::error::fits("sampled matmul result", y.len(), nz)?;
    check_indices("sampled matmul index", &idx[..nz], g.n)?;
    let (nnz, inner, sa, sb) = (g.nnz, g.inner, g.a, g.b);
    let parts = parts_for(threads, nz.saturating_mul(inner), PAR_MIN_WORK);
    split_mut(y, g.rows, nnz, parts, |range, out| {
        for (r, yr) in range.zip(out.chunks_mut(nnz.max(1))) {
            for (j, yj) in yr.iter_mut().enumerate() {
                let i = idx[r * nnz + j] as usize;
                *yj = if sa.col == 1 && sb.row == 1 && inner > 0 {
                    dot(&a[r * sa.row..r * sa.row + inner], &b[i * sb.col..i * sb.col + inner])
                } else {
                    (0..inner).map(|c| a[r * sa.row + c * sa.col] * b[c * sb.row + i * sb.col]).sum()
                };
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strides(row: usize, col: usize) -> Strides {
        Strides { batch: 0, inner: 0, row, col }
    }

    /// The dense `S` of `idx`, `v`.
    fn dense_s(rows: usize, n: usize, nnz: usize, idx: &[i64], v: &[f32]) -> Vec<f64> {
        let mut s = vec![0.0f64; rows * n];
        for r in 0..rows {
            for j in 0..nnz {
                s[r * n + idx[r * nnz + j] as usize] += f64::from(v[r * nnz + j]);
            }
        }
        s
    }

    struct Case {
        rows: usize,
        nnz: usize,
        n: usize,
        cols: usize,
        idx: Vec<i64>,
        v: Vec<f32>,
    }

    fn case(rows: usize, nnz: usize, n: usize, cols: usize, seed: u64) -> Case {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Repeated columns included (they add).
        let idx = (0..rows * nnz).map(|_| (next() % n as u64) as i64).collect();
        let v = (0..rows * nnz).map(|_| (next() % 1000) as f32 / 500.0 - 1.0).collect();
        Case { rows, nnz, n, cols, idx, v }
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len).map(|i| (((i as u64 * 2654435761 + seed) % 997) as f32) / 498.5 - 1.0).collect()
    }

    fn close(got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(*g) - w).abs() <= 1e-5 * scale, "element {k}: {g} vs {w}");
        }
    }

    #[test]
    fn the_three_sparse_products_match_dense_ones() {
        for (seed, threads) in [(1u64, 1usize), (7, 2)] {
            let c = case(37, 5, 53, 70, seed);
            let s = dense_s(c.rows, c.n, c.nnz, &c.idx, &c.v);
            // d row-major and transposed (column-major) for each form.
            for transposed in [false, true] {
                // GatherRows: d is n x cols.
                let d = values(c.n * c.cols, seed);
                let (sd, dd) = if transposed {
                    let mut t = vec![0.0f32; d.len()];
                    for i in 0..c.n {
                        for k in 0..c.cols {
                            t[k * c.n + i] = d[i * c.cols + k];
                        }
                    }
                    (strides(1, c.n), t)
                } else {
                    (strides(c.cols, 1), d.clone())
                };
                let g =
                    SparseGeom { form: SparseForm::GatherRows, rows: c.rows, nnz: c.nnz, n: c.n, cols: c.cols, d: sd };
                let mut y = vec![f32::NAN; c.rows * c.cols];
                sparse_matmul(&g, &c.idx, &c.v, &dd, &mut y, threads).unwrap();
                let want: Vec<f64> = (0..c.rows * c.cols)
                    .map(|e| {
                        let (r, k) = (e / c.cols, e % c.cols);
                        (0..c.n).map(|i| s[r * c.n + i] * f64::from(d[i * c.cols + k])).sum()
                    })
                    .collect();
                close(&y, &want);

                // ScatterRows: d is rows x cols, y = Sᵀ d is n x cols.
                let d = values(c.rows * c.cols, seed + 3);
                let sd = if transposed { strides(1, c.rows) } else { strides(c.cols, 1) };
                let dd: Vec<f32> = if transposed {
                    (0..d.len()).map(|e| d[(e % c.rows) * c.cols + e / c.rows]).collect()
                } else {
                    d.clone()
                };
                let g = SparseGeom { form: SparseForm::ScatterRows, d: sd, ..g };
                let mut y = vec![f32::NAN; c.n * c.cols];
                sparse_matmul(&g, &c.idx, &c.v, &dd, &mut y, threads).unwrap();
                let want: Vec<f64> = (0..c.n * c.cols)
                    .map(|e| {
                        let (i, k) = (e / c.cols, e % c.cols);
                        (0..c.rows).map(|r| s[r * c.n + i] * f64::from(d[r * c.cols + k])).sum()
                    })
                    .collect();
                close(&y, &want);

                // ScatterCols: d is cols x rows, y = d S is cols x n.
                let d = values(c.cols * c.rows, seed + 5);
                let sd = if transposed { strides(1, c.cols) } else { strides(c.rows, 1) };
                let dd: Vec<f32> = if transposed {
                    (0..d.len()).map(|e| d[(e % c.cols) * c.rows + e / c.cols]).collect()
                } else {
                    d.clone()
                };
                let g = SparseGeom { form: SparseForm::ScatterCols, d: sd, ..g };
                let mut y = vec![f32::NAN; c.cols * c.n];
                sparse_matmul(&g, &c.idx, &c.v, &dd, &mut y, threads).unwrap();
                let want: Vec<f64> = (0..c.cols * c.n)
                    .map(|e| {
                        let (k, i) = (e / c.n, e % c.n);
                        (0..c.rows).map(|r| f64::from(d[k * c.rows + r]) * s[r * c.n + i]).sum()
                    })
                    .collect();
                close(&y, &want);
            }
        }
    }

    #[test]
    fn sampled_product_reads_only_the_indexed_entries() {
        for threads in [1, 2] {
            let c = case(29, 6, 41, 0, 11);
            let inner = 19;
            let a = values(c.rows * inner, 2);
            let bt = values(c.n * inner, 9); // b stored transposed: b[k, i] = bt[i, k]
            for (sb, b) in [(strides(1, inner), bt.clone()), {
                let mut b = vec![0.0f32; bt.len()];
                for i in 0..c.n {
                    for k in 0..inner {
                        b[k * c.n + i] = bt[i * inner + k];
                    }
                }
                (strides(c.n, 1), b)
            }] {
                let g = SampledGeom { rows: c.rows, nnz: c.nnz, n: c.n, inner, a: strides(inner, 1), b: sb };
                let mut y = vec![f32::NAN; c.rows * c.nnz];
                sampled_matmul(&g, &c.idx, &a, &b, &mut y, threads).unwrap();
                let want: Vec<f64> = (0..c.rows * c.nnz)
                    .map(|e| {
                        let (r, i) = (e / c.nnz, c.idx[e] as usize);
                        (0..inner).map(|k| f64::from(a[r * inner + k]) * f64::from(bt[i * inner + k])).sum()
                    })
                    .collect();
                close(&y, &want);
            }
        }
    }

    #[test]
    fn indices_out_of_range_are_errors_not_writes() {
        let c = case(3, 2, 5, 4, 3);
        let mut idx = c.idx.clone();
        idx[4] = 5;
        let d = values(5 * 4, 1);
        let g = SparseGeom { form: SparseForm::GatherRows, rows: 3, nnz: 2, n: 5, cols: 4, d: strides(4, 1) };
        let mut y = vec![7.0f32; 12];
        let e = sparse_matmul(&g, &idx, &c.v, &d, &mut y, 1).unwrap_err();
        assert!(e.to_string().contains("index 5 at flat position 4 is out of range 0..5"), "{e}");
        assert!(y.iter().all(|&x| x == 7.0));
        idx[4] = -1;
        let g = SampledGeom { rows: 3, nnz: 2, n: 5, inner: 4, a: strides(4, 1), b: strides(5, 1) };
        assert!(sampled_matmul(&g, &idx, &d[..12], &d, &mut y[..6], 1).is_err());
        // Too-short operands.
        let g = SparseGeom { form: SparseForm::ScatterCols, rows: 3, nnz: 2, n: 5, cols: 4, d: strides(3, 1) };
        assert!(sparse_matmul(&g, &c.idx, &c.v, &d[..11], &mut y, 1).is_err());
    }
}

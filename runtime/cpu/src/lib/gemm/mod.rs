//! Matrix products on strided operands (a transposed operand is a view with swapped strides, a
//! broadcast batch a batch stride of 0: nothing is copied).
//!
//! Which code multiplies ([`Gemm`]): products of at most four rows (a layer at batch 1 to 4)
//! are bound by reading the right operand, and ours (`avx2::FewRows`) reads it once, where it
//! lies, with every core; the rest go to `faer`, whose packed kernels run at over 90% of the
//! FMA units' peak on one core. Our own packed product (`blocked`: BLIS-style blocking around
//! a 6 x 16 AVX2 micro-kernel) is as fast within a few percent, faster on some shapes and slower
//! on others, so it is not the default; `HG_GEMM=own` selects it for every product (it is the
//! base for fusing work into products), `HG_GEMM=faer` selects faer everywhere. On AVX-512 CPUs
//! faer multiplies everything until our kernels have been measured there.
//!
//! Ours gives every element the same sum whatever the batch size and the thread count: `fma`
//! over blocks of the inner dimension whose sizes depend on that dimension only, each block
//! added to the result in order.
//!
//! Parallelism: a product of at least [`PAR_MIN_MACS`] multiply-adds (see `cost`) is cut
//! into `threads` blocks of rows or columns of the result (whichever side is longer), each a
//! sequential product, run on the executor's pool ([`crate::workers`]); a batch of smaller products
//! is split by batch item instead; anything smaller runs on the calling thread, where waking
//! another thread costs more than it saves. faer's own parallel mode (`Par::Rayon`) was measured
//! slower than this on two cores shared with other work (its workers spin while they wait), and
//! never faster.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod blocked;

use super::{MatMulGeom, parts_for, split_mut};
use crate::error::{CpuError, bail, fits};
use faer::{Accum, MatMut, MatRef, Par};

/// Multiply-adds from which one product is split between threads. Measured on 2 cores: a
/// sequential 64^3 product takes about 10 us, which a fork and join of two threads does not
/// repay; from about 100^3 (tens of microseconds) it does.
pub const PAR_MIN_MACS: usize = 1 << 20;

/// The work of a product in multiply-adds at full rate: a product of few rows (a batch of one)
/// is bound by reading the right operand instead, at about the cost of 16 rows, so a layer's
/// product at batch 1 is split between threads like one at batch 16.
fn cost(m: usize, n: usize, k: usize) -> usize {
    m.max(16).saturating_mul(n).saturating_mul(k)
}

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
    gemm_with(Gemm::selected(), c_data, c_off, c_rs, a, b, accumulate, threads)
}

/// [`gemm`] through `lib`, which must be available on this CPU ([`Gemm::available`]).
#[allow(clippy::too_many_arguments)]
fn gemm_with(
    lib: Gemm,
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
    let parts = if threads > 1 && cost(m, n, k) >= PAR_MIN_MACS { threads } else { 1 };
    product(lib, dst, beta, lhs, rhs, parts);
    Ok(())
}

/// `dst (+)= lhs @ rhs` in `parts` blocks of the longer side of `dst`, on the executor's pool.
fn product(lib: Gemm, dst: MatMut<'_, f32>, beta: Accum, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>, parts: usize) {
    let mut blocks = Vec::with_capacity(parts);
    split(&mut blocks, dst, lhs, rhs, parts);
    let run = crate::workers::try_for_each_owned(blocks, |(d, l, r)| {
        sequential(lib, d, beta, l, r);
        Ok::<(), std::convert::Infallible>(())
    });
    match run {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// A block of the result with the rows of the left operand and the columns of the right one
/// that make it.
type Block<'a> = (MatMut<'a, f32>, MatRef<'a, f32>, MatRef<'a, f32>);

/// Cuts `dst` into `parts` blocks, halving the longer side each time, down to [`MIN_BLOCK`].
fn split<'a>(out: &mut Vec<Block<'a>>, dst: MatMut<'a, f32>, lhs: MatRef<'a, f32>, rhs: MatRef<'a, f32>, parts: usize) {
    let (m, n) = (dst.nrows(), dst.ncols());
    if parts <= 1 || m.max(n) < 2 * MIN_BLOCK {
        out.push((dst, lhs, rhs));
        return;
    }
    let half = parts / 2;
    if n >= m {
        let at = n * half / parts;
        let (d0, d1) = dst.split_at_col_mut(at);
        let (r0, r1) = rhs.split_at_col(at);
        split(out, d0, lhs, r0, half);
        split(out, d1, lhs, r1, parts - half);
    } else {
        let at = m * half / parts;
        let (d0, d1) = dst.split_at_row_mut(at);
        let (l0, l1) = lhs.split_at_row(at);
        split(out, d0, l0, rhs, half);
        split(out, d1, l1, rhs, parts - half);
    }
}

/// Which code multiplies (see the module documentation), decided once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gemm {
    /// Ours (`avx2::FewRows`) for products of at most four rows, faer for the rest: the
    /// default on CPUs with AVX2 and FMA but not AVX-512.
    FewRowsOwn,
    /// Ours for every product: `avx2::FewRows` and `blocked` (`HG_GEMM=own`).
    Own,
    /// faer for every product (`HG_GEMM=faer`; the default elsewhere).
    Faer,
}

impl Gemm {
    pub fn selected() -> Gemm {
        static SELECTED: std::sync::OnceLock<Gemm> = std::sync::OnceLock::new();
        *SELECTED.get_or_init(|| {
            let asked = match std::env::var("HG_GEMM").as_deref() {
                Ok("own") => Some(Gemm::Own),
                Ok("faer") => Some(Gemm::Faer),
                Ok("") | Err(_) => None,
                Ok(other) => {
                    eprintln!("warning: HG_GEMM is `own` or `faer`, found `{other}`: using the default");
                    None
                }
            };
            match asked {
                Some(lib) if lib.available() => lib,
                _ if Gemm::FewRowsOwn.available() && !avx512() => Gemm::FewRowsOwn,
                _ => Gemm::Faer,
            }
        })
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Gemm::FewRowsOwn | Gemm::Own => avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Gemm::FewRowsOwn | Gemm::Own => false,
            Gemm::Faer => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Gemm::FewRowsOwn => "own AVX2 kernel for up to 4 rows, faer above",
            Gemm::Own => "own AVX2 kernels",
            Gemm::Faer => "faer",
        }
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `dst (+)= lhs @ rhs` on the calling thread.
fn sequential(lib: Gemm, dst: MatMut<'_, f32>, beta: Accum, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>) {
    #[cfg(target_arch = "x86_64")]
    if blocked::takes(lib, dst.nrows(), rhs.col_stride()) && avx2::available() {
        // Views come from `View::faer` and `gemm`'s destination, whose strides are non-negative
        // (an axis of size 1 has stride 0), and splits of them.
        let operand = |x: &MatRef<'_, f32>| blocked::Operand {
            ptr: x.as_ptr(),
            rs: x.row_stride().unsigned_abs(),
            cs: x.col_stride().unsigned_abs(),
        };
        let (m, n, k) = (dst.nrows(), dst.ncols(), lhs.ncols());
        let rsc = dst.row_stride().unsigned_abs();
        // SAFETY: the views are in bounds (checked when they were made), the destination's rows
        // are disjoint from each other and from the operands (it is borrowed mutably), its
        // columns contiguous, and the CPU has AVX2 and FMA (`gemm_with`'s contract).
        unsafe { blocked::gemm(m, n, k, operand(&lhs), operand(&rhs), dst.as_ptr_mut(), rsc, beta == Accum::Add) };
        return;
    }
    faer::linalg::matmul::matmul(dst, beta, lhs, rhs, 1.0f32, Par::Seq);
}

/// `c[i] = a[i] @ b[i]` (`+ c[i]` when `accumulate`) for every batch item (see [`MatMulGeom`]).
pub fn matmul(g: &MatMulGeom, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> Result<(), CpuError> {
    matmul_with(Gemm::selected(), g, a, b, c, threads)
}

/// [`matmul`] through `lib`, which must be available on this CPU ([`Gemm::available`]).
fn matmul_with(lib: Gemm, g: &MatMulGeom, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> Result<(), CpuError> {
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
        gemm_with(lib, c_item, 0, n, av, bv, g.accumulate, threads)
    };
    // A batch of products with one shared right operand whose left rows follow each other
    // evenly (a linear layer over [B, N, D] tokens) is one product of batch * m rows.
    if g.inner == 1 && g.batch > 1 && g.b.batch == 0 && (m == 1 || g.a.batch == m * g.a.row) {
        let rs = if m == 1 { g.a.batch } else { g.a.row };
        let av = View { data: a, off: 0, rows: g.batch * m, cols: k, rs, cs: g.a.col };
        let bv = View { data: b, off: 0, rows: k, cols: n, rs: g.b.row, cs: g.b.col };
        return gemm_with(lib, c, 0, n, av, bv, g.accumulate, threads);
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

    /// The products this CPU can run: ours and faer on every x86-64 machine with AVX2.
    fn libs() -> Vec<Gemm> {
        [Gemm::Own, Gemm::FewRowsOwn, Gemm::Faer].into_iter().filter(|l| l.available()).collect()
    }

    fn check(g: MatMulGeom, threads: usize) {
        let [na, nb, nc] = g.lens().unwrap();
        let (a, b) = (values(na, 1), values(nb, 2));
        let mut want = values(nc, 3);
        naive(&g, &a, &b, &mut want);
        for lib in libs() {
            let mut got = values(nc, 3);
            matmul_with(lib, &g, &a, &b, &mut got, threads).unwrap();
            assert_eq!(got, want, "{g:?} on {threads} threads with {lib:?}");
        }
    }

    #[test]
    fn blocks_and_tails_of_the_own_kernel_match_a_naive_loop() {
        // Sizes around the register tile (6 x 16), the few-rows path (up to 4 rows), the depth
        // block (256: 257 and 600 take two and three) and the row block (144); sums of these
        // values are exact in f32, so any slip is a difference.
        let shapes = [
            (1, 1, 1),
            (1, 40, 600),
            (2, 17, 257),
            (3, 33, 5),
            (4, 8, 300),
            (5, 16, 257),
            (6, 15, 3),
            (7, 31, 600),
            (13, 1, 70),
            (150, 23, 260),
            (7, 2100, 3),
        ];
        for (m, n, k) in shapes {
            for accumulate in [false, true] {
                let g = MatMulGeom { batch: 1, inner: 1, m, n, k, a: row_major(m, k), b: row_major(k, n), accumulate };
                check(g, 1);
                check(MatMulGeom { a: transposed(m, k), ..g }, 2);
                check(MatMulGeom { b: transposed(k, n), ..g }, 1);
            }
        }
    }

    /// Values with a full mantissa, whose sums round.
    fn inexact(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (((i as u64 + seed * 7919).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn the_own_kernel_gives_every_row_the_same_sum_at_any_batch_size_and_thread_count() {
        if !Gemm::Own.available() {
            eprintln!("skipped: this CPU lacks AVX2 and FMA");
            return;
        }
        let (m, n, k) = (130, 70, 530);
        const { assert!(130 * 70 * 530 >= PAR_MIN_MACS) };
        let (a, b) = (inexact(m * k, 1), inexact(k * n, 2));
        let c0 = inexact(m * n, 3);
        for accumulate in [false, true] {
            let run = |rows: std::ops::Range<usize>, threads: usize| {
                let mut c = c0[rows.start * n..rows.end * n].to_vec();
                let av = View { data: &a, off: rows.start * k, rows: rows.len(), cols: k, rs: k, cs: 1 };
                let bv = View { data: &b, off: 0, rows: k, cols: n, rs: n, cs: 1 };
                gemm_with(Gemm::Own, &mut c, 0, n, av, bv, accumulate, threads).unwrap();
                c
            };
            let whole = run(0..m, 1);
            assert_eq!(run(0..m, 2), whole, "two threads");
            for rows in [0..1, 5..6, 7..10, 20..24, 100..107] {
                assert_eq!(run(rows.clone(), 1), whole[rows.start * n..rows.end * n], "rows {rows:?}");
            }
        }
    }

    #[test]
    fn the_result_may_be_a_block_of_a_wider_matrix() {
        // Convolutions write products into rows of a wider result: columns past `n` stay.
        let (m, n, k, rs) = (9, 20, 33, 27);
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let mut want = values(m * rs + 2, 3);
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j])).sum();
                want[2 + i * rs + j] = s as f32;
            }
        }
        for lib in libs() {
            let mut got = values(m * rs + 2, 3);
            let av = View { data: &a, off: 0, rows: m, cols: k, rs: k, cs: 1 };
            let bv = View { data: &b, off: 0, rows: k, cols: n, rs: n, cs: 1 };
            gemm_with(lib, &mut got, 2, rs, av, bv, false, 2).unwrap();
            assert_eq!(got, want, "{lib:?}");
        }
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

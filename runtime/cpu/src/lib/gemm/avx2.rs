//! The AVX2 micro-kernel of [`super::blocked`]: an `MR x NR` = 6 x 16 tile of the result in
//! twelve ymm accumulators (with two loads of the right operand and one broadcast of the left,
//! 15 of the 16 registers), one fused multiply-add per accumulator per step of the inner
//! dimension. Tiles of fewer rows (the bottom of a product) run a kernel of that many rows, at
//! the same rate per row; tiles of fewer columns go through a buffer.
//!
//! Arithmetic: each element is `fma` over the packed depth in order, then added to the result
//! (when accumulating) in one rounding, the same in every path.

use super::blocked::Operand;
use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

/// Rows of a register tile.
pub(super) const MR: usize = 6;
/// Columns of a register tile: two vectors of eight.
pub(super) const NR: usize = 16;

/// Where one tile of the result goes.
pub(super) struct Tile {
    /// Valid rows (at most [`MR`]) and columns (at most [`NR`]).
    pub rows: usize,
    pub cols: usize,
    /// The tile's first element; rows `rsc` apart.
    pub c: *mut f32,
    pub rsc: usize,
    /// Add to the result instead of overwriting it.
    pub add: bool,
}

/// Whether this CPU runs the kernel.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The tile `a @ b` over depth `kc`, `a` a packed sliver of [`MR`] rows and `b` of [`NR`]
/// columns.
///
/// # Safety
/// [`available`] must hold; `a` and `b` must hold `kc * MR` and `kc * NR` floats, and the tile's
/// `rows x cols` elements of the result must be valid for writes.
pub(super) unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, tile: Tile) {
    // SAFETY: forwarded contract.
    unsafe {
        match tile.rows {
            6 => rows::<6>(kc, a, b, &tile),
            5 => rows::<5>(kc, a, b, &tile),
            4 => rows::<4>(kc, a, b, &tile),
            3 => rows::<3>(kc, a, b, &tile),
            2 => rows::<2>(kc, a, b, &tile),
            _ => rows::<1>(kc, a, b, &tile),
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn rows<const R: usize>(kc: usize, a: *const f32, b: *const f32, t: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    // SAFETY: reads stay inside the packed slivers, writes inside the tile (the contract).
    unsafe {
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(p * MR + i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
        }
        if t.cols == NR {
            for (i, row) in acc.iter().enumerate() {
                let c = t.c.add(i * t.rsc);
                store(c, row[0], t.add);
                store(c.add(8), row[1], t.add);
            }
        } else {
            let mut buf = [0.0f32; NR];
            for (i, row) in acc.iter().enumerate() {
                _mm256_storeu_ps(buf.as_mut_ptr(), row[0]);
                _mm256_storeu_ps(buf.as_mut_ptr().add(8), row[1]);
                let c = t.c.add(i * t.rsc);
                for (j, v) in buf.iter().take(t.cols).enumerate() {
                    *c.add(j) = if t.add { *c.add(j) + v } else { *v };
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn store(c: *mut f32, v: __m256, add: bool) {
    // SAFETY: eight valid floats at `c` (the caller's contract).
    unsafe {
        let v = if add { _mm256_add_ps(_mm256_loadu_ps(c), v) } else { v };
        _mm256_storeu_ps(c, v);
    }
}

/// Rows from which a product is packed: below, [`FewRows`] reads the right operand in place.
pub(super) const FEW_ROWS: usize = 4;

/// `c = a @ b` (`c += a @ b` when `add_first`) for at most [`FEW_ROWS`] rows of `a` and a `b`
/// whose rows are contiguous (`b.cs == 1`), read where it lies instead of packed: a product of
/// few rows (a batch of one) is bound by reading the right operand, which packing would read
/// twice. Each element is the same sum as in [`kernel`]: `fma` over each block of `kc` in order,
/// added to the result block by block.
pub(super) struct FewRows {
    pub n: usize,
    pub k: usize,
    pub kc: usize,
    pub a: Operand,
    pub b: Operand,
    /// The result's first element; rows `rsc` apart.
    pub c: *mut f32,
    pub rsc: usize,
    pub add_first: bool,
}

impl FewRows {
    /// The product of `rows` rows.
    ///
    /// # Safety
    /// [`available`] must hold, `rows <= FEW_ROWS`, and the operands and the `rows x n` result
    /// must be in bounds, the result disjoint from the operands.
    pub(super) unsafe fn rows(&self, rows: usize) {
        // SAFETY: forwarded contract.
        unsafe {
            match rows {
                4 => self.run::<4, 3>(),
                3 => self.run::<3, 4>(),
                2 => self.run::<2, 4>(),
                _ => self.run::<1, 4>(),
            }
        }
    }

    /// Tiles of `V` vectors, then of one, then single columns.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run<const R: usize, const V: usize>(&self) {
        let mut j = 0;
        // SAFETY: columns `j .. j + width` are inside `n`.
        unsafe {
            while j + 8 * V <= self.n {
                self.tile::<R, V>(j);
                j += 8 * V;
            }
            while j + 8 <= self.n {
                self.tile::<R, 1>(j);
                j += 8;
            }
            for col in j..self.n {
                self.column::<R>(col);
            }
        }
    }

    /// Columns `j .. j + 8V` of the `R` rows.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize, const V: usize>(&self, j: usize) {
        let mut out = [[_mm256_setzero_ps(); V]; R];
        // SAFETY: every read is inside `a` (R x k) and `b` (k x n), every write in the tile.
        unsafe {
            for (block, p0) in (0..self.k).step_by(self.kc).enumerate() {
                let mut acc = [[_mm256_setzero_ps(); V]; R];
                for p in p0..self.k.min(p0 + self.kc) {
                    let brow = self.b.ptr.add(p * self.b.rs + j);
                    let mut bv = [_mm256_setzero_ps(); V];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = _mm256_loadu_ps(brow.add(8 * v));
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        let ai = _mm256_broadcast_ss(&*self.a.ptr.add(i * self.a.rs + p * self.a.cs));
                        for (x, bx) in row.iter_mut().zip(&bv) {
                            *x = _mm256_fmadd_ps(ai, *bx, *x);
                        }
                    }
                }
                for i in 0..R {
                    for v in 0..V {
                        let c = self.c.add(i * self.rsc + j + 8 * v);
                        out[i][v] = if block > 0 {
                            _mm256_add_ps(out[i][v], acc[i][v])
                        } else if self.add_first {
                            _mm256_add_ps(_mm256_loadu_ps(c), acc[i][v])
                        } else {
                            acc[i][v]
                        };
                    }
                }
            }
            for (i, row) in out.iter().enumerate() {
                for (v, x) in row.iter().enumerate() {
                    _mm256_storeu_ps(self.c.add(i * self.rsc + j + 8 * v), *x);
                }
            }
        }
    }

    /// Column `j` of the `R` rows, one element at a time.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn column<const R: usize>(&self, j: usize) {
        // SAFETY: as in `tile`.
        unsafe {
            for i in 0..R {
                let c = self.c.add(i * self.rsc + j);
                let mut out = if self.add_first { *c } else { 0.0 };
                for (block, p0) in (0..self.k).step_by(self.kc).enumerate() {
                    let mut acc = 0.0f32;
                    for p in p0..self.k.min(p0 + self.kc) {
                        let (x, y) =
                            (*self.a.ptr.add(i * self.a.rs + p * self.a.cs), *self.b.ptr.add(p * self.b.rs + j));
                        acc = x.mul_add(y, acc);
                    }
                    out = if block > 0 || self.add_first { out + acc } else { acc };
                }
                *c = out;
            }
        }
    }
}

/// Writes the transpose of an 8 x 8 block: `dst[q * lds + j] = src[j][q]` for `j, q < 8`, where
/// `src[j]` points at 8 contiguous floats (the packing of a transposed right operand).
///
/// # Safety
/// [`available`] must hold; the 8 x 8 floats read and written must be valid.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn transpose8(src: [*const f32; 8], dst: *mut f32, lds: usize) {
    // SAFETY: the contract.
    unsafe {
        let columns = transpose(std::array::from_fn(|j| _mm256_loadu_ps(src[j])));
        for (q, v) in columns.iter().enumerate() {
            _mm256_storeu_ps(dst.add(q * lds), *v);
        }
    }
}

/// Writes the transpose of a 6 x 8 block: `dst[q * 6 + i] = src[i][q]` for `i < 6`, `q < 8`
/// (the packing of a row-major left operand into slivers of [`MR`] rows).
///
/// # Safety
/// [`available`] must hold; the 6 x 8 floats read and the 8 x 6 written must be valid.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn transpose6(src: [*const f32; MR], dst: *mut f32) {
    use std::arch::x86_64::{
        _mm_castps_pd, _mm_storel_pd, _mm_storeu_ps, _mm256_castps256_ps128, _mm256_extractf128_ps,
    };
    // SAFETY: the contract.
    unsafe {
        let columns =
            transpose(std::array::from_fn(|j| if j < MR { _mm256_loadu_ps(src[j]) } else { _mm256_setzero_ps() }));
        for (q, v) in columns.iter().enumerate() {
            let at = dst.add(q * MR);
            _mm_storeu_ps(at, _mm256_castps256_ps128(*v));
            _mm_storel_pd(at.add(4).cast::<f64>(), _mm_castps_pd(_mm256_extractf128_ps::<1>(*v)));
        }
    }
}

/// The transpose of eight rows of eight: element `q` of row `j` becomes element `j` of row `q`.
#[target_feature(enable = "avx2,fma")]
fn transpose(r: [__m256; 8]) -> [__m256; 8] {
    use std::arch::x86_64::{_mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps};
    // Interleave pairs of rows, then pairs of pairs, then the 128-bit halves.
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
        if i % 2 == 0 { _mm256_unpacklo_ps(x, y) } else { _mm256_unpackhi_ps(x, y) }
    });
    let u: [__m256; 8] = std::array::from_fn(|i| {
        let base = 4 * (i / 4);
        let (x, y) = (t[base + (i % 4) / 2], t[base + 2 + (i % 4) / 2]);
        if i % 2 == 0 { _mm256_shuffle_ps::<0x44>(x, y) } else { _mm256_shuffle_ps::<0xEE>(x, y) }
    });
    std::array::from_fn(|q| {
        let (lo, hi) = (u[q % 4], u[4 + q % 4]);
        if q < 4 { _mm256_permute2f128_ps::<0x20>(lo, hi) } else { _mm256_permute2f128_ps::<0x31>(lo, hi) }
    })
}

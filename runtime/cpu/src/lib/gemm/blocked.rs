//! A cache-blocked product on one thread, in the manner of BLIS (Van Zee and van de Geijn,
//! "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015): the right operand
//! is packed a `KC x NC` panel at a time into slivers of [`NR`] columns, the left a `MC x KC`
//! block at a time into slivers of [`MR`] rows, and a register-tiled micro-kernel
//! ([`super::avx2`]) multiplies one sliver pair, so each sliver of the right operand stays in
//! the L1 cache while the block of the left streams from L2.
//!
//! Block sizes depend on the sizes of the product only (never on the thread that runs it), so
//! an element of the result is the same sum in the same order whichever way a product is split
//! between threads: results do not depend on the number of threads.

use super::avx2::{FEW_ROWS, MR, NR, Tile};
use std::cell::RefCell;

/// Largest depth of a packed block: a sliver of the right operand (`KC x NR` floats, 16 KiB)
/// and one of the left (`KC x MR`) fit the 32 KiB L1 data cache of current x86-64 cores.
const KC_MAX: usize = 256;
/// Largest height of a packed block of the left operand (144 x 256 floats, 144 KiB: half of a
/// 256 KiB or larger L2 cache, the rest for the right operand's slivers and the result).
const MC_MAX: usize = 144;
/// Largest width of a packed panel of the right operand (256 x 2048 floats, 2 MiB: L3).
const NC_MAX: usize = 2048;

/// Whether `lib` multiplies `rows` rows of a left operand by a right operand with column
/// stride `rhs_cs` here instead of in faer.
pub(super) fn takes(lib: super::Gemm, rows: usize, rhs_cs: isize) -> bool {
    match lib {
        super::Gemm::Own => true,
        super::Gemm::FewRowsOwn => rows <= FEW_ROWS && rhs_cs == 1,
        super::Gemm::Faer => false,
    }
}

/// An operand `x[i, j] = ptr[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(super) struct Operand {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// Splits `len` into the fewest blocks of at most `max`, of equal size rounded up to `unit`.
fn block(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

/// Packing buffers of the calling thread, reused between products (a fresh allocation of this
/// size is a fresh mapping from the system, whose page faults cost more than small products).
struct Buffers {
    a: Vec<f32>,
    b: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = const { RefCell::new(Buffers { a: Vec::new(), b: Vec::new() }) };
}

/// A slice of `len` floats of `v` starting at a 64-byte boundary (a cache line), so packed
/// slivers never straddle lines.
fn aligned(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const LINE: usize = 16;
    if v.len() < len + LINE {
        v.resize(len + LINE, 0.0);
    }
    let skip = v.as_ptr().align_offset(64).min(LINE);
    &mut v[skip..skip + len]
}

/// `c = a @ b`, or `c += a @ b` when `accumulate`, for an `m x k` `a`, a `k x n` `b` and a
/// row-major `c` with row stride `rsc`.
///
/// # Safety
/// Every element of `a`, `b` (through their strides) and of the `m` rows of `n` elements of
/// `c` must be in bounds, `c`'s rows disjoint and not overlapping `a` or `b`, and the CPU must
/// have the micro-kernel's features ([`super::avx2::available`]).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    let kc_max = block(k, KC_MAX, 1);
    if m <= FEW_ROWS && b.cs == 1 {
        // SAFETY: the caller's contract.
        unsafe { super::avx2::FewRows { n, k, kc: kc_max, a, b, c, rsc, add_first: accumulate }.rows(m) };
        return;
    }
    let mc_max = block(m, MC_MAX, MR);
    let nc_max = block(n, NC_MAX, NR);
    BUFFERS.with_borrow_mut(|bufs| {
        let pa = aligned(&mut bufs.a, mc_max * kc_max).as_mut_ptr();
        let pb = aligned(&mut bufs.b, nc_max * kc_max).as_mut_ptr();
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for (block, pc) in (0..k).step_by(kc_max).enumerate() {
                let kc = kc_max.min(k - pc);
                // SAFETY (whole block): offsets stay inside the operands by the caller's
                // contract; the buffers hold `mc_max * kc_max` and `nc_max * kc_max` floats.
                unsafe {
                    let b_at = b.ptr.add(pc * b.rs + jc * b.cs);
                    pack_b(kc, nc, Operand { ptr: b_at, ..b }, pb);
                    for ic in (0..m).step_by(mc_max) {
                        let mc = mc_max.min(m - ic);
                        pack_a(mc, kc, Operand { ptr: a.ptr.add(ic * a.rs + pc * a.cs), ..a }, pa);
                        let add = accumulate || block > 0;
                        for jr in (0..nc).step_by(NR) {
                            let b_sliver = pb.add(jr * kc);
                            for ir in (0..mc).step_by(MR) {
                                let tile = Tile {
                                    rows: MR.min(mc - ir),
                                    cols: NR.min(nc - jr),
                                    c: c.add((ic + ir) * rsc + jc + jr),
                                    rsc,
                                    add,
                                };
                                super::avx2::kernel(kc, pa.add(ir * kc), b_sliver, tile);
                            }
                        }
                    }
                }
            }
        }
    });
}

#[target_feature(enable = "avx2,fma")]
/// Packs `mc x kc` of `a` into slivers of [`MR`] rows, each `kc` columns of `MR` values
/// (rows past `mc` zero).
///
/// # Safety
/// `a` must cover `mc x kc` elements and `dst` hold `mc.div_ceil(MR) * MR * kc` floats.
unsafe fn pack_a(mc: usize, kc: usize, a: Operand, dst: *mut f32) {
    for (s, i0) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - i0);
        // SAFETY: the caller's contract.
        unsafe {
            let out = dst.add(s * MR * kc);
            let src = a.ptr.add(i0 * a.rs);
            if a.rs == 1 {
                // Columns contiguous in memory: read them in order.
                for p in 0..kc {
                    let col = src.add(p * a.cs);
                    for i in 0..MR {
                        *out.add(p * MR + i) = if i < rows { *col.add(i) } else { 0.0 };
                    }
                }
            } else if rows == MR && a.cs == 1 {
                // Rows contiguous in memory: one pass, six streams read, one written in order.
                let row: [*const f32; MR] = std::array::from_fn(|i| src.add(i * a.rs));
                let p8 = kc / 8 * 8;
                for p in (0..p8).step_by(8) {
                    super::avx2::transpose6(row.map(|r| r.add(p)), out.add(p * MR));
                }
                for p in p8..kc {
                    for (i, r) in row.iter().enumerate() {
                        *out.add(p * MR + i) = *r.add(p);
                    }
                }
            } else {
                for i in 0..MR {
                    if i < rows {
                        let row = src.add(i * a.rs);
                        for p in 0..kc {
                            *out.add(p * MR + i) = *row.add(p * a.cs);
                        }
                    } else {
                        for p in 0..kc {
                            *out.add(p * MR + i) = 0.0;
                        }
                    }
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
/// Packs `kc x nc` of `b` into slivers of [`NR`] columns, each `kc` rows of `NR` values
/// (columns past `nc` zero).
///
/// # Safety
/// `b` must cover `kc x nc` elements and `dst` hold `nc.div_ceil(NR) * NR * kc` floats.
unsafe fn pack_b(kc: usize, nc: usize, b: Operand, dst: *mut f32) {
    let full = if b.cs == 1 { nc / NR } else { 0 };
    if full > 0 {
        // Rows contiguous in memory: read each row once, in order, into every full sliver.
        for p in 0..kc {
            // SAFETY: the caller's contract.
            unsafe {
                let row = b.ptr.add(p * b.rs);
                for s in 0..full {
                    std::ptr::copy_nonoverlapping(row.add(s * NR), dst.add(s * NR * kc + p * NR), NR);
                }
            }
        }
    }
    for (s, j0) in (full * NR..nc).step_by(NR).enumerate().map(|(s, j)| (s + full, j)) {
        let cols = NR.min(nc - j0);
        // SAFETY: the caller's contract.
        unsafe {
            let out = dst.add(s * NR * kc);
            let src = b.ptr.add(j0 * b.cs);
            if b.cs == 1 || b.rs != 1 {
                for p in 0..kc {
                    let row = src.add(p * b.rs);
                    for j in 0..NR {
                        *out.add(p * NR + j) = if j < cols { *row.add(j * b.cs) } else { 0.0 };
                    }
                }
            } else {
                // Rows contiguous in memory (a transposed operand): 8 x 8 blocks transposed in
                // registers, then the rest one at a time, reading columns in order.
                let p8 = if cols == NR { kc / 8 * 8 } else { 0 };
                for h in 0..NR / 8 {
                    for p in (0..p8).step_by(8) {
                        let from = std::array::from_fn(|j| src.add((8 * h + j) * b.cs + p));
                        super::avx2::transpose8(from, out.add(p * NR + 8 * h), NR);
                    }
                }
                for j in 0..NR {
                    if j < cols {
                        let col = src.add(j * b.cs);
                        for p in p8..kc {
                            *out.add(p * NR + j) = *col.add(p);
                        }
                    } else {
                        for p in 0..kc {
                            *out.add(p * NR + j) = 0.0;
                        }
                    }
                }
            }
        }
    }
}

//! Convolutions as GEMMs: im2col gathers the windows of a group of images into a matrix
//! `[C/groups * KH * KW, images * OH * OW]` and one product per group does the arithmetic;
//! the transposed convolution multiplies by the transposed weight and scatters back (col2im);
//! the weight gradient multiplies the output gradient by the transposed window matrix. A 1x1
//! convolution with stride 1 and no padding reads the image in place.
//!
//! Layouts follow PyTorch (NCHW, weights `[O, C/groups, KH, KW]`), zero padding, no dilation.
//! Several small images go into one product (at least [`MIN_COLS`] columns) so the GEMM has
//! room to block; batches are split between threads by image.

use super::gemm::{PAR_MIN_MACS, View, gemm};
use super::{ConvGeom, Scratch, parts_for, scratch, split_mut, with_scratch};
use crate::error::{CpuError, fits};
use std::ops::Range;

/// Columns a window matrix aims for (more images per product when images are small).
pub const MIN_COLS: usize = 512;
/// The largest window matrix built at once, in elements (16 MiB).
const MAX_COL_ELEMS: usize = 1 << 22;

/// Sizes shared by the three convolutions.
#[derive(Clone, Copy)]
struct Dims {
    /// Input channels and output channels per group.
    cg: usize,
    og: usize,
    /// Rows of the window matrix (`cg * kh * kw`), columns per image (`oh * ow`), input pixels.
    k: usize,
    p: usize,
    hw: usize,
    pointwise: bool,
}

fn dims(g: &ConvGeom) -> Dims {
    let cg = g.c / g.groups;
    Dims {
        cg,
        og: g.o / g.groups,
        k: cg * g.kh * g.kw,
        p: g.oh * g.ow,
        hw: g.h * g.w,
        pointwise: g.kh == 1 && g.kw == 1 && g.stride == [1, 1] && g.padding == [0, 0],
    }
}

/// Images per product: enough for [`MIN_COLS`] columns, within [`MAX_COL_ELEMS`].
fn images_per_chunk(d: &Dims, images: usize) -> usize {
    if d.pointwise || d.p == 0 {
        return 1;
    }
    let want = MIN_COLS.div_ceil(d.p);
    let room = MAX_COL_ELEMS / (d.k * d.p).max(1);
    want.min(room).min(images).max(1)
}

/// The output positions `lo..hi` of one axis whose input `pos * stride + k - pad` is inside
/// `0..size`.
fn valid(out: usize, k: usize, stride: usize, pad: usize, size: usize) -> Range<usize> {
    let lo = if k >= pad { 0 } else { (pad - k).div_ceil(stride) };
    let hi = if size + pad > k { ((size - 1 + pad - k) / stride + 1).min(out) } else { 0 };
    lo.min(hi)..hi
}

/// For each tap `(ki, kj)` of the window and each output position `p` (row-major over
/// `oh x ow`), the offset in an input plane it reads, or `u32::MAX` where it falls in the
/// padding. Computed once per call: im2col and col2im then run one flat loop per tap instead
/// of one short loop per output row (7 elements for a 14x14 stride-2 layer), and padding costs
/// a failed bounds check instead of a branch per row.
pub(crate) fn taps(g: &ConvGeom) -> Result<Vec<u32>, CpuError> {
    if g.h.saturating_mul(g.w) >= u32::MAX as usize {
        return Err(CpuError::new(format!("convolution: a {}x{} plane is too large", g.h, g.w)));
    }
    let (oh, ow) = (g.oh, g.ow);
    let [s0, s1] = g.stride;
    let [p0, p1] = g.padding;
    let mut t = vec![u32::MAX; g.kh * g.kw * oh * ow];
    for ki in 0..g.kh {
        let ys = valid(oh, ki, s0, p0, g.h);
        for kj in 0..g.kw {
            let xs = valid(ow, kj, s1, p1, g.w);
            let tap = &mut t[(ki * g.kw + kj) * oh * ow..][..oh * ow];
            for y in ys.clone() {
                for x in xs.clone() {
                    let off = (y * s0 + ki - p0) * g.w + x * s1 + kj - p1;
                    tap[y * ow + x] = u32::try_from(off).unwrap_or(u32::MAX);
                }
            }
        }
    }
    Ok(t)
}

/// Writes the windows of one image's group of `cg` channels (`x`, `cg * h * w` elements) into
/// columns `col0 .. col0 + oh*ow` of the window matrix `col` (row length `ld`); `taps` from
/// [`taps`].
fn im2col(g: &ConvGeom, taps: &[u32], cg: usize, x: &[f32], col: &mut [f32], ld: usize, col0: usize) {
    let (hw, p, k2) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    for ci in 0..cg {
        let plane = &x[ci * hw..(ci + 1) * hw];
        for (t, tap) in taps.chunks_exact(p).enumerate().take(k2) {
            let dst = &mut col[(ci * k2 + t) * ld + col0..][..p];
            for (d, &o) in dst.iter_mut().zip(tap) {
                *d = plane.get(o as usize).copied().unwrap_or(0.0);
            }
        }
    }
}

/// Adds columns `col0 .. col0 + oh*ow` of the window matrix back into one image's group of
/// `cg` channels (`y`, `cg * h * w` elements): the adjoint of [`im2col`], in the same order.
fn col2im(g: &ConvGeom, taps: &[u32], cg: usize, col: &[f32], ld: usize, col0: usize, y: &mut [f32]) {
    let (hw, p, k2) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    for ci in 0..cg {
        let plane = &mut y[ci * hw..(ci + 1) * hw];
        for (t, tap) in taps.chunks_exact(p).enumerate().take(k2) {
            let src = &col[(ci * k2 + t) * ld + col0..][..p];
            for (&v, &o) in src.iter().zip(tap) {
                if let Some(d) = plane.get_mut(o as usize) {
                    *d += v;
                }
            }
        }
    }
}

/// Multiply-adds of a convolution (for the threading decision).
fn macs(g: &ConvGeom, d: &Dims) -> usize {
    g.n.saturating_mul(g.o).saturating_mul(d.p).saturating_mul(d.k)
}

/// `y = conv2d(x, w)`: x `[n, c, h, w]`, w `[o, c/groups, kh, kw]`, y `[n, o, oh, ow]`.
pub fn conv2d(g: &ConvGeom, x: &[f32], w: &[f32], y: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [nx, nw, ny] = g.conv_lens()?;
    fits("conv2d input", x.len(), nx)?;
    fits("conv2d weight", w.len(), nw)?;
    fits("conv2d output", y.len(), ny)?;
    let d = dims(g);
    let parts = if g.n > 1 { parts_for(threads, macs(g, &d), PAR_MIN_MACS) } else { 1 };
    let gemm_threads = if parts == 1 { threads } else { 1 };
    split_mut(y, g.n, g.o * d.p, parts, |images, run| {
        with_scratch(|s| conv2d_images(g, &d, x, w, images, run, gemm_threads, s))
    })
}

#[allow(clippy::too_many_arguments)]
fn conv2d_images(
    g: &ConvGeom,
    d: &Dims,
    x: &[f32],
    w: &[f32],
    images: Range<usize>,
    y: &mut [f32],
    threads: usize,
    s: &mut Scratch,
) -> Result<(), CpuError> {
    let nb = images_per_chunk(d, images.len());
    let taps = taps(g)?;
    let first = images.start;
    for chunk in images.clone().step_by(nb) {
        let count = nb.min(images.end - chunk);
        let ld = count * d.p;
        for gi in 0..g.groups {
            let wg = View { data: w, off: gi * d.og * d.k, rows: d.og, cols: d.k, rs: d.k, cs: 1 };
            let x_at = |b: usize| (b * g.c + gi * d.cg) * d.hw;
            let y_at = |b: usize| ((b - first) * g.o + gi * d.og) * d.p;
            if d.pointwise {
                let xv = View { data: x, off: x_at(chunk), rows: d.cg, cols: d.p, rs: d.hw, cs: 1 };
                gemm(y, y_at(chunk), d.p, wg, xv, false, threads)?;
                continue;
            }
            let col = scratch(&mut s.f32s, d.k * ld)?;
            for j in 0..count {
                im2col(g, &taps, d.cg, &x[x_at(chunk + j)..][..d.cg * d.hw], col, ld, j * d.p);
            }
            let cv = View { data: col, off: 0, rows: d.k, cols: ld, rs: ld, cs: 1 };
            if count == 1 {
                gemm(y, y_at(chunk), d.p, wg, cv, false, threads)?;
                continue;
            }
            let tmp = scratch(&mut s.more, d.og * ld)?;
            gemm(tmp, 0, ld, wg, cv, false, threads)?;
            for j in 0..count {
                for oc in 0..d.og {
                    y[y_at(chunk + j) + oc * d.p..][..d.p].copy_from_slice(&tmp[oc * ld + j * d.p..][..d.p]);
                }
            }
        }
    }
    Ok(())
}

/// The transposed convolution: `dy` `[n, o, oh, ow]` (the forward output's shape), the
/// forward weight `w` `[o, c/groups, kh, kw]`, result `dx` `[n, c, h, w]` (the forward
/// input's shape). This is the gradient of [`conv2d`] with respect to its input.
pub fn conv_transpose2d(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [nx, nw, ny] = g.conv_lens()?;
    fits("conv_transpose2d input", dy.len(), ny)?;
    fits("conv_transpose2d weight", w.len(), nw)?;
    fits("conv_transpose2d output", dx.len(), nx)?;
    let d = dims(g);
    let parts = if g.n > 1 { parts_for(threads, macs(g, &d), PAR_MIN_MACS) } else { 1 };
    let gemm_threads = if parts == 1 { threads } else { 1 };
    split_mut(dx, g.n, g.c * d.hw, parts, |images, run| {
        with_scratch(|s| conv_transpose_images(g, &d, dy, w, images, run, gemm_threads, s))
    })
}

/// Copies the `og` channels of group `gi` of images `chunk .. chunk + count` of an
/// `[n, o, oh, ow]` tensor side by side into `tmp` (`og x count*p`); one image is read in place.
fn gather_group<'a>(
    g: &ConvGeom,
    d: &Dims,
    src: &'a [f32],
    gi: usize,
    chunk: usize,
    count: usize,
    tmp: &'a mut Vec<f32>,
) -> Result<View<'a>, CpuError> {
    let at = |b: usize| (b * g.o + gi * d.og) * d.p;
    if count == 1 {
        return Ok(View { data: src, off: at(chunk), rows: d.og, cols: d.p, rs: d.p, cs: 1 });
    }
    let ld = count * d.p;
    let t = scratch(tmp, d.og * ld)?;
    for j in 0..count {
        for oc in 0..d.og {
            t[oc * ld + j * d.p..][..d.p].copy_from_slice(&src[at(chunk + j) + oc * d.p..][..d.p]);
        }
    }
    Ok(View { data: t, off: 0, rows: d.og, cols: ld, rs: ld, cs: 1 })
}

#[allow(clippy::too_many_arguments)]
fn conv_transpose_images(
    g: &ConvGeom,
    d: &Dims,
    dy: &[f32],
    w: &[f32],
    images: Range<usize>,
    dx: &mut [f32],
    threads: usize,
    s: &mut Scratch,
) -> Result<(), CpuError> {
    let nb = images_per_chunk(d, images.len());
    let taps = taps(g)?;
    let first = images.start;
    if !d.pointwise {
        dx.fill(0.0);
    }
    for chunk in images.clone().step_by(nb) {
        let count = nb.min(images.end - chunk);
        let ld = count * d.p;
        for gi in 0..g.groups {
            // The weight of group gi read transposed: `cg*kh*kw x og`.
            let wt = View { data: w, off: gi * d.og * d.k, rows: d.k, cols: d.og, rs: 1, cs: d.k };
            let src = gather_group(g, d, dy, gi, chunk, count, &mut s.more)?;
            let x_at = |b: usize| ((b - first) * g.c + gi * d.cg) * d.hw;
            if d.pointwise {
                gemm(dx, x_at(chunk), d.hw, wt, src, false, threads)?;
                continue;
            }
            let col = scratch(&mut s.f32s, d.k * ld)?;
            gemm(col, 0, ld, wt, src, false, threads)?;
            for j in 0..count {
                col2im(g, &taps, d.cg, col, ld, j * d.p, &mut dx[x_at(chunk + j)..][..d.cg * d.hw]);
            }
        }
    }
    Ok(())
}

/// The gradient of [`conv2d`] with respect to its weight: x `[n, c, h, w]`, dy
/// `[n, o, oh, ow]`, result dw `[o, c/groups, kh, kw]` (summed over the images).
pub fn conv2d_weight_grad(g: &ConvGeom, x: &[f32], dy: &[f32], dw: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [nx, nw, ny] = g.conv_lens()?;
    fits("conv2d_weight_grad input", x.len(), nx)?;
    fits("conv2d_weight_grad output gradient", dy.len(), ny)?;
    fits("conv2d_weight_grad result", dw.len(), nw)?;
    let d = dims(g);
    let parts = if g.n > 1 { parts_for(threads, macs(g, &d), PAR_MIN_MACS) } else { 1 };
    let gemm_threads = if parts == 1 { threads } else { 1 };
    let dw = &mut dw[..nw];
    if parts == 1 {
        return with_scratch(|s| weight_grad_images(g, &d, x, dy, 0..g.n, dw, gemm_threads, s));
    }
    // Each part sums its images into its own buffer (the first into `dw`), then the parts
    // are added in order, so the result does not depend on scheduling.
    let mut partials = vec![vec![0.0f32; nw]; parts - 1];
    let mut targets: Vec<(Range<usize>, &mut [f32])> = Vec::with_capacity(parts);
    targets.push((0..g.n / parts, dw));
    for (p, v) in partials.iter_mut().enumerate() {
        let p = p + 1;
        targets.push((g.n * p / parts..g.n * (p + 1) / parts, v.as_mut_slice()));
    }
    crate::workers::try_for_each_owned(targets, |(images, out)| {
        with_scratch(|s| weight_grad_images(g, &d, x, dy, images, out, 1, s))
    })?;
    for p in &partials {
        for (o, &v) in dw.iter_mut().zip(p) {
            *o += v;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn weight_grad_images(
    g: &ConvGeom,
    d: &Dims,
    x: &[f32],
    dy: &[f32],
    images: Range<usize>,
    dw: &mut [f32],
    threads: usize,
    s: &mut Scratch,
) -> Result<(), CpuError> {
    if images.is_empty() {
        dw.fill(0.0);
        return Ok(());
    }
    let nb = images_per_chunk(d, images.len());
    let taps = taps(g)?;
    for (c, chunk) in images.clone().step_by(nb).enumerate() {
        let count = nb.min(images.end - chunk);
        let ld = count * d.p;
        for gi in 0..g.groups {
            let x_at = |b: usize| (b * g.c + gi * d.cg) * d.hw;
            let src = gather_group(g, d, dy, gi, chunk, count, &mut s.more)?;
            // The window matrix read transposed: `count*p x cg*kh*kw`.
            let colt = if d.pointwise {
                View { data: x, off: x_at(chunk), rows: d.p, cols: d.k, rs: 1, cs: d.hw }
            } else {
                let col = scratch(&mut s.f32s, d.k * ld)?;
                for j in 0..count {
                    im2col(g, &taps, d.cg, &x[x_at(chunk + j)..][..d.cg * d.hw], col, ld, j * d.p);
                }
                View { data: col, off: 0, rows: ld, cols: d.k, rs: 1, cs: ld }
            };
            gemm(dw, gi * d.og * d.k, d.k, src, colt, c > 0, threads)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 17) as f32 / 8.0 - 1.0).collect()
    }

    /// The interpreter's direct loops (f64 sums, rounded once).
    fn naive_conv(g: &ConvGeom, x: &[f32], w: &[f32]) -> Vec<f32> {
        let d = dims(g);
        let mut y = vec![0.0f64; g.n * g.o * d.p];
        for b in 0..g.n {
            for oc in 0..g.o {
                let gi = oc / d.og;
                for ci in 0..d.cg {
                    for ki in 0..g.kh {
                        for kj in 0..g.kw {
                            let wv = f64::from(w[((oc * d.cg + ci) * g.kh + ki) * g.kw + kj]);
                            for yo in 0..g.oh {
                                for xo in 0..g.ow {
                                    let iy = (yo * g.stride[0] + ki).checked_sub(g.padding[0]).filter(|&v| v < g.h);
                                    let ix = (xo * g.stride[1] + kj).checked_sub(g.padding[1]).filter(|&v| v < g.w);
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        let xv = f64::from(x[((b * g.c + gi * d.cg + ci) * g.h + iy) * g.w + ix]);
                                        y[((b * g.o + oc) * g.oh + yo) * g.ow + xo] += wv * xv;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    /// The transposed convolution and weight gradient as adjoints of the forward loops.
    fn naive_adjoints(g: &ConvGeom, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let d = dims(g);
        let mut dx = vec![0.0f64; g.n * g.c * d.hw];
        let mut dw = vec![0.0f64; g.o * d.k];
        for b in 0..g.n {
            for oc in 0..g.o {
                let gi = oc / d.og;
                for ci in 0..d.cg {
                    for ki in 0..g.kh {
                        for kj in 0..g.kw {
                            let wi = ((oc * d.cg + ci) * g.kh + ki) * g.kw + kj;
                            for yo in 0..g.oh {
                                for xo in 0..g.ow {
                                    let iy = (yo * g.stride[0] + ki).checked_sub(g.padding[0]).filter(|&v| v < g.h);
                                    let ix = (xo * g.stride[1] + kj).checked_sub(g.padding[1]).filter(|&v| v < g.w);
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        let xi = ((b * g.c + gi * d.cg + ci) * g.h + iy) * g.w + ix;
                                        let g_out = f64::from(dy[((b * g.o + oc) * g.oh + yo) * g.ow + xo]);
                                        dx[xi] += f64::from(w[wi]) * g_out;
                                        dw[wi] += f64::from(x[xi]) * g_out;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx.into_iter().map(|v| v as f32).collect(), dw.into_iter().map(|v| v as f32).collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn geom(
        n: usize,
        c: usize,
        hw: [usize; 2],
        o: usize,
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        groups: usize,
    ) -> ConvGeom {
        let oh = (hw[0] + 2 * p[0] - k[0]) / s[0] + 1;
        let ow = (hw[1] + 2 * p[1] - k[1]) / s[1] + 1;
        ConvGeom { n, c, h: hw[0], w: hw[1], o, oh, ow, kh: k[0], kw: k[1], stride: s, padding: p, groups }
    }

    fn cases() -> Vec<ConvGeom> {
        vec![
            geom(1, 1, [5, 7], 1, [3, 3], [1, 1], [0, 0], 1),
            geom(1, 3, [7, 5], 5, [3, 2], [2, 1], [1, 1], 1),
            geom(3, 4, [6, 6], 6, [3, 3], [2, 2], [1, 1], 2),
            geom(2, 3, [5, 5], 7, [1, 1], [1, 1], [0, 0], 1),
            geom(5, 2, [4, 3], 4, [2, 3], [3, 1], [2, 1], 2),
            geom(2, 6, [9, 9], 3, [4, 4], [3, 3], [2, 2], 3),
            geom(40, 3, [3, 3], 5, [3, 3], [1, 1], [1, 1], 1),
        ]
    }

    #[test]
    fn convolutions_match_direct_loops() {
        for g in cases() {
            let [nx, nw, ny] = g.conv_lens().unwrap();
            let (x, w, dy) = (values(nx, 1), values(nw, 2), values(ny, 3));
            let want = naive_conv(&g, &x, &w);
            let (want_dx, want_dw) = naive_adjoints(&g, &x, &w, &dy);
            for threads in [1, 2] {
                let mut y = vec![f32::NAN; ny];
                conv2d(&g, &x, &w, &mut y, threads).unwrap();
                assert_eq!(y, want, "conv2d {g:?}");
                let mut dx = vec![f32::NAN; nx];
                conv_transpose2d(&g, &dy, &w, &mut dx, threads).unwrap();
                assert_eq!(dx, want_dx, "conv_transpose2d {g:?}");
                let mut dw = vec![f32::NAN; nw];
                conv2d_weight_grad(&g, &x, &dy, &mut dw, threads).unwrap();
                assert_eq!(dw, want_dw, "conv2d_weight_grad {g:?}");
            }
        }
    }

    #[test]
    fn large_batches_split_between_threads() {
        // Above the threading threshold: split by image, and the weight gradient by partial sums.
        let g = geom(9, 8, [12, 12], 16, [3, 3], [1, 1], [1, 1], 1);
        let [nx, nw, ny] = g.conv_lens().unwrap();
        let (x, w, dy) = (values(nx, 4), values(nw, 5), values(ny, 6));
        let (want_dx, want_dw) = naive_adjoints(&g, &x, &w, &dy);
        let mut y = vec![0.0; ny];
        conv2d(&g, &x, &w, &mut y, 2).unwrap();
        assert_eq!(y, naive_conv(&g, &x, &w));
        let mut dx = vec![0.0; nx];
        conv_transpose2d(&g, &dy, &w, &mut dx, 2).unwrap();
        assert_eq!(dx, want_dx);
        let mut dw = vec![0.0; nw];
        conv2d_weight_grad(&g, &x, &dy, &mut dw, 2).unwrap();
        assert_eq!(dw, want_dw);
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let g = geom(1, 2, [4, 4], 2, [3, 3], [1, 1], [0, 0], 1);
        let mut y = vec![0.0; 8];
        assert!(conv2d(&g, &[0.0; 31], &[0.0; 36], &mut y, 1).unwrap_err().to_string().contains("input"));
        assert!(conv2d(&g, &[0.0; 32], &[0.0; 36], &mut y[..7], 1).is_err());
        assert!(conv2d(&ConvGeom { oh: 3, ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        assert!(conv2d(&ConvGeom { groups: 3, ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        assert!(conv2d(&ConvGeom { groups: 0, ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        assert!(conv2d(&ConvGeom { stride: [0, 1], ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        assert!(conv2d(&ConvGeom { kh: 9, ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        assert!(conv2d(&ConvGeom { n: usize::MAX, ..g }, &[0.0; 32], &[0.0; 36], &mut y, 1).is_err());
        // No images: the weight gradient is zero.
        let mut dw = vec![1.0; 36];
        conv2d_weight_grad(&ConvGeom { n: 0, ..g }, &[], &[], &mut dw, 2).unwrap();
        assert_eq!(dw, vec![0.0; 36]);
    }
}

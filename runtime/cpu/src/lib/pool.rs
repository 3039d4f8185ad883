//! Pooling and the max-pooling gradient, exactly as the reference interpreter computes them:
//! average pooling sums the window in f64 and divides by the whole window area, padding
//! included (`count_include_pad`); max pooling ignores padding and takes the first maximum of
//! each window, NaN counting as the maximum; its gradient goes to that element, summed in f64
//! where windows overlap.

use super::{ConvGeom, parts_for, split_mut};
use crate::error::{CpuError, fits};

/// Element visits from which pooling is split between threads.
const PAR_MIN_WORK: usize = 1 << 16;

/// The input coordinate a window position reads, if it is inside the image.
fn source(out_pos: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (out_pos * stride + k).checked_sub(pad).filter(|&i| i < size)
}

/// Position in the plane of the first maximum of window `(y, xo)`; NaN wins.
fn window_argmax(g: &ConvGeom, plane: &[f32], y: usize, xo: usize) -> Option<usize> {
    let mut best: Option<usize> = None;
    for ki in 0..g.kh {
        let Some(iy) = source(y, ki, g.stride[0], g.padding[0], g.h) else { continue };
        for kj in 0..g.kw {
            let Some(ix) = source(xo, kj, g.stride[1], g.padding[1], g.w) else { continue };
            let at = iy * g.w + ix;
            match best {
                Some(b) if plane[b].is_nan() => return best,
                Some(b) if !(plane[at] > plane[b] || plane[at].is_nan()) => {}
                _ => best = Some(at),
            }
        }
    }
    best
}

/// Max (`max`) or average pooling: x `[n, c, h, w]`, y `[n, c, oh, ow]`.
pub fn pool2d(g: &ConvGeom, max: bool, x: &[f32], y: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [nx, ny] = g.pool_lens()?;
    fits("pool2d input", x.len(), nx)?;
    fits("pool2d output", y.len(), ny)?;
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let planes = g.n * g.c;
    let area = g.kh as f64 * g.kw as f64;
    let parts = parts_for(threads, ny.saturating_mul(g.kh * g.kw), PAR_MIN_WORK);
    split_mut(y, planes, ohw, parts, |range, out| {
        for (p, o) in range.zip(out.chunks_mut(ohw)) {
            let plane = &x[p * hw..(p + 1) * hw];
            for yo in 0..g.oh {
                for xo in 0..g.ow {
                    o[yo * g.ow + xo] = if max {
                        window_argmax(g, plane, yo, xo).map_or(f32::NEG_INFINITY, |at| plane[at])
                    } else {
                        let mut sum = 0.0f64;
                        for ki in 0..g.kh {
                            let Some(iy) = source(yo, ki, g.stride[0], g.padding[0], g.h) else { continue };
                            for kj in 0..g.kw {
                                if let Some(ix) = source(xo, kj, g.stride[1], g.padding[1], g.w) {
                                    sum += f64::from(plane[iy * g.w + ix]);
                                }
                            }
                        }
                        (sum / area) as f32
                    };
                }
            }
        }
        Ok(())
    })
}

/// Gradient of max pooling: `dx` `[n, c, h, w]` receives each `dy` `[n, c, oh, ow]` element at
/// the first maximum of its window in `x`.
pub fn max_pool2d_grad(g: &ConvGeom, x: &[f32], dy: &[f32], dx: &mut [f32], threads: usize) -> Result<(), CpuError> {
    let [nx, ny] = g.pool_lens()?;
    fits("max_pool2d_grad input", x.len(), nx)?;
    fits("max_pool2d_grad output gradient", dy.len(), ny)?;
    fits("max_pool2d_grad result", dx.len(), nx)?;
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let parts = parts_for(threads, ny.saturating_mul(g.kh * g.kw), PAR_MIN_WORK);
    split_mut(dx, g.n * g.c, hw, parts, |range, out| {
        let mut acc = vec![0.0f64; hw];
        for (p, d) in range.zip(out.chunks_mut(hw)) {
            let plane = &x[p * hw..(p + 1) * hw];
            acc.fill(0.0);
            for yo in 0..g.oh {
                for xo in 0..g.ow {
                    if let Some(at) = window_argmax(g, plane, yo, xo) {
                        acc[at] += f64::from(dy[p * ohw + yo * g.ow + xo]);
                    }
                }
            }
            for (o, &a) in d.iter_mut().zip(&acc) {
                *o = a as f32;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(n: usize, c: usize, hw: [usize; 2], k: [usize; 2], s: [usize; 2], p: [usize; 2]) -> ConvGeom {
        let oh = (hw[0] + 2 * p[0] - k[0]) / s[0] + 1;
        let ow = (hw[1] + 2 * p[1] - k[1]) / s[1] + 1;
        ConvGeom { n, c, h: hw[0], w: hw[1], o: c, oh, ow, kh: k[0], kw: k[1], stride: s, padding: p, groups: 1 }
    }

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn pooling_follows_the_interpreter() {
        let g = geom(1, 1, [4, 4], [2, 2], [2, 2], [0, 0]);
        let x = iota(16);
        let mut y = vec![0.0; 4];
        pool2d(&g, true, &x, &mut y, 1).unwrap();
        assert_eq!(y, [5.0, 7.0, 13.0, 15.0]);
        pool2d(&g, false, &x, &mut y, 1).unwrap();
        assert_eq!(y, [2.5, 4.5, 10.5, 12.5]);
        // Padding: average pooling divides by the whole window, max pooling ignores padding.
        let gp = geom(1, 1, [4, 4], [2, 2], [2, 2], [1, 1]);
        let mut yp = vec![0.0; 9];
        pool2d(&gp, false, &x, &mut yp, 1).unwrap();
        assert_eq!((yp[0], yp[8]), (0.0, 15.0 / 4.0));
        let neg = geom(1, 1, [1, 1], [2, 2], [1, 1], [1, 1]);
        let mut yn = vec![0.0; 4];
        pool2d(&neg, true, &[-5.0], &mut yn, 1).unwrap();
        assert_eq!(yn, [-5.0; 4]);
        // NaN is the maximum.
        let g3 = geom(1, 1, [1, 3], [1, 3], [1, 1], [0, 0]);
        let mut y3 = [0.0];
        pool2d(&g3, true, &[1.0, f32::NAN, 5.0], &mut y3, 1).unwrap();
        assert!(y3[0].is_nan());
        // Average of values whose f32 sum would round: the f64 sum rounds once.
        let ga = geom(1, 1, [1, 3], [1, 3], [1, 1], [0, 0]);
        let v = [16777216.0, 1.0, 1.0];
        pool2d(&ga, false, &v, &mut y3, 1).unwrap();
        assert_eq!(y3[0], ((16777216.0f64 + 2.0) / 3.0) as f32);
    }

    #[test]
    fn odd_sizes_and_threads_agree() {
        let g = geom(3, 5, [9, 7], [3, 2], [2, 3], [1, 1]);
        let [nx, ny] = g.pool_lens().unwrap();
        let x: Vec<f32> = (0..nx).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        for max in [false, true] {
            let mut y1 = vec![0.0; ny];
            let mut y2 = vec![1.0; ny];
            pool2d(&g, max, &x, &mut y1, 1).unwrap();
            pool2d(&g, max, &x, &mut y2, 2).unwrap();
            assert_eq!(y1, y2);
        }
        let dy: Vec<f32> = (0..ny).map(|i| i as f32 * 0.5).collect();
        let (mut d1, mut d2) = (vec![0.0; nx], vec![9.0; nx]);
        max_pool2d_grad(&g, &x, &dy, &mut d1, 1).unwrap();
        max_pool2d_grad(&g, &x, &dy, &mut d2, 2).unwrap();
        assert_eq!(d1, d2);
        assert_eq!(d1.iter().sum::<f32>(), dy.iter().sum::<f32>());
    }

    #[test]
    fn gradient_goes_to_the_first_maximum() {
        let g = geom(1, 1, [2, 2], [2, 2], [2, 2], [0, 0]);
        let mut dx = vec![0.0; 4];
        max_pool2d_grad(&g, &[1.0, 3.0, 3.0, 2.0], &[7.0], &mut dx, 1).unwrap();
        assert_eq!(dx, [0.0, 7.0, 0.0, 0.0]);
        // Overlapping windows accumulate.
        let g3 = geom(1, 1, [1, 3], [1, 2], [1, 1], [0, 0]);
        let mut d3 = vec![0.0; 3];
        max_pool2d_grad(&g3, &[0.0, 9.0, 1.0], &[1.0, 2.0], &mut d3, 1).unwrap();
        assert_eq!(d3, [0.0, 3.0, 0.0]);
        let gn = geom(1, 1, [1, 3], [1, 3], [1, 1], [0, 0]);
        max_pool2d_grad(&gn, &[1.0, f32::NAN, 5.0], &[1.0], &mut d3, 1).unwrap();
        assert_eq!(d3, [0.0, 1.0, 0.0]);
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let g = geom(1, 1, [4, 4], [2, 2], [2, 2], [0, 0]);
        let mut y = vec![0.0; 4];
        assert!(pool2d(&g, true, &[0.0; 15], &mut y, 1).is_err());
        assert!(pool2d(&g, true, &[0.0; 16], &mut y[..3], 1).is_err());
        assert!(pool2d(&ConvGeom { padding: [2, 2], oh: 4, ow: 4, ..g }, true, &[0.0; 16], &mut y, 1).is_err());
        assert!(pool2d(&ConvGeom { o: 2, ..g }, true, &[0.0; 16], &mut y, 1).is_err());
        assert!(pool2d(&ConvGeom { h: 0, ..g }, true, &[], &mut y, 1).is_err());
        assert!(max_pool2d_grad(&g, &[0.0; 16], &[0.0; 3], &mut [0.0; 16], 1).is_err());
    }
}

//! Convolution and pooling over NCHW images, with PyTorch's conventions: `conv2d` weights are
//! `[O, C/groups, KH, KW]`, `conv_transpose2d` weights `[C, O/groups, KH, KW]`; padding is
//! zeros for convolutions and `-inf` for max pooling; average pooling divides by the whole
//! window (`count_include_pad=True`, PyTorch's default); output sizes round down
//! (`ceil_mode=False`). There is no dilation.
//!
//! `conv2d_weight_grad` and `max_pool2d_grad` are the gradients autodiff emits; the gradient of
//! max pooling goes to the first maximum of each window (the element the forward pass picked,
//! NaN counting as the maximum as in PyTorch).

use super::buf::{Buf, KernelResult, fmt_shape, num_elements, try_vec, try_zeroed};

/// `[N, C, H, W]` of a rank-4 operand.
fn dims4(x: &Buf, what: &str) -> Result<[usize; 4], String> {
    match x.shape[..] {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(format!("{what} must have rank 4 (NCHW), got shape {}", fmt_shape(&x.shape))),
    }
}

fn check_positive(v: [usize; 2], what: &str) -> Result<(), String> {
    if v[0] == 0 || v[1] == 0 { Err(format!("{what} must be at least 1, got {v:?}")) } else { Ok(()) }
}

/// Output size of a window sliding over `size` input positions with zero `pad` on both sides.
fn out_size(size: usize, kernel: usize, stride: usize, pad: usize) -> Result<usize, String> {
    let padded = pad.checked_mul(2).and_then(|p| p.checked_add(size)).ok_or("padding overflows")?;
    if padded < kernel {
        return Err(format!("kernel size {kernel} is larger than the padded input size {padded}"));
    }
    Ok((padded - kernel) / stride + 1)
}

/// The input coordinate a window position reads, if it is inside the image.
fn source(out_pos: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (out_pos * stride + k).checked_sub(pad).filter(|&i| i < size)
}

fn check_groups(groups: usize, channels: usize, what: &str) -> Result<(), String> {
    if groups == 0 {
        return Err("groups must be at least 1".into());
    }
    if !channels.is_multiple_of(groups) {
        return Err(format!("{what} ({channels}) is not divisible by groups ({groups})"));
    }
    Ok(())
}

pub fn conv2d(x: &Buf, w: &Buf, stride: [usize; 2], padding: [usize; 2], groups: usize) -> KernelResult {
    let [n, c, h, wd] = dims4(x, "input")?;
    let [o, cg, kh, kw] = dims4(w, "weight")?;
    check_positive(stride, "stride")?;
    check_groups(groups, c, "input channels")?;
    check_groups(groups, o, "output channels")?;
    if c / groups != cg {
        return Err(format!(
            "weight {} expects {} input channels per group, the input {} has {} ({} groups)",
            fmt_shape(&w.shape),
            cg,
            fmt_shape(&x.shape),
            c / groups,
            groups
        ));
    }
    let oh = out_size(h, kh, stride[0], padding[0])?;
    let ow = out_size(wd, kw, stride[1], padding[1])?;
    let og = o / groups;
    let mut out = try_zeroed(num_elements(&[n, o, oh, ow])?)?;
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            let plane = &mut out[(b * o + oc) * oh * ow..(b * o + oc + 1) * oh * ow];
            for ci in 0..cg {
                let xin = &x.data[(b * c + g * cg + ci) * h * wd..(b * c + g * cg + ci + 1) * h * wd];
                for ki in 0..kh {
                    for kj in 0..kw {
                        let wv = w.data[((oc * cg + ci) * kh + ki) * kw + kj];
                        for y in 0..oh {
                            let Some(iy) = source(y, ki, stride[0], padding[0], h) else { continue };
                            for xo in 0..ow {
                                if let Some(ix) = source(xo, kj, stride[1], padding[1], wd) {
                                    plane[y * ow + xo] += wv * xin[iy * wd + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Buf::new(vec![n, o, oh, ow], out))
}

pub fn conv_transpose2d(
    x: &Buf,
    w: &Buf,
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    groups: usize,
) -> KernelResult {
    let [n, c, h, wd] = dims4(x, "input")?;
    let [wc, og, kh, kw] = dims4(w, "weight")?;
    check_positive(stride, "stride")?;
    check_groups(groups, c, "input channels")?;
    if wc != c {
        return Err(format!(
            "weight {} expects {wc} input channels, the input {} has {c}",
            fmt_shape(&w.shape),
            fmt_shape(&x.shape)
        ));
    }
    if output_padding[0] >= stride[0] || output_padding[1] >= stride[1] {
        return Err(format!("output_padding {output_padding:?} must be smaller than stride {stride:?}"));
    }
    if h == 0 || wd == 0 {
        return Err(format!("input {} has an empty spatial axis", fmt_shape(&x.shape)));
    }
    // (len - 1) * s + k + op - 2p, refusing overflow and empty results.
    let size = |len: usize, s: usize, k: usize, op: usize, p: usize| -> Result<usize, String> {
        let full = (len - 1).checked_mul(s).and_then(|v| v.checked_add(k)).and_then(|v| v.checked_add(op));
        full.and_then(|v| v.checked_sub(p.checked_mul(2)?))
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("padding {padding:?} leaves no output for input {}", fmt_shape(&x.shape)))
    };
    let oh = size(h, stride[0], kh, output_padding[0], padding[0])?;
    let ow = size(wd, stride[1], kw, output_padding[1], padding[1])?;
    let o = og.checked_mul(groups).ok_or("output channels overflow")?;
    let cg = c / groups;
    let mut out = try_zeroed(num_elements(&[n, o, oh, ow])?)?;
    for b in 0..n {
        for ci in 0..c {
            let g = ci / cg;
            let xin = &x.data[(b * c + ci) * h * wd..(b * c + ci + 1) * h * wd];
            for oc in 0..og {
                let plane_start = (b * o + g * og + oc) * oh * ow;
                let plane = &mut out[plane_start..plane_start + oh * ow];
                for ki in 0..kh {
                    for kj in 0..kw {
                        let wv = w.data[((ci * og + oc) * kh + ki) * kw + kj];
                        for iy in 0..h {
                            let Some(y) = (iy * stride[0] + ki).checked_sub(padding[0]).filter(|&y| y < oh) else {
                                continue;
                            };
                            for ix in 0..wd {
                                if let Some(xo) = (ix * stride[1] + kj).checked_sub(padding[1]).filter(|&v| v < ow) {
                                    plane[y * ow + xo] += wv * xin[iy * wd + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Buf::new(vec![n, o, oh, ow], out))
}

/// Gradient of `conv2d` with respect to its weight, whose shape `[O, C/groups, KH, KW]` is the
/// node's type.
pub fn conv2d_weight_grad(
    x: &Buf,
    gy: &Buf,
    weight_shape: &[usize],
    stride: [usize; 2],
    padding: [usize; 2],
    groups: usize,
) -> KernelResult {
    let [n, c, h, wd] = dims4(x, "input")?;
    let [gn, o, oh, ow] = dims4(gy, "grad_out")?;
    let [wo, cg, kh, kw] = match weight_shape {
        &[a, b, c, d] => [a, b, c, d],
        _ => return Err(format!("weight type must have rank 4, got {}", fmt_shape(weight_shape))),
    };
    check_positive(stride, "stride")?;
    check_groups(groups, c, "input channels")?;
    check_groups(groups, o, "output channels")?;
    let expected_oh = out_size(h, kh, stride[0], padding[0])?;
    let expected_ow = out_size(wd, kw, stride[1], padding[1])?;
    if gn != n || wo != o || cg != c / groups || expected_oh != oh || expected_ow != ow {
        return Err(format!(
            "grad_out {} does not match conv2d of input {} with a weight {}",
            fmt_shape(&gy.shape),
            fmt_shape(&x.shape),
            fmt_shape(weight_shape)
        ));
    }
    let og = o / groups;
    let mut dw = try_zeroed(num_elements(weight_shape)?)?;
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            let gplane = &gy.data[(b * o + oc) * oh * ow..(b * o + oc + 1) * oh * ow];
            for ci in 0..cg {
                let xin = &x.data[(b * c + g * cg + ci) * h * wd..(b * c + g * cg + ci + 1) * h * wd];
                for ki in 0..kh {
                    for kj in 0..kw {
                        let mut acc = 0.0;
                        for y in 0..oh {
                            let Some(iy) = source(y, ki, stride[0], padding[0], h) else { continue };
                            for xo in 0..ow {
                                if let Some(ix) = source(xo, kj, stride[1], padding[1], wd) {
                                    acc += gplane[y * ow + xo] * xin[iy * wd + ix];
                                }
                            }
                        }
                        dw[((oc * cg + ci) * kh + ki) * kw + kj] += acc;
                    }
                }
            }
        }
    }
    Ok(Buf::new(weight_shape.to_vec(), dw))
}

/// Checks pooling attributes (and that the image is not empty, so planes can be chunked) and
/// returns the input's dimensions and the output size `[OH, OW]`.
fn pool_geometry(
    x: &Buf,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<([usize; 4], [usize; 2]), String> {
    let dims = dims4(x, "input")?;
    if dims[2] == 0 || dims[3] == 0 {
        return Err(format!("input {} has an empty spatial axis", fmt_shape(&x.shape)));
    }
    check_positive(kernel, "kernel")?;
    check_positive(stride, "stride")?;
    // PyTorch's rule; it also guarantees every window holds at least one real element.
    if 2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1] {
        return Err(format!("padding {padding:?} must be at most half of the kernel {kernel:?}"));
    }
    let oh = out_size(dims[2], kernel[0], stride[0], padding[0])?;
    let ow = out_size(dims[3], kernel[1], stride[1], padding[1])?;
    Ok((dims, [oh, ow]))
}

/// Position (in the plane) of the first maximum of one max-pooling window; NaN wins.
fn window_argmax(
    plane: &[f64],
    [h, w]: [usize; 2],
    [y, xo]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for ki in 0..kernel[0] {
        let Some(iy) = source(y, ki, stride[0], padding[0], h) else { continue };
        for kj in 0..kernel[1] {
            let Some(ix) = source(xo, kj, stride[1], padding[1], w) else { continue };
            let at = iy * w + ix;
            match best {
                Some(b) if plane[b].is_nan() => return best,
                Some(b) if !(plane[at] > plane[b] || plane[at].is_nan()) => {}
                _ => best = Some(at),
            }
        }
    }
    best
}

pub fn avg_pool2d(x: &Buf, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> KernelResult {
    let ([n, c, h, w], [oh, ow]) = pool_geometry(x, kernel, stride, padding)?;
    let area = kernel[0] as f64 * kernel[1] as f64;
    let mut out = try_vec(num_elements(&[n, c, oh, ow])?)?;
    for plane in x.data.chunks(h * w).take(n * c) {
        for y in 0..oh {
            for xo in 0..ow {
                let mut sum = 0.0;
                for ki in 0..kernel[0] {
                    let Some(iy) = source(y, ki, stride[0], padding[0], h) else { continue };
                    for kj in 0..kernel[1] {
                        if let Some(ix) = source(xo, kj, stride[1], padding[1], w) {
                            sum += plane[iy * w + ix];
                        }
                    }
                }
                out.push(sum / area);
            }
        }
    }
    Ok(Buf::new(vec![n, c, oh, ow], out))
}

pub fn max_pool2d(x: &Buf, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> KernelResult {
    let ([n, c, h, w], [oh, ow]) = pool_geometry(x, kernel, stride, padding)?;
    let mut out = try_vec(num_elements(&[n, c, oh, ow])?)?;
    for plane in x.data.chunks(h * w).take(n * c) {
        for y in 0..oh {
            for xo in 0..ow {
                let v = window_argmax(plane, [h, w], [y, xo], kernel, stride, padding)
                    .map_or(f64::NEG_INFINITY, |at| plane[at]);
                out.push(v);
            }
        }
    }
    Ok(Buf::new(vec![n, c, oh, ow], out))
}

pub fn max_pool2d_grad(x: &Buf, gy: &Buf, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> KernelResult {
    let ([n, c, h, w], [oh, ow]) = pool_geometry(x, kernel, stride, padding)?;
    if gy.shape != [n, c, oh, ow] {
        return Err(format!(
            "grad_out {} does not match max_pool2d of input {} (expected {})",
            fmt_shape(&gy.shape),
            fmt_shape(&x.shape),
            fmt_shape(&[n, c, oh, ow])
        ));
    }
    let mut dx = try_zeroed(x.len())?;
    for (p, (plane, dplane)) in x.data.chunks(h * w).zip(dx.chunks_mut(h * w)).enumerate() {
        for y in 0..oh {
            for xo in 0..ow {
                if let Some(at) = window_argmax(plane, [h, w], [y, xo], kernel, stride, padding) {
                    dplane[at] += gy.data[(p * oh + y) * ow + xo];
                }
            }
        }
    }
    Ok(Buf::new(x.shape.clone(), dx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(shape: &[usize]) -> Buf {
        let n: usize = shape.iter().product();
        Buf::new(shape.to_vec(), (0..n).map(|i| i as f64).collect())
    }

    fn ones(shape: &[usize]) -> Buf {
        Buf::new(shape.to_vec(), vec![1.0; shape.iter().product()])
    }

    #[test]
    fn conv2d_valid_and_padded() {
        // 3x3 image 0..9, 2x2 kernel of ones: sums of 2x2 blocks.
        let x = iota(&[1, 1, 3, 3]);
        let y = conv2d(&x, &ones(&[1, 1, 2, 2]), [1, 1], [0, 0], 1).unwrap();
        assert_eq!((y.shape, y.data), (vec![1, 1, 2, 2], vec![8.0, 12.0, 20.0, 24.0]));
        // Padding 1, stride 2: windows at corners see zero padding.
        let z = conv2d(&x, &ones(&[1, 1, 2, 2]), [2, 2], [1, 1], 1).unwrap();
        assert_eq!((z.shape, z.data), (vec![1, 1, 2, 2], vec![0.0, 3.0, 9.0, 24.0]));
    }

    #[test]
    fn conv2d_groups_keep_channels_apart() {
        // Two channels, two groups, each output channel sees only its own input channel.
        let x = Buf::new(vec![1, 2, 1, 1], vec![3.0, 5.0]);
        let w = Buf::new(vec![2, 1, 1, 1], vec![10.0, 100.0]);
        let y = conv2d(&x, &w, [1, 1], [0, 0], 2).unwrap();
        assert_eq!(y.data, vec![30.0, 500.0]);
        let full = conv2d(&x, &Buf::new(vec![1, 2, 1, 1], vec![10.0, 100.0]), [1, 1], [0, 0], 1).unwrap();
        assert_eq!(full.data, vec![530.0]);
        assert!(conv2d(&x, &Buf::new(vec![2, 2, 1, 1], vec![0.0; 4]), [1, 1], [0, 0], 2).is_err());
        assert!(conv2d(&x, &w, [1, 1], [0, 0], 0).is_err());
        assert!(conv2d(&x, &ones(&[1, 1, 2, 2]), [1, 1], [0, 0], 2).is_err());
        assert!(conv2d(&iota(&[1, 1, 2]), &w, [1, 1], [0, 0], 1).unwrap_err().contains("rank 4"));
        // Absurd attributes are errors, not overflows or huge allocations.
        assert!(conv2d(&x, &w, [1, 1], [usize::MAX / 2, 0], 2).is_err());
        assert!(conv2d(&x, &w, [1, 1], [1 << 20, 1 << 20], 2).unwrap_err().contains("limit"));
        assert!(conv_transpose2d(&iota(&[1, 2, 2, 2]), &w, [usize::MAX, 2], [0, 0], [0, 0], 2).is_err());
    }

    #[test]
    fn conv_transpose2d_scatters_each_input() {
        // Stride 2, 2x2 kernel of ones: each input pixel becomes a 2x2 block.
        let x = Buf::new(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let y = conv_transpose2d(&x, &ones(&[1, 1, 2, 2]), [2, 2], [0, 0], [0, 0], 1).unwrap();
        assert_eq!(y.shape, vec![1, 1, 4, 4]);
        assert_eq!(y.data, vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
        // output_padding adds a row and column that no input reaches.
        let p = conv_transpose2d(&x, &ones(&[1, 1, 2, 2]), [2, 2], [0, 0], [1, 1], 1).unwrap();
        assert_eq!(p.shape, vec![1, 1, 5, 5]);
        assert_eq!(&p.data[20..25], &[0.0; 5]);
        // Stride 1, 3x3 kernel, padding 1 keeps the size.
        let q = conv_transpose2d(&x, &ones(&[1, 1, 3, 3]), [1, 1], [1, 1], [0, 0], 1).unwrap();
        assert_eq!((q.shape, q.data), (vec![1, 1, 2, 2], vec![10.0; 4]));
        assert!(conv_transpose2d(&x, &ones(&[1, 1, 2, 2]), [1, 1], [0, 0], [1, 0], 1).is_err());
        assert!(conv_transpose2d(&x, &ones(&[2, 1, 2, 2]), [1, 1], [0, 0], [0, 0], 1).is_err());
    }

    #[test]
    fn conv_transpose2d_groups() {
        // Weight [C=2, O/g=1, 1, 1] with two groups: output channel g reads input channel g.
        let x = Buf::new(vec![1, 2, 1, 1], vec![3.0, 5.0]);
        let w = Buf::new(vec![2, 1, 1, 1], vec![10.0, 100.0]);
        let y = conv_transpose2d(&x, &w, [1, 1], [0, 0], [0, 0], 2).unwrap();
        assert_eq!((y.shape, y.data), (vec![1, 2, 1, 1], vec![30.0, 500.0]));
        let z = conv_transpose2d(&x, &w, [1, 1], [0, 0], [0, 0], 1).unwrap();
        assert_eq!((z.shape, z.data), (vec![1, 1, 1, 1], vec![530.0]));
    }

    #[test]
    fn weight_grad_is_correlation_of_input_and_grad() {
        let x = iota(&[1, 1, 3, 3]);
        let gy = ones(&[1, 1, 2, 2]);
        let dw = conv2d_weight_grad(&x, &gy, &[1, 1, 2, 2], [1, 1], [0, 0], 1).unwrap();
        // dw[i][j] = sum of the 2x2 block of x starting at (i, j).
        assert_eq!(dw.data, vec![8.0, 12.0, 20.0, 24.0]);
        assert!(conv2d_weight_grad(&x, &ones(&[1, 1, 3, 3]), &[1, 1, 2, 2], [1, 1], [0, 0], 1).is_err());
        assert!(conv2d_weight_grad(&x, &gy, &[1, 2, 2], [1, 1], [0, 0], 1).is_err());
    }

    #[test]
    fn pooling() {
        let x = iota(&[1, 1, 4, 4]);
        let m = max_pool2d(&x, [2, 2], [2, 2], [0, 0]).unwrap();
        assert_eq!((m.shape, m.data), (vec![1, 1, 2, 2], vec![5.0, 7.0, 13.0, 15.0]));
        let a = avg_pool2d(&x, [2, 2], [2, 2], [0, 0]).unwrap();
        assert_eq!(a.data, vec![2.5, 4.5, 10.5, 12.5]);
        // Padding 1 with a 2x2 kernel: the corner window holds one real element; average
        // pooling still divides by 4 (count_include_pad), max pooling ignores the padding.
        let ap = avg_pool2d(&x, [2, 2], [2, 2], [1, 1]).unwrap();
        assert_eq!(ap.shape, vec![1, 1, 3, 3]);
        assert_eq!(ap.data[0], 0.0);
        assert_eq!(ap.data[8], 15.0 / 4.0);
        let neg = Buf::new(vec![1, 1, 1, 1], vec![-5.0]);
        assert_eq!(max_pool2d(&neg, [2, 2], [1, 1], [1, 1]).unwrap().data, vec![-5.0; 4]);
        assert!(max_pool2d(&x, [2, 2], [2, 2], [2, 2]).unwrap_err().contains("half"));
        assert!(avg_pool2d(&x, [0, 2], [2, 2], [0, 0]).is_err());
        assert!(max_pool2d(&x, [5, 5], [1, 1], [0, 0]).is_err());
        assert!(max_pool2d(&iota(&[1, 1, 0, 2]), [1, 1], [1, 1], [0, 0]).unwrap_err().contains("empty"));
    }

    #[test]
    fn max_pool_grad_routes_to_first_max() {
        let x = Buf::new(vec![1, 1, 2, 2], vec![1.0, 3.0, 3.0, 2.0]);
        let gy = Buf::new(vec![1, 1, 1, 1], vec![7.0]);
        let dx = max_pool2d_grad(&x, &gy, [2, 2], [2, 2], [0, 0]).unwrap();
        assert_eq!(dx.data, vec![0.0, 7.0, 0.0, 0.0]);
        // Overlapping windows accumulate.
        let x3 = Buf::new(vec![1, 1, 1, 3], vec![0.0, 9.0, 1.0]);
        let g3 = Buf::new(vec![1, 1, 1, 2], vec![1.0, 2.0]);
        let d3 = max_pool2d_grad(&x3, &g3, [1, 2], [1, 1], [0, 0]).unwrap();
        assert_eq!(d3.data, vec![0.0, 3.0, 0.0]);
        let nan = Buf::new(vec![1, 1, 1, 3], vec![1.0, f64::NAN, 5.0]);
        assert!(max_pool2d(&nan, [1, 3], [1, 1], [0, 0]).unwrap().data[0].is_nan());
        let dn = max_pool2d_grad(&nan, &Buf::new(vec![1, 1, 1, 1], vec![1.0]), [1, 3], [1, 1], [0, 0]).unwrap();
        assert_eq!(dn.data, vec![0.0, 1.0, 0.0]);
        assert!(max_pool2d_grad(&x, &x, [2, 2], [2, 2], [0, 0]).unwrap_err().contains("grad_out"));
    }
}

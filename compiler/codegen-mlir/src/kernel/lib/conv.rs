//! Direct convolutions and pooling over NCHW images, one work item per element of the result:
//! the convolution, its transpose (the gradient with respect to the input) and its weight
//! gradient sum their window in f32 in loop order; pooling follows the CPU library exactly
//! (average over the whole window in f64, first maximum with NaN as the maximum, its gradient
//! summed in f64 in window order).

use hg_abi::plan::{Conv2dGeom, LibCall};

use crate::CodegenError;
use crate::kernel::Emitter;

/// `(i / d) mod m` and `i / d / m` pieces of a flat position: splits `i` into coordinates of
/// the sizes `dims` (innermost last); the first coordinate is not reduced.
fn split(e: &mut Emitter, i: &str, dims: &[usize]) -> Vec<String> {
    let mut coords = vec![String::new(); dims.len()];
    let mut rest = i.to_string();
    for (slot, &d) in coords.iter_mut().zip(dims).rev().take(dims.len() - 1) {
        let d = e.c64(d);
        *slot = e.rem(&rest, &d);
        rest = e.div(&rest, &d);
    }
    coords[0] = rest;
    coords
}

/// The input coordinate `out * stride + k - pad` a window tap reads, and whether it lies in
/// `0..size`.
fn source(e: &mut Emitter, out: &str, k: &str, stride: usize, pad: usize, size: usize) -> (String, String) {
    let at = e.mul_add(out, stride, k);
    let pad = e.c64(pad);
    let at = e.sub(&at, &pad);
    let size = e.c64(size);
    let ok = e.in_range(&at, &size);
    (at, ok)
}

/// The output coordinate whose window tap `k` reads input coordinate `at`
/// (`(at + pad - k) / stride`), and whether there is one: the division exact and the result in
/// `0..size`.
fn target(e: &mut Emitter, at: &str, k: &str, stride: usize, pad: usize, size: usize) -> (String, String) {
    let pad = e.c64(pad);
    let shifted = e.add(at, &pad);
    let shifted = e.sub(&shifted, k);
    let s = e.c64(stride);
    let zero = e.c64(0);
    let r = e.rem(&shifted, &s);
    let exact = e.op(format!("arith.cmpi eq, {r}, {zero} : i64"));
    let out = e.div(&shifted, &s);
    let size = e.c64(size);
    let nonneg = e.op(format!("arith.cmpi sge, {shifted}, {zero} : i64"));
    let below = e.op(format!("arith.cmpi slt, {out}, {size} : i64"));
    let ok = e.arith("andi", &exact, &nonneg, "i1");
    (out, e.arith("andi", &ok, &below, "i1"))
}

/// `((a * sa + b) * sb + c) * sc + d`: a flat NCHW position.
fn flat(e: &mut Emitter, coords: [&str; 4], dims: [usize; 3]) -> String {
    let p = e.mul_add(coords[0], dims[0], coords[1]);
    let p = e.mul_add(&p, dims[1], coords[2]);
    e.mul_add(&p, dims[2], coords[3])
}

/// `acc + a * b` in f32.
fn mac(e: &mut Emitter, acc: &str, a: &str, b: &str) -> String {
    let ab = e.arith("mulf", a, b, "f32");
    e.arith("addf", acc, &ab, "f32")
}

/// Work item `i` of a convolution or pooling call.
pub(super) fn item(e: &mut Emitter, call: &LibCall, i: &str) -> Result<(), CodegenError> {
    match call {
        LibCall::Conv2d(g) => conv(e, g, i),
        LibCall::ConvTranspose2d(g) => conv_transpose(e, g, i),
        LibCall::Conv2dWeightGrad(g) => weight_grad(e, g, i),
        LibCall::Pool2d { geom, max: true } => max_pool(e, geom, i),
        LibCall::Pool2d { geom, max: false } => avg_pool(e, geom, i),
        LibCall::MaxPool2dGrad(g) => max_pool_grad(e, g, i),
        _ => Err(e.unsupported("is not a convolution or pooling".into())),
    }
}

/// Groups' channel counts: `(c / groups, o / groups)`.
fn per_group(e: &Emitter, g: &Conv2dGeom) -> Result<(usize, usize), CodegenError> {
    if g.groups == 0 || !g.c.is_multiple_of(g.groups) || !g.o.is_multiple_of(g.groups) {
        return Err(e.unsupported(format!("has {} groups for {} and {} channels", g.groups, g.c, g.o)));
    }
    Ok((g.c / g.groups, g.o / g.groups))
}

/// One term of a window sum: whether its tap lies inside the image, and the positions of its
/// two factors, `(argument, position)`, multiplied in this order.
struct Term {
    inside: String,
    factors: [(usize, String); 2],
}

/// `Σ` over `i < n[0]`, `j < n[1]`, `k < n[2]` (in loop order, f32) of the products `term`
/// describes; a term outside the image adds nothing (and reads nothing).
fn window_sum(
    e: &mut Emitter,
    n: [String; 3],
    term: impl Fn(&mut Emitter, [&str; 3]) -> Term,
) -> Result<String, CodegenError> {
    let zero = e.f32_const(0.0);
    let sum = e.for_n(&n[0], vec![(zero, "f32")], |e, i, acc| {
        e.for_n(&n[1], vec![(acc[0].clone(), "f32")], |e, j, acc| {
            e.for_n(&n[2], vec![(acc[0].clone(), "f32")], |e, k, acc| {
                let Term { inside, factors: [(a, pa), (b, pb)] } = term(e, [i, j, k]);
                let acc = acc[0].clone();
                e.if_else(
                    &inside,
                    &["f32"],
                    |e| {
                        let x = e.load(a, &pa)?;
                        let y = e.load(b, &pb)?;
                        Ok(vec![mac(e, &acc, &x, &y)])
                    },
                    |_| Ok(vec![acc.clone()]),
                )
            })
        })
    })?;
    Ok(sum[0].clone())
}

/// args (x, w, y): y[b, oc, yo, xo] = Σ x[b, gi·cg + ci, iy, ix] w[oc, ci, ki, kj].
fn conv(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let (cg, og) = per_group(e, g)?;
    let c = split(e, i, &[0, g.o, g.oh, g.ow]);
    let (b, oc, yo, xo) = (&c[0], &c[1], &c[2], &c[3]);
    let og_c = e.c64(og);
    let gi = e.div(oc, &og_c);
    let group_size = e.c64(cg);
    let first = e.mul(&gi, &group_size);
    let n = [e.c64(cg), e.c64(g.kh), e.c64(g.kw)];
    let sum = window_sum(e, n, |e, [ci, ki, kj]| {
        let ch = e.add(&first, ci);
        let (iy, oky) = source(e, yo, ki, g.stride[0], g.padding[0], g.h);
        let (ix, okx) = source(e, xo, kj, g.stride[1], g.padding[1], g.w);
        let inside = e.arith("andi", &oky, &okx, "i1");
        let xp = flat(e, [b, &ch, &iy, &ix], [g.c, g.h, g.w]);
        let wp = flat(e, [oc, ci, ki, kj], [cg, g.kh, g.kw]);
        Term { inside, factors: [(0, xp), (1, wp)] }
    })?;
    e.store(2, i, &sum)
}

/// args (dy, w, dx): dx[b, ch, iy, ix] = Σ w[oc, ci, ki, kj] dy[b, oc, yo, xo] over the taps
/// whose window reads (iy, ix).
fn conv_transpose(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let (cg, og) = per_group(e, g)?;
    let c = split(e, i, &[0, g.c, g.h, g.w]);
    let (b, ch, iy, ix) = (&c[0], &c[1], &c[2], &c[3]);
    let ncg = e.c64(cg);
    let gi = e.div(ch, &ncg);
    let ci = e.rem(ch, &ncg);
    let group_size = e.c64(og);
    let first = e.mul(&gi, &group_size);
    let n = [e.c64(og), e.c64(g.kh), e.c64(g.kw)];
    let sum = window_sum(e, n, |e, [oq, ki, kj]| {
        let oc = e.add(&first, oq);
        let (yo, oky) = target(e, iy, ki, g.stride[0], g.padding[0], g.oh);
        let (xo, okx) = target(e, ix, kj, g.stride[1], g.padding[1], g.ow);
        let inside = e.arith("andi", &oky, &okx, "i1");
        let dp = flat(e, [b, &oc, &yo, &xo], [g.o, g.oh, g.ow]);
        let wp = flat(e, [&oc, &ci, ki, kj], [cg, g.kh, g.kw]);
        Term { inside, factors: [(1, wp), (0, dp)] }
    })?;
    e.store(2, i, &sum)
}

/// args (x, dy, dw): dw[oc, ci, ki, kj] = Σ_{b, yo, xo} x[b, gi·cg + ci, iy, ix] dy[b, oc, yo, xo].
fn weight_grad(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let (cg, og) = per_group(e, g)?;
    let c = split(e, i, &[0, cg, g.kh, g.kw]);
    let (oc, ci, ki, kj) = (&c[0], &c[1], &c[2], &c[3]);
    let nog = e.c64(og);
    let gi = e.div(oc, &nog);
    let ch = e.mul_add(&gi, cg, ci);
    let n = [e.size(g.n), e.c64(g.oh), e.c64(g.ow)];
    let sum = window_sum(e, n, |e, [b, yo, xo]| {
        let (iy, oky) = source(e, yo, ki, g.stride[0], g.padding[0], g.h);
        let (ix, okx) = source(e, xo, kj, g.stride[1], g.padding[1], g.w);
        let inside = e.arith("andi", &oky, &okx, "i1");
        let xp = flat(e, [b, &ch, &iy, &ix], [g.c, g.h, g.w]);
        let dp = flat(e, [b, oc, yo, xo], [g.o, g.oh, g.ow]);
        Term { inside, factors: [(0, xp), (1, dp)] }
    })?;
    e.store(2, i, &sum)
}

/// The first maximum of window `(yo, xo)` of the plane at `plane` in argument 0, NaN counting
/// as the maximum: `(found, value, position in the plane)`.
fn window_argmax(
    e: &mut Emitter,
    g: &Conv2dGeom,
    plane: &str,
    yo: &str,
    xo: &str,
) -> Result<Vec<String>, CodegenError> {
    let no = e.bool_const(false);
    let zero = e.f32_const(0.0);
    let none = e.c64(0);
    let (nkh, nkw, w) = (e.c64(g.kh), e.c64(g.kw), e.c64(g.w));
    let carry = vec![(no, "i1"), (zero, "f32"), (none, "i64")];
    e.for_n(&nkh, carry, |e, ki, best| {
        let (iy, oky) = source(e, yo, ki, g.stride[0], g.padding[0], g.h);
        let carry = best.iter().zip(["i1", "f32", "i64"]).map(|(v, t)| (v.clone(), t)).collect();
        e.for_n(&nkw, carry, |e, kj, best| {
            let (ix, okx) = source(e, xo, kj, g.stride[1], g.padding[1], g.w);
            let ok = e.arith("andi", &oky, &okx, "i1");
            let best = best.to_vec();
            e.if_else(
                &ok,
                &["i1", "f32", "i64"],
                |e| {
                    let (found, value, at) = (&best[0], &best[1], &best[2]);
                    let row = e.mul(&iy, &w);
                    let pos = e.add(&row, &ix);
                    let p = e.add(plane, &pos);
                    let v = e.load(0, &p)?;
                    let v_nan = e.op(format!("arith.cmpf uno, {v}, {v} : f32"));
                    let best_nan = e.op(format!("arith.cmpf uno, {value}, {value} : f32"));
                    let larger = e.op(format!("arith.cmpf ogt, {v}, {value} : f32"));
                    let wins = e.arith("ori", &larger, &v_nan, "i1");
                    let open = e.not(&best_nan);
                    let wins = e.arith("andi", &open, &wins, "i1");
                    let empty = e.not(found);
                    let take = e.arith("ori", &empty, &wins, "i1");
                    let yes = e.bool_const(true);
                    let found = e.select(&take, &yes, found, "i1");
                    let value = e.select(&take, &v, value, "f32");
                    let at = e.select(&take, &pos, at, "i64");
                    Ok(vec![found, value, at])
                },
                |_| Ok(best.clone()),
            )
        })
    })
}

/// args (x, y): the first maximum of each window, `-inf` for a window inside the padding.
fn max_pool(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let c = split(e, i, &[0, g.oh, g.ow]);
    let hw = e.c64(g.h * g.w);
    let plane = e.mul(&c[0], &hw);
    let best = window_argmax(e, g, &plane, &c[1], &c[2])?;
    let low = e.f32_const(f32::NEG_INFINITY);
    let y = e.select(&best[0], &best[1], &low, "f32");
    e.store(1, i, &y)
}

/// args (x, y): the window's sum in f64 over the whole window's area, padding included.
fn avg_pool(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let c = split(e, i, &[0, g.oh, g.ow]);
    let (yo, xo) = (&c[1], &c[2]);
    let hw = e.c64(g.h * g.w);
    let plane = e.mul(&c[0], &hw);
    let zero = e.f64_const(0.0);
    let (nkh, nkw, w) = (e.c64(g.kh), e.c64(g.kw), e.c64(g.w));
    let sum = e.for_n(&nkh, vec![(zero, "f64")], |e, ki, acc| {
        let (iy, oky) = source(e, yo, ki, g.stride[0], g.padding[0], g.h);
        e.for_n(&nkw, vec![(acc[0].clone(), "f64")], |e, kj, acc| {
            let (ix, okx) = source(e, xo, kj, g.stride[1], g.padding[1], g.w);
            let ok = e.arith("andi", &oky, &okx, "i1");
            let acc = acc[0].clone();
            e.if_else(
                &ok,
                &["f64"],
                |e| {
                    let row = e.mul(&iy, &w);
                    let p = e.add(&plane, &row);
                    let p = e.add(&p, &ix);
                    let v = e.load(0, &p)?;
                    let v = e.op(format!("arith.extf {v} : f32 to f64"));
                    Ok(vec![e.arith("addf", &acc, &v, "f64")])
                },
                |_| Ok(vec![acc.clone()]),
            )
        })
    })?;
    let area = e.f64_const(g.kh as f64 * g.kw as f64);
    let mean = e.arith("divf", &sum[0], &area, "f64");
    let y = e.op(format!("arith.truncf {mean} : f64 to f32"));
    e.store(1, i, &y)
}

/// args (x, dy, dx): dx[p, iy, ix] = Σ dy[p, yo, xo] over the windows whose first maximum is
/// (iy, ix), in f64, windows in row-major order (taps walked from the last, so `yo` and `xo`
/// ascend).
fn max_pool_grad(e: &mut Emitter, g: &Conv2dGeom, i: &str) -> Result<(), CodegenError> {
    let c = split(e, i, &[0, g.h, g.w]);
    let (p, iy, ix) = (&c[0], &c[1], &c[2]);
    let hw = e.c64(g.h * g.w);
    let plane = e.mul(p, &hw);
    let w = e.c64(g.w);
    let row = e.mul(iy, &w);
    let pos = e.add(&row, ix);
    let ohw = e.c64(g.oh * g.ow);
    let grads = e.mul(p, &ohw);
    let zero = e.f64_const(0.0);
    let (nkh, nkw) = (e.c64(g.kh), e.c64(g.kw));
    let (last_h, last_w) = (e.c64(g.kh.saturating_sub(1)), e.c64(g.kw.saturating_sub(1)));
    let sum = e.for_n(&nkh, vec![(zero, "f64")], |e, a, acc| {
        let ki = e.sub(&last_h, a);
        let (yo, oky) = target(e, iy, &ki, g.stride[0], g.padding[0], g.oh);
        e.for_n(&nkw, vec![(acc[0].clone(), "f64")], |e, bq, acc| {
            let kj = e.sub(&last_w, bq);
            let (xo, okx) = target(e, ix, &kj, g.stride[1], g.padding[1], g.ow);
            let ok = e.arith("andi", &oky, &okx, "i1");
            let acc = acc[0].clone();
            e.if_else(
                &ok,
                &["f64"],
                |e| {
                    let best = window_argmax(e, g, &plane, &yo, &xo)?;
                    let here = e.op(format!("arith.cmpi eq, {}, {pos} : i64", best[2]));
                    let routed = e.arith("andi", &best[0], &here, "i1");
                    let q = e.mul_add(&yo, g.ow, &xo);
                    let q = e.add(&grads, &q);
                    let dy = e.load(1, &q)?;
                    let dy = e.op(format!("arith.extf {dy} : f32 to f64"));
                    let added = e.arith("addf", &acc, &dy, "f64");
                    Ok(vec![e.select(&routed, &added, &acc, "f64")])
                },
                |_| Ok(vec![acc.clone()]),
            )
        })
    })?;
    let y = e.op(format!("arith.truncf {} : f64 to f32", sum[0]));
    e.store(2, i, &y)
}

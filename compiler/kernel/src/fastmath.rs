//! The f32 transcendental functions of compiled code: `exp`, `log`, `sigmoid`, `tanh`,
//! `softplus` and `gelu` as polynomial and rational approximations computed in f32 arithmetic
//! with fused multiply-add, instead of the interpreter's f64 functions rounded to f32.
//!
//! **Why.** A call into f64 libm per element costs tens of nanoseconds and keeps the loop
//! around it scalar; these are a few dozen f32 instructions without branches or tables, which
//! a code generator emits inline and runs on four lanes at once (the Cranelift backend's
//! `f32x4` loops). The price is a few units in the last place, far inside the tolerances of
//! `docs/numerics.md`.
//!
//! **One definition.** Each function is written once, generically over [`Arith`], the handful
//! of lane-wise f32/i32 operations it uses (IEEE `+ - * /`, fused multiply-add, comparisons,
//! selects and bit manipulation). [`Native`] runs them on one `f32` (the kernel evaluator,
//! through [`crate::math::unary_f32`]); the Cranelift code generator implements the same trait
//! by emitting one instruction per call. Every operation is exactly rounded and the sequence
//! is fixed (no reassociation, one constant per literal), so generated code and the evaluator
//! agree bit for bit (NaN payloads aside), on any number of lanes.
//!
//! **Accuracy**, measured by the tests below against the f64 definitions of `hg_ir::scalar`
//! over every 97th f32 bit pattern in the ranges that matter (plus edge cases); ulps are units
//! in the last place of the exact result, whose correct rounding is within 0.5 ulp:
//!
//! | function | method | max error |
//! | --- | --- | --- |
//! | `exp` | `2^n · p(r)`, `r = x - n·ln2` (two-constant reduction), degree-6 polynomial | 0.88 ulp |
//! | `log` | `k·ln2 + log1p(f)`, `f ∈ [√½-1, √2-1]`, `log1p` through `s = f/(2+f)` and a degree-3 polynomial in `s²` | 0.79 ulp |
//! | `sigmoid` | `1/(1+e)` or `e/(1+e)`, `e = exp(-|x|)`, the quotient corrected for the rounding of `1+e` and of the division | 1.44 ulp |
//! | `tanh` | odd polynomial of degree 15 below 0.875, `1 - 2/(exp(2|x|)+1)` above | 0.99 ulp |
//! | `softplus` | `max(x, 0) + log1p(exp(-|x|))`, `log1p(t) = log(u) - ((u-1)-t)/u` with `u = 1+t`; `x` above 20 | 1.97 ulp |
//! | `gelu` | `x·(1 - T)` or `x·T` with `T = Φ(-|x|) = exp(-x²/2)·M(|x|)`, `M` rational of degree 4/4 | 7.1e-8 · max(1, \|x\|) absolute |
//!
//! The tests assert 2 ulp for `exp` and `log`, 4 ulp for `sigmoid`, `tanh` and `softplus` and
//! 2e-7 · max(1, |x|) for `gelu`, and print the measured maxima (`cargo test -p hg-kernel
//! fastmath -- --nocapture`). The relative bounds hold where the result is a normal f32; below
//! that the results are the (gradually) underflowing values of the same formulas, or 0 where
//! the executor flushes denormals.
//!
//! Special values follow the f64 definitions: `exp(-inf) = 0`, `exp(+inf) = +inf`, overflow
//! to +inf above ≈ 88.72 and underflow to 0 below ≈ -103.97; `log(1) = +0`, `log(±0) = -inf`,
//! `log(x < 0) = NaN`, `log(+inf) = +inf`; `tanh(±0) = ±0`, `tanh(±inf) = ±1`;
//! `sigmoid(-inf) = 0`, `sigmoid(+inf) = 1`; `softplus(-inf) = 0`; `gelu(-0) = -0`,
//! `gelu(+inf) = +inf` and `gelu(-inf) = NaN` (as `x/2 · erfc(-x/√2)`); NaN gives NaN.
//!
//! The coefficients were fitted (minimax, Lawson's reweighted least squares) by
//! `compiler/kernel/tools/fit_fastmath.py` and rounded to f32.

/// The lane-wise operations the approximations are written in. Every float operation is the
/// IEEE 754 operation rounded to nearest even, except that [`Arith::fma`] rounds once.
pub trait Arith {
    /// f32 lanes.
    type F: Copy;
    /// i32 lanes (the bits of an `F`).
    type I: Copy;
    /// A condition per lane.
    type M: Copy;

    fn f(&mut self, x: f32) -> Self::F;
    fn i(&mut self, x: i32) -> Self::I;
    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F;
    /// `a·b + c`, rounded once.
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// Flips the sign bit.
    fn neg(&mut self, a: Self::F) -> Self::F;
    /// Clears the sign bit.
    fn abs(&mut self, a: Self::F) -> Self::F;
    /// `a < b` (false if either is NaN).
    fn lt(&mut self, a: Self::F, b: Self::F) -> Self::M;
    /// `a > b` (false if either is NaN).
    fn gt(&mut self, a: Self::F, b: Self::F) -> Self::M;
    /// `a >= b` (false if either is NaN).
    fn ge(&mut self, a: Self::F, b: Self::F) -> Self::M;
    /// `a == b` (false if either is NaN).
    fn eq(&mut self, a: Self::F, b: Self::F) -> Self::M;
    /// `!(a < b)`: `a >= b` or either is NaN.
    fn not_lt(&mut self, a: Self::F, b: Self::F) -> Self::M;
    /// `m ? a : b`.
    fn select(&mut self, m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    /// The bits of `a`.
    fn bitcast_i(&mut self, a: Self::F) -> Self::I;
    /// The f32 with bits `a`.
    fn bitcast_f(&mut self, a: Self::I) -> Self::F;
    /// Wrapping addition.
    fn iadd(&mut self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping subtraction.
    fn isub(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn and(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn or(&mut self, a: Self::I, b: Self::I) -> Self::I;
    /// Shift left by `n < 32` (bits shifted out are lost).
    fn shl(&mut self, a: Self::I, n: u32) -> Self::I;
    /// Arithmetic shift right by `n < 32`.
    fn sar(&mut self, a: Self::I, n: u32) -> Self::I;
    /// The f32 value of an integer (exact for the small integers used here).
    fn to_float(&mut self, a: Self::I) -> Self::F;
}

/// [`Arith`] on one `f32`: the evaluator's arithmetic.
pub struct Native;

impl Arith for Native {
    type F = f32;
    type I = i32;
    type M = bool;

    fn f(&mut self, x: f32) -> f32 {
        x
    }
    fn i(&mut self, x: i32) -> i32 {
        x
    }
    fn add(&mut self, a: f32, b: f32) -> f32 {
        a + b
    }
    fn sub(&mut self, a: f32, b: f32) -> f32 {
        a - b
    }
    fn mul(&mut self, a: f32, b: f32) -> f32 {
        a * b
    }
    fn div(&mut self, a: f32, b: f32) -> f32 {
        a / b
    }
    fn fma(&mut self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    fn neg(&mut self, a: f32) -> f32 {
        -a
    }
    fn abs(&mut self, a: f32) -> f32 {
        a.abs()
    }
    fn lt(&mut self, a: f32, b: f32) -> bool {
        a < b
    }
    fn gt(&mut self, a: f32, b: f32) -> bool {
        a > b
    }
    fn ge(&mut self, a: f32, b: f32) -> bool {
        a >= b
    }
    fn eq(&mut self, a: f32, b: f32) -> bool {
        a == b
    }
    fn not_lt(&mut self, a: f32, b: f32) -> bool {
        a.partial_cmp(&b) != Some(std::cmp::Ordering::Less)
    }
    fn select(&mut self, m: bool, a: f32, b: f32) -> f32 {
        if m { a } else { b }
    }
    fn bitcast_i(&mut self, a: f32) -> i32 {
        a.to_bits() as i32
    }
    fn bitcast_f(&mut self, a: i32) -> f32 {
        f32::from_bits(a as u32)
    }
    fn iadd(&mut self, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
    fn isub(&mut self, a: i32, b: i32) -> i32 {
        a.wrapping_sub(b)
    }
    fn and(&mut self, a: i32, b: i32) -> i32 {
        a & b
    }
    fn or(&mut self, a: i32, b: i32) -> i32 {
        a | b
    }
    fn shl(&mut self, a: i32, n: u32) -> i32 {
        a.wrapping_shl(n)
    }
    fn sar(&mut self, a: i32, n: u32) -> i32 {
        a.wrapping_shr(n)
    }
    fn to_float(&mut self, a: i32) -> f32 {
        a as f32
    }
}

/// `p(x) = c[0] + c[1]·x + ...` by Horner's rule with fused multiply-adds.
fn horner<A: Arith>(o: &mut A, x: A::F, c: &[f32]) -> A::F {
    let (&last, rest) = c.split_last().expect("a polynomial has coefficients");
    let mut p = o.f(last);
    for &k in rest.iter().rev() {
        let k = o.f(k);
        p = o.fma(p, x, k);
    }
    p
}

/// `1.5·2^23`: adding it rounds an f32 of magnitude below 2^22 to an integer, which then sits
/// in the low bits of the sum.
const ROUND: f32 = 12_582_912.0;
/// `log2(e)`.
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI + LN2_LO`: the f32 nearest to ln 2 and the rest.
const LN2_HI: f32 = std::f32::consts::LN_2;
const LN2_LO: f32 = -1.904_654_3e-9;
/// `exp(r) = 1 + r + r²·(c2 + c3·r + … + c6·r⁴)` on `|r| ≤ ln2/2` (fit error 3.1e-9 relative).
const EXP_C: [f32; 5] = [4.999_999_4e-1, 1.666_652_1e-1, 4.166_839e-2, 8.368_717e-3, 1.381_459_9e-3];
/// `exp` of anything below this is 0 (below `ln 2^-150`), of anything above `EXP_HI` +inf;
/// clamping keeps `n` in `[-150, 145]`, which `2^⌊n/2⌋ · 2^⌈n/2⌉` covers without overflow.
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 100.0;

/// `e^x`, within 0.88 ulp.
pub fn exp<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // Clamp (NaN passes through and gives NaN).
    let (lo, hi) = (o.f(EXP_LO), o.f(EXP_HI));
    let below = o.lt(x, lo);
    let x = o.select(below, lo, x);
    let above = o.gt(x, hi);
    let x = o.select(above, hi, x);
    // n = round(x / ln2), r = x - n·ln2.
    let (log2e, round) = (o.f(LOG2E), o.f(ROUND));
    let shifted = o.fma(x, log2e, round);
    let n = o.sub(shifted, round);
    let (ln2_hi, ln2_lo) = (o.f(-LN2_HI), o.f(-LN2_LO));
    let r = o.fma(n, ln2_hi, x);
    let r = o.fma(n, ln2_lo, r);
    // e^r = 1 + r·(1 + r·q(r)).
    let q = horner(o, r, &EXP_C);
    let one = o.f(1.0);
    let p = o.fma(q, r, one);
    let p = o.fma(p, r, one);
    // 2^n as two powers of two, so that n = 128 and the subnormal range scale exactly (the
    // second product rounds once).
    let (shifted, round) = (o.bitcast_i(shifted), o.bitcast_i(round));
    let n = o.isub(shifted, round);
    let half = o.sar(n, 1);
    let rest = o.isub(n, half);
    let bias = o.i(127);
    let e1 = o.iadd(half, bias);
    let e1 = o.shl(e1, 23);
    let e2 = o.iadd(rest, bias);
    let e2 = o.shl(e2, 23);
    let (s1, s2) = (o.bitcast_f(e1), o.bitcast_f(e2));
    let y = o.mul(p, s1);
    o.mul(y, s2)
}

/// The bits of `√½` (rounded down): mantissas are taken in `[√½, √2)`.
const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
/// `log(1+f) = 2s + s·R`, `R = z·(l1 + l2·z + l3·z²)`, `s = f/(2+f)`, `z = s²`, on
/// `|s| ≤ 0.1716` (fit error 8e-10 relative to the logarithm).
const LOG_L: [f32; 3] = [6.666_677_6e-1, 3.997_756_5e-1, 2.987_120_7e-1];

/// `ln x` of a positive normal `x`, plus `k_adjust` times ln 2; garbage for other values
/// (NaN propagates only where the callers make sure of it).
fn log_core<A: Arith>(o: &mut A, x: A::F, k_adjust: A::F) -> A::F {
    // x = 2^k · m with m in [√½, √2), f = m - 1 (exact).
    let bits = o.bitcast_i(x);
    let base = o.i(SQRT_HALF_BITS);
    let offset = o.isub(bits, base);
    let k = o.sar(offset, 23);
    let mantissa = o.i(0x007f_ffff);
    let m = o.and(offset, mantissa);
    let m = o.iadd(m, base);
    let m = o.bitcast_f(m);
    let one = o.f(1.0);
    let f = o.sub(m, one);
    // log(1+f) = f - f²/2 + s·(f²/2 + R).
    let two = o.f(2.0);
    let d = o.add(two, f);
    let s = o.div(f, d);
    let z = o.mul(s, s);
    let r = horner(o, z, &LOG_L);
    let r = o.mul(r, z);
    let half = o.f(0.5);
    let hf = o.mul(half, f);
    let hfsq = o.mul(hf, f);
    let k = o.to_float(k);
    let k = o.add(k, k_adjust);
    let ln2_lo = o.f(LN2_LO);
    let lo = o.mul(k, ln2_lo);
    let t = o.add(hfsq, r);
    let t = o.fma(s, t, lo);
    let t = o.sub(t, hfsq);
    let t = o.add(t, f);
    let ln2_hi = o.f(LN2_HI);
    o.fma(k, ln2_hi, t)
}

/// `ln x`, within 0.79 ulp; `ln 1 = +0`, `ln ±0 = -inf`, `ln(x < 0) = NaN`, `ln +inf = +inf`.
pub fn log<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // Subnormals: scale by 2^23 into the normal range.
    let min = o.f(f32::MIN_POSITIVE);
    let tiny = o.lt(x, min);
    let scale = o.f(8_388_608.0);
    let scaled = o.mul(x, scale);
    let xs = o.select(tiny, scaled, x);
    let (minus_23, zero) = (o.f(-23.0), o.f(0.0));
    let k_adjust = o.select(tiny, minus_23, zero);
    let y = log_core(o, xs, k_adjust);
    // +inf and NaN give themselves, ±0 gives -inf, negative numbers NaN.
    let inf = o.f(f32::INFINITY);
    let not_finite = o.not_lt(x, inf);
    let y = o.select(not_finite, x, y);
    let is_zero = o.eq(x, zero);
    let minus_inf = o.f(f32::NEG_INFINITY);
    let y = o.select(is_zero, minus_inf, y);
    let negative = o.lt(x, zero);
    let nan = o.f(f32::NAN);
    o.select(negative, nan, y)
}

/// `1/(1 + e^-x)`, within 1.44 ulp.
pub fn sigmoid<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // e = e^-|x| ≤ 1; 1/(1+e) for x ≥ 0, e/(1+e) below.
    let a = o.abs(x);
    let minus_a = o.neg(a);
    let e = exp(o, minus_a);
    let one = o.f(1.0);
    let d = o.add(one, e);
    let zero = o.f(0.0);
    let non_negative = o.ge(x, zero);
    let numerator = o.select(non_negative, one, e);
    // q = n/d, corrected for the rounding of d = 1 + e (δ = d - (1 + e), exact) and of the
    // quotient (r = n - q·d, exact): n/(1 + e) ≈ q + (r + q·δ)/d.
    let q = o.div(numerator, d);
    let delta = o.sub(d, one);
    let delta = o.sub(delta, e);
    let minus_q = o.neg(q);
    let r = o.fma(minus_q, d, numerator);
    let c = o.fma(q, delta, r);
    let c = o.div(c, d);
    o.add(q, c)
}

/// Below this `|x|`, `tanh` is the odd polynomial.
const TANH_SMALL: f32 = 0.875;
/// `tanh(x) = x + x·z·(t0 + t1·z + … + t6·z⁶)`, `z = x²`, on `|x| ≤ 0.875` (fit error 7.4e-10
/// relative).
const TANH_T: [f32; 7] =
    [-3.333_332_5e-1, 1.333_306_4e-1, -5.393_714_5e-2, 2.169_593_6e-2, -8.331_714e-3, 2.650_773e-3, -4.823_217_2e-4];

/// `tanh x`, within 0.99 ulp; exact sign (`tanh(-0) = -0`).
pub fn tanh<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // On a = |x|, the sign put back at the end.
    let a = o.abs(x);
    let z = o.mul(a, a);
    let p = horner(o, z, &TANH_T);
    let az = o.mul(a, z);
    let small = o.fma(az, p, a);
    // 1 - 2/(e^2a + 1): e^2a overflows to +inf for large a, giving 1.
    let two_a = o.add(a, a);
    let e = exp(o, two_a);
    let one = o.f(1.0);
    let d = o.add(e, one);
    let two = o.f(2.0);
    let q = o.div(two, d);
    let large = o.sub(one, q);
    let limit = o.f(TANH_SMALL);
    let is_small = o.lt(a, limit);
    let y = o.select(is_small, small, large);
    // y ≥ 0 or NaN: or in the sign of x.
    let (y, x) = (o.bitcast_i(y), o.bitcast_i(x));
    let sign = o.i(i32::MIN);
    let sign = o.and(x, sign);
    let y = o.or(y, sign);
    o.bitcast_f(y)
}

/// `softplus(x) = x` above this (PyTorch's threshold, as `hg_ir::scalar::softplus`).
const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// `log(1 + e^x)`, within 1.97 ulp, and `x` above 20.
pub fn softplus<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // max(x, 0) + log1p(t) with t = e^-|x| ≤ 1, u = 1 + t in [1, 2]:
    // log1p(t) = log(u) - ((u - 1) - t)/u (the correction is NaN for NaN, 0 for t = 0).
    let a = o.abs(x);
    let minus_a = o.neg(a);
    let t = exp(o, minus_a);
    let one = o.f(1.0);
    let u = o.add(one, t);
    let zero = o.f(0.0);
    let log_u = log_core(o, u, zero);
    let err = o.sub(u, one);
    let err = o.sub(err, t);
    let err = o.div(err, u);
    let l = o.sub(log_u, err);
    let positive = o.gt(x, zero);
    let base = o.select(positive, x, zero);
    let y = o.add(base, l);
    let threshold = o.f(SOFTPLUS_THRESHOLD);
    let above = o.gt(x, threshold);
    o.select(above, x, y)
}

/// Beyond this `|x|`, `gelu(x)` is `x` (positive) or `-0` (negative): `Φ(-5.5) = 1.9e-8`.
const GELU_LIMIT: f32 = 5.5;
/// `M(a) = e^(a²/2)·Φ(-a) = erfcx(a/√2)/2 ≈ P(a)/Q(a)` on `0 ≤ a ≤ 5.5` (fit error 9.8e-9
/// relative); `P(0)/Q(0) = 1/2` exactly.
const GELU_P: [f32; 5] = [0.5, 3.050_814e-1, 9.051_94e-2, 1.077_606_5e-2, 1.544_678_6e-6];
const GELU_Q: [f32; 5] = [1.0, 1.408_046_7, 8.045_050_5e-1, 2.253_593_7e-1, 2.712_570_5e-2];

/// `x·Φ(x) = x/2 · erfc(-x/√2)`, within 7.1e-8 · max(1, |x|).
pub fn gelu<A: Arith>(o: &mut A, x: A::F) -> A::F {
    // The tail T = Φ(-a), a = |x|, computed without cancellation: e^(-a²/2) · M(a). Then
    // gelu(x) = x·(1 - T) for x > 0 and x·T otherwise.
    let a = o.abs(x);
    let minus_half = o.f(-0.5);
    let h = o.mul(a, minus_half);
    let h = o.mul(h, a);
    let e = exp(o, h);
    let p = horner(o, a, &GELU_P);
    let q = horner(o, a, &GELU_Q);
    let m = o.div(p, q);
    let t = o.mul(e, m);
    // Beyond the fitted range: x, or x·0 (NaN for -inf, as x/2 · erfc(+inf)).
    let limit = o.f(GELU_LIMIT);
    let big = o.ge(a, limit);
    let minus_x = o.neg(x);
    let positive = o.fma(minus_x, t, x);
    let positive = o.select(big, x, positive);
    let zero = o.f(0.0);
    let t = o.select(big, zero, t);
    let negative = o.mul(x, t);
    let is_positive = o.gt(x, zero);
    o.select(is_positive, positive, negative)
}

/// The approximation of `op`, if it is one of the six.
pub fn unary<A: Arith>(o: &mut A, op: crate::ir::UnaryOp, x: A::F) -> Option<A::F> {
    use crate::ir::UnaryOp;
    Some(match op {
        UnaryOp::Exp => exp(o, x),
        UnaryOp::Log => log(o, x),
        UnaryOp::Sigmoid => sigmoid(o, x),
        UnaryOp::Tanh => tanh(o, x),
        UnaryOp::Softplus => softplus(o, x),
        UnaryOp::Gelu => gelu(o, x),
        _ => return None,
    })
}

/// Whether `op` is computed by this module (in f32) rather than in f64.
pub fn approximates(op: crate::ir::UnaryOp) -> bool {
    use crate::ir::UnaryOp;
    matches!(op, UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sigmoid | UnaryOp::Tanh | UnaryOp::Softplus | UnaryOp::Gelu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::UnaryOp;

    fn f(op: UnaryOp, x: f32) -> f32 {
        unary(&mut Native, op, x).unwrap()
    }

    /// The exact value (f64 definition) of `op` at `x`.
    fn exact(op: UnaryOp, x: f32) -> f64 {
        hg_ir::scalar::unary(op, f64::from(x))
    }

    /// Units in the last place of f32 around `y` (a normal value).
    fn ulp(y: f64) -> f64 {
        let e = y.abs().log2().floor();
        2f64.powf(e - 23.0)
    }

    /// Every `step`-th f32 bit pattern from `lo` to `hi` (both of one sign), with both ends.
    fn sweep(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
        let (a, b) = (lo.to_bits().min(hi.to_bits()), lo.to_bits().max(hi.to_bits()));
        (a..=b).step_by(step as usize).chain([b]).map(f32::from_bits)
    }

    /// The largest error in ulps of `op` over `xs` where the exact result is a normal f32, and
    /// where it occurs.
    fn max_ulps(op: UnaryOp, xs: impl Iterator<Item = f32>) -> (f64, f32) {
        let mut worst = (0.0, 0.0);
        for x in xs {
            let want = exact(op, x);
            if !(want.abs() >= f64::from(f32::MIN_POSITIVE) && want.abs() <= f64::from(f32::MAX)) {
                continue;
            }
            let got = f64::from(f(op, x));
            let err = (got - want).abs() / ulp(want);
            if err > worst.0 || err.is_nan() {
                worst = (err, x);
            }
        }
        worst
    }

    fn check_ulps(op: UnaryOp, ranges: &[(f32, f32)], bound: f64) {
        let mut worst = (0.0, 0.0);
        for &(lo, hi) in ranges {
            let w = max_ulps(op, sweep(lo, hi, 97));
            if w.0 > worst.0 || w.0.is_nan() {
                worst = w;
            }
        }
        println!("{}: max error {:.3} ulp at {:e}", op.name(), worst.0, worst.1);
        assert!(worst.0 <= bound, "{}({:e}): error {} ulp > {bound}", op.name(), worst.1, worst.0);
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn assert_special(op: UnaryOp, x: f32, want: f32) {
        let got = f(op, x);
        assert!(same(got, want), "{}({x:e}) = {got:e} ({:#x}), want {want:e}", op.name(), got.to_bits());
    }

    #[test]
    fn exp_accuracy() {
        check_ulps(UnaryOp::Exp, &[(-0.0, -87.33), (0.0, 88.72)], 2.0);
    }

    #[test]
    fn exp_special_values() {
        let op = UnaryOp::Exp;
        assert_special(op, 0.0, 1.0);
        assert_special(op, -0.0, 1.0);
        assert_special(op, f32::INFINITY, f32::INFINITY);
        assert_special(op, f32::NEG_INFINITY, 0.0);
        assert_special(op, f32::NAN, f32::NAN);
        assert_special(op, 88.73, f32::INFINITY);
        assert_special(op, 1e30, f32::INFINITY);
        assert_special(op, f32::MAX, f32::INFINITY);
        assert_special(op, -104.0, 0.0);
        assert_special(op, -1e30, 0.0);
        assert_special(op, f32::MIN, 0.0);
        assert_special(op, 1e-30, 1.0);
        assert_special(op, f32::from_bits(1), 1.0);
        // The largest finite results, just below the overflow threshold.
        for x in [88.72f32, 88.7228] {
            let (got, want) = (f64::from(f(op, x)), exact(op, x));
            assert!((got - want).abs() <= ulp(want), "exp({x}) = {got:e}, want {want:e}");
        }
        // Subnormal results, rounded once: within one subnormal step of the exact value.
        for x in [-87.4f32, -90.0, -95.5, -100.0, -103.0, -103.9] {
            let (got, want) = (f64::from(f(op, x)), exact(op, x));
            assert!((got - want).abs() <= 2f64.powi(-149), "exp({x}) = {got:e}, want {want:e}");
            assert!(got > 0.0);
        }
    }

    #[test]
    fn log_accuracy() {
        check_ulps(UnaryOp::Log, &[(f32::MIN_POSITIVE, f32::MAX)], 2.0);
        // Subnormal inputs are scaled into the normal range.
        check_ulps(UnaryOp::Log, &[(f32::from_bits(1), f32::from_bits(0x007f_ffff))], 2.0);
        // Near 1, where the result is small.
        check_ulps(UnaryOp::Log, &[(0.99, 1.01)], 2.0);
    }

    #[test]
    fn log_special_values() {
        let op = UnaryOp::Log;
        assert_special(op, 1.0, 0.0);
        assert_special(op, 0.0, f32::NEG_INFINITY);
        assert_special(op, -0.0, f32::NEG_INFINITY);
        assert_special(op, -1.0, f32::NAN);
        assert_special(op, -f32::MIN_POSITIVE / 4.0, f32::NAN);
        assert_special(op, f32::NEG_INFINITY, f32::NAN);
        assert_special(op, f32::INFINITY, f32::INFINITY);
        assert_special(op, f32::NAN, f32::NAN);
        assert_eq!(f(op, f32::MAX), (f64::from(f32::MAX).ln()) as f32);
        assert_eq!(f(op, f32::from_bits(1)), (f64::from(f32::from_bits(1)).ln()) as f32);
        assert_eq!(f(op, 2.0), std::f32::consts::LN_2);
    }

    #[test]
    fn sigmoid_accuracy() {
        check_ulps(UnaryOp::Sigmoid, &[(-0.0, -87.33), (0.0, 20.0)], 4.0);
    }

    #[test]
    fn sigmoid_special_values() {
        let op = UnaryOp::Sigmoid;
        assert_special(op, 0.0, 0.5);
        assert_special(op, -0.0, 0.5);
        assert_special(op, f32::INFINITY, 1.0);
        assert_special(op, f32::NEG_INFINITY, 0.0);
        assert_special(op, f32::NAN, f32::NAN);
        assert_special(op, 20.0, 1.0);
        assert_special(op, -200.0, 0.0);
    }

    #[test]
    fn tanh_accuracy() {
        check_ulps(UnaryOp::Tanh, &[(f32::MIN_POSITIVE, 10.0), (-f32::MIN_POSITIVE, -10.0)], 4.0);
        // Around the switch to the exponential form.
        check_ulps(UnaryOp::Tanh, &[(0.8, 0.95), (-0.8, -0.95)], 4.0);
    }

    #[test]
    fn tanh_special_values() {
        let op = UnaryOp::Tanh;
        assert_special(op, 0.0, 0.0);
        assert_special(op, -0.0, -0.0);
        assert_special(op, f32::INFINITY, 1.0);
        assert_special(op, f32::NEG_INFINITY, -1.0);
        assert_special(op, f32::NAN, f32::NAN);
        assert_special(op, 10.0, 1.0);
        assert_special(op, -50.0, -1.0);
        assert_special(op, 1e-30, 1e-30);
        assert_special(op, -1e-40, -1e-40);
    }

    #[test]
    fn softplus_accuracy() {
        check_ulps(UnaryOp::Softplus, &[(-0.0, -87.33), (0.0, 30.0)], 4.0);
    }

    #[test]
    fn softplus_special_values() {
        let op = UnaryOp::Softplus;
        assert_special(op, 0.0, std::f32::consts::LN_2);
        assert_special(op, -0.0, std::f32::consts::LN_2);
        assert_special(op, f32::INFINITY, f32::INFINITY);
        assert_special(op, f32::NEG_INFINITY, 0.0);
        assert_special(op, f32::NAN, f32::NAN);
        assert_special(op, 20.000002, 20.000002);
        assert_special(op, 1e30, 1e30);
        assert_special(op, 20.0, 20.0);
        assert_special(op, -200.0, 0.0);
    }

    #[test]
    fn gelu_accuracy() {
        let mut worst = (0.0, 0.0);
        for (lo, hi) in [(0.0, 12.0), (-0.0, -12.0)] {
            for x in sweep(lo, hi, 97 * 16).chain(sweep(lo * 0.5, hi * 0.5, 997)) {
                let err =
                    (f64::from(f(UnaryOp::Gelu, x)) - exact(UnaryOp::Gelu, x)).abs() / f64::from(x.abs().max(1.0));
                if err > worst.0 || err.is_nan() {
                    worst = (err, x);
                }
            }
        }
        println!("gelu: max error {:.3e} · max(1, |x|) at {:e}", worst.0, worst.1);
        assert!(worst.0 <= 2e-7, "gelu({:e}): error {:e} · max(1, |x|)", worst.1, worst.0);
    }

    #[test]
    fn gelu_special_values() {
        let op = UnaryOp::Gelu;
        assert_special(op, 0.0, 0.0);
        assert_special(op, -0.0, -0.0);
        assert_special(op, f32::INFINITY, f32::INFINITY);
        assert_special(op, f32::NEG_INFINITY, f32::NAN);
        assert_special(op, f32::NAN, f32::NAN);
        assert_special(op, 6.0, 6.0);
        assert_special(op, 1e30, 1e30);
        assert_special(op, -6.0, -0.0);
        assert_special(op, -1e30, -0.0);
        assert!((f(op, 1.0) - 0.841_344_7).abs() <= 1e-7);
    }

    /// The approximations on large magnitudes and every special class stay within their
    /// ranges (no NaN for a number, except `log` of a negative and `gelu(-inf)`).
    #[test]
    fn no_spurious_nan() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f32::from_bits(state as u32);
            if x.is_nan() {
                continue;
            }
            for op in [UnaryOp::Exp, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Softplus, UnaryOp::Gelu, UnaryOp::Log] {
                let y = f(op, x);
                let nan_ok = (op == UnaryOp::Log && x < 0.0) || (op == UnaryOp::Gelu && x == f32::NEG_INFINITY);
                assert!(!y.is_nan() || nan_ok, "{}({x:e}) = NaN", op.name());
                let want = exact(op, x);
                if want.is_finite() && y.is_finite() {
                    assert!(
                        (f64::from(y) - want).abs() <= 1e-6 * want.abs().max(1.0),
                        "{}({x:e}) = {y:e}, want {want:e}",
                        op.name()
                    );
                }
            }
        }
    }
}

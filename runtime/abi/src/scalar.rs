//! The meaning of each elementwise op on one value, in f64: the reference every executor
//! shares. The interpreter applies it to every element (rounding to f32 in f32 mode), and the
//! kernel evaluator and compiled code call it for the ops they do not compute with an
//! instruction, so all of them agree bit for bit.
//!
//! Semantics follow PyTorch where numpy and PyTorch differ: `round` rounds half to even,
//! `softplus` is `log1p(exp(x))` with PyTorch's threshold (`x` for `x > 20`), `gelu` is the
//! exact erf form (computed as `x/2 · erfc(-x/√2)`, which keeps its relative accuracy for very
//! negative `x`). `sign` and `relu` return NaN for NaN.
//!
//! The error function and its complement, for `gelu`:
//! The error function and its complement, for the exact (erf) form of `gelu`.
//!
//! Two classical expansions, each used where it converges fast and loses nothing to
//! cancellation, accurate to a few units in the last place of f64 (the tests compare with the
//! C library's `erf`/`erfc` through the numpy fixtures):
//!
//! - `|x| < 1.5`: the series `erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`, whose
//!   terms are all positive (at most ~30 terms here);
//! - `|x| ≥ 1.5`: the continued fraction
//!   `erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))`, evaluated with the
//!   modified Lentz method (at most ~100 terms here).
//!
//! `e^(-x²)` is computed as `e^(-h²) · e^(-(x-h)(x+h))` with `h` the value of `x` rounded to
//! 26 significant bits, so `h²` is exact and large arguments keep their relative accuracy.

use crate::ops::{BinaryOp, UnaryOp};

/// Logistic function, without overflow for large `|x|`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^x)` with PyTorch's default threshold (beta = 1, threshold = 20).
pub fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// Exact GELU, `x · Φ(x)`.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// A unary op on one value.
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                // ±0 keeps its sign bit, NaN stays NaN.
                x
            }
        }
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Gelu => gelu(x),
        UnaryOp::Softplus => softplus(x),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Floor => x.floor(),
        UnaryOp::Round => x.round_ties_even(),
        UnaryOp::Not => bool_value(x == 0.0),
    }
}

/// 1.0 for true, 0.0 for false (comparisons and `not` give these).
pub fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
/// 1/√π.
const FRAC_1_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI / 2.0;
/// Where the series hands over to the continued fraction.
const SWITCH: f64 = 1.5;
/// Beyond this, `erfc(x)` underflows to 0 in f64 (erfc(27) ≈ 5e-319, and the result is 0
/// below 2^-1074).
const ERFC_ZERO: f64 = 27.3;

/// `e^(-x²)` without the rounding error of forming `x²` (see the module docs).
fn exp_minus_square(x: f64) -> f64 {
    let x = x.abs();
    // Clearing the low 27 bits of the mantissa leaves 26 significant bits, so `h * h` is exact.
    let h = f64::from_bits(x.to_bits() & !((1u64 << 27) - 1));
    (-h * h).exp() * (-(x - h) * (x + h)).exp()
}

/// Series for `erf(x)`, `|x| < SWITCH`.
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    // Terms shrink by at least 2x²/(2n+1) < 1 after the first few; stop when they no longer
    // change the sum (x = 0 stops at once since the term is 0).
    while term.abs() > sum.abs() * 1e-17 {
        n += 1.0;
        term *= two_x2 / (2.0 * n + 1.0);
        sum += term;
    }
    FRAC_2_SQRT_PI * exp_minus_square(x) * sum
}

/// Continued fraction for `erfc(x)`, `x ≥ SWITCH`.
fn erfc_fraction(x: f64) -> f64 {
    if x >= ERFC_ZERO {
        return 0.0;
    }
    // Modified Lentz for f = x + a1/(x + a2/(x + ...)), a_n = n/2; erfc = e^(-x²)/√π / f.
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = f64::from(n) / 2.0;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    FRAC_1_SQRT_PI * exp_minus_square(x) / f
}

/// The error function, `2/√π ∫₀ˣ e^(-t²) dt`.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() < SWITCH {
        erf_series(x)
    } else if x > 0.0 {
        1.0 - erfc_fraction(x)
    } else {
        erfc_fraction(-x) - 1.0
    }
}

/// The complementary error function `1 - erf(x)`, accurate also where it is tiny.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() < SWITCH {
        1.0 - erf_series(x)
    } else if x > 0.0 {
        erfc_fraction(x)
    } else {
        2.0 - erfc_fraction(-x)
    }
}

/// An arithmetic binary op on f64 values; `None` for comparisons and logic. `maximum` and
/// `minimum` are IEEE 754-2019's: NaN when either operand is NaN, and `+0 > -0`.
pub fn binary(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if a == b {
                f64::from_bits(a.to_bits() & b.to_bits())
            } else {
                a.max(b)
            }
        }
        BinaryOp::Minimum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if a == b {
                f64::from_bits(a.to_bits() | b.to_bits())
            } else {
                a.min(b)
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of the C library (`math.erf`/`math.erfc`) at a few points; the numpy
    /// fixtures check a dense grid.
    #[test]
    fn matches_reference_values() {
        let cases = [
            (0.0, 0.0, 1.0),
            (0.5, 0.5204998778130465, 0.4795001221869535),
            (1.0, 0.8427007929497149, 0.15729920705028513),
            (1.5, 0.9661051464753108, 0.033894853524689274),
            (2.0, 0.9953222650189527, 0.004677734981047265),
            (3.0, 0.9999779095030014, 2.2090496998585438e-05),
            (5.0, 0.9999999999984626, 1.5374597944280351e-12),
            (10.0, 1.0, 2.088487583762545e-45),
        ];
        for (x, e, c) in cases {
            assert!((erf(x) - e).abs() <= 2e-16, "erf({x}) = {} want {e}", erf(x));
            assert!((erf(-x) + e).abs() <= 2e-16, "erf(-{x})");
            assert!(((erfc(x) - c) / c).abs() <= 4e-15, "erfc({x}) = {} want {c}", erfc(x));
            assert!((erfc(-x) - (2.0 - c)).abs() <= 4e-16, "erfc(-{x})");
        }
    }

    #[test]
    fn limits_and_nan() {
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
        assert_eq!(erfc(30.0), 0.0);
        assert!(erf(f64::NAN).is_nan());
        assert!(erfc(f64::NAN).is_nan());
    }
}

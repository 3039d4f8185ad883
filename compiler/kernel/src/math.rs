//! Scalar semantics of kernel expressions: what one `Unary`, `Binary`, `Cast` or `Random`
//! computes: the reference interpreter in f32 mode (`hg_core::interp`), except for six
//! transcendental functions (below).
//!
//! The interpreter computes every op in f64 on the (exact) f64 values of its f32 operands and
//! rounds the result to f32 once. For `+ - * /`, `sqrt`, `abs`, `neg`, `floor` and `round` that
//! is exactly f32 arithmetic (f64 holds more than twice f32's precision, so the double rounding
//! is harmless), and code generators may use native f32 instructions. `exp`, `log`, `tanh`,
//! `sigmoid`, `gelu` and `softplus` on f32 are the f32 approximations of [`crate::fastmath`]
//! (within a few ulps of the interpreter; code generators emit the same instruction sequence
//! inline). The rest (`sin`, `cos`, `rsqrt`, `pow`, and every op on f64) is computed in f64 and
//! rounded, and generated code calls these very functions (or, for `rsqrt`, the same f64
//! instruction sequence). Either way the evaluator and generated code agree bit for bit.
//!
//! Conventions where the interpreter leaves a choice or has no counterpart:
//! - `maximum`/`minimum` are IEEE 754-2019 `maximum`/`minimum`: NaN when either operand is NaN
//!   (as the interpreter), and `+0 > -0` (the interpreter takes the platform's `max` for equal
//!   zeros); this is Cranelift's `fmax`/`fmin` and LLVM's `llvm.maximum`.
//! - `gelu` is the exact erf form `x/2 · erfc(-x/√2)`, with the interpreter's `erfc`
//!   (`hg_ir::scalar`, shared); `round` is half to even; `softplus` is `x` above 20; `sign` and `relu`
//!   keep NaN; `relu(-0) = +0`.
//! - i64 arithmetic wraps (the interpreter rejects results beyond ±2^53, which no valid program
//!   produces); integer `div` truncates toward zero (division by zero is the evaluator's error);
//!   a float-to-int `cast` truncates toward zero and saturates, NaN giving 0 ([`f32_to_i64`]).
//! - Booleans are `false`/`true`; a cast to bool is `x != 0` (NaN is true).

use crate::fastmath;
use crate::ir::{BinaryOp, UnaryOp};
use hg_abi::plan::RandomKind;

/// `x` rounded to f32 after `f` in f64: the interpreter's f32 mode for one op.
fn via64(x: f32, f: impl Fn(f64) -> f64) -> f32 {
    f(f64::from(x)) as f32
}

/// A float unary op on an f32 value: `exp`, `log`, `sigmoid`, `tanh`, `softplus` and `gelu`
/// by the f32 approximations of [`crate::fastmath`]; every other op computed in f64 and rounded
/// once, as the interpreter's f32 mode (exact f32 arithmetic for `neg`, `abs`, `sqrt`, `floor`,
/// `round`, `sign`, `relu`).
pub fn unary_f32(op: UnaryOp, x: f32) -> f32 {
    match fastmath::unary(&mut fastmath::Native, op, x) {
        Some(y) => y,
        None => via64(x, |x| unary_f64(op, x)),
    }
}

/// A float unary op on an f64 value: the shared definition, `hg_abi::scalar::unary`.
pub fn unary_f64(op: UnaryOp, x: f64) -> f64 {
    hg_abi::scalar::unary(op, x)
}

/// An arithmetic binary op on f64 values; `None` for comparisons and logic: the shared
/// definition, `hg_abi::scalar::binary`.
pub fn binary_f64(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    hg_abi::scalar::binary(op, a, b)
}

/// IEEE 754-2019 `maximum`: NaN if either is NaN, `+0 > -0`.
pub fn maximum_f32(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        // Equal values differ at most in the sign of zero: the maximum has the sign bit clear
        // unless both have it set.
        f32::from_bits(a.to_bits() & b.to_bits())
    } else if a > b {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `minimum`: NaN if either is NaN, `-0 < +0`.
pub fn minimum_f32(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        f32::from_bits(a.to_bits() | b.to_bits())
    } else if a < b {
        a
    } else {
        b
    }
}

/// `a^b`, computed in f64 and rounded (negative bases with fractional powers give NaN).
pub use hg_exec::kernel_fns::pow_f32;

/// An arithmetic binary op (`add`..`minimum`) on f32 values; `None` for comparisons and logic.
pub fn binary_f32(op: BinaryOp, a: f32, b: f32) -> Option<f32> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => pow_f32(a, b),
        BinaryOp::Maximum => maximum_f32(a, b),
        BinaryOp::Minimum => minimum_f32(a, b),
        _ => return None,
    })
}

/// A comparison of two values of one type (NaN compares unequal to everything).
pub fn compare<T: PartialOrd>(op: BinaryOp, a: T, b: T) -> Option<bool> {
    Some(match op {
        BinaryOp::Eq => a == b,
        BinaryOp::Ne => a != b,
        BinaryOp::Lt => a < b,
        BinaryOp::Le => a <= b,
        BinaryOp::Gt => a > b,
        BinaryOp::Ge => a >= b,
        _ => return None,
    })
}

/// An i64 cast of an f32: truncation toward zero, saturating at the i64 range with NaN giving
/// 0 (Rust's `as`, and Cranelift's `fcvt_to_sint_sat`; the interpreter reports an error for
/// values that are not finite or beyond ±2^53).
pub fn f32_to_i64(x: f32) -> i64 {
    x as i64
}

/// An f32 cast of an i64, through f64 as in the interpreter (exact below 2^53, then rounded
/// once to f32).
pub fn i64_to_f32(x: i64) -> f32 {
    x as f64 as f32
}

/// Element `counter` of Philox draw site `{seed, step, site}` in `kind`'s distribution, as f32:
/// the interpreter's `random_*` ops (`hg_exec::philox::draw_f32`, shared with compiled code).
pub fn random_f32(kind: RandomKind, site: u32, seed: i64, step: i64, counter: i64) -> f32 {
    hg_exec::philox::draw_f32(kind, site, seed, step, counter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic f32 samples: a grid, the special values, and random bit patterns.
    fn samples() -> Vec<f32> {
        let mut v: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.0625).collect();
        v.extend([
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE / 8.0,
            f32::MAX,
            f32::MIN,
            0.5,
            1.5,
            2.5,
            -2.5,
            20.0,
            20.000002,
            88.8,
            -104.0,
            1e-30,
        ]);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..4000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            v.push(f32::from_bits(state as u32));
        }
        v
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// The interpreter in f32 mode is `unary_scalar` on the f64 value, rounded to f32; the ops
    /// `fastmath` approximates are checked against it there (within a few ulps).
    #[test]
    fn float_unary_ops_match_the_interpreter_bit_for_bit() {
        for op in UnaryOp::ALL {
            if op == UnaryOp::Not || fastmath::approximates(op) {
                continue;
            }
            for x in samples() {
                let want = hg_core::interp::unary_scalar(op, f64::from(x)) as f32;
                let got = unary_f32(op, x);
                assert!(same(got, want), "{}({x:?}) = {got:?}, interpreter {want:?}", op.name());
            }
        }
    }

    #[test]
    fn maximum_and_minimum_follow_ieee_2019() {
        let xs = samples();
        for (i, &a) in xs.iter().enumerate().step_by(7) {
            let b = xs[(i * 31 + 5) % xs.len()];
            let (mx, mn) = (maximum_f32(a, b), minimum_f32(a, b));
            if a.is_nan() || b.is_nan() {
                assert!(mx.is_nan() && mn.is_nan());
            } else if a != b {
                assert_eq!(mx, a.max(b));
                assert_eq!(mn, a.min(b));
            }
        }
        assert_eq!(maximum_f32(-0.0, 0.0).to_bits(), 0);
        assert_eq!(maximum_f32(0.0, -0.0).to_bits(), 0);
        assert_eq!(minimum_f32(0.0, -0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(maximum_f32(-0.0, -0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn casts_and_pow() {
        assert_eq!(f32_to_i64(-2.7), -2);
        assert_eq!(f32_to_i64(2.7), 2);
        assert_eq!(i64_to_f32(16_777_217), 16_777_216.0);
        // Rounded once from the exact value (a direct i64 -> f32 conversion would agree here;
        // they differ only beyond 2^53, where going through f64 rounds twice).
        assert_eq!(i64_to_f32(-3), -3.0);
        assert_eq!(pow_f32(2.0, 10.0), 1024.0);
        assert!(pow_f32(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(binary_f32(BinaryOp::Eq, 1.0, 1.0), None);
        assert_eq!(compare(BinaryOp::Ne, f32::NAN, f32::NAN), Some(true));
        assert_eq!(compare(BinaryOp::Ge, f32::NAN, 1.0), Some(false));
    }
}

//! The runtime functions compiled kernels call, for every CPU code generator and for whoever
//! loads their code (`hgc run`, standalone executables): the scalar math that is neither an
//! instruction nor emitted inline (`sin`, `cos` and `pow` on f32, the f64 ops without an
//! instruction) and the Philox draws of `Random`, as `extern "C"` functions with their symbol
//! names and C signatures.
//!
//! Each one wraps the shared scalar semantics ([`hg_abi::scalar`], [`crate::philox`]) that the
//! interpreter and the kernel evaluator use too, so generated code computes bit for bit what
//! they compute: f32 in, computed in f64, rounded once to f32.

use crate::philox;
use hg_abi::ops::{BinaryOp, UnaryOp};
use hg_abi::plan::RandomKind;
use hg_abi::scalar;

/// A C scalar type of a runtime function's parameter or result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CType {
    F32,
    F64,
    I32,
    I64,
}

/// A runtime function: its symbol name, address and C signature (parameters, result).
#[derive(Clone, Copy, Debug)]
pub struct RuntimeFn {
    pub name: &'static str,
    pub address: *const u8,
    pub params: &'static [CType],
    pub result: CType,
}

macro_rules! unary_fns {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(
            #[doc = concat!("The interpreter's f32 `", stringify!($op), "`, computed in f64 and rounded once.")]
            pub extern "C" fn $name(x: f32) -> f32 {
                scalar::unary(UnaryOp::$op, f64::from(x)) as f32
            }
        )*
    };
}

unary_fns! {
    hg_rt_sin => Sin,
    hg_rt_cos => Cos,
}

/// `a^b` in f64, rounded to f32.
pub extern "C" fn hg_rt_pow(a: f32, b: f32) -> f32 {
    pow_f32(a, b)
}

/// `a^b`, computed in f64 and rounded (negative bases with fractional powers give NaN).
pub fn pow_f32(a: f32, b: f32) -> f32 {
    f64::from(a).powf(f64::from(b)) as f32
}

/// Element `counter` of the standard normal draw at `{seed, step, site}`.
pub extern "C" fn hg_rt_random_normal(seed: i64, step: i64, counter: i64, site: u32) -> f32 {
    philox::draw_f32(RandomKind::Normal, site, seed, step, counter)
}

/// Element `counter` of the uniform draw in `[lo, hi)` at `{seed, step, site}`.
pub extern "C" fn hg_rt_random_uniform(seed: i64, step: i64, counter: i64, site: u32, lo: f64, hi: f64) -> f32 {
    philox::draw_f32(RandomKind::Uniform { lo, hi }, site, seed, step, counter)
}

/// Element `counter` of the Bernoulli(p) draw at `{seed, step, site}`, as 1.0 or 0.0.
pub extern "C" fn hg_rt_random_bernoulli(seed: i64, step: i64, counter: i64, site: u32, p: f64) -> f32 {
    philox::draw_f32(RandomKind::Bernoulli { p }, site, seed, step, counter)
}

/// An f64 unary op (scalar computations the graph keeps in f64), as the interpreter computes it.
pub extern "C" fn hg_rt_unary_f64(op: u32, x: f64) -> f64 {
    UnaryOp::ALL.get(op as usize).map_or(f64::NAN, |&u| scalar::unary(u, x))
}

/// An f64 binary op that has no instruction (`pow`, `maximum`, `minimum`).
pub extern "C" fn hg_rt_binary_f64(op: u32, a: f64, b: f64) -> f64 {
    BinaryOp::ALL.get(op as usize).and_then(|&o| scalar::binary(o, a, b)).unwrap_or(f64::NAN)
}

use CType::{F32, F64, I32, I64};

/// The runtime function of an f32 unary op that has no instruction, if it is one.
pub fn unary(op: UnaryOp) -> Option<RuntimeFn> {
    let (name, f): (&'static str, extern "C" fn(f32) -> f32) = match op {
        UnaryOp::Sin => ("hg_rt_sin", hg_rt_sin),
        UnaryOp::Cos => ("hg_rt_cos", hg_rt_cos),
        _ => return None,
    };
    Some(RuntimeFn { name, address: f as *const u8, params: &[F32], result: F32 })
}

/// The runtime function of an f32 binary op that has no instruction, if it is one.
pub fn binary(op: BinaryOp) -> Option<RuntimeFn> {
    match op {
        BinaryOp::Pow => {
            Some(RuntimeFn { name: "hg_rt_pow", address: hg_rt_pow as *const u8, params: &[F32, F32], result: F32 })
        }
        _ => None,
    }
}

/// The runtime function of a random draw: `(seed, step, counter, site, distribution
/// parameters...)`.
pub fn random(kind: RandomKind) -> RuntimeFn {
    match kind {
        RandomKind::Normal => RuntimeFn {
            name: "hg_rt_random_normal",
            address: hg_rt_random_normal as *const u8,
            params: &[I64, I64, I64, I32],
            result: F32,
        },
        RandomKind::Uniform { .. } => RuntimeFn {
            name: "hg_rt_random_uniform",
            address: hg_rt_random_uniform as *const u8,
            params: &[I64, I64, I64, I32, F64, F64],
            result: F32,
        },
        RandomKind::Bernoulli { .. } => RuntimeFn {
            name: "hg_rt_random_bernoulli",
            address: hg_rt_random_bernoulli as *const u8,
            params: &[I64, I64, I64, I32, F64],
            result: F32,
        },
    }
}

/// The f64 form of every unary op without an instruction: one function taking the op's index
/// in [`UnaryOp::ALL`] first ([`op_code`]).
pub fn unary_f64_fn() -> RuntimeFn {
    RuntimeFn { name: "hg_rt_unary_f64", address: hg_rt_unary_f64 as *const u8, params: &[I32, F64], result: F64 }
}

/// The f64 form of `pow`, `maximum` and `minimum`, taking the op's index in [`BinaryOp::ALL`]
/// first.
pub fn binary_f64_fn() -> RuntimeFn {
    RuntimeFn {
        name: "hg_rt_binary_f64",
        address: hg_rt_binary_f64 as *const u8,
        params: &[I32, F64, F64],
        result: F64,
    }
}

/// The index of a unary op in [`UnaryOp::ALL`], the code [`unary_f64_fn`] takes.
pub fn unary_code(op: UnaryOp) -> u32 {
    UnaryOp::ALL.iter().position(|u| *u == op).unwrap_or(0) as u32
}

/// The index of a binary op in [`BinaryOp::ALL`], the code [`binary_f64_fn`] takes.
pub fn binary_code(op: BinaryOp) -> u32 {
    BinaryOp::ALL.iter().position(|b| *b == op).unwrap_or(0) as u32
}

/// Every runtime function, for resolving the symbols of generated code.
pub fn all() -> Vec<RuntimeFn> {
    let mut fns: Vec<RuntimeFn> = UnaryOp::ALL.into_iter().filter_map(unary).collect();
    fns.extend(BinaryOp::ALL.into_iter().filter_map(binary));
    fns.extend([
        unary_f64_fn(),
        binary_f64_fn(),
        random(RandomKind::Normal),
        random(RandomKind::Uniform { lo: 0.0, hi: 1.0 }),
        random(RandomKind::Bernoulli { p: 0.5 }),
    ]);
    fns
}

/// The address of the runtime function named `name`, if there is one.
pub fn resolve(name: &str) -> Option<*const u8> {
    all().into_iter().find(|f| f.name == name).map(|f| f.address)
}

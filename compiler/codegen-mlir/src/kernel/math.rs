//! The f64 math functions kernels call: the C library's on the CPU (only for normal draws,
//! whose Box-Muller transform must be the runtime's bit for bit), libdevice's `__nv_*` on the
//! GPU, where the runtime functions of `hg_exec::kernel_fns` do not exist. Each op that the CPU
//! hands to a runtime function is written here from the same definition
//! (`hg_abi::scalar`), with libdevice's functions in place of the C library's: results agree
//! with the CPU's to the last bit or two of f64, far inside `docs/numerics.md`.

use hg_kernel::ir::{BinaryOp, Scalar, UnaryOp};

use super::{Emitter, Exact, register_type};
use crate::CodegenError;
use crate::libdevice::HOW_TO_GET;

/// An f64 function of the C library and libdevice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum F64Fn {
    Exp,
    Log,
    Log1p,
    Tanh,
    Sin,
    Cos,
    Erfc,
    Pow,
}

impl F64Fn {
    /// The C library's name.
    fn c_name(self) -> &'static str {
        match self {
            F64Fn::Exp => "exp",
            F64Fn::Log => "log",
            F64Fn::Log1p => "log1p",
            F64Fn::Tanh => "tanh",
            F64Fn::Sin => "sin",
            F64Fn::Cos => "cos",
            F64Fn::Erfc => "erfc",
            F64Fn::Pow => "pow",
        }
    }

    /// libdevice's name.
    fn device_name(self) -> &'static str {
        match self {
            F64Fn::Exp => "__nv_exp",
            F64Fn::Log => "__nv_log",
            F64Fn::Log1p => "__nv_log1p",
            F64Fn::Tanh => "__nv_tanh",
            F64Fn::Sin => "__nv_sin",
            F64Fn::Cos => "__nv_cos",
            F64Fn::Erfc => "__nv_erfc",
            F64Fn::Pow => "__nv_pow",
        }
    }

    fn arity(self) -> usize {
        if self == F64Fn::Pow { 2 } else { 1 }
    }
}

impl Emitter<'_> {
    /// A call of `f` on f64 values: libdevice's on the GPU (refused when libdevice was not
    /// found), the C library's on the CPU.
    pub(super) fn f64_call(&mut self, f: F64Fn, args: &[String]) -> Result<String, CodegenError> {
        let params = vec!["f64"; f.arity()].join(", ");
        if self.gpu {
            if !self.libdevice {
                return Err(self.unsupported(format!(
                    "`{}` needs NVIDIA's libdevice, which was not found: {HOW_TO_GET}",
                    f.c_name()
                )));
            }
            let name = f.device_name();
            self.declarations.entry(name).or_insert_with(|| format!("    llvm.func @{name}({params}) -> f64\n"));
            return Ok(self.op(format!("llvm.call @{name}({}) : ({params}) -> f64", args.join(", "))));
        }
        let name = f.c_name();
        self.declarations.entry(name).or_insert_with(|| format!("  func.func private @{name}({params}) -> f64\n"));
        Ok(self.op(format!("func.call @{name}({}) : ({params}) -> f64", args.join(", "))))
    }

    /// `f` of an f32 computed in f64 and rounded once, as the runtime's f32 `sin`/`cos`.
    fn f32_through_f64(&mut self, f: F64Fn, args: &[String]) -> Result<String, CodegenError> {
        let wide: Vec<String> = args.iter().map(|x| self.op(format!("arith.extf {x} : f32 to f64"))).collect();
        let r = self.f64_call(f, &wide)?;
        Ok(self.op(format!("arith.truncf {r} : f64 to f32")))
    }

    /// On the GPU, an f32 unary op the CPU hands to the runtime (`sin`, `cos`).
    pub(super) fn gpu_unary_f32(&mut self, op: UnaryOp, x: String) -> Result<String, CodegenError> {
        match op {
            UnaryOp::Sin => self.f32_through_f64(F64Fn::Sin, &[x]),
            UnaryOp::Cos => self.f32_through_f64(F64Fn::Cos, &[x]),
            op => Err(self.unsupported(format!("{} of an f32", op.name()))),
        }
    }

    /// On the GPU, an f64 unary op the CPU hands to the runtime, as `hg_abi::scalar::unary`
    /// defines it.
    pub(super) fn gpu_unary_f64(&mut self, op: UnaryOp, x: String) -> Result<String, CodegenError> {
        Ok(match op {
            UnaryOp::Exp => self.f64_call(F64Fn::Exp, &[x])?,
            UnaryOp::Log => self.f64_call(F64Fn::Log, &[x])?,
            UnaryOp::Tanh => self.f64_call(F64Fn::Tanh, &[x])?,
            UnaryOp::Sin => self.f64_call(F64Fn::Sin, &[x])?,
            UnaryOp::Cos => self.f64_call(F64Fn::Cos, &[x])?,
            UnaryOp::Sigmoid => {
                // `x >= 0 ? 1 / (1 + e^-x) : e^x / (1 + e^x)`.
                let one = self.float_const(Scalar::F64, 1.0);
                let zero = self.float_const(Scalar::F64, 0.0);
                let minus = self.op(format!("arith.negf {x} : f64"));
                let e_minus = self.f64_call(F64Fn::Exp, &[minus])?;
                let d = self.op(format!("arith.addf {one}, {e_minus} : f64"));
                let positive = self.op(format!("arith.divf {one}, {d} : f64"));
                let e = self.f64_call(F64Fn::Exp, std::slice::from_ref(&x))?;
                let d = self.op(format!("arith.addf {one}, {e} : f64"));
                let negative = self.op(format!("arith.divf {e}, {d} : f64"));
                let ge = self.op(format!("arith.cmpf oge, {x}, {zero} : f64"));
                self.op(format!("arith.select {ge}, {positive}, {negative} : f64"))
            }
            UnaryOp::Softplus => {
                // `x > 20 ? x : log1p(e^x)` (PyTorch's threshold).
                let threshold = self.float_const(Scalar::F64, 20.0);
                let e = self.f64_call(F64Fn::Exp, std::slice::from_ref(&x))?;
                let soft = self.f64_call(F64Fn::Log1p, &[e])?;
                let above = self.op(format!("arith.cmpf ogt, {x}, {threshold} : f64"));
                self.op(format!("arith.select {above}, {x}, {soft} : f64"))
            }
            UnaryOp::Gelu => {
                // `0.5 x erfc(-x / sqrt 2)`.
                let half = self.float_const(Scalar::F64, 0.5);
                let scale = self.float_const(Scalar::F64, std::f64::consts::FRAC_1_SQRT_2);
                let minus = self.op(format!("arith.negf {x} : f64"));
                let t = self.op(format!("arith.mulf {minus}, {scale} : f64"));
                let c = self.f64_call(F64Fn::Erfc, &[t])?;
                let h = self.op(format!("arith.mulf {half}, {x} : f64"));
                self.op(format!("arith.mulf {h}, {c} : f64"))
            }
            UnaryOp::Rsqrt => {
                let root = self.exact(Exact::Sqrt, x, Scalar::F64);
                let one = self.float_const(Scalar::F64, 1.0);
                self.op(format!("arith.divf {one}, {root} : f64"))
            }
            UnaryOp::Relu => {
                // `x > 0 or NaN ? x : +0`.
                let zero = self.float_const(Scalar::F64, 0.0);
                let keep = self.op(format!("arith.cmpf ugt, {x}, {zero} : f64"));
                self.op(format!("arith.select {keep}, {x}, {zero} : f64"))
            }
            UnaryOp::Sign => {
                // ±0 and NaN are their own sign.
                let zero = self.float_const(Scalar::F64, 0.0);
                let (minus, plus) = (self.float_const(Scalar::F64, -1.0), self.float_const(Scalar::F64, 1.0));
                let gt = self.op(format!("arith.cmpf ogt, {x}, {zero} : f64"));
                let lt = self.op(format!("arith.cmpf olt, {x}, {zero} : f64"));
                let neg = self.op(format!("arith.select {lt}, {minus}, {x} : f64"));
                self.op(format!("arith.select {gt}, {plus}, {neg} : f64"))
            }
            op => return Err(self.unsupported(format!("{} of an f64", op.name()))),
        })
    }

    /// On the GPU, a binary op the CPU hands to the runtime: `pow` (f32 through f64), and
    /// f64 `pow`, `maximum`, `minimum` (NaN-propagating, `+0 > -0`, as `arith`'s).
    pub(super) fn gpu_binary(
        &mut self,
        op: BinaryOp,
        x: String,
        y: String,
        ty: Scalar,
    ) -> Result<String, CodegenError> {
        let t = register_type(ty);
        Ok(match (op, ty) {
            (BinaryOp::Pow, Scalar::F32) => self.f32_through_f64(F64Fn::Pow, &[x, y])?,
            (BinaryOp::Pow, _) => self.f64_call(F64Fn::Pow, &[x, y])?,
            (BinaryOp::Maximum, _) => self.op(format!("arith.maximumf {x}, {y} : {t}")),
            (BinaryOp::Minimum, _) => self.op(format!("arith.minimumf {x}, {y} : {t}")),
            (op, _) => return Err(self.unsupported(format!("{} of {}", op.name(), ty.name()))),
        })
    }

    /// Element `counter` of the standard normal draw at `{seed, step, site}`, inline: Philox
    /// block `counter / 2`, words `2 (counter % 2)` and the next, and Box-Muller in f64
    /// (`sqrt(-2 ln u1) cos(2 pi u2)`, `u1 = ((b1 >> 8) + 1) 2^-24`, `u2 = (b2 >> 8) 2^-24`), as
    /// `hg_exec::philox`; rounded to f32.
    pub(super) fn normal(&mut self, site: u32, seed: &str, step: &str, counter: &str) -> Result<String, CodegenError> {
        let one = self.i64_const(1);
        let zero = self.i64_const(0);
        let block = self.op(format!("arith.shrui {counter}, {one} : i64"));
        let pair = self.op(format!("arith.andi {counter}, {one} : i64"));
        let words = self.philox_block(site, seed, step, &block);
        let first = self.op(format!("arith.cmpi eq, {pair}, {zero} : i64"));
        let b1 = self.op(format!("arith.select {first}, {}, {} : i32", words[0], words[2]));
        let b2 = self.op(format!("arith.select {first}, {}, {} : i32", words[1], words[3]));
        let eight = self.constant("8 : i32".into());
        let one32 = self.constant("1 : i32".into());
        let unit = self.float_const(Scalar::F64, 1.0 / f64::from(1u32 << 24));
        let top1 = self.op(format!("arith.shrui {b1}, {eight} : i32"));
        let top1 = self.op(format!("arith.addi {top1}, {one32} : i32"));
        let top1 = self.op(format!("arith.uitofp {top1} : i32 to f64"));
        let u1 = self.op(format!("arith.mulf {top1}, {unit} : f64"));
        let top2 = self.op(format!("arith.shrui {b2}, {eight} : i32"));
        let top2 = self.op(format!("arith.uitofp {top2} : i32 to f64"));
        let u2 = self.op(format!("arith.mulf {top2}, {unit} : f64"));
        let ln = self.f64_call(F64Fn::Log, &[u1])?;
        let minus_two = self.float_const(Scalar::F64, -2.0);
        let m = self.op(format!("arith.mulf {minus_two}, {ln} : f64"));
        let radius = self.exact(Exact::Sqrt, m, Scalar::F64);
        let tau = self.float_const(Scalar::F64, std::f64::consts::TAU);
        let angle = self.op(format!("arith.mulf {tau}, {u2} : f64"));
        let c = self.f64_call(F64Fn::Cos, &[angle])?;
        let x = self.op(format!("arith.mulf {radius}, {c} : f64"));
        Ok(self.op(format!("arith.truncf {x} : f64 to f32")))
    }
}

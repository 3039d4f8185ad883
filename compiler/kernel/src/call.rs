//! The checks before a call of compiled kernel code on buffers, shared by every code
//! generator's safe `run`: generated code has no bounds checks (the verifier proved every
//! access in bounds for the declared argument lengths), so the buffers must honour them.

use hg_abi::plan::{Affine, Quadratic};

use crate::eval::Buffer;
use crate::ir::{Expr, Kernel, Scalar, Stmt};

/// What one kernel needs at call time: its argument types and lengths and its parallel extent.
#[derive(Clone, Debug)]
pub struct CallSignature {
    pub name: String,
    pub args: Vec<(Scalar, Quadratic)>,
    pub parallel: Option<Affine>,
}

/// Calls the compiled function `f` of the kernel `sig` describes on `buffers`, after
/// [`CallSignature::check`].
///
/// # Safety
///
/// `f` must be the code of a verified kernel with that signature, compiled with the
/// `KernelFn` ABI, and alive for the call.
pub unsafe fn run_checked(
    f: hg_abi::plan::KernelFn,
    sig: &CallSignature,
    buffers: &mut [Buffer],
    batch: i64,
    lo: i64,
    hi: i64,
) -> Result<(), String> {
    sig.check(buffers, batch, lo, hi)?;
    let pointers: Vec<*mut u8> = buffers.iter_mut().map(Buffer::as_mut_ptr).collect();
    // SAFETY: the kernel passed `verify` before it was compiled, so every access lies inside its
    // arguments' declared lengths for this `batch >= 1` (and `lo..hi` inside the parallel
    // extent); the buffers were just checked to be that long and of the argument types, and
    // are distinct (`&mut`).
    unsafe { f(pointers.as_ptr(), batch, lo, hi) };
    Ok(())
}

/// The runtime's view of a kernel's arguments: what an executor checks plan steps against.
pub fn abi_signature(kernel: &Kernel) -> hg_abi::plan::KernelSignature {
    hg_abi::plan::KernelSignature {
        args: kernel.args.iter().map(|a| (a.ty.dtype(), a.len)).collect(),
        parallel: kernel.parallel_extent(),
        cost: if calls_runtime(&kernel.body) { RUNTIME_CALL_COST } else { 1 },
    }
}

/// The cost of an element that calls the runtime (a Philox draw, `sin`, `pow`) against a plain
/// arithmetic element's: measured, a normal draw takes about 50 ns, some 30 times the loads,
/// arithmetic and store of an elementwise kernel's element.
const RUNTIME_CALL_COST: u32 = 32;

/// Whether any statement calls a runtime function per element (random draws, and the f32 ops
/// without an instruction or an inline form).
fn calls_runtime(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Loop { body, .. } => calls_runtime(body),
        Stmt::Let { expr: Expr::Random { .. }, .. } => true,
        Stmt::Let { ty: Scalar::F32, expr: Expr::Unary(op, _), .. } => hg_exec::kernel_fns::unary(*op).is_some(),
        Stmt::Let { ty: Scalar::F32, expr: Expr::Binary(op, _, _), .. } => hg_exec::kernel_fns::binary(*op).is_some(),
        _ => false,
    })
}

impl CallSignature {
    pub fn of(kernel: &Kernel) -> CallSignature {
        CallSignature {
            name: kernel.name.clone(),
            args: kernel.args.iter().map(|a| (a.ty, a.len)).collect(),
            parallel: kernel.parallel_extent(),
        }
    }

    /// Checks everything generated code relies on, so it cannot touch memory outside the
    /// buffers: one buffer per argument, of its type and at least its length at `batch`,
    /// `batch ≥ 1`, and `0 ≤ lo ≤ hi ≤ extent` for a parallel kernel. (Distinct `&mut`
    /// buffers do not alias.) The message names the kernel.
    pub fn check(&self, buffers: &[Buffer], batch: i64, lo: i64, hi: i64) -> Result<(), String> {
        let fail = |message: String| format!("kernel `{}`: {message}", self.name);
        let at =
            |a: Quadratic| a.eval(usize::try_from(batch).unwrap_or(0)).ok_or_else(|| fail(format!("{a} overflows")));
        if batch < 1 {
            return Err(fail(format!("batch size {batch} is not positive")));
        }
        if buffers.len() != self.args.len() {
            return Err(fail(format!("{} buffers for {} arguments", buffers.len(), self.args.len())));
        }
        for (n, ((ty, len), buf)) in self.args.iter().zip(buffers).enumerate() {
            let len = at(*len)?;
            if buf.scalar() != *ty || (buf.len() as u64) < len as u64 {
                return Err(fail(format!(
                    "argument %{n} is {}[{len}] but its buffer is {}[{}]",
                    ty.name(),
                    buf.scalar().name(),
                    buf.len()
                )));
            }
        }
        if let Some(extent) = self.parallel {
            let extent = at(extent.into())?;
            if !(0 <= lo && lo <= hi && hi <= extent) {
                return Err(fail(format!("range {lo}..{hi} is not inside 0..{extent}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Arg, Expr, Local, Stmt, Val, Var};
    use hg_abi::plan::RandomKind;

    fn kernel(body: Vec<Stmt>) -> Kernel {
        let arg = Arg { ty: Scalar::F32, len: Affine::batch(4).into(), written: true };
        Kernel { name: "k".into(), args: vec![arg], body, parallel: true }
    }

    /// Kernels that call the runtime per element weigh more when an executor decides whether
    /// to split them between threads; plain arithmetic weighs 1.
    #[test]
    fn kernels_calling_the_runtime_cost_more() {
        let (i, v) = (Var(0), Val(0));
        let draw = Stmt::Let {
            dst: v,
            ty: Scalar::F32,
            expr: Expr::Random { kind: RandomKind::Normal, site: 0, seed: v, step: v, counter: v },
        };
        let plain = Stmt::Local { local: Local(0), ty: Scalar::F32, init: v };
        let in_loop = |s: Stmt| vec![Stmt::Loop { var: i, extent: Affine::batch(4), body: vec![s] }];
        let random = abi_signature(&kernel(in_loop(draw)));
        assert_eq!((random.cost, random.parallel), (RUNTIME_CALL_COST, Some(Affine::batch(4))));
        assert_eq!(random.args, vec![(hg_abi::DType::F32, Affine::batch(4).into())]);
        assert_eq!(abi_signature(&kernel(in_loop(plain))).cost, 1);
        let sin = Stmt::Let { dst: v, ty: Scalar::F32, expr: Expr::Unary(crate::ir::UnaryOp::Sin, v) };
        assert_eq!(abi_signature(&kernel(in_loop(sin))).cost, RUNTIME_CALL_COST);
        let exp = Stmt::Let { dst: v, ty: Scalar::F32, expr: Expr::Unary(crate::ir::UnaryOp::Exp, v) };
        assert_eq!(abi_signature(&kernel(in_loop(exp))).cost, 1, "exp is inline code");
    }
}

//! The checks before a call of compiled kernel code on buffers, shared by every code
//! generator's safe `run`: generated code has no bounds checks (the verifier proved every
//! access in bounds for the declared argument lengths), so the buffers must honour them.

use hg_abi::plan::Affine;

use crate::eval::Buffer;
use crate::ir::{Kernel, Scalar};

/// What one kernel needs at call time: its argument types and lengths and its parallel extent.
#[derive(Clone, Debug)]
pub struct CallSignature {
    pub name: String,
    pub args: Vec<(Scalar, Affine)>,
    pub parallel: Option<Affine>,
}

/// The runtime's view of a kernel's arguments: what an executor checks plan steps against.
pub fn abi_signature(kernel: &Kernel) -> hg_abi::plan::KernelSignature {
    hg_abi::plan::KernelSignature {
        args: kernel.args.iter().map(|a| (a.ty.dtype(), a.len)).collect(),
        parallel: kernel.parallel_extent(),
    }
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
        let at = |a: Affine| a.eval(usize::try_from(batch).unwrap_or(0)).ok_or_else(|| fail(format!("{a} overflows")));
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
            let extent = at(extent)?;
            if !(0 <= lo && lo <= hi && hi <= extent) {
                return Err(fail(format!("range {lo}..{hi} is not inside 0..{extent}")));
            }
        }
        Ok(())
    }
}

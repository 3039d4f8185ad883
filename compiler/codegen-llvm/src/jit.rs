//! Kernels compiled by LLVM and loaded into this process: the object of
//! [`crate::compile_kernels`], loaded by the runtime's own object loader
//! (`hg_cpu::loader`), the same path standalone executables take, with its undefined symbols
//! resolved by `hg_cpu::loader::runtime_symbol`.
//!
//! Invariant: a [`CompiledKernels`] owns the memory its functions live in; function pointers
//! taken from it are only valid while it (or the [`CodeOwner`] it became) is alive.

use std::time::Duration;

use hg_abi::plan::KernelFn;
use hg_cpu::loader::LoadedObject;
use hg_kernel::call::CallSignature;
use hg_kernel::eval::Buffer;
use hg_kernel::ir::Kernel;

use crate::CodegenError;
use crate::object::{KernelObject, compile_kernels};
use crate::target::HostTarget;

/// Kernels compiled for the host CPU and loaded: one function per kernel, in the order given
/// to [`compile`]. [`CompiledKernels::run`] is the safe way in: it checks the buffers first.
pub struct CompiledKernels {
    functions: Vec<KernelFn>,
    signatures: Vec<CallSignature>,
    object: KernelObject,
    // Owns the memory `functions` point into; unmapped when this value is dropped.
    _code: LoadedObject,
}

impl std::fmt::Debug for CompiledKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKernels")
            .field("kernels", &self.signatures.iter().map(|s| &s.name).collect::<Vec<_>>())
            .field("compile_time", &self.object.compile_time)
            .finish_non_exhaustive()
    }
}

/// Keeps loaded code alive on behalf of an executor that runs it from any thread.
pub struct CodeOwner(#[allow(dead_code)] LoadedObject);

/// Compiles `kernels` with LLVM for the CPU this process runs on and loads the code.
pub fn compile(kernels: &[Kernel]) -> Result<CompiledKernels, CodegenError> {
    let target = HostTarget::new()?;
    load(compile_kernels(kernels, &target)?, kernels)
}

/// Loads `object`, compiled for this CPU from `kernels` (its symbols in their order), into this
/// process.
pub fn load(object: KernelObject, kernels: &[Kernel]) -> Result<CompiledKernels, CodegenError> {
    if object.symbols.len() != kernels.len() {
        return Err(CodegenError::Load(format!(
            "the object has {} kernels, not {}",
            object.symbols.len(),
            kernels.len()
        )));
    }
    let code = LoadedObject::load(&object.bytes, &hg_cpu::loader::runtime_symbol)
        .map_err(|e| CodegenError::Load(e.to_string()))?;
    let functions = object
        .symbols
        .iter()
        .map(|name| {
            let address = code.symbol(name).ok_or_else(|| CodegenError::Load(format!("no symbol `{name}`")))?;
            // SAFETY: `name` is a function its code generator defined with the `KernelFn`
            // signature `(ptr, i64, i64, i64)` and the C calling convention.
            Ok(unsafe { std::mem::transmute::<*const u8, KernelFn>(address) })
        })
        .collect::<Result<Vec<_>, CodegenError>>()?;
    let signatures = kernels.iter().map(CallSignature::of).collect();
    Ok(CompiledKernels { functions, signatures, object, _code: code })
}

impl CompiledKernels {
    /// The function pointers and an owner that keeps their code alive.
    pub fn into_parts(self) -> (Vec<KernelFn>, CodeOwner) {
        (self.functions, CodeOwner(self._code))
    }

    /// Number of kernels.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// Time LLVM took to build, optimise and emit the object (loading is not counted).
    pub fn compile_time(&self) -> Duration {
        self.object.compile_time
    }

    /// The object the code was loaded from.
    pub fn object(&self) -> &KernelObject {
        &self.object
    }

    /// Runs kernel `i` on `buffers` for batch size `batch` (and iterations `lo..hi` of the
    /// outermost loop of a parallel kernel), after the checks of [`CallSignature::check`].
    pub fn run(&self, i: usize, buffers: &mut [Buffer], batch: i64, lo: i64, hi: i64) -> Result<(), CodegenError> {
        let sig = self.signatures.get(i).ok_or_else(|| CodegenError::Call(format!("there is no kernel {i}")))?;
        // SAFETY: function `i` is the compiled code of the verified kernel `sig` describes, and
        // `self` keeps it alive.
        unsafe { hg_kernel::call::run_checked(self.functions[i], sig, buffers, batch, lo, hi) }
            .map_err(CodegenError::Call)
    }
}

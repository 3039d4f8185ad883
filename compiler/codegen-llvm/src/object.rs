//! Kernels to one relocatable object: build every kernel of a program into one LLVM module
//! ([`crate::kernel`]), run the O3 pipeline for the target, and emit the object in memory. The
//! object's only undefined symbols are the runtime functions of `hg_exec::kernel_fns` and the C
//! library's `memset`/`memcpy`/`memmove` (LLVM turns zeroing and copying loops into them); a
//! loader resolves them (`hg_cpu::loader`), so the same bytes serve `hgc run` and standalone
//! executables.

use std::time::{Duration, Instant};

use hg_kernel::ir::Kernel;
use inkwell::context::Context;
use inkwell::module::Module;

use crate::CodegenError;
use crate::kernel::{build_kernels, symbol};
use crate::target::HostTarget;

/// Kernels compiled to machine code, as a relocatable ELF object.
#[derive(Clone, Debug)]
pub struct KernelObject {
    /// The object file.
    pub bytes: Vec<u8>,
    /// The symbol of each kernel, in the order of the kernels given.
    pub symbols: Vec<String>,
    /// The CPU the code was compiled for (LLVM's name).
    pub cpu: String,
    /// Target features, in LLVM's `+feature,-feature` syntax.
    pub features: String,
    /// Building, optimising and emitting.
    pub compile_time: Duration,
}

/// Builds `kernels` into a module for `target` and runs the optimisation pipeline on it.
fn optimized<'ctx>(cx: &'ctx Context, kernels: &[Kernel], target: &HostTarget) -> Result<Module<'ctx>, CodegenError> {
    let module = cx.create_module("hg_kernels");
    target.adopt(&module);
    build_kernels(cx, &module, kernels)?;
    target.optimize(&module)?;
    Ok(module)
}

/// Compiles `kernels` for `target` into one object; kernel `i` is the symbol
/// [`crate::kernel::symbol`]`(i)` with the `hg_abi::plan::KernelFn` ABI.
pub fn compile_kernels(kernels: &[Kernel], target: &HostTarget) -> Result<KernelObject, CodegenError> {
    let start = Instant::now();
    let cx = Context::create();
    let module = cx.create_module("hg_kernels");
    build_kernels(&cx, &module, kernels)?;
    emit_module(&module, (0..kernels.len()).map(symbol).collect(), target, start)
}

/// Optimises `module`, whose kernels another front end may have built (the MLIR backend
/// translates its own into LLVM IR), for `target` and emits it; `symbols` are its kernels' entry
/// points in order, `start` when compilation began.
pub fn emit_module(
    module: &Module<'_>,
    symbols: Vec<String>,
    target: &HostTarget,
    start: Instant,
) -> Result<KernelObject, CodegenError> {
    target.adopt(module);
    target.optimize(module)?;
    let bytes = target.object_bytes(module)?;
    Ok(KernelObject {
        bytes,
        symbols,
        cpu: target.cpu().to_string(),
        features: target.features().to_string(),
        compile_time: start.elapsed(),
    })
}

/// The LLVM IR of `kernels`: as built (`optimize` false, target independent apart from the
/// triple and data layout) or after the O3 pipeline for `target`.
pub fn kernels_ir(kernels: &[Kernel], target: &HostTarget, optimize: bool) -> Result<String, CodegenError> {
    let cx = Context::create();
    let module = if optimize {
        optimized(&cx, kernels, target)?
    } else {
        let module = cx.create_module("hg_kernels");
        build_kernels(&cx, &module, kernels)?;
        crate::target::verify(&module)?;
        module
    };
    Ok(module.print_to_string().to_string())
}

//! The MLIR kernels on the CPU (`--backend mlir-cpu`): the module of [`crate::kernel`] parsed
//! and verified, lowered to the `llvm` dialect by MLIR's conversion passes, translated to LLVM
//! IR inside an inkwell context, then optimised, emitted and loaded by the LLVM backend as its
//! own kernels are. This is how the arithmetic of the MLIR lowering is held to the reference
//! evaluator on machines without a GPU: the `scf` form that the GPU mapping starts from runs
//! here, bit for bit against the evaluator.

use std::time::Instant;

use hg_abi::plan::{DeviceLib, KernelFn};
use hg_codegen_llvm::{CompiledKernels, HostTarget, KernelObject};
use hg_cpu::loader::LoadedObject;
use hg_kernel::ir::Kernel;
use melior::Context;
use melior::ir::Module;
use melior::ir::operation::OperationLike;
use melior::pass::PassManager;
use melior::utility::parse_pass_pipeline;

use crate::CodegenError;
use crate::context::{new_context, with_diagnostics};
use crate::kernel::lib::cpu_lib_module;
use crate::kernel::{cpu_module, symbol};

/// From `scf`/`memref`/`arith`/`math`/`func` (and the few `llvm` ops that read the pointer
/// table) to the `llvm` dialect alone.
pub const CPU_PIPELINE: &str = "builtin.module(convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,\
     convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,\
     reconcile-unrealized-casts)";

/// Parses MLIR `text` in `context` and verifies it; `name` labels errors.
pub fn parse_verified<'c>(context: &'c Context, text: &str, name: &str) -> Result<Module<'c>, CodegenError> {
    let (module, diagnostics) = with_diagnostics(context, || Module::parse(context, text));
    let module = module.ok_or_else(|| CodegenError::InvalidModule { module: name.into(), diagnostics })?;
    let (valid, diagnostics) = with_diagnostics(context, || module.as_operation().verify());
    if !valid {
        return Err(CodegenError::InvalidModule { module: name.into(), diagnostics });
    }
    Ok(module)
}

/// Runs the pass `pipeline` on `module`.
pub fn run_pipeline(context: &Context, module: &mut Module<'_>, pipeline: &str) -> Result<(), CodegenError> {
    let manager = PassManager::new(context);
    parse_pass_pipeline(manager.as_operation_pass_manager(), pipeline)
        .map_err(|error| CodegenError::Pipeline { pipeline: pipeline.to_string(), message: error.to_string() })?;
    let (result, diagnostics) = with_diagnostics(context, || manager.run(module));
    result.map_err(|_| CodegenError::CpuLowering { diagnostics })
}

/// The module of `kernels` parsed, verified and lowered to the `llvm` dialect in `context`.
fn lowered<'c>(context: &'c Context, kernels: &[Kernel]) -> Result<Module<'c>, CodegenError> {
    lowered_text(context, &cpu_module(kernels)?)
}

/// A CPU module's text parsed, verified and lowered to the `llvm` dialect in `context`.
fn lowered_text<'c>(context: &'c Context, text: &str) -> Result<Module<'c>, CodegenError> {
    let mut module = parse_verified(context, text, "kernels")?;
    run_pipeline(context, &mut module, CPU_PIPELINE)?;
    Ok(module)
}

/// The module of `kernels` in the `llvm` dialect, as text.
pub fn llvm_dialect(kernels: &[Kernel]) -> Result<String, CodegenError> {
    let context = new_context();
    Ok(lowered(&context, kernels)?.as_operation().to_string())
}

/// Compiles `kernels` through MLIR into one object for `target`; kernel `i` is the symbol
/// [`symbol`]`(i)` with the `hg_abi::plan::KernelFn` ABI, as in the LLVM backend's objects.
pub fn compile_object(kernels: &[Kernel], target: &HostTarget) -> Result<KernelObject, CodegenError> {
    compile_text(&cpu_module(kernels)?, (0..kernels.len()).map(symbol).collect(), target)
}

/// Compiles the CPU module `text`, whose functions `symbols` have the `KernelFn` ABI, into one
/// object for `target`.
pub fn compile_text(text: &str, symbols: Vec<String>, target: &HostTarget) -> Result<KernelObject, CodegenError> {
    let start = Instant::now();
    let context = new_context();
    let module = lowered_text(&context, text)?;
    let cx = inkwell::context::Context::create();
    // SAFETY: the module was lowered to the `llvm` dialect only, and the context is alive for
    // the whole translation; the result is a new module owned by `cx`, or null on failure.
    let raw = unsafe { mlir_sys::mlirTranslateModuleToLLVMIR(module.as_operation().to_raw(), cx.raw().cast()) };
    if raw.is_null() {
        return Err(CodegenError::CpuLowering { diagnostics: "the translation to LLVM IR failed".into() });
    }
    // SAFETY: `raw` is a valid module created in `cx`, and nothing else owns it.
    let llvm = unsafe { inkwell::module::Module::new(raw.cast()) };
    Ok(hg_codegen_llvm::object::emit_module(&llvm, symbols, target, start)?)
}

/// Compiles `kernels` through MLIR for the CPU this process runs on and loads the code.
pub fn compile(kernels: &[Kernel]) -> Result<CompiledKernels, CodegenError> {
    let target = HostTarget::new()?;
    let object = compile_object(kernels, &target)?;
    Ok(hg_codegen_llvm::jit::load(object, kernels)?)
}

/// The library kernels of `libs` (`crate::kernel::lib`, the GPU's) compiled for the CPU this
/// process runs on and loaded: function `i` runs `libs[i]` with the `KernelFn` ABI (the call's
/// arguments, then its status word), valid while the returned object lives.
pub fn compile_library(libs: &[DeviceLib]) -> Result<(Vec<KernelFn>, LoadedObject), CodegenError> {
    let symbols: Vec<String> = (0..libs.len()).map(DeviceLib::symbol).collect();
    let object = compile_text(&cpu_lib_module(libs)?, symbols.clone(), &HostTarget::new()?)?;
    let code = LoadedObject::load(&object.bytes, &hg_cpu::loader::runtime_symbol)
        .map_err(|e| hg_codegen_llvm::CodegenError::Load(e.to_string()))?;
    let functions = symbols
        .iter()
        .map(|name| {
            let address =
                code.symbol(name).ok_or_else(|| hg_codegen_llvm::CodegenError::Load(format!("no symbol `{name}`")))?;
            // SAFETY: `name` is a function the library module defines with the `KernelFn`
            // signature `(ptr, i64, i64, i64)` and the C calling convention.
            Ok(unsafe { std::mem::transmute::<*const u8, KernelFn>(address) })
        })
        .collect::<Result<Vec<_>, CodegenError>>()?;
    Ok((functions, code))
}

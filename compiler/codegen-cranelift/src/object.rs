//! Kernels as a relocatable object for a named CPU level, for artifacts and standalone
//! executables (`hgc build --backend cranelift`): the same functions the JIT defines
//! ([`crate::kernel`]), exported as `hg_kernel_N`, position independent, for an x86-64 ISA with
//! exactly the level's features (not the build machine's), so the object runs on every CPU of
//! that level. Its undefined symbols are the runtime functions that `hg_cpu::loader` resolves.

use std::time::{Duration, Instant};

use cranelift_codegen::isa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_object::{ObjectBuilder, ObjectModule};
use hg_abi::CpuLevel;
use hg_kernel::ir::Kernel;

use crate::CodegenError;
use crate::kernel::define_kernels;

/// Cranelift's x86-64 ISA flags of each level: x86-64-v3 adds AVX2, FMA and BMI to the SSE4
/// baseline Cranelift's SIMD needs; x86-64-v4 adds AVX-512. Generic x86-64 (SSE2) sets none:
/// rounding and FMA then become calls the loader resolves.
fn isa_flags(level: CpuLevel) -> Vec<&'static str> {
    const SSE4: &[&str] = &["has_sse3", "has_ssse3", "has_sse41", "has_sse42", "has_popcnt", "has_cmpxchg16b"];
    const AVX2: &[&str] = &["has_avx", "has_avx2", "has_fma", "has_bmi1", "has_bmi2", "has_lzcnt"];
    const AVX512: &[&str] = &["has_avx512f", "has_avx512dq", "has_avx512vl"];
    let parts: &[&[&str]] = match level {
        CpuLevel::Generic => &[],
        CpuLevel::X86_64V3 => &[SSE4, AVX2],
        CpuLevel::X86_64V4 => &[SSE4, AVX2, AVX512],
    };
    parts.concat()
}

/// Compiles `kernels` into one relocatable ELF object for `level`; returns its bytes and how
/// long it took.
pub fn compile_object(kernels: &[Kernel], level: CpuLevel) -> Result<(Vec<u8>, Duration), CodegenError> {
    let start = Instant::now();
    let mut flags = settings::builder();
    flags.set("opt_level", "speed")?;
    flags.set("is_pic", "true")?;
    let mut builder = isa::lookup_by_name("x86_64-unknown-linux-gnu")
        .map_err(|e| CodegenError::UnsupportedHost(format!("no x86-64 ISA: {e}")))?;
    for flag in isa_flags(level) {
        builder.enable(flag)?;
    }
    let isa = builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError::UnsupportedHost(format!("x86-64 ISA for {}: {e}", level.name())))?;
    let objects = ObjectBuilder::new(isa, "hg_kernels", cranelift_module::default_libcall_names())?;
    let mut module = ObjectModule::new(objects);
    define_kernels(&mut module, kernels, true)?;
    let bytes = module.finish().emit().map_err(|e| CodegenError::Object(e.to_string()))?;
    Ok((bytes, start.elapsed()))
}

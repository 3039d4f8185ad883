//! The JIT module every Cranelift kernel is compiled into: host-ISA detection, the settings we
//! compile with, and freeing of the executable memory.
//!
//! Invariant: a [`JitCode`] owns the memory its functions live in; function pointers taken
//! from it are only valid while it is alive, so wrappers keep it next to their pointers.

use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};

use crate::CodegenError;

/// Creates an empty JIT module for the CPU this process runs on, optimising for speed, with
/// the runtime functions `symbols` (name, address) resolvable by imported functions.
///
/// The ISA is `cranelift_native`'s: the host's features (SSE4.1, AVX, AVX2, FMA, AVX-512, ...)
/// detected at run time. Cranelift's IR verifier runs in debug builds only.
pub fn new_host_module(symbols: &[(&'static str, *const u8)]) -> Result<JITModule, CodegenError> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed")?;
    flags.set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    let isa = cranelift_native::builder()
        .map_err(|message| CodegenError::UnsupportedHost(message.to_string()))?
        .finish(settings::Flags::new(flags))
        .map_err(|error| CodegenError::UnsupportedHost(error.to_string()))?;
    if isa.pointer_bits() != 64 {
        return Err(CodegenError::UnsupportedHost(format!("{}-bit pointers (kernels need 64)", isa.pointer_bits())));
    }
    let mut builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    for &(name, address) in symbols {
        builder.symbol(name, address);
    }
    Ok(JITModule::new(builder))
}

/// Finalised JIT code: the module that owns the executable memory of its functions.
pub struct JitCode {
    // `Option` so that `Drop` can move the module into `free_memory`, which consumes it.
    module: Option<JITModule>,
}

impl JitCode {
    /// Takes ownership of a module whose definitions have all been finalised.
    pub fn new(module: JITModule) -> Self {
        JitCode { module: Some(module) }
    }
}

impl Drop for JitCode {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: function pointers into this memory are only handed out together with the
            // `JitCode` (wrappers own both), so none can be called after this point.
            unsafe { module.free_memory() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_module::Module;

    /// The inline math relies on `fma` being one instruction: the native ISA enables the FMA
    /// extension exactly when the CPU has it (and AVX, which its encoding needs).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_host_isa_has_fma_when_the_cpu_does() {
        let module = new_host_module(&[]).unwrap();
        let flags = module.isa().isa_flags();
        let enabled = |name: &str| flags.iter().any(|v| v.name == name && v.as_bool() == Some(true));
        let cpu = std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx");
        assert_eq!(enabled("has_fma") && enabled("has_avx"), cpu);
    }
}

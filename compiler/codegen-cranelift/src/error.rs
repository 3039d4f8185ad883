//! The error type of the Cranelift code generator. Compile-time failures carry Cranelift's own
//! error; call-time failures say which buffer or range does not fit the kernel.

/// Everything that can go wrong while compiling or calling a Cranelift kernel.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// Cranelift has no backend for the CPU this process runs on, or rejected its flags.
    #[error("the host CPU is not supported by cranelift: {0}")]
    UnsupportedHost(String),
    /// A Cranelift setting was rejected (a misspelt flag name or value).
    #[error("invalid cranelift setting: {0}")]
    Setting(#[from] cranelift_codegen::settings::SetError),
    /// Declaring, defining (verifying and compiling) or finalising a function in the JIT
    /// module failed.
    #[error("cranelift module error: {0}")]
    Module(Box<cranelift_module::ModuleError>),
    /// A kernel broke a rule of the kernel IR (`hg_kernel::verify`); nothing was compiled.
    #[error("invalid kernel: {0}")]
    Verify(#[from] hg_kernel::VerifyError),
    /// A verified kernel uses a construct this code generator does not lower.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Writing the object file failed.
    #[error("cannot write the kernel object: {0}")]
    Object(String),
    /// A call of a compiled kernel was refused before it ran (buffers or range do not fit).
    #[error("bad kernel call: {0}")]
    Call(String),
}

impl From<cranelift_module::ModuleError> for CodegenError {
    // Boxed because `ModuleError` is large and would make every `Result` in this crate large.
    fn from(error: cranelift_module::ModuleError) -> Self {
        CodegenError::Module(Box::new(error))
    }
}

//! The error type of the Cranelift code generator. Compile-time failures carry Cranelift's own
//! error; run-time failures name the argument that was wrong and its value.

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
    #[error("cranelift JIT module error: {0}")]
    Module(Box<cranelift_module::ModuleError>),
    /// Two slices that a kernel walks in lockstep have different lengths.
    #[error("length mismatch: `{left}` has {left_len} elements but `{right}` has {right_len}")]
    LengthMismatch {
        /// Name of the first argument.
        left: &'static str,
        /// Its length.
        left_len: usize,
        /// Name of the second argument.
        right: &'static str,
        /// Its length.
        right_len: usize,
    },
}

impl From<cranelift_module::ModuleError> for CodegenError {
    // Boxed because `ModuleError` is large and would make every `Result` in this crate large.
    fn from(error: cranelift_module::ModuleError) -> Self {
        CodegenError::Module(Box::new(error))
    }
}

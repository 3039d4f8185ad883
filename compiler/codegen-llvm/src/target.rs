//! The host target machine and the steps every kernel module goes through after it is built:
//! verification, the O3 pipeline, and object emission.
//!
//! The target is the CPU this process runs on, with all of its features (AVX2, AVX-512, ...),
//! so objects are fast here and may not run on older CPUs. Code is position independent.
//! Invariant: a module is verified before any pass runs on it, so a bug in IR construction is
//! reported as [`CodegenError::InvalidIr`] instead of crashing inside LLVM.

use std::path::{Path, PathBuf};

use inkwell::OptimizationLevel;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple};

use crate::CodegenError;

/// The optimisation pipeline, in LLVM's textual pass syntax.
pub const OPTIMIZATION_PIPELINE: &str = "default<O3>";

/// What [`HostTarget::emit_object`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object file.
    pub path: PathBuf,
    /// Externally visible functions defined in the object.
    pub symbols: Vec<String>,
    /// LLVM target triple, e.g. `x86_64-pc-linux-gnu`.
    pub triple: String,
    /// CPU the code was tuned for, e.g. `skylake-avx512`.
    pub cpu: String,
    /// Target features enabled, in LLVM's `+feature,-feature` syntax.
    pub features: String,
    /// Size of the object file in bytes.
    pub size_bytes: u64,
}

/// An LLVM target machine for the host CPU at O3.
#[derive(Debug)]
pub struct HostTarget {
    machine: TargetMachine,
    triple: TargetTriple,
    cpu: String,
    features: String,
}

impl HostTarget {
    /// Initialises LLVM's native target (idempotent) and creates the machine for this CPU, with
    /// all of its features.
    pub fn new() -> Result<Self, CodegenError> {
        let cpu = TargetMachine::get_host_cpu_name().to_string();
        let features = TargetMachine::get_host_cpu_features().to_string();
        Self::create(&cpu, features)
    }

    /// A machine for every CPU of `level` (its LLVM CPU name, `x86-64-v3`, with only the
    /// level's features), for objects that run on other machines of that level.
    pub fn for_level(level: hg_abi::CpuLevel) -> Result<Self, CodegenError> {
        let features = if level == hg_abi::CpuLevel::X86_64V4 { "+avx512f".to_string() } else { String::new() };
        Self::create(level.llvm_cpu(), features)
    }

    fn create(cpu: &str, mut features: String) -> Result<Self, CodegenError> {
        Target::initialize_native(&InitializationConfig::default()).map_err(CodegenError::HostTarget)?;
        set_vectoriser_options();
        let triple = TargetMachine::get_default_triple();
        // LLVM tunes AVX-512 CPUs to prefer 256-bit vectors (a frequency penalty of early
        // parts); our kernels are wide elementwise loops, so let it use the full `zmm` width.
        if features.split(',').any(|f| f == "+avx512f") {
            features.push_str(",-prefer-256-bit");
        }
        let target = Target::from_triple(&triple).map_err(|message| CodegenError::HostTarget(message.to_string()))?;
        let machine = target
            .create_target_machine(
                &triple,
                cpu,
                &features,
                OptimizationLevel::Aggressive,
                RelocMode::PIC,
                CodeModel::Default,
            )
            .ok_or_else(|| CodegenError::HostTarget(format!("no target machine for `{triple}` cpu `{cpu}`")))?;
        Ok(HostTarget { machine, triple, cpu: cpu.to_string(), features })
    }

    /// The target triple as text.
    pub fn triple(&self) -> String {
        self.triple.as_str().to_string_lossy().into_owned()
    }

    /// Host CPU name as LLVM knows it.
    pub fn cpu(&self) -> &str {
        &self.cpu
    }

    /// Host CPU features in LLVM's syntax.
    pub fn features(&self) -> &str {
        &self.features
    }

    /// Stamps `module` with this target's triple and data layout, which the optimiser needs
    /// to know type sizes and legal vector widths.
    pub fn adopt(&self, module: &Module<'_>) {
        module.set_triple(&self.triple);
        module.set_data_layout(&self.machine.get_target_data().get_data_layout());
    }

    /// Verifies `module` and runs [`OPTIMIZATION_PIPELINE`] on it for this target.
    pub fn optimize(&self, module: &Module<'_>) -> Result<(), CodegenError> {
        verify(module)?;
        module.run_passes(OPTIMIZATION_PIPELINE, &self.machine, PassBuilderOptions::create()).map_err(|message| {
            CodegenError::Passes { pipeline: OPTIMIZATION_PIPELINE.to_string(), message: message.to_string() }
        })
    }

    /// Writes `module` as a relocatable object file to `path`. `symbols` lists the functions
    /// the caller defined, recorded in the returned [`ObjectInfo`].
    pub fn emit_object(&self, module: &Module<'_>, path: &Path, symbols: &[&str]) -> Result<ObjectInfo, CodegenError> {
        let emit_error = |message: String| CodegenError::Emit { path: path.to_path_buf(), message };
        self.machine
            .write_to_file(module, FileType::Object, path)
            .map_err(|message| emit_error(message.to_string()))?;
        let size_bytes = std::fs::metadata(path).map_err(|error| emit_error(error.to_string()))?.len();
        Ok(ObjectInfo {
            path: path.to_path_buf(),
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            triple: self.triple(),
            cpu: self.cpu.clone(),
            features: self.features.clone(),
            size_bytes,
        })
    }
}

impl HostTarget {
    /// `module` as a relocatable object file, in memory.
    pub fn object_bytes(&self, module: &Module<'_>) -> Result<Vec<u8>, CodegenError> {
        let buffer = self
            .machine
            .write_to_memory_buffer(module, FileType::Object)
            .map_err(|message| CodegenError::Emit { path: PathBuf::from("<memory>"), message: message.to_string() })?;
        Ok(buffer.as_slice().to_vec())
    }
}

/// Lets the loop vectoriser vectorise in-order floating-point reductions: the element work
/// (often transcendental, as a loss's `softplus`) runs in vector lanes and the lanes are then
/// added to the accumulator one by one, in index order, so the sum is bit for bit the scalar
/// loop's (we never allow reassociation). LLVM enables this only where the target has an
/// ordered-reduction instruction; without it such loops stay scalar on x86. Set once per process,
/// before the first pass pipeline runs.
fn set_vectoriser_options() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let args = [c"hgc".as_ptr(), c"-force-ordered-reductions".as_ptr()];
        // SAFETY: two valid NUL-terminated strings that outlive the call; LLVM copies what it keeps.
        unsafe { inkwell::llvm_sys::support::LLVMParseCommandLineOptions(2, args.as_ptr(), c"".as_ptr()) };
    });
}

/// Runs LLVM's verifier on `module`.
pub fn verify(module: &Module<'_>) -> Result<(), CodegenError> {
    module.verify().map_err(|message| CodegenError::InvalidIr {
        module: module.get_name().to_string_lossy().into_owned(),
        message: message.to_string(),
    })
}

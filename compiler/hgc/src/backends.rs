//! The backend registry: every backend `hgc run` can execute a model on, by name. A backend
//! turns a compiled module (and the layout of its train step) into an `hg_exec::Session`; the
//! rest of the driver and the whole runtime only see the session.

use hg_abi::plan::{DeviceLib, Plan, Step};
use hg_core::interp::{InterpSession, Precision};
use hg_core::optim::TrainStepInfo;
use hg_exec::Session;
use hg_ir::Module;
use hg_kernel::ir::Kernel;
use hg_kernel::lower_function;
use std::collections::{BTreeMap, HashMap};

/// Settings that apply to every backend.
#[derive(Clone, Copy, Debug)]
pub struct BackendOptions {
    /// Float arithmetic (the interpreter can also compute in f64).
    pub precision: Precision,
}

/// How a backend compiles a module and opens a session on it.
type Open = fn(Module, Option<&TrainStepInfo>, &BackendOptions) -> Result<Box<dyn Session>, String>;

/// One entry of the registry.
pub struct Backend {
    pub name: &'static str,
    pub about: &'static str,
    open: Open,
}

impl Backend {
    /// Compiles `module` for this backend and opens a session on it (parameters not loaded).
    pub fn open(
        &self,
        module: Module,
        train: Option<&TrainStepInfo>,
        opts: &BackendOptions,
    ) -> Result<Box<dyn Session>, String> {
        (self.open)(module, train, opts)
    }
}

fn open_interp(
    module: Module,
    train: Option<&TrainStepInfo>,
    opts: &BackendOptions,
) -> Result<Box<dyn Session>, String> {
    Ok(Box::new(InterpSession::new(module, train, opts.precision).map_err(|e| e.to_string())?))
}

/// A module compiled for the CPU: its manifest, one plan per entry, and the kernels of all
/// plans in one table.
pub type LoweredModule = (hg_abi::Manifest, BTreeMap<String, Plan>, Vec<Kernel>);

/// Lowers every entry of `module` to kernels and library calls (one program per entry, kernel
/// indices shifted into one table).
pub fn lower_module(module: &Module, train: Option<&TrainStepInfo>) -> Result<LoweredModule, String> {
    let manifest = hg_core::manifest::manifest(module, train).map_err(|e| e.to_string())?;
    let carried = manifest.train.as_ref().map(|t| t.carried.clone()).unwrap_or_default();
    let mut plans = BTreeMap::new();
    let mut kernels = Vec::new();
    let mut seen = HashMap::new();
    for entry in manifest.entry_names() {
        let f = module.function(entry).ok_or_else(|| format!("the module has no function `{entry}`"))?;
        let none = Vec::new();
        let program = lower_function(f, if entry == "train" { &carried } else { &none })
            .map_err(|e| format!("`{entry}` does not compile: {e}"))?;
        let mut plan = program.plan;
        // One kernel per distinct loop nest: entries share most of the forward pass, and
        // repeated blocks (transformer layers) give the same kernels again.
        let table: Vec<u32> = program.kernels.into_iter().map(|k| table_index(&mut kernels, &mut seen, k)).collect();
        for step in &mut plan.steps {
            if let Step::Kernel { kernel, .. } = step {
                *kernel = table[*kernel as usize];
            }
        }
        plans.insert(entry.to_string(), plan);
    }
    Ok((manifest, plans, kernels))
}

/// The index of `kernel` in `kernels`, adding it unless an identical loop nest (up to the
/// name) is there already.
fn table_index(kernels: &mut Vec<Kernel>, seen: &mut HashMap<String, u32>, kernel: Kernel) -> u32 {
    let key = format!("{:?}", (&kernel.args, &kernel.body, kernel.parallel));
    *seen.entry(key).or_insert_with(|| {
        kernels.push(kernel);
        kernels.len() as u32 - 1
    })
}

/// Code a compiler made of a module's kernels: their entry points, what keeps them alive, and
/// any library calls it compiled too (which then run its code instead of the CPU library).
struct Compiled {
    fns: Vec<hg_abi::plan::KernelFn>,
    owner: Box<dyn std::any::Any + Send>,
    libs: Vec<(DeviceLib, hg_abi::plan::KernelFn)>,
}

impl Compiled {
    fn kernels(fns: Vec<hg_abi::plan::KernelFn>, owner: impl std::any::Any + Send) -> Compiled {
        Compiled { fns, owner: Box::new(owner), libs: Vec::new() }
    }
}

/// Lowers `module`, compiles its kernels with `compile` and opens a CPU session named `name`.
///
/// `compile` gets the kernels and the plans' library calls; it must return, for each kernel in
/// order, code that implements it under the `KernelFn` ABI (what the CPU code generators
/// produce from verified kernels), and for any library call it compiles, code that implements
/// that call's library kernel (`hg_cpu::Kernels::with_library`).
fn open_compiled(
    name: &str,
    module: Module,
    train: Option<&TrainStepInfo>,
    opts: &BackendOptions,
    compile: impl FnOnce(&[Kernel], &[DeviceLib]) -> Result<Compiled, String>,
) -> Result<Box<dyn Session>, String> {
    if opts.precision != Precision::F32 {
        return Err("compiled backends compute in f32; use `--backend interp` for f64".into());
    }
    let (manifest, plans, kernels) = lower_module(&module, train)?;
    let Compiled { fns, owner, libs } = compile(&kernels, &DeviceLib::of_plans(plans.values()))?;
    let signatures = kernels.iter().map(hg_kernel::call::abi_signature).collect();
    // SAFETY: every kernel was verified before compilation (each access proved in bounds for
    // its declared argument lengths at every batch size), and the executor checks each plan
    // step against these signatures before it runs; library kernels implement their calls,
    // whose geometry the executor checks against its buffers; `owner` keeps the code alive.
    let kernels = unsafe { hg_cpu::Kernels::with_signatures(fns, signatures, owner).map(|k| k.with_library(libs)) }
        .map_err(|e| e.to_string())?;
    let session = hg_cpu::CpuSession::new(manifest, plans, kernels, name).map_err(|e| e.to_string())?;
    Ok(Box::new(session))
}

fn open_cranelift(
    module: Module,
    train: Option<&TrainStepInfo>,
    opts: &BackendOptions,
) -> Result<Box<dyn Session>, String> {
    open_compiled("cranelift", module, train, opts, |kernels, _| {
        let (fns, owner) = hg_codegen_cranelift::compile(kernels).map_err(|e| e.to_string())?.into_parts();
        Ok(Compiled::kernels(fns, owner))
    })
}

/// Native code for this CPU through LLVM (O3, vectorised for the CPU's widest vectors), loaded
/// by the runtime's object loader as a standalone executable loads it.
#[cfg(feature = "llvm")]
fn open_llvm(module: Module, train: Option<&TrainStepInfo>, opts: &BackendOptions) -> Result<Box<dyn Session>, String> {
    open_compiled("llvm", module, train, opts, |kernels, _| {
        let (fns, owner) = hg_codegen_llvm::compile(kernels).map_err(|e| e.to_string())?.into_parts();
        Ok(Compiled::kernels(fns, owner))
    })
}

/// The kernels lowered to MLIR (`scf`, `arith`, `math`, `memref`), converted to LLVM IR by MLIR
/// and compiled by the LLVM backend: the form the GPU mapping starts from, run on the CPU so
/// its arithmetic is checked where there is no GPU. Library calls other than matrix products
/// run as the GPU runs them, as generated library kernels, so the conformance suite checks
/// those too.
#[cfg(feature = "mlir")]
fn open_mlir_cpu(
    module: Module,
    train: Option<&TrainStepInfo>,
    opts: &BackendOptions,
) -> Result<Box<dyn Session>, String> {
    open_compiled("mlir-cpu", module, train, opts, |kernels, libs| {
        let (fns, owner) = hg_codegen_mlir::cpu::compile(kernels).map_err(|e| e.to_string())?.into_parts();
        let (lib_fns, lib_owner) = hg_codegen_mlir::cpu::compile_library(libs).map_err(|e| e.to_string())?;
        let libs = libs.iter().cloned().zip(lib_fns).collect();
        Ok(Compiled { fns, owner: Box::new((owner, lib_owner)), libs })
    })
}

/// NVIDIA GPUs: the kernels through MLIR to PTX (libdevice linked where a kernel needs its
/// math), matrix products on cuBLAS, run by the CUDA executor with parameters and optimizer
/// state resident on the device. The GPU is opened first, so a machine without one gets that
/// error before any compilation, and PTX is made only for the chip found.
fn open_cuda(module: Module, train: Option<&TrainStepInfo>, opts: &BackendOptions) -> Result<Box<dyn Session>, String> {
    if opts.precision != Precision::F32 {
        return Err("compiled backends compute in f32; use `--backend interp` for f64".into());
    }
    let gpu = hg_cuda::Gpu::open().map_err(|e| e.to_string())?;
    cuda_session(gpu, module, train)
}

#[cfg(feature = "mlir")]
fn cuda_session(gpu: hg_cuda::Gpu, module: Module, train: Option<&TrainStepInfo>) -> Result<Box<dyn Session>, String> {
    use hg_codegen_mlir::{Chip, Libdevice};
    let target = hg_cuda::best_target(gpu.info.capability, Chip::ALL.map(Chip::capability));
    let chip = Chip::ALL.into_iter().find(|c| Some(c.capability()) == target).ok_or_else(|| {
        let (major, minor) = gpu.info.capability;
        format!(
            "{}: compute capability {major}.{minor} is older than sm_80, the oldest chip Hourglass targets",
            gpu.info
        )
    })?;
    let (manifest, plans, kernels) = lower_module(&module, train)?;
    let libdevice = Libdevice::find()?;
    let libs = hg_abi::plan::DeviceLib::of_plans(plans.values());
    let (ptx, refused) = hg_codegen_mlir::gpu::program_ptx(&kernels, &libs, chip, libdevice.as_ref())
        .map_err(|e| format!("generating {chip} PTX: {e}"))?;
    if let Some((_, why)) = refused.into_iter().next() {
        return Err(format!("no GPU form: {why}"));
    }
    let signatures = kernels.iter().map(hg_kernel::call::abi_signature).collect();
    let ptx = hg_cuda::PtxSet { texts: vec![(chip.capability(), ptx)] };
    let program = hg_cuda::CudaProgram { manifest, plans, signatures, ptx };
    let session = hg_cuda::CudaSession::open(gpu, program).map_err(|e| e.to_string())?;
    eprintln!("cuda: {}", session.device());
    Ok(Box::new(session))
}

#[cfg(not(feature = "mlir"))]
fn cuda_session(_: hg_cuda::Gpu, _: Module, _: Option<&TrainStepInfo>) -> Result<Box<dyn Session>, String> {
    Err("this hgc was built without MLIR, which generates the GPU code: build it with `--features hgc/mlir`".into())
}

/// Every backend, in the order `--help` lists them.
pub const BACKENDS: &[Backend] = &[
    Backend {
        name: "interp",
        about: "the reference interpreter (exact, slow; the oracle every backend is checked against)",
        open: open_interp,
    },
    Backend {
        name: "cranelift",
        about: "native code for this CPU through Cranelift (fast to compile), fused kernels and a tuned GEMM",
        open: open_cranelift,
    },
    #[cfg(feature = "llvm")]
    Backend {
        name: "llvm",
        about: "native code for this CPU through LLVM (slower to compile, the widest vectors), fused kernels and a tuned GEMM",
        open: open_llvm,
    },
    #[cfg(feature = "mlir")]
    Backend {
        name: "mlir-cpu",
        about: "the kernels through MLIR (scf, arith, memref) and LLVM on this CPU: the lowering the GPU backend starts from",
        open: open_mlir_cpu,
    },
    Backend {
        name: "cuda",
        about: "NVIDIA GPUs (sm_80 and newer): kernels through MLIR to PTX, matrix products on cuBLAS; needs the driver only",
        open: open_cuda,
    },
];

/// Adds the names of the backends, in registry order, to the help of `hgc run --backend`
/// (`..., one of: interp`), which is where scripts read them from.
pub fn with_backends_in_help(cli: clap::Command) -> clap::Command {
    let names: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
    cli.mut_subcommand("run", |run| {
        run.mut_arg("backend", |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help}, one of: {}", names.join(", ")))
        })
    })
}

/// The backend called `name`; the error lists the ones that exist.
pub fn backend(name: &str) -> Result<&'static Backend, String> {
    BACKENDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let known: Vec<String> = BACKENDS.iter().map(|b| format!("`{}` ({})", b.name, b.about)).collect();
        format!("unknown backend `{name}`; the backends are: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backends_list_the_known_ones() {
        assert_eq!(backend("interp").unwrap().name, "interp");
        let e = backend("llvm-jit").err().unwrap();
        assert!(e.starts_with("unknown backend `llvm-jit`; the backends are: `interp` (the reference"), "{e}");
    }
}

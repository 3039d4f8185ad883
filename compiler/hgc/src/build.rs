//! `hgc build FILE -o NAME | --artifact NAME.hgx`: compiles a spec ahead of time into a
//! portable artifact (the [`hg_cli::artifact::BuiltModel`] header, one kernel object per CPU
//! level, optionally trained weights) and, with `-o`, a standalone executable: the runtime's
//! runner (`hgrun`, installed next to `hgc`) with the artifact appended. No linker, no network
//! and no Cargo are involved: the runner finds its artifact at start-up and loads the kernel
//! object for the best level its CPU supports with the runtime's own object loader. With MLIR,
//! the artifact also carries PTX for sm_80 and sm_90 when the whole model runs on the GPU, so
//! the executable runs there with `--device cuda` and only the driver.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use hg_abi::artifact::append_to_executable;
use hg_abi::{CpuLevel, names};
use hg_cli::SpecCard;
use hg_cli::artifact::{BuiltModel, embedded_weights};
use hg_core::pipeline::{optimizer_config, with_train_step};
use hg_cuda::PtxSet;
use hg_kernel::ir::Kernel;

use crate::cli::SpecArgs;
use crate::compile::compile_spec;
use crate::run::model_card;

/// The arguments of `hgc build`.
#[derive(Args, Clone, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Write a standalone executable: `NAME train|eval|encode|decode|reconstruct|sample|info|time`
    #[arg(short = 'o', long = "output", value_name = "NAME")]
    pub output: Option<PathBuf>,
    /// Write a portable artifact, run with `hgrun NAME.hgx ENTRY ...`
    #[arg(long, value_name = "NAME.hgx")]
    pub artifact: Option<PathBuf>,
    /// Trained weights to carry (a run's final.safetensors or a checkpoint); the inference
    /// entries use them unless given --weights or --init
    #[arg(long, value_name = "W.safetensors")]
    pub weights: Option<PathBuf>,
    /// The code generator of the kernels: llvm (when this hgc has it) or cranelift [default: llvm if built in, else cranelift]
    #[arg(long)]
    pub backend: Option<String>,
    /// The CPUs the kernels are for: all (x86-64-v3 and x86-64-v4, the best picked at start-up), native (this machine's level), x86-64-v3, x86-64-v4 or generic
    #[arg(long, value_name = "CPU", default_value = "all")]
    pub target_cpu: String,
    /// PTX for NVIDIA GPUs (sm_80 and sm_90), run with `--device cuda`: auto (when this hgc has
    /// MLIR and every step of the model runs on the GPU), yes (an error when it cannot), no
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "yes", "no"])]
    pub gpu: String,
    /// Replace the output files if they exist
    #[arg(long)]
    pub overwrite: bool,
    /// The runner to append the artifact to [default: hgrun next to hgc]
    #[arg(long, value_name = "PATH", hide = true)]
    pub runner: Option<PathBuf>,
}

/// The code generators a build can use, by name.
fn backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "llvm") {
        names.push("llvm");
    }
    names.push("cranelift");
    names
}

/// The CPU levels `--target-cpu` names.
fn levels(target: &str) -> Result<Vec<CpuLevel>, String> {
    match target {
        "all" => Ok(vec![CpuLevel::X86_64V3, CpuLevel::X86_64V4]),
        "native" => Ok(vec![CpuLevel::host_best()]),
        other => other.parse::<CpuLevel>().map(|l| vec![l]).map_err(|_| {
            format!("--target-cpu: unknown CPU `{other}`; use all, native, x86-64-v3, x86-64-v4 or generic")
        }),
    }
}

/// One kernel object for `level` from the code generator `backend`.
fn compile_object(backend: &str, kernels: &[Kernel], level: CpuLevel) -> Result<Vec<u8>, String> {
    match backend {
        #[cfg(feature = "llvm")]
        "llvm" => {
            let target = hg_codegen_llvm::HostTarget::for_level(level).map_err(|e| e.to_string())?;
            Ok(hg_codegen_llvm::compile_kernels(kernels, &target).map_err(|e| e.to_string())?.bytes)
        }
        "cranelift" => Ok(hg_codegen_cranelift::compile_object(kernels, level).map_err(|e| e.to_string())?.0),
        other => Err(format!("--backend: `{other}` cannot build; the builders are: {}", backends().join(", "))),
    }
}

/// One kernel object per level, each compiled on its own thread (LLVM contexts are per thread;
/// the levels are independent).
fn compile_objects(backend: &str, kernels: &[Kernel], levels: &[CpuLevel]) -> Result<Vec<(CpuLevel, Vec<u8>)>, String> {
    #[cfg(feature = "llvm")]
    if backend == "llvm" {
        // LLVM's target registry is initialised once, before the threads use it.
        hg_codegen_llvm::HostTarget::new().map_err(|e| e.to_string())?;
    }
    std::thread::scope(|scope| {
        let jobs: Vec<_> =
            levels.iter().map(|&level| scope.spawn(move || compile_object(backend, kernels, level))).collect();
        levels
            .iter()
            .zip(jobs)
            .map(|(&level, job)| match job.join() {
                Ok(object) => object.map(|bytes| (level, bytes)),
                Err(_) => Err(format!("compiling the {} kernels failed", level.name())),
            })
            .collect()
    })
}

/// The PTX of a model for every chip Hourglass targets, or why it has none: a step the GPU
/// executor does not run, a kernel without a GPU form, or an hgc without MLIR.
#[cfg(feature = "mlir")]
fn gpu_code(
    plans: &std::collections::BTreeMap<String, hg_abi::plan::Plan>,
    kernels: &[Kernel],
) -> Result<PtxSet, String> {
    use hg_codegen_mlir::{Chip, Libdevice};
    if let Some((entry, why)) = plans.iter().find_map(|(e, p)| hg_cuda::unsupported_step(p).map(|why| (e, why))) {
        return Err(format!("`{entry}`: {why}"));
    }
    let libdevice = Libdevice::find()?;
    let libs = hg_abi::plan::DeviceLib::of_plans(plans.values());
    let mut ptx = PtxSet::default();
    for chip in Chip::ALL {
        let (text, refused) = hg_codegen_mlir::gpu::program_ptx(kernels, &libs, chip, libdevice.as_ref())
            .map_err(|e| format!("generating {chip} PTX: {e}"))?;
        if let Some((_, why)) = refused.into_iter().next() {
            return Err(why.to_string());
        }
        ptx.texts.push((chip.capability(), text));
    }
    Ok(ptx)
}

#[cfg(not(feature = "mlir"))]
fn gpu_code(_: &std::collections::BTreeMap<String, hg_abi::plan::Plan>, _: &[Kernel]) -> Result<PtxSet, String> {
    Err("this hgc was built without MLIR, which generates the GPU code (`--features hgc/mlir`)".into())
}

/// The runner a standalone executable is made of: `given`, else `hgrun` next to this `hgc`.
fn runner(given: Option<&Path>) -> Result<Vec<u8>, String> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program's folder: {e}"))?
            .with_file_name("hgrun"),
    };
    std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read the runner {} ({e}); build it next to hgc with the same profile (`cargo build --release -p hgrun` beside a release hgc)",
            path.display()
        )
    })
}

/// Refuses to replace an existing file unless `--overwrite`.
fn check_free(path: &Path, overwrite: bool) -> Result<(), String> {
    if path.exists() && !overwrite {
        return Err(format!("{} exists; pass --overwrite to replace it", path.display()));
    }
    Ok(())
}

/// Runs `hgc build`.
pub fn build(args: &BuildArgs) -> Result<(), i32> {
    let started = Instant::now();
    let report = |m: String| {
        eprintln!("error: {m}");
        1
    };
    if args.output.is_none() && args.artifact.is_none() {
        return Err(report("say what to build: -o NAME (a standalone executable) and/or --artifact NAME.hgx".into()));
    }
    let backend = args.backend.clone().unwrap_or_else(|| backends()[0].to_string());
    if !backends().contains(&backend.as_str()) {
        return Err(report(format!(
            "--backend: `{backend}` cannot build; the builders are: {}",
            backends().join(", ")
        )));
    }
    let levels = levels(&args.target_cpu).map_err(report)?;
    for path in args.output.iter().chain(&args.artifact) {
        check_free(path, args.overwrite).map_err(report)?;
    }
    let runner = match &args.output {
        Some(_) => Some(runner(args.runner.as_deref()).map_err(report)?),
        None => None,
    };
    let Some(spec) = compile_spec(&args.spec) else { return Err(1) };
    let model = &spec.model;
    let trained = with_train_step(model, &optimizer_config(&model.train_defaults));
    let text = std::fs::read_to_string(&args.spec.file)
        .map_err(|e| report(format!("cannot read {}: {e}", args.spec.file.display())))?;
    let source = SpecCard { file: args.spec.file.display().to_string(), text, set: args.spec.set.clone() };
    let mut card = model_card(model, source, trained.as_ref().ok()).map_err(|e| report(e.0))?;
    card.untrainable = trained.as_ref().err().map(|d| d.message.clone());
    let (module, info) = match &trained {
        Ok((module, info)) => (module, Some(info)),
        Err(_) => (&model.module, None),
    };
    let (_, plans, kernels) = crate::backends::lower_module(module, info).map_err(report)?;
    let weights = match &args.weights {
        Some(path) => {
            // Only the parameters are carried (a checkpoint also holds optimizer state), under
            // their bare names as `final.safetensors` has them.
            let bytes = std::fs::read(path).map_err(|e| report(format!("cannot read {}: {e}", path.display())))?;
            let params = embedded_weights(&bytes, &card).map_err(|e| report(format!("{}: {e}", path.display())))?;
            let bare =
                params.into_iter().map(|(k, t)| (k.strip_prefix(names::PARAM).unwrap_or(&k).to_string(), t)).collect();
            let shown = path.display().to_string();
            Some(
                hg_runtime::checkpoint::safetensors_bytes(&bare, &Default::default(), &shown)
                    .map_err(|e| report(e.to_string()))?,
            )
        }
        None => None,
    };
    let objects = compile_objects(&backend, &kernels, &levels).map_err(report)?;
    let ptx = match args.gpu.as_str() {
        "no" => PtxSet::default(),
        when => match gpu_code(&plans, &kernels) {
            Ok(ptx) => ptx,
            Err(why) if when == "yes" => return Err(report(format!("--gpu yes: no GPU code: {why}"))),
            Err(why) => {
                // Without MLIR there is never GPU code; say why only when there could be.
                if cfg!(feature = "mlir") {
                    eprintln!("no GPU code: {why}");
                }
                PtxSet::default()
            }
        },
    };
    let signatures = kernels.iter().map(hg_kernel::call::abi_signature).collect();
    let built = BuiltModel { card, plans, backend: backend.clone(), signatures };
    let artifact = built.to_artifact(&objects, &ptx, weights).map_err(report)?;
    let write = |path: &Path, bytes: &[u8], executable: bool| -> Result<(), i32> {
        hg_runtime::fsutil::atomic_write(path, bytes).map_err(|e| report(e.to_string()))?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| report(format!("cannot make {} executable: {e}", path.display())))?;
        }
        Ok(())
    };
    let names: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    let mib = |n: usize| n as f64 / (1024.0 * 1024.0);
    if let Some(path) = &args.artifact {
        write(path, &artifact, false)?;
        eprintln!("wrote {} ({:.1} MiB)", path.display(), mib(artifact.len()));
    }
    if let (Some(path), Some(runner)) = (&args.output, runner) {
        let exe = append_to_executable(&runner, &artifact);
        write(path, &exe, true)?;
        eprintln!("wrote {} ({:.1} MiB)", path.display(), mib(exe.len()));
    }
    let gpu: Vec<String> = ptx.texts.iter().map(|(target, _)| format!("sm_{target}")).collect();
    let gpu = if gpu.is_empty() { String::new() } else { format!(" and PTX for {}", gpu.join(", ")) };
    eprintln!(
        "built `{}` in {:.0} ms: {} kernels by {backend} for {}{gpu}",
        model.module.model,
        started.elapsed().as_secs_f64() * 1e3,
        kernels.len(),
        names.join(", ")
    );
    Ok(())
}

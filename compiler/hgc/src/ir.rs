//! `hgc ir FILE --stage typed|grad|train|manifest`: print the IR of a model at a stage, or the
//! manifest a backend hands the runtime (parameters, entry signatures, train-step layout).

use crate::cli::SpecArgs;
use crate::compile::compile_spec;
use clap::{Args, ValueEnum};
use hg_core::autodiff::gradient_function;
use hg_core::expand::TRAIN_FORWARD;
use hg_core::manifest::manifest;
use hg_core::pipeline::{optimizer_config, with_train_step};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Stage {
    /// Every entry point after expansion, type checking, CSE and DCE.
    Typed,
    /// The training forward pass with the gradient of the loss for every parameter.
    Grad,
    /// The whole train step: gradients, clipping, schedule and optimizer update.
    Train,
    /// What the runtime sees of the compiled model, as JSON: parameters with their
    /// initializers, every entry's signature, and which train-step outputs replace which inputs.
    Manifest,
    /// The kernels and library calls each entry compiles to for the CPU backends, with the
    /// buffers they use, their arena offsets and the train step's commit point.
    Kernels,
    /// Which graph values each step computes (the fusion groups), with their source lines.
    Fused,
    /// Each entry's kernels as MLIR (`scf`, `arith`, `math`, `memref`), in the form the
    /// `mlir-cpu` backend compiles.
    #[cfg(feature = "mlir")]
    Mlir,
    /// Each entry's kernels as PTX for `--chip` (kernels with no GPU form yet are listed as
    /// comments).
    #[cfg(feature = "mlir")]
    Ptx,
}

/// NVIDIA GPU generations PTX is made for.
#[cfg(feature = "mlir")]
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChipArg {
    #[value(name = "sm_80")]
    Sm80,
    #[value(name = "sm_90")]
    Sm90,
}

#[derive(Args, Debug)]
pub struct IrArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[arg(long, value_enum, default_value = "typed")]
    pub stage: Stage,
    /// Print only this entry point's function.
    #[arg(long, value_name = "ENTRY")]
    pub entry: Option<String>,
    /// The GPU generation of `--stage ptx`.
    #[cfg(feature = "mlir")]
    #[arg(long, value_enum, default_value = "sm_90")]
    pub chip: ChipArg,
}

pub fn ir(args: &IrArgs) -> Result<(), i32> {
    let Some(spec) = compile_spec(&args.spec) else { return Err(1) };
    let model = &spec.model;
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        1
    };
    match args.stage {
        Stage::Typed => match &args.entry {
            None => emit(&model.module.to_string()),
            Some(e) => match model.module.function(e) {
                Some(f) => emit(&f.to_string()),
                None => return Err(fail(format!("model `{}` has no entry `{e}`", model.module.model))),
            },
        },
        Stage::Grad => {
            let forward = model
                .module
                .function(TRAIN_FORWARD)
                .ok_or_else(|| fail("the model has no loss, so no gradient".into()))?;
            let g = gradient_function(forward, &model.module.params).map_err(|e| fail(e.to_string()))?;
            emit(&g.to_string());
        }
        Stage::Train => {
            let (module, _) = with_train_step(model, &optimizer_config(&model.train_defaults)).map_err(|d| {
                spec.report(&d);
                1
            })?;
            let f = module.function("train").ok_or_else(|| fail("no train step".into()))?;
            emit(&f.to_string());
        }
        Stage::Manifest => {
            let trained = with_train_step(model, &optimizer_config(&model.train_defaults)).ok();
            let (module, info) = match &trained {
                Some((m, info)) => (m, Some(info)),
                None => (&model.module, None),
            };
            let m = manifest(module, info).map_err(|e| fail(e.to_string()))?;
            let mut text = serde_json::to_string_pretty(&m).map_err(|e| fail(e.to_string()))?;
            text.push('\n');
            emit(&text);
        }
        // The stages below the graph: kernels, fusion groups, MLIR.
        _ => {
            let (module, info) = with_train_step(model, &optimizer_config(&model.train_defaults)).map_err(|d| {
                spec.report(&d);
                1
            })?;
            let layout = manifest(&module, Some(&info)).map_err(|e| fail(e.to_string()))?.train;
            for f in &module.functions {
                if args.entry.as_ref().is_some_and(|e| *e != f.name) {
                    continue;
                }
                let carried = match (&layout, f.name.as_str()) {
                    (Some(t), "train") => t.carried.clone(),
                    _ => Vec::new(),
                };
                let program = hg_kernel::lower_function(f, &carried).map_err(|e| fail(format!("`{}`: {e}", f.name)))?;
                let text = match args.stage {
                    Stage::Kernels => hg_kernel::program_text::program(&program, hg_kernel::print_kernel),
                    #[cfg(feature = "mlir")]
                    Stage::Mlir => {
                        let module = hg_codegen_mlir::kernel::cpu_module(&program.kernels)
                            .map_err(|e| fail(format!("`{}`: {e}", f.name)))?;
                        format!("// entry {}\n{module}", f.name)
                    }
                    #[cfg(feature = "mlir")]
                    Stage::Ptx => ptx_text(&program.plan, &program.kernels, args.chip).map_err(fail)?,
                    _ => fused_text(&program, &spec),
                };
                emit(&text);
            }
        }
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`hgc ir ... | head`) ends the output quietly.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the IR: {e}");
    }
}

/// The PTX of the kernels and library kernels of an entry's plan that have a GPU form, after a
/// comment listing those that have none and why (without libdevice: those that need its math
/// functions).
#[cfg(feature = "mlir")]
fn ptx_text(plan: &hg_abi::plan::Plan, kernels: &[hg_kernel::ir::Kernel], chip: ChipArg) -> Result<String, String> {
    use hg_codegen_mlir::Chip;
    let entry = &plan.entry;
    let chip = match chip {
        ChipArg::Sm80 => Chip::Sm80,
        ChipArg::Sm90 => Chip::Sm90,
    };
    let libdevice = hg_codegen_mlir::Libdevice::find()?;
    let libs = hg_abi::plan::DeviceLib::of_plans([plan]);
    let (ptx, refused) = hg_codegen_mlir::gpu::program_ptx(kernels, &libs, chip, libdevice.as_ref())
        .map_err(|e| format!("`{entry}`: {e}"))?;
    let mut text = format!("// entry {entry}, {chip}\n");
    for (name, why) in refused {
        text.push_str(&format!("// {name}: no GPU form: {why}\n"));
    }
    text.push_str(&ptx);
    Ok(text)
}

/// One line per step: its label and the source lines of the graph values it computes.
fn fused_text(program: &hg_kernel::Program, spec: &crate::compile::CompiledSpec) -> String {
    use std::fmt::Write as _;
    let mut out = format!("entry {}\n", program.plan.entry);
    for (i, (label, spans)) in program.labels.iter().enumerate() {
        let mut lines: Vec<String> = spans.iter().filter_map(|s| spec.line_of(*s)).collect();
        lines.sort();
        lines.dedup();
        let _ = writeln!(out, "  step {i}: {label} ({} values) {}", spans.len(), lines.join(" "));
    }
    out
}

//! `hgc run FILE ENTRY ...`: compiles the spec in memory and runs one entry through the model
//! command line shared with standalone executables (`hg_cli`). This module is what only a
//! compiler can do: the spec and its `--set` overrides (restored from a checkpoint on
//! `--resume`), the backend and precision, the [`ModelCard`] of a compiled model, and sessions
//! opened by compiling it ([`SpecModel`]).

use crate::backends::{BackendOptions, backend};
use crate::cli::SpecArgs;
use crate::compile::{CompiledSpec, compile_spec};
use clap::{Args, ValueEnum};
use hg_cli::{MemoryCard, Model, ModelArgs, ModelCard, ParamCard, RunError, SpecCard, TrainCard};
use hg_core::interp::Precision;
use hg_core::manifest::manifest;
use hg_core::optim::TrainStepInfo;
use hg_core::pipeline::{CompiledModel, optimizer_config, with_train_step};
use hg_dsl::Diagnostic;
use hg_exec::Session;
use hg_ir::Module;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

/// The arguments of `hgc run`: the spec, the backend and precision, and the model command line.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The backend that runs the model [default: cranelift; interp with --precision f64]
    #[arg(long)]
    pub backend: Option<String>,
    /// Arithmetic of the interpreter (train runs in f32 only)
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    #[command(flatten)]
    pub model: ModelArgs,
}

impl RunArgs {
    /// The backend named by `--backend`, else the compiled one (the interpreter for f64,
    /// which compiled code does not compute in).
    pub fn backend_name(&self) -> &str {
        match (&self.backend, self.precision) {
            (Some(b), _) => b,
            (None, PrecisionArg::F64) => "interp",
            (None, _) => "cranelift",
        }
    }

    fn precision(&self) -> Precision {
        match self.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }
    }
}

type Result<T> = std::result::Result<T, RunError>;

/// Runs the command. Compile errors are printed by `compile_spec`; they return exit code 1.
pub fn run(args: &RunArgs) -> std::result::Result<(), i32> {
    let started = std::time::Instant::now();
    let report = |RunError(msg): RunError| {
        eprintln!("error: {msg}");
        1
    };
    let args = restore_recorded_run(args).map_err(report)?;
    backend(args.backend_name()).map_err(|e| report(RunError(e)))?;
    if args.precision == PrecisionArg::F64 {
        let refused = match (args.model.entry.as_str(), args.model.time_entry.as_str()) {
            ("train", _) => {
                "--precision f64 runs the interpreter in f64 for numeric checks; training keeps the model's f32 parameters and checkpoints, so train without it"
            }
            ("time", "train") => "--precision f64: the train step runs in f32 only",
            _ => "",
        };
        if !refused.is_empty() {
            return Err(report(RunError(refused.into())));
        }
    }
    let Some(spec) = compile_spec(&args.spec) else { return Err(1) };
    let model = SpecModel::new(&args, spec).map_err(report)?;
    hg_cli::run(&args.model, &model, started).map_err(report)
}

/// For `train --resume`: the arguments with what the checkpoint's run record says where the
/// command line is silent (`--set` overrides, data, limit), after checking that the spec and
/// any given overrides are those of the recorded run. A changed spec is refused with a short
/// diff unless `--allow-changed-spec`.
fn restore_recorded_run(args: &RunArgs) -> Result<RunArgs> {
    let mut args = args.clone();
    let Some(record) = hg_cli::run::recorded_run(&args.model)? else { return Ok(args) };
    let text = std::fs::read_to_string(&args.spec.file)
        .map_err(|e| RunError(format!("cannot read {}: {e}", args.spec.file.display())))?;
    hg_cli::run::check_recorded_spec(&args.model, &record, &args.spec.file.display().to_string(), &text)?;
    let ckpt = args.model.resume.clone().unwrap_or_default();
    let (mut given, mut recorded) = (args.spec.set.clone(), record.hyperparameters.clone());
    given.sort();
    recorded.sort();
    if args.spec.set.is_empty() {
        if !recorded.is_empty() {
            eprintln!("note: resuming with the checkpoint's --set {}", record.hyperparameters.join(" --set "));
        }
        args.spec.set = record.hyperparameters.clone();
    } else if given != recorded {
        return Err(RunError(format!(
            "{} was trained with --set {}, not --set {}; drop --set to use the checkpoint's",
            ckpt.display(),
            if recorded.is_empty() { "(none)".to_string() } else { record.hyperparameters.join(" --set ") },
            args.spec.set.join(" --set ")
        )));
    }
    hg_cli::run::restore_recorded_data(&mut args.model, &record);
    Ok(args)
}

/// A spec compiled in memory, run on the backend `--backend` names.
pub struct SpecModel {
    spec: CompiledSpec,
    card: ModelCard,
    /// The model with its train step, or why it has none.
    trained: std::result::Result<(Module, TrainStepInfo), Diagnostic>,
    backend: String,
    precision: Precision,
}

impl SpecModel {
    pub fn new(args: &RunArgs, spec: CompiledSpec) -> Result<SpecModel> {
        let model = &spec.model;
        let trained = with_train_step(model, &optimizer_config(&model.train_defaults));
        let text = std::fs::read_to_string(&args.spec.file)
            .map_err(|e| RunError(format!("cannot read {}: {e}", args.spec.file.display())))?;
        let source = SpecCard { file: args.spec.file.display().to_string(), text, set: args.spec.set.clone() };
        let card = model_card(model, source, trained.as_ref().ok())?;
        let card = ModelCard { untrainable: trained.as_ref().err().map(|d| d.message.clone()), ..card };
        Ok(SpecModel { spec, card, trained, backend: args.backend_name().to_string(), precision: args.precision() })
    }
}

impl Model for SpecModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn backend(&self) -> &str {
        &self.backend
    }

    fn open(&self, train: bool) -> std::result::Result<Box<dyn Session>, String> {
        let b = backend(&self.backend)?;
        let opts = BackendOptions { precision: self.precision };
        match (train, &self.trained) {
            (true, Ok((module, info))) => b.open(module.clone(), Some(info), &opts),
            (true, Err(d)) => Err(d.message.clone()),
            (false, _) => b.open(self.spec.model.module.clone(), None, &opts),
        }
    }

    fn check_batch_fits(&self, entry: &str, batch: usize) -> std::result::Result<(), String> {
        let module = match (entry, &self.trained) {
            ("train", Ok((module, _))) => module,
            _ => &self.spec.model.module,
        };
        crate::memory::check_batch_fits(module, &self.backend, entry, batch)
    }

    /// Lowers the train step only now: `info` is the one entry that shows its memory.
    fn memory(&self) -> MemoryCard {
        let plans = self.trained.as_ref().ok().and_then(|(m, info)| crate::backends::lower_module(m, Some(info)).ok());
        MemoryCard::of(&self.card, plans.as_ref().and_then(|(_, plans, _)| plans.get("train")))
    }

    fn report_untrainable(&self) {
        if let Err(d) = &self.trained {
            self.spec.report(d);
        }
    }
}

/// The card of a compiled model: its manifest (with the train step when `trained`), parameters
/// and training defaults.
pub fn model_card(
    model: &CompiledModel,
    spec: SpecCard,
    trained: Option<&(Module, TrainStepInfo)>,
) -> Result<ModelCard> {
    let manifest = match trained {
        Some((module, info)) => manifest(module, Some(info))?,
        None => manifest(&model.module, None)?,
    };
    let d = &model.train_defaults;
    let train = TrainCard {
        seed: d.seed,
        batch: d.batch,
        steps: d.steps,
        epochs: d.epochs,
        lr: d.optimizer.lr(),
        optimizer: describe_optimizer(&d.optimizer),
        schedule: describe_schedule(&d.schedule),
        clip_grad_norm: d.clip_grad_norm,
        written: d.written.clone(),
    };
    let params = model
        .module
        .params
        .iter()
        .map(|p| ParamCard {
            name: p.name.clone(),
            ty: p.ty.to_string(),
            init: p.init.to_string(),
            values: p.ty.concrete_shape(1).map(|s| s.iter().product::<usize>()).unwrap_or(0),
        })
        .collect();
    Ok(ModelCard {
        model: model.module.model.clone(),
        spec,
        params,
        missing: model.missing.clone(),
        latents: model.latents.clone(),
        outputs: model.outputs.clone(),
        metrics: model.metrics.clone(),
        train,
        untrainable: None,
        unused_params: trained.map(|(_, info)| info.unused_params.clone()).unwrap_or_default(),
        manifest,
    })
}

/// A number as the header and run records show it: `0.001`, `1e-8`.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e6) { format!("{v:e}") } else { format!("{v}") }
}

/// The optimizer as a spec writes it, with every setting.
fn describe_optimizer(o: &hg_core::expand::OptimizerSpec) -> String {
    use hg_core::expand::OptimizerSpec::*;
    match o {
        Sgd { lr, momentum, nesterov, weight_decay } => format!(
            "sgd(lr={}, momentum={}, nesterov={nesterov}, weight_decay={})",
            short(*lr),
            short(*momentum),
            short(*weight_decay)
        ),
        Adam { lr, beta1, beta2, eps, weight_decay } | AdamW { lr, beta1, beta2, eps, weight_decay } => format!(
            "{}(lr={}, beta1={}, beta2={}, eps={}, weight_decay={})",
            if matches!(o, Adam { .. }) { "adam" } else { "adamw" },
            short(*lr),
            short(*beta1),
            short(*beta2),
            short(*eps),
            short(*weight_decay)
        ),
    }
}

fn describe_schedule(s: &hg_core::expand::ScheduleSpec) -> String {
    use hg_core::expand::ScheduleSpec::*;
    match s {
        Constant => "constant".into(),
        Cosine { warmup } => format!("cosine(warmup={warmup})"),
        Linear { warmup } => format!("linear(warmup={warmup})"),
    }
}

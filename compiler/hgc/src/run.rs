//! `hgc run FILE ENTRY`: compile a spec in memory, open a session on a backend of the registry
//! (`crate::backends`), and run one entry point, reading and writing npy, safetensors and PNG
//! files. Everything after compilation goes through the session.

use crate::backends::{BackendOptions, backend};
use crate::cli::SpecArgs;
use crate::compile::{CompiledSpec, compile_spec};
use crate::interrupt;
use clap::{Args, ValueEnum};
use hg_abi::names;
use hg_core::interp::Precision;
use hg_core::manifest::manifest;
use hg_core::optim::TrainStepInfo;
use hg_core::pipeline::{CompiledModel, optimizer_config, with_train_step};
use hg_exec::init_params;
use hg_ir::Module;
use hg_runtime::data::{self, Source, Split, fashion_mnist, shapes};
use hg_runtime::train::{self, CallScalars, ProgressMode, TrainConfig, TrainStart};
use hg_runtime::{Dataset, NamedTensors, Session, Tensor, checkpoint, images, npy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Plain,
    Quiet,
}

/// The options of `hgc run`. Each one's help ends with the entries it applies to, from
/// `crate::options::OPTIONS`, which also refuses an option given to another entry.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The entry point: info (what the model reads, writes and holds), encode, decode,
    /// reconstruct, sample, train or eval; or time, which times one of them in this process
    /// and prints JSON (see --entry)
    pub entry: String,
    /// The backend that runs the model [default: cranelift; interp with --precision f64]
    #[arg(long)]
    pub backend: Option<String>,
    /// Arithmetic of the interpreter (train runs in f32 only)
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Parameters to use: a run's final.safetensors, a checkpoint, or your own safetensors
    #[arg(long, value_name = "W.safetensors")]
    pub weights: Option<PathBuf>,
    /// Draw fresh parameters from the initializers (keyed by --seed); optionally save them
    #[arg(long, value_name = "SAVE.safetensors", num_args = 0..=1, default_missing_value = "")]
    pub init: Option<String>,
    /// Input arrays: x.npy (the only input), NAME=x.npy, or an .npz holding arrays by name
    #[arg(long, value_name = "[NAME=]FILE")]
    pub input: Vec<String>,
    /// Write the outputs to a .npy (one output) or .npz (all of them) instead of printing them
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also draw image-shaped outputs as a PNG grid (reconstruct: each input beside its output)
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// Number of samples to draw
    #[arg(short = 'n', long = "num", default_value_t = 16)]
    pub num: usize,
    /// Print the description as JSON
    #[arg(long)]
    pub json: bool,
    /// Data: fashion-mnist[:train|:test], shapes[:N], or .npy/.npz files [default: fashion-mnist, eval: fashion-mnist:test]
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,
    /// Data to evaluate on at the end of training and with --eval-every [default: fashion-mnist:test when training on fashion-mnist]
    #[arg(long, value_name = "DATA")]
    pub eval_data: Option<String>,
    /// Also evaluate on the eval data every N steps: eval.jsonl, and the eval curve in loss.png
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,
    /// Use only the first N examples of the data (and of the eval data)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Number of optimizer steps [default: the train block's steps or epochs]
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Number of passes over the data, instead of --steps
    #[arg(long, value_name = "N")]
    pub epochs: Option<u64>,
    /// Examples per training step, or per call of the model [default: the train block's batch when training, else 64]
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Base learning rate [default: the lr of the train block's optimizer, else 0.001]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the initial parameters, the data order and every random draw [default: the train block's seed, else 0]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Shuffle the training data every epoch
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = true)]
    pub shuffle: bool,
    /// With --resume: continue even though the spec changed since the checkpoint was written
    #[arg(long)]
    pub allow_changed_spec: bool,
    /// Replace what exists: a run in --out, the file --init SAVE names
    #[arg(long)]
    pub overwrite: bool,
    /// Refuse --weights holding tensors the model does not have; false loads the rest and lists them
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = true)]
    pub strict: bool,
    /// Output folder of the run [default: runs/<model>, or runs/<model>-N when that holds a run]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run of this checkpoint.safetensors (with its --set, data and settings)
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Also write checkpoint.safetensors every N steps (it is always written at the end)
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// With plain progress, print a line at every N-th step (and the first and last)
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub log_every: u64,
    /// Progress on stderr: a bar (on a terminal), plain lines (in logs), or quiet (notes and errors only)
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// The entry `time` times (encode, decode, reconstruct, sample, eval or train) on random inputs of its signature, with parameters from --weights or drawn from --seed
    #[arg(long = "entry", value_name = "ENTRY", default_value = "reconstruct")]
    pub time_entry: String,
    /// Timed calls of the entry, after the warm-up calls
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub repeats: usize,
    /// Untimed calls before the timed ones
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub warmup: usize,
    /// The options given on the command line, by id (filled in by `crate::cli::parse_from`).
    #[arg(skip)]
    pub given: Vec<String>,
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
}

/// A user-facing failure of `hgc run`: printed as `error: ...`, exit status 1.
#[derive(Debug)]
pub struct RunError(pub String);

impl<E: std::fmt::Display> From<E> for RunError {
    fn from(e: E) -> Self {
        RunError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, RunError>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(RunError(msg.into()))
}

/// Runs the command. Compile errors are printed by `compile_spec`; they return exit code 1.
pub fn run(args: &RunArgs) -> std::result::Result<(), i32> {
    let started = std::time::Instant::now();
    let args = match restore_recorded_run(args) {
        Ok(a) => a,
        Err(RunError(msg)) => {
            eprintln!("error: {msg}");
            return Err(1);
        }
    };
    let Some(spec) = compile_spec(&args.spec) else { return Err(1) };
    let result =
        if args.entry == "time" { crate::timing::time(&args, &spec, started) } else { run_entry(&args, &spec) };
    match result {
        Ok(()) => Ok(()),
        Err(RunError(msg)) => {
            eprintln!("error: {msg}");
            Err(1)
        }
    }
}

/// For `train --resume`: the arguments with what the checkpoint's run record says where the
/// command line is silent (`--set` overrides, data, limit), after checking that the spec and
/// any given overrides are those of the recorded run. A changed spec is refused with a short
/// diff unless `--allow-changed-spec`.
fn restore_recorded_run(args: &RunArgs) -> Result<RunArgs> {
    let mut args = args.clone();
    let (Some(ckpt), "train") = (&args.resume, args.entry.as_str()) else { return Ok(args) };
    let Some(record) = train::load_checkpoint_record(ckpt)? else { return Ok(args) };
    let text = std::fs::read_to_string(&args.spec.file)
        .map_err(|e| RunError(format!("cannot read {}: {e}", args.spec.file.display())))?;
    if text != record.spec && !args.allow_changed_spec {
        return fail(format!(
            "{} was trained with a different version of {}; the spec changed at {}resume anyway with --allow-changed-spec, or start a new run",
            ckpt.display(),
            args.spec.file.display(),
            train::short_diff(&record.spec, &text, 6)
        ));
    }
    let (mut given, mut recorded) = (args.spec.set.clone(), record.hyperparameters.clone());
    given.sort();
    recorded.sort();
    if args.spec.set.is_empty() {
        if !recorded.is_empty() {
            eprintln!("note: resuming with the checkpoint's --set {}", record.hyperparameters.join(" --set "));
        }
        args.spec.set = record.hyperparameters.clone();
    } else if given != recorded {
        return fail(format!(
            "{} was trained with --set {}, not --set {}; drop --set to use the checkpoint's",
            ckpt.display(),
            if recorded.is_empty() { "(none)".to_string() } else { record.hyperparameters.join(" --set ") },
            args.spec.set.join(" --set ")
        ));
    }
    if args.data.is_none() {
        args.data = Some(record.data.clone());
        args.limit = args.limit.or(record.limit);
    }
    Ok(args)
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

fn run_entry(args: &RunArgs, spec: &CompiledSpec) -> Result<()> {
    let model = &spec.model;
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F64 => Precision::F64,
    };
    let known = crate::options::ENTRIES;
    if !known.contains(&args.entry.as_str()) {
        return fail(format!("unknown entry `{}`; the entries are {}", args.entry, known.join(", ")));
    }
    backend(args.backend_name()).map_err(RunError)?;
    crate::options::check_options(args).map_err(RunError)?;
    if args.entry == "train" && precision == Precision::F64 {
        return fail(
            "--precision f64 runs the interpreter in f64 for numeric checks; training keeps the model's f32 parameters and checkpoints, so train without it",
        );
    }
    if args.entry == "info" {
        return print_info(model, args.json);
    }
    if let Some((_, why)) = model.missing.iter().find(|(n, _)| *n == args.entry) {
        return fail(format!("model `{}` has no `{}` entry: {why}", model.module.model, args.entry));
    }
    if args.entry == "train" {
        return run_train(args, spec, precision);
    }
    let mut session = open_session(args, model.module.clone(), None, precision)?;
    let params = load_params(args, model)?;
    session.load_params(params)?;
    let seed = args.seed.or(model.train_defaults.seed).unwrap_or(DEFAULT_SEED);
    if args.batch == Some(0) {
        return fail("--batch must be at least 1");
    }
    let batch = args.batch.unwrap_or(DEFAULT_BATCH);
    // Refuse a batch the machine cannot hold before running: one call gets `--batch` examples
    // (`sample`: `-n` at most; `eval`: `--limit` at most).
    let n = args.num.max(1);
    let call_batch = match args.entry.as_str() {
        "sample" => args.batch.unwrap_or(n).min(n),
        "eval" => args.limit.map_or(batch, |l| batch.min(l.max(1))),
        _ => batch,
    };
    crate::memory::check_batch_fits(&model.module, args.backend_name(), &args.entry, call_batch).map_err(RunError)?;
    let scalars = CallScalars { seed, step: 0, first_example: 0, batch: 0 };
    match args.entry.as_str() {
        "eval" => {
            let data = load_data(args.data.as_deref().unwrap_or("fashion-mnist:test"), args.limit, seed)?;
            print_data_notes(session.as_ref(), "eval", &data);
            let r = train::evaluate(session.as_mut(), &data, batch, seed)?;
            let mut out = serde_json::Map::new();
            out.insert("loss".into(), r.loss.into());
            for (k, v) in &r.metrics {
                out.insert(k.clone(), (*v).into());
            }
            out.insert("examples".into(), r.examples.into());
            println!("{}", serde_json::Value::Object(out));
            Ok(())
        }
        "sample" => {
            let n = args.num.max(1);
            let outputs = train::run_generated(session.as_mut(), "sample", scalars, n, args.batch.unwrap_or(n))?;
            write_outputs(args, &outputs)?;
            match &args.png {
                Some(png) => draw_grid(png, &outputs),
                None => Ok(()),
            }
        }
        entry => {
            let inputs = read_inputs(args, session.as_ref(), entry)?;
            let outputs = train::run_batched(session.as_mut(), entry, &inputs, scalars, batch)?;
            write_outputs(args, &outputs)?;
            match (&args.png, entry) {
                (Some(png), "reconstruct") => draw_reconstructions(png, &inputs, &outputs),
                (Some(png), _) => draw_grid(png, &outputs),
                (None, _) => Ok(()),
            }
        }
    }
}

/// Opens `module` on the backend `--backend` names.
fn open_session(
    args: &RunArgs,
    module: Module,
    train: Option<&TrainStepInfo>,
    precision: Precision,
) -> Result<Box<dyn Session>> {
    let b = backend(args.backend_name()).map_err(RunError)?;
    b.open(module, train, &BackendOptions { precision }).map_err(|e| RunError(format!("backend `{}`: {e}", b.name)))
}

fn print_info(model: &CompiledModel, json: bool) -> Result<()> {
    // With its train step when the model can be trained (a failure shows under `train`).
    let trained = with_train_step(model, &optimizer_config(&model.train_defaults)).ok();
    let manifest = match &trained {
        Some((module, info)) => manifest(module, Some(info))?,
        None => manifest(&model.module, None)?,
    };
    let memory = memory_info(model, &manifest, trained.as_ref());
    let spec_json = |s: &hg_abi::TensorSpec| serde_json::json!({"name": s.name, "dtype": s.dtype.name(), "shape": s.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>()});
    let mut entries = Vec::new();
    for sig in &manifest.entries {
        let data_inputs: Vec<_> = sig
            .inputs
            .iter()
            .filter(|s| !s.name.starts_with(names::PARAM) && !s.name.starts_with(names::STATE))
            .map(spec_json)
            .collect();
        entries.push(serde_json::json!({"name": sig.name, "inputs": data_inputs, "outputs": sig.outputs.iter().map(spec_json).collect::<Vec<_>>()}));
    }
    let params: Vec<_> = model
        .module
        .params
        .iter()
        .map(|p| serde_json::json!({"name": p.name, "dtype": p.ty.dtype.name(), "shape": p.ty.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>(), "init": p.init.to_string()}))
        .collect();
    let missing: Vec<_> = model.missing.iter().map(|(n, w)| serde_json::json!({"name": n, "reason": w})).collect();
    let info = serde_json::json!({
        "model": model.module.model,
        "entries": entries,
        "missing_entries": missing,
        "parameters": params,
        "latents": model.latents,
        "outputs": model.outputs,
        "metrics": model.metrics,
        "memory": memory,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("model {}", model.module.model);
    for sig in &manifest.entries {
        let ins: Vec<String> = sig
            .inputs
            .iter()
            .filter(|s| !s.name.starts_with(names::PARAM) && !s.name.starts_with(names::STATE))
            .map(|s| s.to_string())
            .collect();
        let outs: Vec<String> = sig
            .outputs
            .iter()
            .filter(|s| !s.name.starts_with(names::PARAM) && !s.name.starts_with(names::STATE))
            .map(|s| s.to_string())
            .collect();
        println!("  {}({}) -> ({})", sig.name, ins.join(", "), outs.join(", "));
    }
    for (n, w) in &model.missing {
        println!("  {n}: not available ({w})");
    }
    if let Some(batch) = memory["train_batch"].as_u64() {
        let mib = |k: &str| memory[k].as_u64().map_or("?".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
        println!(
            "memory: parameters {}, optimizer state {}, train step at batch {batch} {} more (compiled)",
            mib("parameter_bytes"),
            mib("state_bytes"),
            mib("train_step_bytes")
        );
    }
    let (tensors, total) = parameter_count(model);
    println!("parameters ({tensors} tensors, {total} values):");
    for p in &model.module.params {
        println!("  {}: {} = {}", p.name, p.ty, p.init);
    }
    Ok(())
}

/// Bytes of the parameters and optimizer state, and the working memory of one compiled train
/// step at the model's batch size (its arena plus the batch and outputs), as JSON.
fn memory_info(
    model: &CompiledModel,
    manifest: &hg_abi::Manifest,
    trained: Option<&(hg_ir::Module, hg_core::optim::TrainStepInfo)>,
) -> serde_json::Value {
    let bytes = |specs: &[hg_abi::TensorSpec]| -> u64 {
        specs
            .iter()
            .map(|s| s.shape.iter().map(|d| d.resolve(0) as u64).product::<u64>() * s.dtype.size_bytes() as u64)
            .sum()
    };
    let params = bytes(&manifest.param_specs());
    let state = manifest.train.as_ref().map_or(0, |t| bytes(&t.state));
    let batch = model.train_defaults.batch.map_or(DEFAULT_BATCH, |b| b as usize);
    let step = trained
        .and_then(|(module, info)| crate::backends::lower_module(module, Some(info)).ok())
        .and_then(|(_, plans, _)| plans.get("train").map(|p| crate::memory::compiled_bytes(p, batch)));
    serde_json::json!({
        "parameter_bytes": params,
        "state_bytes": state,
        "train_batch": step.map(|_| batch),
        "train_step_bytes": step,
    })
}

/// Parameters from `--weights`, or fresh ones with `--init`, named `param:<path>`.
pub(crate) fn load_params(args: &RunArgs, model: &CompiledModel) -> Result<NamedTensors> {
    let seed = args.seed.or(model.train_defaults.seed).unwrap_or(DEFAULT_SEED);
    match (&args.weights, &args.init) {
        (Some(_), Some(_)) => fail("give either --weights or --init, not both"),
        (Some(path), None) => {
            let (tensors, _) = checkpoint::load_safetensors(path)?;
            let mut out = NamedTensors::new();
            let mut ignored = Vec::new();
            for (name, t) in tensors {
                let bare = name.strip_prefix(names::PARAM).unwrap_or(&name).to_string();
                if model.module.params.iter().any(|p| p.name == bare) {
                    out.insert(names::param(&bare), t);
                } else if !name.starts_with(names::STATE) {
                    // Optimizer state in a checkpoint is expected; anything else is not the model's.
                    ignored.push(name);
                }
            }
            if !ignored.is_empty() {
                let list = ignored.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                if args.strict {
                    return fail(format!(
                        "{}: {} tensor(s) are not parameters of model `{}`: {list}; pass --strict false to load the rest and ignore them",
                        path.display(),
                        ignored.len(),
                        model.module.model
                    ));
                }
                eprintln!(
                    "note: {}: ignored {} tensor(s) the model does not have: {list}",
                    path.display(),
                    ignored.len()
                );
            }
            for p in &model.module.params {
                if !out.contains_key(&names::param(&p.name)) {
                    return fail(format!("{}: no tensor for parameter `{}` ({})", path.display(), p.name, p.ty));
                }
            }
            Ok(out)
        }
        (None, Some(save)) => {
            let params = init_params(&manifest(&model.module, None)?.params, seed)?;
            if !save.is_empty() {
                if Path::new(save).exists() && !args.overwrite {
                    return fail(format!(
                        "--init: `{save}` exists; pass --overwrite to replace it, or name another file"
                    ));
                }
                let bare: BTreeMap<String, Tensor> = params
                    .iter()
                    .map(|(k, v)| (k.strip_prefix(names::PARAM).unwrap_or(k).to_string(), v.clone()))
                    .collect();
                checkpoint::save_safetensors(Path::new(save), &bare, &BTreeMap::new())?;
            }
            Ok(params)
        }
        (None, None) => fail("this entry needs parameters: give --weights W.safetensors, or --init for fresh ones"),
    }
}

/// Reads `--input` files into the entry's data inputs (the runtime adds its scalars). Each file
/// must match its input but for the number of examples (the rules of `data::fit_to_inputs`);
/// conversions that round values are said in a note.
fn read_inputs(args: &RunArgs, session: &dyn Session, entry: &str) -> Result<NamedTensors> {
    let sig = session.manifest().entry(entry).ok_or_else(|| RunError(format!("no entry `{entry}`")))?;
    let data_inputs = train::model_inputs(sig);
    let mut given: Vec<(String, Tensor, Source)> = Vec::new();
    for spec in &args.input {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) => (Some(n.to_string()), PathBuf::from(p)),
            None => (None, PathBuf::from(spec)),
        };
        let shown = path.display().to_string();
        if path.extension().is_some_and(|e| e == "npz") {
            for (n, t, dtype) in npy::read_npz_with_dtypes(&path)? {
                given.push((n.clone(), t, Source::file(&shown, Some(n), dtype)));
            }
        } else {
            let (t, dtype) = npy::read_npy_with_dtype(&path)?;
            let name = match name {
                Some(n) => n,
                None if data_inputs.len() == 1 => data_inputs[0].name.clone(),
                None => {
                    let names: Vec<&str> = data_inputs.iter().map(|s| s.name.as_str()).collect();
                    return fail(format!(
                        "`{entry}` has several inputs ({}); name them: --input NAME=FILE",
                        names.join(", ")
                    ));
                }
            };
            given.push((name, t, Source::file(shown, None, dtype)));
        }
    }
    let mut inputs = NamedTensors::new();
    for spec in &data_inputs {
        let Some((_, t, source)) = given.iter().find(|(n, _, _)| *n == spec.name) else {
            return fail(format!("`{entry}` needs input `{}` ({spec}); give it with --input", spec.name));
        };
        let ds = Dataset::new(vec![(spec.name.clone(), t.clone())])?.with_source(&spec.name, source.clone());
        let one = std::slice::from_ref(spec);
        for note in data::fit_notes(&ds, one)? {
            eprintln!("note: {note}");
        }
        inputs.insert(spec.name.clone(), data::fit_to_inputs(&ds, one)?.remove(0));
    }
    Ok(inputs)
}

/// Prints the notes of feeding `data` to the data inputs of `entry`: how a built-in data set is
/// adapted, which values of a file are rounded. A mismatch is reported when the data is fitted.
fn print_data_notes(session: &dyn Session, entry: &str, data: &Dataset) {
    let Some(sig) = session.manifest().entry(entry) else { return };
    for note in data::fit_notes(data, &train::model_inputs(sig)).unwrap_or_default() {
        eprintln!("note: {note}");
    }
}

fn write_outputs(args: &RunArgs, outputs: &NamedTensors) -> Result<()> {
    let visible: Vec<(String, Tensor)> = outputs
        .iter()
        .filter(|(k, _)| !k.starts_with(names::PARAM) && !k.starts_with(names::STATE))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match &args.output {
        Some(path) if path.extension().is_some_and(|e| e == "npz") => npy::write_npz(path, &visible)?,
        Some(path) => {
            if visible.len() != 1 {
                let names: Vec<&str> = visible.iter().map(|(n, _)| n.as_str()).collect();
                return fail(format!(
                    "the entry has {} outputs ({}); write them to an .npz file",
                    visible.len(),
                    names.join(", ")
                ));
            }
            npy::write_npy(path, &visible[0].1)?;
        }
        None => {
            for (name, t) in &visible {
                let v = t.to_f64_vec();
                let head: Vec<String> = v.iter().take(8).map(|x| format!("{x:.5}")).collect();
                println!("{name}: {t} [{}{}]", head.join(", "), if v.len() > 8 { ", ..." } else { "" });
            }
        }
    }
    Ok(())
}

/// The outputs that are not parameters or state.
fn visible(outputs: &NamedTensors) -> impl Iterator<Item = (&String, &Tensor)> {
    outputs.iter().filter(|(k, _)| !k.starts_with(names::PARAM) && !k.starts_with(names::STATE))
}

/// The `(channels, height, width)` of one example of a batch of images.
fn image_shape(t: &Tensor) -> Option<(usize, usize, usize)> {
    let shape = t.shape();
    if shape.len() < 2 { None } else { images::infer_image_shape(&shape[1..]) }
}

/// `--png`: the first image-shaped output as a grid of 8 columns.
fn draw_grid(png: &Path, outputs: &NamedTensors) -> Result<()> {
    let Some((_, t)) = visible(outputs).find(|(_, t)| image_shape(t).is_some()) else {
        return fail("no output is image-shaped, so --png has nothing to draw");
    };
    images::save_image_grid(png, t, None, 8)?;
    Ok(())
}

/// Examples `reconstruct --png` draws at most, as pairs.
const MAX_PNG_PAIRS: usize = 256;

/// `reconstruct --png`: each image-shaped input beside its reconstruction (the first output of
/// the same size), as at the end of training.
fn draw_reconstructions(png: &Path, inputs: &NamedTensors, outputs: &NamedTensors) -> Result<()> {
    let pair = inputs.values().find_map(|x| {
        let shape = image_shape(x)?;
        let per = shape.0 * shape.1 * shape.2;
        let (_, y) = visible(outputs)
            .find(|(_, y)| image_shape(y).is_some_and(|(c, h, w)| c * h * w == per) && y.shape()[0] == x.shape()[0])?;
        Some((x, y, shape))
    });
    let Some((x, y, shape)) = pair else { return draw_grid(png, outputs) };
    let n = x.shape()[0];
    if n > MAX_PNG_PAIRS {
        eprintln!("note: {} shows the first {MAX_PNG_PAIRS} of {n} examples", png.display());
    }
    images::save_reconstructions(png, x, y, shape, MAX_PNG_PAIRS)?;
    Ok(())
}

/// The output folder of `train`. A run never replaces another without being asked: resuming
/// continues in place; a fresh run into a folder that holds a run is refused when `--out` named
/// it (unless `--overwrite`, which removes the old run's files first), and goes to the next free
/// `runs/<model>-N` when the folder was the default.
fn out_dir(args: &RunArgs, model: &str) -> Result<PathBuf> {
    let holds_run = |dir: &Path| train::RUN_FILES.iter().any(|f| dir.join(f).exists());
    let default = PathBuf::from("runs").join(model.to_lowercase());
    let dir = args.out.clone().unwrap_or_else(|| default.clone());
    if args.resume.is_some() || !holds_run(&dir) {
        return Ok(dir);
    }
    if args.overwrite {
        for f in train::RUN_FILES {
            let path = dir.join(f);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| RunError(format!("cannot remove {}: {e}", path.display())))?;
            }
        }
        eprintln!("note: replacing the run in {} (--overwrite)", dir.display());
        return Ok(dir);
    }
    if args.out.is_some() {
        return fail(format!(
            "{} already holds a run; resume it with --resume {}, choose another --out, or pass --overwrite to replace it",
            dir.display(),
            dir.join("checkpoint.safetensors").display()
        ));
    }
    let free = (2..).map(|n| PathBuf::from(format!("{}-{n}", default.display()))).find(|d| !holds_run(d));
    let free = free.unwrap_or(default.clone());
    eprintln!("note: {} holds an earlier run; this one goes to {}", default.display(), free.display());
    Ok(free)
}

/// `fashion-mnist`, `fashion-mnist:test`, `shapes`, `shapes:N`, or npy/npz paths (comma-separated).
fn load_data(spec: &str, limit: Option<usize>, seed: u64) -> Result<Dataset> {
    let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let ds = match name {
        "fashion-mnist" => {
            let split = match arg {
                "" | "train" => Split::Train,
                "test" => Split::Test,
                other => {
                    return fail(format!(
                        "unknown fashion-mnist split `{other}`; use `fashion-mnist:train` or `fashion-mnist:test`"
                    ));
                }
            };
            fashion_mnist(split, limit)?
        }
        "shapes" => {
            let n = if arg.is_empty() {
                limit.unwrap_or(10_000)
            } else {
                arg.parse().map_err(|_| RunError(format!("`shapes:{arg}`: expected a number of scenes")))?
            };
            shapes(n, seed, data::SHAPES_DEFAULT_SIZE)
        }
        _ => {
            let paths: Vec<PathBuf> = spec.split(',').map(PathBuf::from).collect();
            for p in &paths {
                if !p.extension().is_some_and(|e| e == "npy" || e == "npz") {
                    return fail(format!(
                        "unknown data `{spec}`: use fashion-mnist[:test], shapes[:N], or .npy/.npz files"
                    ));
                }
            }
            let ds = data::from_npy_files(&paths)?;
            match limit {
                Some(n) if n < ds.len => ds.take(n),
                _ => ds,
            }
        }
    };
    Ok(ds)
}

/// The batch size when neither `--batch` nor the `train` block gives one.
const DEFAULT_BATCH: usize = 64;
/// The seed when neither `--seed` nor the `train` block gives one.
pub(crate) const DEFAULT_SEED: u64 = 0;

fn run_train(args: &RunArgs, spec: &CompiledSpec, precision: Precision) -> Result<()> {
    let model = &spec.model;
    let defaults = &model.train_defaults;
    let opt = optimizer_config(defaults);
    let (module, info) = with_train_step(model, &opt).map_err(|d| {
        spec.report(&d);
        RunError("the model cannot be trained".into())
    })?;
    for p in &info.unused_params {
        eprintln!("warning: the loss does not depend on parameter `{p}`; it only changes through weight decay");
    }
    let seed = args.seed.or(defaults.seed).unwrap_or(DEFAULT_SEED);
    let data_spec = args.data.as_deref().unwrap_or("fashion-mnist");
    let data = load_data(data_spec, args.limit, seed)?;
    let eval_spec = match (&args.eval_data, data_spec) {
        (Some(s), _) => Some(s.clone()),
        (None, s) if s.starts_with("fashion-mnist") => Some("fashion-mnist:test".to_string()),
        _ => None,
    };
    if args.eval_every.is_some() && eval_spec.is_none() {
        return fail(format!("--eval-every needs data to evaluate on: give --eval-data (training on `{data_spec}`)"));
    }
    if args.eval_every == Some(0) {
        return fail("--eval-every must be at least 1");
    }
    if args.eval_every.is_some() && model.missing.iter().any(|(n, _)| *n == "eval") {
        return fail(format!("--eval-every: model `{}` has no `eval` entry", model.module.model));
    }
    let eval_data = match &eval_spec {
        Some(s) => Some(load_data(s, args.limit.map(|n| n.min(10_000)), seed)?),
        None => None,
    };
    let mut cfg = TrainConfig::new(out_dir(args, &model.module.model)?);
    cfg.steps = args.steps.or(if args.epochs.is_some() { None } else { defaults.steps });
    cfg.epochs = args.epochs.or(if cfg.steps.is_some() { None } else { defaults.epochs });
    if cfg.steps.is_none() && cfg.epochs.is_none() && args.resume.is_none() {
        return fail("say how long to train: --steps N or --epochs N (or `steps`/`epochs` in the train block)");
    }
    cfg.batch = args.batch.or(defaults.batch.map(|b| b as usize)).unwrap_or(DEFAULT_BATCH);
    cfg.base_lr = args.lr.unwrap_or(defaults.optimizer.lr());
    cfg.seed = seed;
    cfg.shuffle = args.shuffle;
    cfg.checkpoint_every = args.checkpoint_every;
    cfg.eval_data = eval_data;
    cfg.eval_every = args.eval_every;
    cfg.log_every = args.log_every.max(1);
    cfg.progress = match args.progress {
        ProgressArg::Auto => ProgressMode::Auto,
        ProgressArg::Bar => ProgressMode::Bar,
        ProgressArg::Plain => ProgressMode::Plain,
        ProgressArg::Quiet => ProgressMode::Quiet,
    };
    let (start, resumed) = match &args.resume {
        Some(ckpt) => {
            if args.weights.is_some() || args.init.is_some() {
                return fail("--resume continues from the checkpoint's parameters; drop --weights/--init");
            }
            (TrainStart::Resume { checkpoint: ckpt.clone() }, Some(train::load_checkpoint_meta(ckpt)?))
        }
        None => {
            let params = if args.weights.is_none() && args.init.is_none() {
                init_params(&manifest(&model.module, None)?.params, seed)?
            } else {
                load_params(args, model)?
            };
            (TrainStart::Fresh { params }, None)
        }
    };
    let spec_text = std::fs::read_to_string(&args.spec.file)
        .map_err(|e| RunError(format!("cannot read {}: {e}", args.spec.file.display())))?;
    cfg.record = Some(train::RunRecord {
        spec_file: args.spec.file.display().to_string(),
        spec: spec_text,
        model: model.module.model.clone(),
        hyperparameters: args.spec.set.clone(),
        optimizer: describe_optimizer(&defaults.optimizer),
        schedule: describe_schedule(&defaults.schedule),
        data: data_spec.to_string(),
        limit: args.limit,
        seed,
        backend: args.backend_name().to_string(),
    });
    // Refuse a batch the machine cannot hold before training (a resumed run keeps the
    // checkpoint's batch; a batch larger than the data is refused by the training loop).
    if args.resume.is_none() && cfg.batch <= data.len {
        crate::memory::check_batch_fits(&module, args.backend_name(), "train", cfg.batch).map_err(RunError)?;
    }
    let opened = std::time::Instant::now();
    let mut session = open_session(args, module, Some(&info), precision)?;
    let compile_time = opened.elapsed();
    if !matches!(args.progress, ProgressArg::Quiet) {
        let header = Header {
            args,
            model,
            cfg: &cfg,
            data_spec,
            examples: data.len,
            eval_spec: eval_spec.as_deref(),
            compile_time,
        };
        for line in header.lines(resumed.as_ref()) {
            eprintln!("{line}");
        }
    }
    print_data_notes(session.as_ref(), "train", &data);
    // The evaluation data's notes, unless it is another split of the training data set (whose
    // adaptation was just said).
    let base = |s: &str| s.split(':').next().unwrap_or_default().to_string();
    if let (Some(eval), Some(eval_spec)) = (&cfg.eval_data, &eval_spec)
        && base(eval_spec) != base(data_spec)
    {
        print_data_notes(session.as_ref(), "eval", eval);
    }
    cfg.stop = Some(interrupt::install());
    match train::train(session.as_mut(), &data, start, &cfg) {
        Err(e @ train::TrainError::Interrupted { .. }) => {
            eprintln!("{e}");
            if let train::TrainError::Interrupted { checkpoint, .. } = &e {
                eprintln!("resume with: {}", interrupt::resume_command(checkpoint));
            }
            std::process::exit(130);
        }
        // The training loop prints its notes, the files it wrote and the closing line.
        other => other?,
    };
    Ok(())
}

/// The number of parameter tensors and of values in them.
fn parameter_count(model: &CompiledModel) -> (usize, usize) {
    let values = model
        .module
        .params
        .iter()
        .map(|p| p.ty.concrete_shape(1).map(|s| s.iter().product::<usize>()).unwrap_or(0))
        .sum();
    (model.module.params.len(), values)
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a training run is about to do, printed on stderr before the first step (not with
/// `--progress quiet`): the model, backend, optimizer, learning rate and schedule, batch, steps,
/// seed, data, evaluation and output folder, each setting with where it comes from (an option,
/// the spec's `train` block, the checkpoint being resumed, or a default).
struct Header<'a> {
    args: &'a RunArgs,
    model: &'a CompiledModel,
    cfg: &'a TrainConfig,
    data_spec: &'a str,
    examples: usize,
    eval_spec: Option<&'a str>,
    /// Time to compile the model for the backend and open its session.
    compile_time: std::time::Duration,
}

impl Header<'_> {
    fn given(&self, id: &str) -> bool {
        self.args.given.iter().any(|g| g == id)
    }

    /// Where a setting comes from: `--flag` when given, else the `train` block when it writes
    /// `key`, else the default (and why).
    fn source(&self, id: &str, key: &str) -> String {
        if self.given(id) {
            return format!("--{}", id.replace('_', "-"));
        }
        match &self.model.train_defaults.written {
            Some(keys) if keys.iter().any(|k| k == key) => "train block".into(),
            Some(_) => format!("default: the train block sets no {key}"),
            None => "default: the spec has no train block".into(),
        }
    }

    fn lines(&self, resumed: Option<&train::CheckpointMeta>) -> Vec<String> {
        let (args, cfg, defaults) = (self.args, self.cfg, &self.model.train_defaults);
        let mut lines = Vec::new();
        let mut add = |key: &str, value: String| lines.push(format!("{key:<10} {value}"));

        let (tensors, values) = parameter_count(self.model);
        let set =
            if args.spec.set.is_empty() { String::new() } else { format!(" --set {}", args.spec.set.join(" --set ")) };
        add(
            "model",
            format!(
                "{} ({}{set}): {} parameters in {tensors} tensors",
                self.model.module.model,
                args.spec.file.display(),
                thousands(values)
            ),
        );
        add("backend", format!("{}, compiled in {:.0} ms", args.backend_name(), self.compile_time.as_secs_f64() * 1e3));
        let mut optimizer =
            format!("{} ({})", describe_optimizer(&defaults.optimizer), self.source("optimizer", "optimizer"));
        if let Some(c) = defaults.clip_grad_norm {
            optimizer.push_str(&format!(", gradient norm clipped at {c} (train block)"));
        }
        add("optimizer", optimizer);

        let from_checkpoint = |what: String| format!("{what} (checkpoint)");
        let lr = match resumed {
            Some(m) => from_checkpoint(m.base_lr.to_string()),
            None if self.given("lr") => format!("{} (--lr)", cfg.base_lr),
            None => format!("{} (the optimizer's)", cfg.base_lr),
        };
        add(
            "lr",
            format!(
                "{lr}, schedule {} ({})",
                describe_schedule(&defaults.schedule),
                self.source("schedule", "schedule")
            ),
        );

        let batch = match resumed {
            Some(m) => m.batch,
            None => cfg.batch,
        };
        add(
            "batch",
            match resumed {
                Some(_) => from_checkpoint(batch.to_string()),
                None => format!("{batch} ({})", self.source("batch", "batch")),
            },
        );

        let per_epoch = (self.examples / batch.max(1)) as u64;
        let planned = match (cfg.steps, cfg.epochs) {
            (Some(s), _) => Some((s, format!("{} steps", s), self.source("steps", "steps"))),
            (None, Some(e)) => Some((e * per_epoch, format!("{e} epochs"), self.source("epochs", "epochs"))),
            (None, None) => None,
        };
        let (first, total, how) = match (resumed, planned) {
            (Some(m), None) => (m.step, m.total_steps, format!("the checkpoint's {} steps", m.total_steps)),
            (Some(m), Some((t, what, from))) => (m.step, t, format!("{what}, {from}")),
            (None, Some((t, what, from))) => (0, t, format!("{what}, {from}")),
            (None, None) => (0, 0, String::new()),
        };
        let range = match total.saturating_sub(first) {
            0 => "none left".to_string(),
            1 => format!("{first}"),
            _ => format!("{first}-{}", total - 1),
        };
        let epochs = match per_epoch {
            0 => String::new(),
            1 => "; 1 batch an epoch".into(),
            n => format!("; {n} batches an epoch"),
        };
        let resuming = if first > 0 { format!("; resuming at step {first}") } else { String::new() };
        add("steps", format!("{range} ({how}{epochs}{resuming})"));

        add(
            "seed",
            match resumed {
                Some(m) => from_checkpoint(m.seed.to_string()),
                None => format!("{} ({})", cfg.seed, self.source("seed", "seed")),
            },
        );
        let limit = if self.given("limit") { " (--limit)" } else { "" };
        let order = if resumed.map_or(cfg.shuffle, |m| m.shuffle) { "shuffled every epoch" } else { "in file order" };
        let restored = if resumed.is_some() && !self.given("data") { " (checkpoint)" } else { "" };
        add("data", format!("{}{restored}: {} examples{limit}, {order}", self.data_spec, self.examples));
        let eval = match (self.eval_spec, &cfg.eval_data) {
            _ if self.model.missing.iter().any(|(n, _)| *n == "eval") => "none (the model has no `eval` entry)".into(),
            (Some(spec), Some(d)) => {
                let when = match cfg.eval_every {
                    Some(n) => format!("every {n} steps and at the end (eval.jsonl, eval.json)"),
                    None => "at the end (eval.json)".into(),
                };
                format!("{spec}: {} examples, {when}", d.len)
            }
            _ => "none (give --eval-data)".into(),
        };
        add("eval", eval);
        add("out", cfg.out_dir.display().to_string());
        lines
    }
}

//! Running one entry of a model: `info`, `encode`, `decode`, `reconstruct`, `sample`, `eval` and
//! `train` (with its data, checkpoints, resume, progress, pictures and run records), the same
//! for a spec `hgc run` compiled in memory and for the artifact of a standalone executable:
//! both reach the model only through [`Model`].

use crate::args::{ModelArgs, ProgressArg};
use crate::header::Header;
use crate::interrupt;
use crate::model::Model;
use hg_abi::names;
use hg_exec::init_params;
use hg_runtime::data::{self, Source, Split, fashion_mnist, shapes};
use hg_runtime::train::{self, CallScalars, ProgressMode, TrainConfig, TrainStart};
use hg_runtime::{Dataset, NamedTensors, Session, Tensor, checkpoint, images, npy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A user-facing failure of a command: printed as `error: ...`, exit status 1.
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

/// Runs `args.entry` of `model` (`time` included). Errors are returned for the caller to
/// print.
pub fn run(args: &ModelArgs, model: &dyn Model, started: std::time::Instant) -> Result<()> {
    if args.entry == "time" { crate::timing::time(args, model, started) } else { run_entry(args, model) }
}

/// For `train --resume`: the recorded run of the checkpoint, if it has one.
pub fn recorded_run(args: &ModelArgs) -> Result<Option<train::RunRecord>> {
    match (&args.resume, args.entry.as_str()) {
        (Some(ckpt), "train") => Ok(train::load_checkpoint_record(ckpt)?),
        _ => Ok(None),
    }
}

/// Refuses to resume a run whose spec differs from `text` (shown as `file`), with a short diff,
/// unless `--allow-changed-spec`.
pub fn check_recorded_spec(args: &ModelArgs, record: &train::RunRecord, file: &str, text: &str) -> Result<()> {
    let Some(ckpt) = &args.resume else { return Ok(()) };
    if text != record.spec && !args.allow_changed_spec {
        return fail(format!(
            "{} was trained with a different version of {file}; the spec changed at {}resume anyway with --allow-changed-spec, or start a new run",
            ckpt.display(),
            train::short_diff(&record.spec, text, 6)
        ));
    }
    Ok(())
}

/// The data and limit of the recorded run where the command line gives none.
pub fn restore_recorded_data(args: &mut ModelArgs, record: &train::RunRecord) {
    if args.data.is_none() {
        args.data = Some(record.data.clone());
        args.limit = args.limit.or(record.limit);
    }
}

fn run_entry(args: &ModelArgs, model: &dyn Model) -> Result<()> {
    let card = model.card();
    let known = crate::options::ENTRIES;
    if !known.contains(&args.entry.as_str()) {
        return fail(format!("unknown entry `{}`; the entries are {}", args.entry, known.join(", ")));
    }
    crate::options::check_options(args).map_err(RunError)?;
    if args.entry == "info" {
        return print_info(model, args.json);
    }
    if let Some(why) = card.missing(&args.entry) {
        return fail(format!("model `{}` has no `{}` entry: {why}", card.model, args.entry));
    }
    if args.entry == "train" {
        return run_train(args, model);
    }
    let mut session = model.open(false).map_err(|e| RunError(format!("backend `{}`: {e}", model.backend())))?;
    let params = load_params(args, model)?;
    session.load_params(params)?;
    let seed = args.seed.or(card.train.seed).unwrap_or(DEFAULT_SEED);
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
    model.check_batch_fits(&args.entry, call_batch).map_err(RunError)?;
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
            match &args.png {
                Some(png) => draw_pictures(png, session.as_mut(), &data, seed, batch),
                None => Ok(()),
            }
        }
        "sample" => {
            let n = args.num.max(1);
            let conditioned = session.manifest().entry("sample").is_some_and(|s| !train::model_inputs(s).is_empty());
            let outputs = if conditioned {
                // One sample per row of the conditions (`--input label=labels.npy`).
                let inputs = read_inputs(args, session.as_ref(), "sample")?;
                train::run_batched(session.as_mut(), "sample", &inputs, scalars, batch)?
            } else {
                train::run_generated(session.as_mut(), "sample", scalars, n, args.batch.unwrap_or(n))?
            };
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

fn print_info(model: &dyn Model, json: bool) -> Result<()> {
    let card = model.card();
    let about = model.about();
    let manifest = &card.manifest;
    let memory = serde_json::to_value(model.memory())?;
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
    let params: Vec<_> = manifest
        .params
        .iter()
        .zip(&card.params)
        .map(|(p, c)| serde_json::json!({"name": c.name, "dtype": p.dtype.name(), "shape": p.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>(), "init": c.init, "trainable": p.trainable}))
        .collect();
    let missing: Vec<_> = card.missing.iter().map(|(n, w)| serde_json::json!({"name": n, "reason": w})).collect();
    let info = serde_json::json!({
        "model": card.model,
        "entries": entries,
        "missing_entries": missing,
        "parameters": params,
        "latents": card.latents,
        "outputs": card.outputs,
        "metrics": card.metrics,
        "memory": memory,
    });
    let mut info = info;
    if let (Some(about), Some(object)) = (&about, info.as_object_mut()) {
        object.insert("build".into(), about.clone().into());
        object.insert("spec".into(), serde_json::to_value(&card.spec)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    if let Some(about) = &about {
        println!("{about}");
    }
    println!("model {}", card.model);
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
    for (n, w) in &card.missing {
        println!("  {n}: not available ({w})");
    }
    // A train forward pass that exists but cannot be differentiated (E0401).
    if let Some(why) = card.untrainable.as_ref().filter(|_| !card.missing.iter().any(|(n, _)| n == "train")) {
        println!("  train: not available ({why})");
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
    let (tensors, total) = card.parameter_count();
    println!("parameters ({tensors} tensors, {total} values):");
    for (p, spec) in card.params.iter().zip(&manifest.params) {
        // Buffers: state the train step sets by the model's `update`, not trained.
        let buffer = if spec.trainable { "" } else { " (buffer)" };
        println!("  {}: {} = {}{buffer}", p.name, p.ty, p.init);
    }
    if about.is_some() {
        let set = if card.spec.set.is_empty() {
            String::new()
        } else {
            format!(" (--set {})", card.spec.set.join(" --set "))
        };
        println!("spec {}{set}:", card.spec.file);
        for line in card.spec.text.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}

/// Parameters from `--weights`, or fresh ones with `--init`, named `param:<path>`.
/// Without either, the model's own parameters where it has some (a build's embedded weights).
pub(crate) fn load_params(args: &ModelArgs, model: &dyn Model) -> Result<NamedTensors> {
    let card = model.card();
    let seed = args.seed.or(card.train.seed).unwrap_or(DEFAULT_SEED);
    match (&args.weights, &args.init) {
        (Some(_), Some(_)) => fail("give either --weights or --init, not both"),
        (Some(path), None) => {
            let (tensors, _) = checkpoint::load_safetensors(path)?;
            let mut out = NamedTensors::new();
            let mut ignored = Vec::new();
            for (name, t) in tensors {
                let bare = name.strip_prefix(names::PARAM).unwrap_or(&name).to_string();
                if card.params.iter().any(|p| p.name == bare) {
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
                        card.model
                    ));
                }
                eprintln!(
                    "note: {}: ignored {} tensor(s) the model does not have: {list}",
                    path.display(),
                    ignored.len()
                );
            }
            for p in &card.params {
                if !out.contains_key(&names::param(&p.name)) {
                    return fail(format!("{}: no tensor for parameter `{}` ({})", path.display(), p.name, p.ty));
                }
            }
            Ok(out)
        }
        (None, Some(save)) => {
            let params = init_params(&card.manifest.params, seed)?;
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
        (None, None) => match model.default_params() {
            Some(params) => Ok(params),
            None => fail("this entry needs parameters: give --weights W.safetensors, or --init for fresh ones"),
        },
    }
}

/// Reads `--input` files into the entry's data inputs (the runtime adds its scalars). Each file
/// must match its input but for the number of examples (the rules of `data::fit_to_inputs`);
/// conversions that round values are said in a note.
fn read_inputs(args: &ModelArgs, session: &dyn Session, entry: &str) -> Result<NamedTensors> {
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

fn write_outputs(args: &ModelArgs, outputs: &NamedTensors) -> Result<()> {
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

/// `eval --png`: the pictures the model declares (`picture NAME = ...`), each example's image
/// input first, for the first examples of the evaluation data.
fn draw_pictures(png: &Path, session: &mut dyn Session, data: &Dataset, seed: u64, batch: usize) -> Result<()> {
    let Some(p) = train::eval_pictures(session, data, seed, MAX_PNG_PAIRS, batch)? else {
        return fail("the model declares no `picture`, so `eval --png` has nothing to draw");
    };
    if data.len > MAX_PNG_PAIRS {
        eprintln!("note: {} shows the first {MAX_PNG_PAIRS} of {} examples", png.display(), data.len);
    }
    let columns: Vec<&Tensor> = p.columns.iter().collect();
    images::save_image_groups(png, &columns, p.shape, MAX_PNG_PAIRS)?;
    Ok(())
}

/// The output folder of `train`. A run never replaces another without being asked: resuming
/// continues in place; a fresh run into a folder that holds a run is refused when `--out` named
/// it (unless `--overwrite`, which removes the old run's files first), and goes to the next free
/// `runs/<model>-N` when the folder was the default.
fn out_dir(args: &ModelArgs, model: &str) -> Result<PathBuf> {
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
pub const DEFAULT_BATCH: usize = 64;
/// The seed when neither `--seed` nor the `train` block gives one.
pub const DEFAULT_SEED: u64 = 0;

fn run_train(args: &ModelArgs, model: &dyn Model) -> Result<()> {
    let card = model.card();
    let defaults = &card.train;
    if let Some(why) = &card.untrainable {
        model.report_untrainable();
        return fail(format!("the model cannot be trained: {why}"));
    }
    for p in &card.unused_params {
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
    if args.eval_every.is_some() && card.missing("eval").is_some() {
        return fail(format!("--eval-every: model `{}` has no `eval` entry", card.model));
    }
    let eval_data = match &eval_spec {
        Some(s) => Some(load_data(s, args.limit.map(|n| n.min(10_000)), seed)?),
        None => None,
    };
    let mut cfg = TrainConfig::new(out_dir(args, &card.model)?);
    cfg.steps = args.steps.or(if args.epochs.is_some() { None } else { defaults.steps });
    cfg.epochs = args.epochs.or(if cfg.steps.is_some() { None } else { defaults.epochs });
    if cfg.steps.is_none() && cfg.epochs.is_none() && args.resume.is_none() {
        return fail("say how long to train: --steps N or --epochs N (or `steps`/`epochs` in the train block)");
    }
    cfg.batch = args.batch.or(defaults.batch.map(|b| b as usize)).unwrap_or(DEFAULT_BATCH);
    cfg.base_lr = args.lr.unwrap_or(defaults.lr);
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
                init_params(&card.manifest.params, seed)?
            } else {
                load_params(args, model)?
            };
            (TrainStart::Fresh { params }, None)
        }
    };
    cfg.record = Some(train::RunRecord {
        spec_file: card.spec.file.clone(),
        spec: card.spec.text.clone(),
        model: card.model.clone(),
        hyperparameters: card.spec.set.clone(),
        optimizer: defaults.optimizer.clone(),
        schedule: defaults.schedule.clone(),
        data: data_spec.to_string(),
        limit: args.limit,
        seed,
        backend: model.backend().to_string(),
    });
    // Refuse a batch the machine cannot hold before training (a resumed run keeps the
    // checkpoint's batch; a batch larger than the data is refused by the training loop).
    if args.resume.is_none() && cfg.batch <= data.len {
        model.check_batch_fits("train", cfg.batch).map_err(RunError)?;
    }
    let opened = std::time::Instant::now();
    let mut session = model.open(true).map_err(|e| RunError(format!("backend `{}`: {e}", model.backend())))?;
    let compile_time = opened.elapsed();
    if !matches!(args.progress, ProgressArg::Quiet) {
        let header = Header {
            args,
            card,
            backend: model.backend(),
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

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
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

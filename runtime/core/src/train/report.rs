//! The files a finished run leaves besides its checkpoint: `final.safetensors`, `eval.json`,
//! `loss.png`, `reconstructions.png` and `samples.png`.
//!
//! `loss.png` has a panel for the loss, with the training loss of every step and, when the
//! run evaluated as it went, the evaluation loss; and one more panel per metric (up to
//! [`MAX_METRIC_PANELS`]), drawn the same way. Axes are labelled `step` and by the quantity.
//!
//! `final.safetensors` stores the parameters under their bare paths (`encoder.mu.w`, without
//! the `param:` prefix), because that is how users and the `--weights` option refer to them;
//! checkpoints keep the full entry names since they also hold optimizer state. Pictures are a
//! courtesy: when one cannot be drawn (no image-shaped data, a failing entry) the run still
//! succeeds and a note says why; the weights and the evaluation, on the other hand, are results
//! and their failures are errors.

use super::batched::{EvalResult, evaluate, fitted_inputs, run_batched};
use super::config::TrainConfig;
use super::error::TrainError;
use super::metrics::{EvalRecord, StepRecord};
use super::signature::{CallScalars, model_inputs, without_param_prefix};
use crate::checkpoint::save_safetensors;
use crate::data::Dataset;
use crate::fsutil::atomic_write;
use crate::images::{Panel, infer_image_shape, plot_panels, save_image_grid, save_image_groups, save_reconstructions};
use hg_abi::{DimSpec, EntrySignature, TensorSpec, names};
use hg_exec::{NamedTensors, Session, Tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// File names inside the output directory.
pub const FINAL_WEIGHTS_FILE: &str = "final.safetensors";
pub const EVAL_FILE: &str = "eval.json";
pub const LOSS_PLOT_FILE: &str = "loss.png";
pub const RECONSTRUCTIONS_FILE: &str = "reconstructions.png";
pub const SAMPLES_FILE: &str = "samples.png";
/// The `format` metadata value of a weights file.
pub const WEIGHTS_FORMAT: &str = "hourglass-weights";

/// Examples shown in `reconstructions.png` (two rows of pairs).
const RECONSTRUCTION_COUNT: usize = 16;
/// Samples drawn for `samples.png`, as a square grid.
const SAMPLE_COUNT: usize = 64;
const SAMPLE_COLUMNS: usize = 8;
/// Metrics drawn in `loss.png` below the loss, one panel each.
pub const MAX_METRIC_PANELS: usize = 4;

pub(crate) struct Report<'a> {
    pub train_data: &'a Dataset,
    pub cfg: &'a TrainConfig,
    /// The trained parameters, named `param:<path>` (also resident in the session).
    pub params: &'a NamedTensors,
    /// Every logged step of the run, resumed sessions included.
    pub history: &'a [StepRecord],
    /// Every evaluation made during the run, resumed sessions included.
    pub evals: &'a [EvalRecord],
    /// The evaluation of the final parameters, when the run already made it.
    pub final_eval: Option<EvalResult>,
    pub seed: u64,
    pub batch: usize,
    /// Steps completed.
    pub step: u64,
}

pub(crate) struct ReportOutcome {
    pub files: Vec<PathBuf>,
    pub eval: Option<EvalResult>,
    pub notes: Vec<String>,
}

pub(crate) fn write_report(session: &mut dyn Session, r: &Report<'_>) -> Result<ReportOutcome, TrainError> {
    let out = &r.cfg.out_dir;
    let mut done = ReportOutcome { files: Vec::new(), eval: None, notes: Vec::new() };

    let weights = out.join(FINAL_WEIGHTS_FILE);
    let meta: BTreeMap<String, String> =
        [("format", WEIGHTS_FORMAT.to_string()), ("step", r.step.to_string()), ("seed", r.seed.to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    save_safetensors(&weights, &without_param_prefix(r.params), &meta)?;
    done.files.push(weights);

    if let Some(eval_data) = &r.cfg.eval_data {
        if session.manifest().entry("eval").is_some() {
            let result = match &r.final_eval {
                Some(done) => done.clone(),
                None => evaluate(session, eval_data, r.batch, r.seed)?,
            };
            let path = out.join(EVAL_FILE);
            let mut json = serde_json::json!({
                "loss": result.loss,
                "metrics": result.metrics,
                "examples": result.examples,
                "batches": result.batches,
                "step": r.step,
            })
            .to_string();
            json.push('\n');
            atomic_write(&path, json.as_bytes())?;
            done.files.push(path);
            done.eval = Some(result);
        } else {
            done.notes.push("the model has no `eval` entry, so the evaluation data was not used".into());
        }
    }

    let mut picture = |name: &str, result: Result<bool, String>| match result {
        Ok(true) => done.files.push(out.join(name)),
        Ok(false) => {}
        Err(why) => done.notes.push(format!("{name} was not drawn: {why}")),
    };
    picture(LOSS_PLOT_FILE, draw_loss(r));
    let data = r.cfg.eval_data.as_ref().unwrap_or(r.train_data);
    picture(RECONSTRUCTIONS_FILE, draw_reconstructions(session, data, r));
    picture(SAMPLES_FILE, draw_samples(session, data, r));
    Ok(done)
}

/// `loss.png`; `Ok(false)` when no step was logged.
fn draw_loss(r: &Report<'_>) -> Result<bool, String> {
    if r.history.is_empty() {
        return Ok(false);
    }
    let train = r.history.iter().map(|s| (s.step as f64, s.loss)).collect();
    let eval = r.evals.iter().map(|e| (e.step as f64, e.loss)).collect();
    let mut panels = vec![panel("loss", train, eval)];
    let names: BTreeSet<&String> = r.history.iter().flat_map(|s| s.metrics.keys()).collect();
    for name in names.into_iter().take(MAX_METRIC_PANELS) {
        let train = r.history.iter().filter_map(|s| Some((s.step as f64, *s.metrics.get(name)?))).collect();
        let eval = r.evals.iter().filter_map(|e| Some((e.step as f64, *e.metrics.get(name)?))).collect();
        panels.push(panel(name, train, eval));
    }
    plot_panels(r.cfg.out_dir.join(LOSS_PLOT_FILE), &panels).map_err(|e| e.to_string())?;
    Ok(true)
}

/// A panel of `loss.png`: the training curve of `name` and, when there is one, its evaluation
/// curve.
fn panel(name: &str, train: Vec<(f64, f64)>, eval: Vec<(f64, f64)>) -> Panel {
    let mut series = vec![(format!("train {name}"), train)];
    if !eval.is_empty() {
        series.push((format!("eval {name}"), eval));
    }
    Panel { x_label: "step".into(), y_label: name.into(), series }
}

/// The `(channels, height, width)` of one example of a `[B, ...]` tensor spec.
fn image_shape(spec: &TensorSpec) -> Option<(usize, usize, usize)> {
    let (DimSpec::Batch(1), rest) = spec.shape.split_first()? else { return None };
    let dims: Option<Vec<usize>> =
        rest.iter().map(|d| if let DimSpec::Fixed(n) = d { Some(*n) } else { None }).collect();
    infer_image_shape(&dims?)
}

/// The first image-shaped output with `values` values per example (any size when `None`).
fn image_output(sig: &EntrySignature, values: Option<usize>) -> Option<(&TensorSpec, (usize, usize, usize))> {
    sig.outputs.iter().find_map(|s| {
        let shape = image_shape(s)?;
        (values.is_none_or(|v| v == shape.0 * shape.1 * shape.2)).then_some((s, shape))
    })
}

/// The runtime scalars of the pictures' entries: the run's seed, outside training (step 0).
fn scalars(r: &Report<'_>) -> CallScalars {
    CallScalars { seed: r.seed, step: 0, first_example: 0, batch: 0 }
}

/// The images of a model's pictures (`picture NAME = ...`, outputs of `eval`), for a picture
/// file: the image input they show (when it has their size), then each picture in the order the
/// spec declares them.
pub struct EvalPictures {
    /// `(channels, height, width)` of every image.
    pub shape: (usize, usize, usize),
    /// One tensor of images per column, `[N, ...]` each.
    pub columns: Vec<Tensor>,
}

/// The pictures of the first `count` examples of `data`, in calls of at most `batch`; `None`
/// when the model declares none. `eval` draws as it does for the test loss (a masked
/// autoencoder masks), keyed by `seed`, so the picture shows what the loss scored.
pub fn eval_pictures(
    session: &mut dyn Session,
    data: &Dataset,
    seed: u64,
    count: usize,
    batch: usize,
) -> Result<Option<EvalPictures>, TrainError> {
    const ENTRY: &str = "eval";
    let Some(sig) = session.manifest().entry(ENTRY).cloned() else { return Ok(None) };
    let pictures: Vec<&TensorSpec> = sig.outputs.iter().filter(|s| s.name.starts_with(names::PICTURE)).collect();
    let Some(first) = pictures.first() else { return Ok(None) };
    let size = |(c, h, w): (usize, usize, usize)| c * h * w;
    let shape = image_shape(first).ok_or_else(|| {
        TrainError::signature(ENTRY, format!("picture `{first}` is not shaped like a batch of images"))
    })?;
    for p in &pictures {
        if image_shape(p).map(size) != Some(size(shape)) {
            return Err(TrainError::signature(
                ENTRY,
                format!("pictures `{first}` and `{p}` differ in size, so they cannot be drawn side by side"),
            ));
        }
    }
    let fitted = fitted_inputs(&sig, &data.take(count))?;
    let input = fitted.iter().find_map(|(name, t)| {
        let spec = sig.inputs.iter().find(|s| &s.name == name)?;
        (image_shape(spec).map(size) == Some(size(shape))).then(|| t.clone())
    });
    let inputs: NamedTensors = fitted.into_iter().collect();
    let scalars = CallScalars { seed, step: 0, first_example: 0, batch: 0 };
    let mut outputs = run_batched(session, ENTRY, &inputs, scalars, batch.max(1))?;
    let mut columns: Vec<Tensor> = input.into_iter().collect();
    for p in &pictures {
        columns.push(outputs.remove(&p.name).ok_or_else(|| {
            TrainError::signature(ENTRY, format!("the executor did not return picture `{}`", p.name))
        })?);
    }
    Ok(Some(EvalPictures { shape, columns }))
}

/// `reconstructions.png`: each input beside the `reconstruct` entry's output, or beside the
/// model's pictures when it declares some ([`eval_pictures`]); `Ok(false)` when the model has
/// neither or no image-shaped input.
fn draw_reconstructions(session: &mut dyn Session, data: &Dataset, r: &Report<'_>) -> Result<bool, String> {
    let path = r.cfg.out_dir.join(RECONSTRUCTIONS_FILE);
    if let Some(p) = eval_pictures(session, data, r.seed, RECONSTRUCTION_COUNT, r.batch).map_err(|e| e.to_string())? {
        let columns: Vec<&Tensor> = p.columns.iter().collect();
        save_image_groups(&path, &columns, p.shape, RECONSTRUCTION_COUNT).map_err(|e| e.to_string())?;
        return Ok(true);
    }
    let Some(sig) = session.manifest().entry("reconstruct").cloned() else { return Ok(false) };
    let Some((input, shape)) = model_inputs(&sig).into_iter().find_map(|s| image_shape(&s).map(|sh| (s, sh))) else {
        return Ok(false);
    };
    let Some((output, _)) = image_output(&sig, Some(shape.0 * shape.1 * shape.2)) else {
        return Err(format!("`reconstruct` has no output shaped like its input `{input}`"));
    };
    let subset = data.take(RECONSTRUCTION_COUNT);
    let fitted = fitted_inputs(&sig, &subset).map_err(|e| e.to_string())?;
    let inputs: NamedTensors = fitted.into_iter().collect();
    let outputs = run_batched(session, "reconstruct", &inputs, scalars(r), r.batch).map_err(|e| e.to_string())?;
    save_reconstructions(&path, &inputs[&input.name], &outputs[&output.name], shape, RECONSTRUCTION_COUNT)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// `samples.png`: a grid drawn with the `sample` entry; `Ok(false)` when the model has no such
/// entry or it produces no image-shaped output. A model with conditions samples for those of
/// `data` ([`sample_conditions`]).
fn draw_samples(session: &mut dyn Session, data: &Dataset, r: &Report<'_>) -> Result<bool, String> {
    let Some(sig) = session.manifest().entry("sample").cloned() else { return Ok(false) };
    let Some((output, shape)) = image_output(&sig, None) else { return Ok(false) };
    let outputs = if model_inputs(&sig).is_empty() {
        run_batched(session, "sample", &NamedTensors::new(), scalars(r), SAMPLE_COUNT)
    } else {
        let conditions = sample_conditions(&sig, data).map_err(|e| e.to_string())?;
        run_batched(session, "sample", &conditions, scalars(r), r.batch)
    }
    .map_err(|e| e.to_string())?;
    save_image_grid(r.cfg.out_dir.join(SAMPLES_FILE), &outputs[&output.name], Some(shape), SAMPLE_COLUMNS)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Classes drawn one row each in `samples.png`, at most.
const MAX_SAMPLE_CLASSES: usize = 16;

/// The conditions `samples.png` samples for: when the one condition is a class label (one
/// `i64` per example) and `data` has at most [`MAX_SAMPLE_CLASSES`] classes, a row of
/// [`SAMPLE_COLUMNS`] for each class, in increasing order; otherwise those of the first
/// [`SAMPLE_COUNT`] examples.
fn sample_conditions(sig: &EntrySignature, data: &Dataset) -> Result<NamedTensors, TrainError> {
    if let [spec] = &model_inputs(sig)[..]
        && spec.dtype == hg_abi::DType::I64
        && spec.shape.len() == 1
    {
        let fitted = fitted_inputs(sig, data)?;
        let classes: BTreeSet<i64> = match fitted.first().map(|(_, t)| t.data()) {
            Some(hg_exec::TensorData::I64(labels)) => labels.iter().copied().collect(),
            _ => BTreeSet::new(),
        };
        if (1..=MAX_SAMPLE_CLASSES).contains(&classes.len()) {
            let rows: Vec<i64> = classes.iter().flat_map(|&c| std::iter::repeat_n(c, SAMPLE_COLUMNS)).collect();
            let t = hg_exec::Tensor::from_i64(vec![rows.len()], rows).map_err(|e| TrainError::Data(e.to_string()))?;
            return Ok(NamedTensors::from([(spec.name.clone(), t)]));
        }
    }
    Ok(fitted_inputs(sig, &data.take(SAMPLE_COUNT))?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;

    #[test]
    fn image_shapes_come_from_batched_specs_only() {
        let spec = |shape: Vec<DimSpec>| TensorSpec { name: "x".into(), dtype: DType::F32, shape };
        assert_eq!(image_shape(&spec(vec![DimSpec::Batch(1), DimSpec::Fixed(784)])), Some((1, 28, 28)));
        assert_eq!(
            image_shape(&spec(vec![DimSpec::Batch(1), DimSpec::Fixed(3), DimSpec::Fixed(8), DimSpec::Fixed(8)])),
            Some((3, 8, 8))
        );
        assert_eq!(image_shape(&spec(vec![DimSpec::Fixed(784)])), None);
        assert_eq!(image_shape(&spec(vec![DimSpec::Batch(1), DimSpec::Fixed(10)])), None);
    }
}

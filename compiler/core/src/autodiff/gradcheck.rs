//! Gradient checking: analytic gradients from [`differentiate`] against central finite
//! differences, both computed by the reference interpreter in f64.
//!
//! Float inputs are fed as f64 tensors and the interpreter runs in [`Precision::F64`], where
//! f32 values are never rounded: perturbing an f32 input by `eps` would otherwise be rounded
//! away, and the check would measure f32 rounding rather than the rules.
//! Random ops draw the same numbers in every run (same seed, step and call site), so a
//! stochastic loss is checked as the deterministic function of its inputs it is for one draw.
//!
//! The error of one element is `|analytic - numeric| / max(|analytic|, |numeric|, floor)`:
//! relative for gradients of ordinary size and absolute below `floor` (default `1e-3`), where
//! the finite difference itself is only accurate to an absolute error. Whole models can check
//! a sample of each input's elements ([`GradCheckOptions::max_elements`]); parameters are
//! checked by binding them as inputs first ([`super::bind_params`]).

use super::{AutodiffError, differentiate};
use crate::interp::{InterpError, NamedTensors, Precision, RunContext, run_function};
use hg_abi::names;
use hg_exec::Tensor;
use hg_exec::philox::{DrawSite, ShuffleRng};
use hg_ir::{Function, ValueId};

#[derive(Clone, Debug)]
pub struct GradCheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Below this magnitude errors are absolute (see the module doc).
    pub floor: f64,
    /// Check at most this many elements per input, drawn at random over all of its axes (all
    /// when `None`); see [`sample_indices`].
    pub max_elements: Option<usize>,
    /// Seed of the element sample, so a failing check names the same elements on every run.
    pub sample_seed: u64,
    /// Seed, step and batch for the runs (precision is always f64).
    pub ctx: RunContext,
}

impl GradCheckOptions {
    pub fn new(eps: f64) -> GradCheckOptions {
        GradCheckOptions { eps, floor: 1e-3, max_elements: None, sample_seed: 0, ctx: RunContext::new(Precision::F64) }
    }
}

/// The element with the largest error.
#[derive(Clone, Debug, PartialEq)]
pub struct GradMismatch {
    pub input: String,
    /// Row-major element index.
    pub index: usize,
    pub analytic: f64,
    pub numeric: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    pub max_error: f64,
    pub worst: Option<GradMismatch>,
    /// Number of elements compared.
    pub checked: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum GradCheckError {
    #[error("the function has no scalar float `loss` output")]
    NoLoss,
    #[error("the function has no input `{0}`")]
    UnknownInput(String),
    #[error("no tensor was given for input `{0}`")]
    MissingTensor(String),
    #[error("input `{0}` is not a float tensor")]
    NotFloat(String),
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    #[error(transparent)]
    Interp(#[from] InterpError),
    #[error("the gradient graph is malformed: {0}")]
    Verify(#[from] hg_ir::VerifyError),
    #[error("the loss is not finite at the {0} point")]
    NonFinite(&'static str),
}

/// The largest error (see the module doc) between analytic and central-difference gradients of
/// the `loss` output with respect to the named float inputs, over every element.
pub fn check_gradients(
    f: &Function,
    inputs: &NamedTensors,
    wrt_names: &[&str],
    eps: f64,
) -> Result<f64, GradCheckError> {
    Ok(check_gradients_with(f, inputs, wrt_names, &GradCheckOptions::new(eps))?.max_error)
}

/// [`check_gradients`] with options and a report of the worst element.
pub fn check_gradients_with(
    f: &Function,
    inputs: &NamedTensors,
    wrt_names: &[&str],
    opts: &GradCheckOptions,
) -> Result<GradCheckReport, GradCheckError> {
    let ctx = RunContext { precision: Precision::F64, ..opts.ctx };
    let loss = f.output(names::LOSS).ok_or(GradCheckError::NoLoss)?;
    if f.ty(loss).rank() != 0 || !f.ty(loss).dtype.is_float() {
        return Err(GradCheckError::NoLoss);
    }
    let mut inputs64 = NamedTensors::new();
    for (name, t) in inputs {
        let t = if t.dtype().is_float() { to_f64(t) } else { t.clone() };
        inputs64.insert(name.clone(), t);
    }
    let mut wrt: Vec<ValueId> = Vec::with_capacity(wrt_names.len());
    for &name in wrt_names {
        let v = f.input(name).ok_or_else(|| GradCheckError::UnknownInput(name.to_string()))?;
        let t = inputs64.get(name).ok_or_else(|| GradCheckError::MissingTensor(name.to_string()))?;
        if !t.dtype().is_float() {
            return Err(GradCheckError::NotFloat(name.to_string()));
        }
        wrt.push(v);
    }

    // Analytic gradients: one run of the function extended with its gradient nodes.
    let mut with_grads = f.clone();
    let result = differentiate(&mut with_grads, loss, &wrt)?;
    with_grads.outputs = vec![(names::LOSS.to_string(), loss)];
    for (name, g) in wrt_names.iter().zip(&result.grads) {
        with_grads.outputs.push((format!("grad:{name}"), *g));
    }
    hg_ir::verify_function(&with_grads)?;
    let analytic = run_function(&with_grads, &inputs64, &ctx)?;

    let mut report = GradCheckReport { max_error: 0.0, worst: None, checked: 0 };
    for (k, &name) in wrt_names.iter().enumerate() {
        let grad = analytic
            .get(&format!("grad:{name}"))
            .map(Tensor::to_f64_vec)
            .ok_or_else(|| GradCheckError::MissingTensor(format!("grad:{name}")))?;
        let base = inputs64[name].clone();
        let values = base.to_f64_vec();
        for index in sample_indices(values.len(), opts.max_elements, opts.sample_seed, k as u64) {
            let mut at = |delta: f64, which: &'static str| -> Result<f64, GradCheckError> {
                let mut moved = values.clone();
                moved[index] += delta;
                let t = Tensor::from_f64(base.shape().to_vec(), moved).expect("same shape as the given tensor");
                inputs64.insert(name.to_string(), t);
                let out = run_function(f, &inputs64, &ctx)?;
                let l = out.get(names::LOSS).and_then(Tensor::scalar_value).ok_or(GradCheckError::NoLoss)?;
                if !l.is_finite() {
                    return Err(GradCheckError::NonFinite(which));
                }
                Ok(l)
            };
            let plus = at(opts.eps, "forward")?;
            let minus = at(-opts.eps, "backward")?;
            let numeric = (plus - minus) / (2.0 * opts.eps);
            let a = grad[index];
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(opts.floor);
            report.checked += 1;
            if err > report.max_error || err.is_nan() {
                report.max_error = if err.is_nan() { f64::INFINITY } else { err };
                report.worst = Some(GradMismatch { input: name.to_string(), index, analytic: a, numeric });
            }
        }
        inputs64.insert(name.to_string(), base);
    }
    Ok(report)
}

/// Row-major element indices to check: all of them when `max` allows, else `max` distinct
/// ones drawn uniformly (Floyd's algorithm) from a stream keyed by `seed` and the input's
/// position `k`, in increasing order. Uniform over row-major indices is uniform over every
/// axis at once, so no column or channel is systematically skipped (evenly spaced indices
/// would check only column 0 of a `[12, 784]` weight).
pub fn sample_indices(len: usize, max: Option<usize>, seed: u64, k: u64) -> Vec<usize> {
    let m = match max {
        Some(m) if m < len => m,
        _ => return (0..len).collect(),
    };
    let mut rng = ShuffleRng::at_site(DrawSite::new(seed, k, GRADCHECK_SITE));
    let mut chosen = std::collections::BTreeSet::new();
    for j in (len - m)..len {
        let t = rng.below(j as u64 + 1) as usize;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// The draw site of gradient-check sampling (a test-only stream, apart from model sites).
const GRADCHECK_SITE: u32 = 0xFFFF_F000;

fn to_f64(t: &Tensor) -> Tensor {
    Tensor::from_f64(t.shape().to_vec(), t.to_f64_vec()).expect("same shape as the given tensor")
}

#[cfg(test)]
mod tests {
    use super::sample_indices;

    #[test]
    fn samples_cover_every_axis_and_repeat_with_the_seed() {
        let (rows, cols) = (12, 784);
        let picked = sample_indices(rows * cols, Some(48), 0, 0);
        assert_eq!(picked.len(), 48);
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
        let distinct_cols: std::collections::BTreeSet<usize> = picked.iter().map(|i| i % cols).collect();
        assert!(distinct_cols.len() > 40, "columns {distinct_cols:?}");
        let distinct_rows: std::collections::BTreeSet<usize> = picked.iter().map(|i| i / cols).collect();
        assert!(distinct_rows.len() > 8, "rows {distinct_rows:?}");
        assert_eq!(sample_indices(rows * cols, Some(48), 0, 0), picked);
        assert_ne!(sample_indices(rows * cols, Some(48), 1, 0), picked);
        assert_ne!(sample_indices(rows * cols, Some(48), 0, 1), picked);
        assert_eq!(sample_indices(5, Some(48), 0, 0), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_indices(5, Some(5), 0, 0), vec![0, 1, 2, 3, 4]);
    }
}

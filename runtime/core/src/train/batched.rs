//! Running entry points over whole arrays, batch by batch: [`run_batched`] for `encode`,
//! `decode` and `reconstruct` over entire `.npy` files, and [`evaluate`] for the `eval` entry
//! over a data set.
//!
//! **Invariants**: a batched input has its batch dimension first (`[k*B, ...]`, k rows per
//! example); inputs without a batch dimension go to every call unchanged. [`run_batched`]
//! visits every example exactly once, the last batch being smaller when the count does not
//! divide; so does [`evaluate`], which weighs each call's loss and metrics by its number of
//! examples, so every example counts exactly once in the averages.

use super::error::TrainError;
use super::signature::{
    CallScalars, RUNTIME_SCALARS, entry_signature, insert_call_scalars, is_param, is_state, metric_outputs,
    model_inputs, scalar_output,
};
use crate::data::{Dataset, fit_to_inputs};
use hg_abi::{DimSpec, EntrySignature, TensorSpec, names};
use hg_exec::{NamedTensors, Session, Tensor, TensorData};
use serde::Serialize;
use std::collections::BTreeMap;

/// Average loss and metrics of a model over a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalResult {
    pub loss: f64,
    /// Metrics by name, without the `metric:` prefix.
    pub metrics: BTreeMap<String, f64>,
    /// Examples that took part: all of them.
    pub examples: usize,
    pub batches: usize,
}

/// Rows per example of an input whose first dimension is `k*B`, or `None` when the input does
/// not depend on the batch size.
fn rows_per_example(spec: &TensorSpec, entry: &str) -> Result<Option<usize>, TrainError> {
    match spec.shape.split_first() {
        Some((DimSpec::Batch(k), rest)) if rest.iter().all(|d| matches!(d, DimSpec::Fixed(_))) => Ok(Some(*k)),
        _ if spec.has_batch() => Err(TrainError::signature(
            entry,
            format!(
                "input `{spec}` has its batch dimension in a place other than the first; it cannot be split into batches"
            ),
        )),
        _ => Ok(None),
    }
}

/// Concatenates tensors along their first axis (all have the same dtype and trailing shape).
fn concat_rows(parts: &[Tensor]) -> Option<Tensor> {
    let first = parts.first()?;
    let mut shape = first.shape().to_vec();
    if shape.is_empty()
        || parts.iter().any(|p| p.dtype() != first.dtype() || p.shape().get(1..) != first.shape().get(1..))
    {
        return None;
    }
    shape[0] = parts.iter().map(|p| p.shape()[0]).sum();
    fn cat<T: Clone>(parts: &[Tensor], get: fn(&TensorData) -> Option<&Vec<T>>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(get(p.data())?);
        }
        Some(out)
    }
    let data = match first.data() {
        TensorData::F32(_) => TensorData::F32(cat(parts, |d| if let TensorData::F32(v) = d { Some(v) } else { None })?),
        TensorData::F64(_) => TensorData::F64(cat(parts, |d| if let TensorData::F64(v) = d { Some(v) } else { None })?),
        TensorData::I32(_) => TensorData::I32(cat(parts, |d| if let TensorData::I32(v) = d { Some(v) } else { None })?),
        TensorData::I64(_) => TensorData::I64(cat(parts, |d| if let TensorData::I64(v) = d { Some(v) } else { None })?),
        TensorData::Bool(_) => {
            TensorData::Bool(cat(parts, |d| if let TensorData::Bool(v) = d { Some(v) } else { None })?)
        }
    };
    Tensor::new(first.dtype(), shape, data).ok()
}

/// Runs `entry` over full arrays in batches of at most `batch` examples and concatenates the
/// outputs along their batch dimension.
///
/// `inputs` holds the entry's data inputs as whole arrays; the parameters are the session's.
/// Each call gets the runtime scalars the entry reads: `seed` and `step` from `scalars`,
/// `first_example` = the call's first row and `batch` = its size, so random draws of a split
/// run are those of one call over everything. Outputs without a batch dimension are
/// averaged over the calls, weighted by their example counts, when they are floats (a loss),
/// and taken from the first call otherwise.
pub fn run_batched(
    session: &mut dyn Session,
    entry: &str,
    inputs: &NamedTensors,
    scalars: CallScalars,
    batch: usize,
) -> Result<NamedTensors, TrainError> {
    if batch == 0 {
        return Err(TrainError::Config("the batch size must be at least 1".into()));
    }
    let sig = entry_signature(session, entry)?;
    if session.manifest().train.as_ref().is_some() && entry == "train" {
        return Err(TrainError::signature(entry, "is the train step, which only the training loop runs"));
    }

    // Split the inputs into whole-call ones and batched ones, and count the examples.
    let mut fixed = NamedTensors::new();
    let mut batched: Vec<(String, Tensor, usize)> = Vec::new();
    let mut examples: Option<(String, usize)> = None;
    for spec in &sig.inputs {
        if is_param(&spec.name) || is_state(&spec.name) || RUNTIME_SCALARS.contains(&spec.name.as_str()) {
            continue;
        }
        let t = inputs
            .get(&spec.name)
            .ok_or_else(|| TrainError::signature(entry, format!("input `{spec}` was not given")))?;
        let Some(k) = rows_per_example(spec, entry)? else {
            fixed.insert(spec.name.clone(), t.clone());
            continue;
        };
        let rows = t.shape().first().copied().unwrap_or(0);
        if t.shape().len() != spec.shape.len() || rows % k != 0 {
            return Err(TrainError::Data(format!("input `{}` is {t}, which does not fit `{spec}`", spec.name)));
        }
        let n = rows / k;
        match &examples {
            Some((other, m)) if *m != n => {
                return Err(TrainError::Data(format!("input `{}` has {n} examples but `{other}` has {m}", spec.name)));
            }
            Some(_) => {}
            None => examples = Some((spec.name.clone(), n)),
        }
        batched.push((spec.name.clone(), t.clone(), k));
    }
    let exec_err = |source| TrainError::Exec { entry: entry.into(), step: None, source };

    let Some((_, n)) = examples else {
        // Nothing to split: one call of `batch` examples (read by entries such as `sample`).
        let mut call = fixed;
        insert_call_scalars(&sig, CallScalars { batch: batch as u64, ..scalars }, &mut call)?;
        return session.run(entry, &call).map_err(exec_err);
    };
    if n == 0 {
        return Err(TrainError::Data(format!("the inputs of `{entry}` hold no examples")));
    }

    let mut chunks: Vec<(usize, NamedTensors)> = Vec::new();
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let mut call = fixed.clone();
        for (name, t, k) in &batched {
            call.insert(name.clone(), t.slice_rows(start * k, end * k));
        }
        let first_example = scalars.first_example + start as u64;
        let here = CallScalars { first_example, batch: (end - start) as u64, ..scalars };
        insert_call_scalars(&sig, here, &mut call)?;
        let out = session.run(entry, &call).map_err(exec_err)?;
        chunks.push((end - start, out));
    }
    gather_outputs(&sig, chunks, n)
}

/// Runs an entry without data inputs (`sample`) for `count` examples in calls of at most
/// `batch`, and joins the outputs. Call `i` starts at example `i * batch` (`first_example`),
/// so the draws do not depend on `batch`.
pub fn run_generated(
    session: &mut dyn Session,
    entry: &str,
    scalars: CallScalars,
    count: usize,
    batch: usize,
) -> Result<NamedTensors, TrainError> {
    if batch == 0 || count == 0 {
        return Err(TrainError::Config("the batch size and the number of examples must be at least 1".into()));
    }
    let sig = entry_signature(session, entry)?;
    let mut chunks = Vec::new();
    for start in (0..count).step_by(batch) {
        let rows = batch.min(count - start);
        let here = CallScalars { first_example: scalars.first_example + start as u64, ..scalars };
        chunks.push((rows, run_batched(session, entry, &NamedTensors::new(), here, rows)?));
    }
    gather_outputs(&sig, chunks, count)
}

/// Joins the outputs of the calls of [`run_batched`].
fn gather_outputs(
    sig: &EntrySignature,
    chunks: Vec<(usize, NamedTensors)>,
    n: usize,
) -> Result<NamedTensors, TrainError> {
    let entry = sig.name.as_str();
    let mut result = NamedTensors::new();
    for spec in &sig.outputs {
        let parts: Vec<Tensor> =
            chunks.iter().map(|(_, out)| out.get(&spec.name).cloned()).collect::<Option<_>>().ok_or_else(|| {
                TrainError::signature(entry, format!("the executor did not return output `{}`", spec.name))
            })?;
        let joined = if spec.has_batch() {
            if !matches!(spec.shape.first(), Some(DimSpec::Batch(_))) {
                return Err(TrainError::signature(
                    entry,
                    format!(
                        "output `{spec}` has its batch dimension in a place other than the first; batches cannot be joined"
                    ),
                ));
            }
            concat_rows(&parts).ok_or_else(|| {
                TrainError::signature(
                    entry,
                    format!("the batches of output `{}` differ in dtype or shape and cannot be joined", spec.name),
                )
            })?
        } else if spec.dtype.is_float() {
            let mut acc = vec![0.0; parts[0].len()];
            for ((rows, _), p) in chunks.iter().zip(&parts) {
                if p.len() != acc.len() {
                    return Err(TrainError::signature(
                        entry,
                        format!("output `{}` changes shape between batches", spec.name),
                    ));
                }
                for (a, v) in acc.iter_mut().zip(p.to_f64_vec()) {
                    *a += v * *rows as f64 / n as f64;
                }
            }
            Tensor::from_f64_values(parts[0].dtype(), parts[0].shape().to_vec(), &acc)
                .map_err(|e| TrainError::signature(entry, format!("output `{}`: {e}", spec.name)))?
        } else {
            parts[0].clone()
        };
        result.insert(spec.name.clone(), joined);
    }
    Ok(result)
}

/// The data arrays of an entry's model inputs, `[N, ...]` each (the contract of
/// [`fit_to_inputs`]: every model input fed from data has a single leading batch axis).
pub(crate) fn fitted_inputs(sig: &EntrySignature, data: &Dataset) -> Result<Vec<(String, Tensor)>, TrainError> {
    let specs = model_inputs(sig);
    let arrays = fit_to_inputs(data, &specs).map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(specs.into_iter().map(|s| s.name).zip(arrays).collect())
}

/// Adds the rows of `examples` of each data input to the inputs of one call.
pub(crate) fn select_rows(fitted: &[(String, Tensor)], examples: &[usize], into: &mut NamedTensors) {
    for (name, t) in fitted {
        into.insert(name.clone(), t.gather_rows(examples));
    }
}

/// Average loss and metrics of the `eval` entry over every example of `data`, on the session's
/// parameters, in calls of at most `batch` examples (the last one smaller). A call's loss and
/// metrics are means over its examples (as a loss written `mean(...)` is), so each is weighed
/// by its example count and the result is the mean over the data set. Every call draws with
/// `step = 0` from its examples' place in the data (`first_example`), so evaluation draws the
/// same random numbers every time, whatever the batch size.
pub fn evaluate(session: &mut dyn Session, data: &Dataset, batch: usize, seed: u64) -> Result<EvalResult, TrainError> {
    const ENTRY: &str = "eval";
    if batch == 0 {
        return Err(TrainError::Config("the batch size must be at least 1".into()));
    }
    if data.is_empty() {
        return Err(TrainError::Data("the evaluation data holds no examples".into()));
    }
    let sig = entry_signature(session, ENTRY)?;
    let fitted = fitted_inputs(&sig, data)?;
    let mut loss_sum = 0.0;
    let mut metric_sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut batches = 0;
    for start in (0..data.len).step_by(batch) {
        let rows = batch.min(data.len - start);
        let weight = rows as f64 / data.len as f64;
        batches += 1;
        let mut call = NamedTensors::new();
        let examples: Vec<usize> = (start..start + rows).collect();
        select_rows(&fitted, &examples, &mut call);
        let scalars = CallScalars { seed, step: 0, first_example: start as u64, batch: rows as u64 };
        insert_call_scalars(&sig, scalars, &mut call)?;
        let out =
            session.run(ENTRY, &call).map_err(|source| TrainError::Exec { entry: ENTRY.into(), step: None, source })?;
        let loss = scalar_output(&out, names::LOSS, ENTRY)?
            .ok_or_else(|| TrainError::signature(ENTRY, "the executor did not return output `loss`"))?;
        loss_sum += weight * loss;
        for (name, v) in metric_outputs(&out, ENTRY)? {
            *metric_sums.entry(name).or_default() += weight * v;
        }
    }
    Ok(EvalResult { loss: loss_sum, metrics: metric_sums, examples: data.len, batches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_concatenate_in_order() {
        let a = Tensor::from_f32(vec![1, 2], vec![1.0, 2.0]).unwrap();
        let b = Tensor::from_f32(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(concat_rows(&[a.clone(), b]).unwrap().to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let wrong = Tensor::from_f32(vec![1, 3], vec![0.0; 3]).unwrap();
        assert!(concat_rows(&[a, wrong]).is_none());
    }
}

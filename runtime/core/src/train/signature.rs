//! Reading the train-step contract off an entry signature: which inputs are model data, which
//! are parameters, optimizer state and runtime scalars, and checking named tensors against it.
//!
//! **Invariant**: every input of an entry is exactly one of a parameter (`param:`), a state
//! tensor (`state:`), a runtime scalar ([`RUNTIME_SCALARS`]) or a model input; the runtime
//! supplies the first three and the data set the last.

use super::error::TrainError;
use hg_abi::{DType, EntrySignature, TensorSpec, names};
pub(crate) use hg_exec::session::check_tensors;
use hg_exec::{NamedTensors, Session, Tensor, TensorData};

/// Scalar inputs the runtime itself provides to an entry point.
pub use hg_abi::names::RUNTIME_SCALARS;

/// The signature of `entry`, or an error saying the model has no such entry.
pub(crate) fn entry_signature(session: &dyn Session, entry: &str) -> Result<EntrySignature, TrainError> {
    let manifest = session.manifest();
    manifest.entry(entry).cloned().ok_or_else(|| {
        let have = manifest.entry_names().join(", ");
        TrainError::signature(entry, format!("the model has no such entry point (it has: {have})"))
    })
}

/// The values of the runtime scalars one call of an entry reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallScalars {
    /// The Philox key of the model's random draws.
    pub seed: u64,
    /// The counter base: the optimizer step in training, 0 outside it.
    pub step: u64,
    /// Index of the call's first example in the whole run (the stream offset of its draws).
    pub first_example: u64,
    /// Examples in the call (read by entries, like `sample`, whose inputs do not fix `B`).
    pub batch: u64,
}

/// Adds to `into` every runtime scalar that `sig` reads and `scalars` gives a value for
/// (`base_lr` and `total_steps` are the training loop's own).
pub(crate) fn insert_call_scalars(
    sig: &EntrySignature,
    scalars: CallScalars,
    into: &mut NamedTensors,
) -> Result<(), TrainError> {
    for spec in &sig.inputs {
        let value = match spec.name.as_str() {
            names::SEED => scalars.seed,
            names::STEP => scalars.step,
            names::FIRST_EXAMPLE => scalars.first_example,
            names::BATCH => scalars.batch,
            _ => continue,
        };
        into.insert(spec.name.clone(), scalar_input(spec, Scalar::Int(value), &sig.name)?);
    }
    Ok(())
}

pub(crate) fn is_param(name: &str) -> bool {
    name.starts_with(names::PARAM)
}

pub(crate) fn is_state(name: &str) -> bool {
    name.starts_with(names::STATE)
}

/// Inputs that come from the data set, in signature order (neither parameters, optimizer state
/// nor the scalars the runtime supplies).
pub fn model_inputs(sig: &EntrySignature) -> Vec<TensorSpec> {
    sig.inputs
        .iter()
        .filter(|s| !is_param(&s.name) && !is_state(&s.name) && !RUNTIME_SCALARS.contains(&s.name.as_str()))
        .cloned()
        .collect()
}

/// Zeros of every spec: the optimizer state before the first step.
pub(crate) fn zeros_for(sig: &EntrySignature, specs: &[TensorSpec]) -> Result<NamedTensors, TrainError> {
    specs
        .iter()
        .map(|s| {
            Tensor::zeros(s.dtype, s.resolve_shape(0))
                .map(|t| (s.name.clone(), t))
                .map_err(|e| TrainError::signature(&sig.name, format!("`{s}`: {e}")))
        })
        .collect()
}

/// The value of a runtime scalar input. Counters and seeds stay integers all the way, so a
/// 64-bit seed reaches the model with every bit (as the i64 of the same bits; an i32 input
/// gets the low 32 bits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    Int(u64),
    Float(f64),
}

/// A runtime scalar input in the dtype its spec asks for (`step` may be i32 in one model and
/// i64 in another; the value is the same).
pub(crate) fn scalar_input(spec: &TensorSpec, value: Scalar, entry: &str) -> Result<Tensor, TrainError> {
    if !spec.shape.is_empty() {
        return Err(TrainError::signature(entry, format!("runtime input `{spec}` must be a scalar")));
    }
    let data = match (spec.dtype, value) {
        (DType::I64, Scalar::Int(v)) => TensorData::I64(vec![v as i64]),
        (DType::I32, Scalar::Int(v)) => TensorData::I32(vec![v as i32]),
        (_, Scalar::Int(v)) => return scalar_from_f64(spec, v as f64, entry),
        (_, Scalar::Float(v)) => return scalar_from_f64(spec, v, entry),
    };
    Tensor::new(spec.dtype, vec![], data).map_err(|e| TrainError::signature(entry, format!("`{spec}`: {e}")))
}

fn scalar_from_f64(spec: &TensorSpec, value: f64, entry: &str) -> Result<Tensor, TrainError> {
    Tensor::from_f64_values(spec.dtype, vec![], &[value])
        .map_err(|e| TrainError::signature(entry, format!("`{spec}`: {e}")))
}

/// Adds the `param:` prefix to names that lack it, so weights stored under bare parameter paths
/// (`final.safetensors`) and full entry-point names are both accepted as starting parameters.
pub fn with_param_prefix(params: NamedTensors) -> NamedTensors {
    params.into_iter().map(|(name, t)| if is_param(&name) { (name, t) } else { (names::param(&name), t) }).collect()
}

/// The parameters under their bare paths, as weight files store them.
pub fn without_param_prefix(params: &NamedTensors) -> NamedTensors {
    params.iter().filter_map(|(name, t)| name.strip_prefix(names::PARAM).map(|p| (p.to_string(), t.clone()))).collect()
}

/// The one-element value of an output, as f64. f32 values go through their shortest decimal
/// form so that logs print `0.3`, not `0.30000001192092896`.
pub(crate) fn scalar_output(outputs: &NamedTensors, name: &str, entry: &str) -> Result<Option<f64>, TrainError> {
    let Some(t) = outputs.get(name) else { return Ok(None) };
    let v = t.scalar_value().ok_or_else(|| {
        TrainError::signature(entry, format!("output `{name}` must have one element, it has shape {:?}", t.shape()))
    })?;
    Ok(Some(tidy(v, t.dtype())))
}

fn tidy(v: f64, dtype: hg_abi::DType) -> f64 {
    match dtype {
        hg_abi::DType::F32 | hg_abi::DType::F16 | hg_abi::DType::BF16 if v.is_finite() => {
            (v as f32).to_string().parse().unwrap_or(v)
        }
        _ => v,
    }
}

/// Every `metric:<name>` output, keyed by `<name>`.
pub(crate) fn metric_outputs(
    outputs: &NamedTensors,
    entry: &str,
) -> Result<std::collections::BTreeMap<String, f64>, TrainError> {
    let mut metrics = std::collections::BTreeMap::new();
    for name in outputs.keys() {
        if let Some(short) = name.strip_prefix(names::METRIC)
            && let Some(v) = scalar_output(outputs, name, entry)?
        {
            metrics.insert(short.to_string(), v);
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_every_bit_and_follow_the_spec_dtype() {
        let spec = |dtype| TensorSpec { name: names::SEED.into(), dtype, shape: vec![] };
        let seed = 0xFEDC_BA98_7654_3211u64;
        let t = scalar_input(&spec(DType::I64), Scalar::Int(seed), "train").unwrap();
        assert_eq!(t.data(), &TensorData::I64(vec![seed as i64]));
        let t = scalar_input(&spec(DType::I32), Scalar::Int(seed), "train").unwrap();
        assert_eq!(t.data(), &TensorData::I32(vec![0x7654_3211]));
        let t = scalar_input(&spec(DType::F32), Scalar::Float(0.1), "train").unwrap();
        assert_eq!(t.data(), &TensorData::F32(vec![0.1]));
        let vector = TensorSpec { name: "step".into(), dtype: DType::I64, shape: vec![hg_abi::DimSpec::Fixed(2)] };
        let e = scalar_input(&vector, Scalar::Int(1), "train").unwrap_err().to_string();
        assert_eq!(e, "entry `train`: runtime input `step: i64[2]` must be a scalar");
    }

    #[test]
    fn parameter_names_gain_and_lose_their_prefix() {
        let t = Tensor::scalar_f32(1.0);
        let named =
            with_param_prefix([("enc.w".to_string(), t.clone()), ("param:dec.b".to_string(), t.clone())].into());
        assert_eq!(named.keys().collect::<Vec<_>>(), vec!["param:dec.b", "param:enc.w"]);
        let mut mixed = named.clone();
        mixed.insert("state:m".into(), t);
        assert_eq!(without_param_prefix(&mixed).keys().collect::<Vec<_>>(), vec!["dec.b", "enc.w"]);
    }
}

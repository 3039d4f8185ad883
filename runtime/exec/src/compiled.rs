//! What every session over compiled plans checks, whatever memory its buffers live in (host
//! memory for the CPU, device memory for CUDA): that a plan fits its entry's signature and the
//! model's resident tensors, that a call's inputs fit the signature (and give the batch size),
//! and the shapes of the outputs. One definition, so every compiled backend reports the same
//! message for the same mistake as the interpreter.

use crate::session::{ExecError, NamedTensors};
use crate::tensor::{Tensor, TensorData};
use hg_abi::plan::{BufRole, Plan, Quadratic, Step};
use hg_abi::{DType, DimSpec, EntrySignature, Manifest, TensorSpec, names};
use std::collections::BTreeSet;

/// The element type a tensor of `dtype` has in a plan buffer.
pub fn storage(dtype: DType) -> Option<DType> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Some(DType::F32),
        DType::I64 => Some(DType::I64),
        DType::Bool => Some(DType::Bool),
        _ => None,
    }
}

/// `f32[B, 784]`: a signature's type in messages.
pub fn spec_type(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", spec.dtype, dims.join(", "))
}

pub fn describe(t: &Tensor) -> String {
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", t.dtype(), dims.join(", "))
}

pub fn fail(entry: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::new(format!("`{entry}`: {e}"))
}

/// Refuses inputs that are resident in the session: a call passes data and scalars only.
pub fn no_resident(entry: &str, inputs: &NamedTensors) -> Result<(), ExecError> {
    match inputs.keys().find(|k| k.starts_with(names::PARAM) || k.starts_with(names::STATE)) {
        Some(k) => Err(fail(entry, format!("`{k}` is resident in the session; load it, do not pass it"))),
        None => Ok(()),
    }
}

pub fn is_resident(name: &str) -> bool {
    name.starts_with(names::PARAM) || name.starts_with(names::STATE)
}

/// Checks one plan against its entry's signature and the model's resident tensors.
pub fn check_plan(
    plan: &Plan,
    sig: &EntrySignature,
    residents: &[TensorSpec],
    carried: &BTreeSet<String>,
) -> Result<(), String> {
    let mut outputs = BTreeSet::new();
    for (i, b) in plan.buffers.iter().enumerate() {
        let (spec, what) = match &b.role {
            BufRole::Input(n) => (sig.inputs.iter().find(|s| &s.name == n && !is_resident(n)), format!("input `{n}`")),
            BufRole::Output(n) => {
                outputs.insert(n.clone());
                (sig.outputs.iter().find(|s| &s.name == n && !carried.contains(n)), format!("output `{n}`"))
            }
            BufRole::Resident(n) => (residents.iter().find(|s| &s.name == n), format!("resident `{n}`")),
            BufRole::Temp { .. } => continue,
        };
        let Some(spec) = spec else {
            return Err(format!("buffer %{i} is the {what}, which the entry's signature does not declare"));
        };
        if storage(spec.dtype) != Some(b.dtype) {
            return Err(format!("buffer %{i}, the {what}, is {} but the signature says {}", b.dtype, spec.dtype));
        }
        if let BufRole::Resident(_) = b.role {
            let n: usize = spec.shape.iter().map(|d| d.resolve(0)).product();
            if i64::try_from(n).ok().map(Quadratic::constant) != Some(b.len) {
                return Err(format!("buffer %{i}, the {what}, has {} elements, not {n}", b.len));
            }
        }
    }
    for spec in sig.outputs.iter().filter(|s| !carried.contains(&s.name)) {
        if !outputs.contains(&spec.name) {
            return Err(format!("the output `{}` has no buffer", spec.name));
        }
    }
    if sig.name != "train" {
        return Ok(());
    }
    // Outputs are complete before the commit point, so a step whose loss is not finite (and
    // skips the updates) still returns them all; the loss is among them.
    let uses = |id: usize, steps: &[Step]| {
        steps.iter().any(|s| match s {
            Step::Kernel { args, .. } | Step::Lib { args, .. } => args.iter().any(|a| a.0 as usize == id),
        })
    };
    let (before, after) = plan.steps.split_at(plan.commit.min(plan.steps.len()));
    for (i, b) in plan.buffers.iter().enumerate() {
        if let BufRole::Output(n) = &b.role {
            if uses(i, after) {
                return Err(format!("the output `{n}` is used after the commit point (step {})", plan.commit));
            }
            if !uses(i, before) {
                return Err(format!("no step before the commit point computes the output `{n}`"));
            }
        }
    }
    if !outputs.contains(names::LOSS) {
        return Err(format!("the train step has no `{}` output", names::LOSS));
    }
    Ok(())
}

/// Checks a call's inputs against the signature, as the interpreter binds them, and returns
/// the batch size. `plan` is the entry's plan, `resident` says which resident tensors the
/// session holds, `resident_specs` are the model's, and `needs_batch` whether the plan depends
/// on the batch size ([`depends_on_batch`]).
pub fn bind(
    sig: &EntrySignature,
    inputs: &NamedTensors,
    plan: Option<&Plan>,
    resident: &dyn Fn(&str) -> bool,
    resident_specs: &[TensorSpec],
    needs_batch: bool,
) -> Result<usize, ExecError> {
    let entry = sig.name.as_str();
    let missing =
        |spec: &TensorSpec| fail(entry, format!("missing input `{}` (expected {})", spec.name, spec_type(spec)));
    // Every declared input, then every resident the plan reads, must be there.
    let mut given: Vec<(&TensorSpec, &Tensor)> = Vec::new();
    for spec in &sig.inputs {
        if is_resident(&spec.name) {
            if !resident(&spec.name) {
                return Err(missing(spec));
            }
            continue;
        }
        given.push((spec, inputs.get(&spec.name).ok_or_else(|| missing(spec))?));
    }
    for b in plan.iter().flat_map(|p| &p.buffers) {
        if let BufRole::Resident(n) = &b.role
            && !resident(n)
        {
            return Err(match resident_specs.iter().find(|s| &s.name == n) {
                Some(spec) => missing(spec),
                None => fail(entry, format!("the plan reads `{n}`, which is not a resident of this model")),
            });
        }
    }
    let bad = |spec: &TensorSpec, t: &Tensor, batch: Option<usize>, reason: String| {
        let expected = match batch {
            Some(b) if spec.has_batch() => format!("{} with B = {b}", spec_type(spec)),
            _ => spec_type(spec),
        };
        fail(entry, format!("input `{}`: expected {expected}, got {}: {reason}", spec.name, describe(t)))
    };
    // B from the first `k*B` dimension of the inputs in signature order.
    let mut from_inputs = None;
    'solve: for (spec, t) in &given {
        if spec.shape.len() != t.shape().len() {
            continue;
        }
        for (axis, d) in spec.shape.iter().enumerate() {
            if let DimSpec::Batch(k) = *d
                && k > 0
            {
                let size = t.shape()[axis];
                if size % k != 0 {
                    let reason = format!("dimension {axis} is {size}, not a multiple of {k} (declared `{d}`)");
                    return Err(bad(spec, t, None, reason));
                }
                from_inputs = Some(size / k);
                break 'solve;
            }
        }
    }
    let from_scalar = match inputs.get(names::BATCH) {
        Some(t) => {
            let v = match t.data() {
                TensorData::I64(v) if v.len() == 1 => usize::try_from(v[0]).ok(),
                TensorData::I32(v) if v.len() == 1 => usize::try_from(v[0]).ok(),
                _ => {
                    return Err(fail(
                        entry,
                        format!(
                            "input `{}`: expected i64[], got {}: it must be a one-element integer tensor",
                            names::BATCH,
                            describe(t)
                        ),
                    ));
                }
            };
            Some(v.ok_or_else(|| fail(entry, "batch size `B`: `batch` is negative or too large"))?)
        }
        None => None,
    };
    let batch = match (from_inputs, from_scalar) {
        (Some(b), Some(c)) if b != c => {
            return Err(fail(
                entry,
                format!("batch size `B`: the inputs give B = {b} but the run context fixes B = {c}"),
            ));
        }
        (b, c) => b.or(c),
    };
    for (spec, t) in &given {
        if t.dtype() != spec.dtype {
            return Err(bad(spec, t, batch, format!("dtype {} is not {}", t.dtype(), spec.dtype)));
        }
        if t.shape().len() != spec.shape.len() {
            return Err(bad(spec, t, batch, format!("rank {} is not {}", t.shape().len(), spec.shape.len())));
        }
        for (axis, (d, &got)) in spec.shape.iter().zip(t.shape()).enumerate() {
            let want = match (d, batch) {
                (DimSpec::Fixed(n), _) => *n,
                (DimSpec::Batch(k), Some(b)) => k.checked_mul(b).unwrap_or(usize::MAX),
                (DimSpec::Batch(_), None) => {
                    let reason = format!("dimension `{d}` needs the batch size `B`, which no input fixes");
                    return Err(bad(spec, t, batch, reason));
                }
            };
            if want != got {
                return Err(bad(spec, t, batch, format!("dimension {axis} is {got}, expected {want}")));
            }
        }
    }
    match batch {
        Some(b) => Ok(b),
        None if needs_batch => {
            Err(fail(entry, "batch size `B`: no input fixes the batch size, and the entry needs it"))
        }
        None => Ok(0),
    }
}

/// Whether a plan depends on the batch size, so that some input must fix it.
pub fn depends_on_batch(plan: &Plan, sig: &EntrySignature) -> bool {
    plan.arena_bytes.b != 0
        || plan.buffers.iter().any(|b| b.len.b != 0 || matches!(b.role, BufRole::Temp { offset } if offset.b != 0))
        || sig.outputs.iter().any(TensorSpec::has_batch)
}

/// Every resident tensor of a model: its parameters and its train step's optimizer state.
pub fn resident_specs(manifest: &Manifest) -> Vec<TensorSpec> {
    let mut specs = manifest.param_specs();
    specs.extend(manifest.train.iter().flat_map(|t| t.state.iter().cloned()));
    specs
}

/// The train-step outputs that replace resident tensors (not returned to the caller).
pub fn carried_outputs(manifest: &Manifest) -> BTreeSet<String> {
    manifest.train.iter().flat_map(|t| t.carried.iter().map(|(_, o)| o.clone())).collect()
}

/// The outputs of a call as tensors of their signature's shapes at batch size `batch`.
pub fn shape_outputs(
    sig: &EntrySignature,
    outputs: Vec<(String, TensorData)>,
    batch: usize,
) -> Result<NamedTensors, ExecError> {
    let entry = sig.name.as_str();
    let mut out = NamedTensors::new();
    for (name, data) in outputs {
        let spec =
            sig.outputs.iter().find(|s| s.name == name).ok_or_else(|| {
                fail(entry, format!("the plan returns `{name}`, which the signature does not declare"))
            })?;
        let shape = spec.resolve_shape(batch);
        let n = data.len();
        let t = Tensor::new(spec.dtype, shape, data).map_err(|e| {
            fail(entry, format!("output `{name}` has {n} elements, but {} at B = {batch}: {e}", spec_type(spec)))
        })?;
        out.insert(name, t);
    }
    Ok(out)
}

/// The signature of `entry`, or an error listing the model's entries.
pub fn signature<'m>(manifest: &'m Manifest, entry: &str) -> Result<&'m EntrySignature, ExecError> {
    manifest.entry(entry).ok_or_else(|| {
        ExecError::new(format!(
            "model `{}` has no entry `{entry}` (it has: {})",
            manifest.model,
            manifest.entry_names().join(", ")
        ))
    })
}

/// The optimizer state tensors of a model's train step (none without one).
pub fn state_specs(manifest: &Manifest) -> &[TensorSpec] {
    manifest.train.as_ref().map(|t| t.state.as_slice()).unwrap_or_default()
}

/// The checks before a train step (its inputs hold nothing resident, the model has one) and
/// its signature.
pub fn train_signature(manifest: &Manifest, inputs: &NamedTensors) -> Result<EntrySignature, ExecError> {
    let entry = "train";
    no_resident(entry, inputs)?;
    if manifest.train.is_none() {
        return Err(fail(entry, "the model has no train step"));
    }
    signature(manifest, entry).cloned()
}

/// The checks before an inference call of `entry` (not the train step, nothing resident in
/// its inputs) and its signature.
pub fn run_signature(manifest: &Manifest, entry: &str, inputs: &NamedTensors) -> Result<EntrySignature, ExecError> {
    if entry == "train" {
        return Err(fail(entry, "run the train step with `train_step`"));
    }
    no_resident(entry, inputs)?;
    signature(manifest, entry).cloned()
}

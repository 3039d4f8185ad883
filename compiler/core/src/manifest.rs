//! The runtime-facing description of a compiled module (`hg_abi::Manifest`): parameters with
//! their initializers, the signature of every entry point and the train step's layout. Every
//! backend hands the runtime this, so the runtime never reads the IR.

use crate::expand::TRAIN_FORWARD;
use crate::optim::TrainStepInfo;
use hg_abi::{EntrySignature, Manifest, ParamSpec, TensorSpec, TrainLayout, names};
use hg_ir::{Function, Module, TensorType};

/// Why a module cannot be described to the runtime (a compiler bug or an unsupported shape).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

fn spec(name: &str, ty: &TensorType) -> Result<TensorSpec, ManifestError> {
    let shape = ty.dim_specs().ok_or_else(|| {
        ManifestError(format!("`{name}: {ty}` has a dimension that is neither fixed nor a multiple of `B`"))
    })?;
    Ok(TensorSpec { name: name.to_string(), dtype: ty.dtype, shape })
}

/// The typed interface of one entry function.
pub fn entry_signature(f: &Function) -> Result<EntrySignature, ManifestError> {
    let inputs = f.inputs.iter().map(|(n, v)| spec(n, f.ty(*v))).collect::<Result<_, _>>()?;
    let outputs = f.outputs.iter().map(|(n, v)| spec(n, f.ty(*v))).collect::<Result<_, _>>()?;
    Ok(EntrySignature { name: f.name.clone(), inputs, outputs })
}

/// Describes `module`: every entry function (not the training forward pass, which is the
/// compiler's own intermediate), the parameters in declaration order, and, with `train`, the
/// layout of the `train` step.
pub fn manifest(module: &Module, train: Option<&TrainStepInfo>) -> Result<Manifest, ManifestError> {
    let mut params = Vec::with_capacity(module.params.len());
    for p in &module.params {
        let shape =
            p.ty.concrete_shape(0)
                .filter(|_| p.ty.shape.iter().all(|d| d.is_const()))
                .ok_or_else(|| ManifestError(format!("parameter `{}: {}` must have fixed dimensions", p.name, p.ty)))?;
        params.push(ParamSpec {
            name: p.name.clone(),
            dtype: p.ty.dtype,
            shape,
            init: p.init.clone(),
            trainable: p.trainable,
        });
    }
    let entries = module
        .functions
        .iter()
        .filter(|f| f.name != TRAIN_FORWARD)
        .map(entry_signature)
        .collect::<Result<Vec<_>, _>>()?;
    let train = match (train, module.function("train")) {
        (Some(info), Some(_)) => {
            // Every trainable parameter, and the buffers the step updates.
            let step = module.function("train");
            let returned = |name: &str| step.is_some_and(|f| f.output(name).is_some());
            let mut carried: Vec<(String, String)> =
                params.iter().map(|p| names::param(&p.name)).filter(|n| returned(n)).map(|n| (n.clone(), n)).collect();
            let mut state = Vec::with_capacity(info.state.len());
            for s in &info.state {
                carried.push((s.name.clone(), s.name.clone()));
                state.push(spec(&s.name, &s.ty)?);
            }
            Some(TrainLayout { carried, state })
        }
        _ => None,
    };
    Ok(Manifest { model: module.model.clone(), params, entries, train })
}

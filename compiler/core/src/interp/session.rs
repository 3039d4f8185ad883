//! The interpreter as a backend: an [`InterpSession`] implements `hg_exec::Session` over a
//! module's functions, so the training loop and every command run on it exactly as on
//! compiled code. Parameters and state stay in the session as host tensors; a step reads them
//! where they are (no merged copy of the inputs) and moves its new tensors in.

use super::eval::run_function_layered;
use super::{Precision, RunContext};
use crate::manifest::{ManifestError, manifest};
use crate::optim::TrainStepInfo;
use hg_abi::{Manifest, TensorSpec, names};
use hg_exec::{ExecError, NamedTensors, Session, Tensor, check_tensors};
use hg_ir::{Function, Module};

/// The reference interpreter opened on a module.
#[derive(Clone, Debug)]
pub struct InterpSession {
    module: Module,
    manifest: Manifest,
    precision: Precision,
    params: NamedTensors,
    state: NamedTensors,
}

impl InterpSession {
    /// Opens `module` (with `train`, the layout of its train step). Parameters start empty:
    /// load them before running an entry that reads them.
    pub fn new(module: Module, train: Option<&TrainStepInfo>, precision: Precision) -> Result<Self, ManifestError> {
        let manifest = manifest(&module, train)?;
        Ok(InterpSession { module, manifest, precision, params: NamedTensors::new(), state: NamedTensors::new() })
    }

    fn function(&self, entry: &str) -> Result<&Function, ExecError> {
        match self.manifest.entry(entry).and_then(|_| self.module.function(entry)) {
            Some(f) => Ok(f),
            None => Err(ExecError::new(format!(
                "model `{}` has no entry `{entry}` (it has: {})",
                self.manifest.model,
                self.manifest.entry_names().join(", ")
            ))),
        }
    }

    fn ctx(&self) -> RunContext {
        RunContext::new(self.precision)
    }

    /// The tensors of a parameter or state load, checked against their specs. In f64
    /// precision float tensors may be f64 (what this session returns there).
    fn checked(&self, specs: &[TensorSpec], tensors: NamedTensors, what: &str) -> Result<NamedTensors, ExecError> {
        let widened: Vec<TensorSpec> = specs
            .iter()
            .map(|s| match tensors.get(&s.name) {
                Some(t)
                    if self.precision == Precision::F64 && s.dtype.is_float() && t.dtype() == hg_abi::DType::F64 =>
                {
                    TensorSpec { dtype: hg_abi::DType::F64, ..s.clone() }
                }
                _ => s.clone(),
            })
            .collect();
        check_tensors(&widened, &tensors, what, false).map_err(ExecError::new)?;
        Ok(tensors)
    }
}

fn fail(entry: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::new(format!("`{entry}`: {e}"))
}

/// Refuses inputs that are resident in the session: a call passes data and scalars only.
fn no_resident(entry: &str, inputs: &NamedTensors) -> Result<(), ExecError> {
    match inputs.keys().find(|k| k.starts_with(names::PARAM) || k.starts_with(names::STATE)) {
        Some(k) => Err(fail(entry, format!("`{k}` is resident in the session; load it, do not pass it"))),
        None => Ok(()),
    }
}

impl Session for InterpSession {
    fn backend(&self) -> &str {
        "interp"
    }

    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn load_params(&mut self, params: NamedTensors) -> Result<(), ExecError> {
        self.params = self.checked(&self.manifest.param_specs(), params, "parameter")?;
        Ok(())
    }

    fn load_state(&mut self, state: NamedTensors) -> Result<(), ExecError> {
        let specs = self.manifest.train.as_ref().map(|t| t.state.clone()).unwrap_or_default();
        self.state = self.checked(&specs, state, "optimizer state")?;
        Ok(())
    }

    fn read_params(&self) -> Result<NamedTensors, ExecError> {
        Ok(self.params.clone())
    }

    fn read_state(&self) -> Result<NamedTensors, ExecError> {
        Ok(self.state.clone())
    }

    fn train_step(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        let entry = "train";
        no_resident(entry, inputs)?;
        let layout = self.manifest.train.clone().ok_or_else(|| fail(entry, "the model has no train step"))?;
        let f = self.function(entry)?;
        let mut out =
            run_function_layered(f, &[inputs, &self.params, &self.state], &self.ctx()).map_err(|e| fail(entry, e))?;
        let finite = out.get(names::LOSS).and_then(Tensor::scalar_value).is_some_and(f64::is_finite);
        let mut carried = Vec::with_capacity(layout.carried.len());
        for (input, output) in &layout.carried {
            let t = out.remove(output).ok_or_else(|| fail(entry, format!("the step did not return `{output}`")))?;
            carried.push((input.clone(), t));
        }
        if finite {
            for (name, t) in carried {
                let side = if name.starts_with(names::STATE) { &mut self.state } else { &mut self.params };
                side.insert(name, t);
            }
        }
        Ok(out)
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        if entry == "train" {
            return Err(fail(entry, "run the train step with `train_step`"));
        }
        no_resident(entry, inputs)?;
        let f = self.function(entry)?;
        run_function_layered(f, &[inputs, &self.params], &self.ctx()).map_err(|e| fail(entry, e))
    }
}

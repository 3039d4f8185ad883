//! The interpreter as a runtime executor: a [`Module`] behind `hg_runtime::Executable`, one
//! entry point per function, so the training loop and every command run on it exactly as on
//! compiled code.

use super::error::InterpError;
use super::eval::run_function;
use super::random::init_params;
use super::{Precision, RunContext};
use hg_abi::{DType, EntrySignature, TensorSpec};
use hg_ir::{Function, Module, TensorType};
use hg_runtime::{ExecError, Executable, NamedTensors};

/// Runs the functions of a module with [`run_function`].
///
/// Each call reads `seed` and `step` from its inputs when present (0 otherwise). `batch` fixes
/// `B` for entries whose inputs do not (such as `sample`); see [`RunContext`].
#[derive(Clone, Debug)]
pub struct Interpreter {
    module: Module,
    precision: Precision,
    batch: Option<usize>,
}

impl Interpreter {
    pub fn new(module: Module, precision: Precision) -> Interpreter {
        Interpreter { module, precision, batch: None }
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The batch size used when no input of a call fixes `B`.
    pub fn set_batch(&mut self, batch: Option<usize>) {
        self.batch = batch;
    }

    /// Initial values of the module's parameters (see [`init_params`]).
    pub fn init_params(&self, seed: u64) -> Result<NamedTensors, InterpError> {
        init_params(&self.module.params, seed)
    }

    /// Runs one entry point, with the interpreter's own error type.
    pub fn run_entry(&self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, InterpError> {
        let f = self.function(entry)?;
        let ctx = RunContext { precision: self.precision, seed: 0, step: 0, batch: self.batch };
        run_function(f, inputs, &ctx)
    }

    fn function(&self, entry: &str) -> Result<&Function, InterpError> {
        self.module.function(entry).ok_or_else(|| InterpError::Graph {
            function: entry.to_string(),
            message: format!("model `{}` has no such entry point", self.module.model),
        })
    }

    /// Runtime form of one tensor of a signature; `None` when a dimension is neither fixed nor
    /// a multiple of `B`.
    fn spec(name: &str, ty: &TensorType, dtype: DType) -> Option<TensorSpec> {
        Some(TensorSpec { name: name.to_string(), dtype, shape: ty.dim_specs()? })
    }
}

impl Executable for Interpreter {
    fn entries(&self) -> Vec<String> {
        self.module.functions.iter().map(|f| f.name.clone()).collect()
    }

    /// Inputs have their declared dtypes; float outputs are f64 in [`Precision::F64`], as
    /// [`run_function`] returns them. `None` also when a type has a dimension the runtime
    /// cannot express (neither fixed nor `k*B`).
    fn signature(&self, entry: &str) -> Option<EntrySignature> {
        let f = self.module.function(entry)?;
        let out_dtype = |ty: &TensorType| {
            if self.precision == Precision::F64 && ty.dtype.is_float() { DType::F64 } else { ty.dtype }
        };
        let inputs = f.inputs.iter().map(|(n, v)| Self::spec(n, f.ty(*v), f.ty(*v).dtype)).collect::<Option<_>>()?;
        let outputs =
            f.outputs.iter().map(|(n, v)| Self::spec(n, f.ty(*v), out_dtype(f.ty(*v)))).collect::<Option<_>>()?;
        Some(EntrySignature { name: f.name.clone(), inputs, outputs })
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        self.run_entry(entry, inputs).map_err(|e| ExecError::new(format!("`{entry}`: {e}")))
    }
}

//! [`CpuSession`]: compiled code as an `hg_exec::Session`, behaving exactly like the
//! interpreter's session (same checks and messages for missing or ill-shaped tensors, same
//! train-step contract), with the numbers computed by generated kernels and library kernels.
//!
//! Parameters and optimizer state live in the session as aligned host buffers; a plan's
//! resident buffers are those buffers, so a train step updates them in place, after its commit
//! point and only when its loss is finite (the constructor refuses a train plan that could
//! write an output after that point, so a skipped commit still returns every output).

use crate::aligned::HostBuf;
use crate::error::CpuError;
use crate::exec::{Executor, Kernels, Threads};
use hg_abi::plan::Plan;
use hg_abi::{EntrySignature, Manifest, TensorSpec, names};
use hg_exec::compiled::{self, check_plan, fail};
use hg_exec::{ExecError, NamedTensors, Session, check_tensors};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The compiled model opened on the CPU.
pub struct CpuSession {
    manifest: Manifest,
    backend: String,
    executors: BTreeMap<String, Executor>,
    /// Entries whose plans depend on the batch size (so some input must fix it).
    needs_batch: BTreeSet<String>,
    /// Loaded parameters and optimizer state, by their `param:`/`state:` names.
    residents: BTreeMap<String, HostBuf>,
    /// What the model's residents are (for messages about missing ones).
    resident_specs: Vec<TensorSpec>,
}

impl CpuSession {
    /// Opens a compiled model: `plans` by entry name (each checked against the manifest's
    /// signature of that entry), `kernels` the generated code they call, `backend` the
    /// registry name the session reports (`cranelift`, ...). Runs on one thread per core.
    pub fn new(
        manifest: Manifest,
        plans: BTreeMap<String, Plan>,
        kernels: Kernels,
        backend: impl Into<String>,
    ) -> Result<CpuSession, CpuError> {
        CpuSession::with_threads(manifest, plans, kernels, backend, Threads::available()?)
    }

    /// [`CpuSession::new`] on a given pool of threads.
    pub fn with_threads(
        manifest: Manifest,
        plans: BTreeMap<String, Plan>,
        kernels: Kernels,
        backend: impl Into<String>,
        threads: Threads,
    ) -> Result<CpuSession, CpuError> {
        let kernels = Arc::new(kernels);
        let residents = compiled::resident_specs(&manifest);
        let carried = compiled::carried_outputs(&manifest);
        let mut executors = BTreeMap::new();
        let mut needs_batch = BTreeSet::new();
        for (entry, plan) in plans {
            let bad = |m: String| CpuError::new(format!("plan `{entry}`: {m}"));
            if plan.entry != entry {
                return Err(bad(format!("it is the plan of `{}`", plan.entry)));
            }
            let sig =
                manifest.entry(&entry).ok_or_else(|| bad(format!("model `{}` has no such entry", manifest.model)))?;
            let none = BTreeSet::new();
            check_plan(&plan, sig, &residents, if entry == "train" { &carried } else { &none }).map_err(bad)?;
            if compiled::depends_on_batch(&plan, sig) {
                needs_batch.insert(entry.clone());
            }
            executors.insert(entry, Executor::new(plan, kernels.clone(), threads.clone())?);
        }
        Ok(CpuSession {
            manifest,
            backend: backend.into(),
            executors,
            needs_batch,
            residents: BTreeMap::new(),
            resident_specs: residents,
        })
    }

    /// The executor of an entry (its plan, arena statistics).
    pub fn executor(&self, entry: &str) -> Option<&Executor> {
        self.executors.get(entry)
    }

    /// The executor of an entry, for settings.
    pub fn executor_mut(&mut self, entry: &str) -> Option<&mut Executor> {
        self.executors.get_mut(entry)
    }

    /// Binds, runs and shapes the outputs of one entry.
    fn call(&mut self, sig: &EntrySignature, inputs: &NamedTensors, train: bool) -> Result<NamedTensors, ExecError> {
        let entry = sig.name.as_str();
        if !self.executors.contains_key(entry) {
            return Err(fail(entry, format!("the {} backend has no plan for this entry", self.backend)));
        }
        let batch = compiled::bind(
            sig,
            inputs,
            self.executors.get(entry).map(Executor::plan),
            &|name| self.residents.contains_key(name),
            &self.resident_specs,
            self.needs_batch.contains(entry),
        )?;
        let exec = self.executors.get_mut(entry).expect("checked above");
        let mut finite_loss = |peek: &crate::exec::Peek<'_>| {
            !train || peek.output_f32(names::LOSS).is_some_and(|l| l.len() == 1 && l[0].is_finite())
        };
        let outcome = exec.run(batch, inputs, &mut self.residents, &mut finite_loss).map_err(|e| {
            // Executor messages already name the entry.
            if e.0.starts_with('`') { ExecError::new(e.0) } else { fail(entry, e) }
        })?;
        compiled::shape_outputs(sig, outcome.outputs, batch)
    }

    /// Copies `tensors` (checked against `specs`) into resident buffers replacing those whose
    /// names start with `prefix`.
    fn load(&mut self, specs: &[TensorSpec], tensors: NamedTensors, what: &str, prefix: &str) -> Result<(), ExecError> {
        check_tensors(specs, &tensors, what, false).map_err(ExecError::new)?;
        let mut bufs = Vec::with_capacity(tensors.len());
        for (name, t) in &tensors {
            let buf = HostBuf::from_tensor(t).map_err(|e| ExecError::new(format!("{what} `{name}`: {e}")))?;
            bufs.push((name.clone(), buf));
        }
        self.residents.retain(|k, _| !k.starts_with(prefix));
        self.residents.extend(bufs);
        Ok(())
    }

    fn read(&self, specs: &[TensorSpec]) -> Result<NamedTensors, ExecError> {
        let mut out = NamedTensors::new();
        for spec in specs {
            if let Some(b) = self.residents.get(&spec.name) {
                let t = b.to_tensor(spec.dtype, spec.resolve_shape(0)).map_err(|e| ExecError::new(e.0))?;
                out.insert(spec.name.clone(), t);
            }
        }
        Ok(out)
    }
}

impl Session for CpuSession {
    fn backend(&self) -> &str {
        &self.backend
    }

    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn load_params(&mut self, params: NamedTensors) -> Result<(), ExecError> {
        let specs = self.manifest.param_specs();
        self.load(&specs, params, "parameter", names::PARAM)
    }

    fn load_state(&mut self, state: NamedTensors) -> Result<(), ExecError> {
        let specs = compiled::state_specs(&self.manifest).to_vec();
        self.load(&specs, state, "optimizer state", names::STATE)
    }

    fn read_params(&self) -> Result<NamedTensors, ExecError> {
        self.read(&self.manifest.param_specs())
    }

    fn read_state(&self) -> Result<NamedTensors, ExecError> {
        self.read(compiled::state_specs(&self.manifest))
    }

    fn train_step(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        let sig = compiled::train_signature(&self.manifest, inputs)?;
        self.call(&sig, inputs, true)
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        let sig = compiled::run_signature(&self.manifest, entry, inputs)?;
        self.call(&sig, inputs, false)
    }
}

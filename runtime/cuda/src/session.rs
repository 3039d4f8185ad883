//! [`CudaSession`]: compiled plans on the GPU as an `hg_exec::Session`, with the same checks
//! and messages as every other backend (`hg_exec::compiled`) and parameters and optimizer
//! state resident in device memory. They cross to the host only in `read_params` and
//! `read_state`; a train step moves only its batch in and its loss, metrics and rate out.

use std::collections::{BTreeMap, BTreeSet};

use hg_abi::plan::{DeviceLib, KernelSignature, Plan};
use hg_abi::{EntrySignature, Manifest, TensorSpec, names};
use hg_cpu::aligned::HostBuf;
use hg_exec::compiled::{self, check_plan, fail};
use hg_exec::{ExecError, NamedTensors, Session, check_tensors};

use crate::device::Gpu;
use crate::error::CudaError;
use crate::exec::{CudaExecutor, Resident};
use crate::module::{Module, PtxSet};

/// What a compiled model brings to the GPU: its plans by entry, its kernels' signatures and
/// their PTX per chip.
pub struct CudaProgram {
    pub manifest: Manifest,
    pub plans: BTreeMap<String, Plan>,
    pub signatures: Vec<KernelSignature>,
    pub ptx: PtxSet,
}

/// A compiled model opened on the GPU.
pub struct CudaSession {
    manifest: Manifest,
    executors: BTreeMap<String, CudaExecutor>,
    needs_batch: BTreeSet<String>,
    residents: BTreeMap<String, Resident>,
    /// What the model's residents are (for messages about missing ones).
    resident_specs: Vec<TensorSpec>,
    // Dropped before the GPU: buffers and the module free themselves in its context.
    module: Module,
    gpu: Gpu,
}

impl CudaSession {
    /// Checks every plan and loads the PTX that fits `gpu` (see [`Gpu::open`]).
    pub fn open(gpu: Gpu, program: CudaProgram) -> Result<CudaSession, CudaError> {
        let CudaProgram { manifest, plans, signatures, ptx } = program;
        let residents = compiled::resident_specs(&manifest);
        let carried = compiled::carried_outputs(&manifest);
        let libs = DeviceLib::of_plans(plans.values());
        let mut executors = BTreeMap::new();
        let mut needs_batch = BTreeSet::new();
        for (entry, plan) in plans {
            let bad = |m: String| CudaError::new(format!("plan `{entry}`: {m}"));
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
            executors.insert(entry, CudaExecutor::new(plan, signatures.len(), &signatures, &libs)?);
        }
        let module = Module::load(gpu.context(), &gpu.info, &ptx, signatures.len(), libs.len())?;
        Ok(CudaSession {
            manifest,
            executors,
            needs_batch,
            residents: BTreeMap::new(),
            resident_specs: residents,
            module,
            gpu,
        })
    }

    /// The GPU and the PTX target loaded, for run headers: `NVIDIA H100 (compute capability
    /// 9.0, 80 GiB), sm_90 PTX`.
    pub fn device(&self) -> String {
        format!("{}, sm_{} PTX", self.gpu.info, self.module.target)
    }

    fn call(&mut self, sig: &EntrySignature, inputs: &NamedTensors, train: bool) -> Result<NamedTensors, ExecError> {
        let entry = sig.name.as_str();
        let Some(exec) = self.executors.get_mut(entry) else {
            return Err(fail(entry, "the cuda backend has no plan for this entry"));
        };
        let residents = &self.residents;
        let batch = compiled::bind(
            sig,
            inputs,
            Some(exec.plan()),
            &|name| residents.contains_key(name),
            &self.resident_specs,
            self.needs_batch.contains(entry),
        )?;
        let (outputs, _committed) = exec
            .run(&self.gpu, &self.module, batch, inputs, &self.residents, train)
            .map_err(|e| if e.0.starts_with('`') { ExecError::new(e.0) } else { fail(entry, e) })?;
        compiled::shape_outputs(sig, outputs, batch)
    }

    /// Copies `tensors` (checked against `specs`) to the GPU, replacing the residents whose
    /// names start with `prefix`.
    fn load(&mut self, specs: &[TensorSpec], tensors: NamedTensors, what: &str, prefix: &str) -> Result<(), ExecError> {
        check_tensors(specs, &tensors, what, false).map_err(ExecError::new)?;
        let mut loaded = Vec::with_capacity(tensors.len());
        for (name, t) in &tensors {
            let err = |e: String| ExecError::new(format!("{what} `{name}`: {e}"));
            let host = HostBuf::from_tensor(t).map_err(|e| err(e.0))?;
            let bytes = host.bytes().map_err(|e| err(e.0))?;
            let buf = self.gpu.alloc(bytes.len()).map_err(|e| err(e.0))?;
            self.gpu.upload(buf.ptr(), bytes).map_err(|e| err(e.0))?;
            loaded.push((name.clone(), Resident { buf, dtype: host.dtype, len: host.len }));
        }
        self.residents.retain(|k, _| !k.starts_with(prefix));
        self.residents.extend(loaded);
        Ok(())
    }

    fn read(&self, specs: &[TensorSpec]) -> Result<NamedTensors, ExecError> {
        let mut out = NamedTensors::new();
        for spec in specs {
            if let Some(r) = self.residents.get(&spec.name) {
                let err = |e: String| ExecError::new(format!("reading `{}` from the GPU: {e}", spec.name));
                let mut host = HostBuf::zeroed(r.dtype, r.len).map_err(|e| err(e.0))?;
                let bytes = host.bytes_mut().map_err(|e| err(e.0))?;
                self.gpu.download(r.buf.ptr(), bytes).map_err(|e| err(e.0))?;
                let t = host.to_tensor(spec.dtype, spec.resolve_shape(0)).map_err(|e| err(e.0))?;
                out.insert(spec.name.clone(), t);
            }
        }
        Ok(out)
    }
}

impl Session for CudaSession {
    fn backend(&self) -> &str {
        "cuda"
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

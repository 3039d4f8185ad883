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
use hg_abi::plan::{Affine, BufRole, Plan, Step};
use hg_abi::{DType, DimSpec, EntrySignature, Manifest, TensorSpec, names};
use hg_exec::{ExecError, NamedTensors, Session, Tensor, TensorData, check_tensors};
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
}

/// The element type a tensor of `dtype` has in a plan buffer.
fn storage(dtype: DType) -> Option<DType> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Some(DType::F32),
        DType::I64 => Some(DType::I64),
        DType::Bool => Some(DType::Bool),
        _ => None,
    }
}

/// `f32[B, 784]`: a signature's type in messages.
fn spec_type(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", spec.dtype, dims.join(", "))
}

fn describe(t: &Tensor) -> String {
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", t.dtype(), dims.join(", "))
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

fn is_resident(name: &str) -> bool {
    name.starts_with(names::PARAM) || name.starts_with(names::STATE)
}

/// Checks one plan against its entry's signature and the model's resident tensors.
fn check_plan(
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
            if i64::try_from(n).ok().map(Affine::constant) != Some(b.len) {
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
        let mut residents = manifest.param_specs();
        residents.extend(manifest.train.iter().flat_map(|t| t.state.iter().cloned()));
        let carried: BTreeSet<String> =
            manifest.train.iter().flat_map(|t| t.carried.iter().map(|(_, o)| o.clone())).collect();
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
            let depends = plan.arena_bytes.b != 0
                || plan
                    .buffers
                    .iter()
                    .any(|b| b.len.b != 0 || matches!(b.role, BufRole::Temp { offset } if offset.b != 0))
                || sig.outputs.iter().any(TensorSpec::has_batch);
            if depends {
                needs_batch.insert(entry.clone());
            }
            executors.insert(entry, Executor::new(plan, kernels.clone(), threads.clone())?);
        }
        Ok(CpuSession { manifest, backend: backend.into(), executors, needs_batch, residents: BTreeMap::new() })
    }

    /// The executor of an entry (its plan, arena statistics).
    pub fn executor(&self, entry: &str) -> Option<&Executor> {
        self.executors.get(entry)
    }

    /// The executor of an entry, for settings.
    pub fn executor_mut(&mut self, entry: &str) -> Option<&mut Executor> {
        self.executors.get_mut(entry)
    }

    fn signature(&self, entry: &str) -> Result<EntrySignature, ExecError> {
        match self.manifest.entry(entry) {
            Some(sig) => Ok(sig.clone()),
            None => Err(ExecError::new(format!(
                "model `{}` has no entry `{entry}` (it has: {})",
                self.manifest.model,
                self.manifest.entry_names().join(", ")
            ))),
        }
    }

    /// Checks a call's inputs against the signature, as the interpreter binds them, and
    /// returns the batch size.
    fn bind(&self, sig: &EntrySignature, inputs: &NamedTensors) -> Result<usize, ExecError> {
        let entry = sig.name.as_str();
        let plan = self.executors.get(entry).map(Executor::plan);
        let missing =
            |spec: &TensorSpec| fail(entry, format!("missing input `{}` (expected {})", spec.name, spec_type(spec)));
        // Every declared input, then every resident the plan reads, must be there.
        let mut given: Vec<(&TensorSpec, &Tensor)> = Vec::new();
        for spec in &sig.inputs {
            if is_resident(&spec.name) {
                if !self.residents.contains_key(&spec.name) {
                    return Err(missing(spec));
                }
                continue;
            }
            given.push((spec, inputs.get(&spec.name).ok_or_else(|| missing(spec))?));
        }
        let resident_specs = self.resident_specs();
        for b in plan.iter().flat_map(|p| &p.buffers) {
            if let BufRole::Resident(n) = &b.role
                && !self.residents.contains_key(n)
            {
                let spec = resident_specs.iter().find(|s| &s.name == n).expect("checked when opened");
                return Err(missing(spec));
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
            None if self.needs_batch.contains(entry) => {
                Err(fail(entry, "batch size `B`: no input fixes the batch size, and the entry needs it"))
            }
            None => Ok(0),
        }
    }

    fn resident_specs(&self) -> Vec<TensorSpec> {
        let mut specs = self.manifest.param_specs();
        specs.extend(self.manifest.train.iter().flat_map(|t| t.state.iter().cloned()));
        specs
    }

    /// Binds, runs and shapes the outputs of one entry.
    fn call(&mut self, sig: &EntrySignature, inputs: &NamedTensors, train: bool) -> Result<NamedTensors, ExecError> {
        let entry = sig.name.as_str();
        if !self.executors.contains_key(entry) {
            return Err(fail(entry, format!("the {} backend has no plan for this entry", self.backend)));
        }
        let batch = self.bind(sig, inputs)?;
        let exec = self.executors.get_mut(entry).expect("checked above");
        let mut finite_loss = |peek: &crate::exec::Peek<'_>| {
            !train || peek.output_f32(names::LOSS).is_some_and(|l| l.len() == 1 && l[0].is_finite())
        };
        let outcome = exec.run(batch, inputs, &mut self.residents, &mut finite_loss).map_err(|e| {
            // Executor messages already name the entry.
            if e.0.starts_with('`') { ExecError::new(e.0) } else { fail(entry, e) }
        })?;
        let mut out = NamedTensors::new();
        for (name, data) in outcome.outputs {
            let spec = sig.outputs.iter().find(|s| s.name == name).expect("checked when opened");
            let shape = spec.resolve_shape(batch);
            let n = data.len();
            let t = Tensor::new(spec.dtype, shape, data).map_err(|e| {
                fail(entry, format!("output `{name}` has {n} elements, but {} at B = {batch}: {e}", spec_type(spec)))
            })?;
            out.insert(name, t);
        }
        Ok(out)
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
        let specs = self.manifest.train.as_ref().map(|t| t.state.clone()).unwrap_or_default();
        self.load(&specs, state, "optimizer state", names::STATE)
    }

    fn read_params(&self) -> Result<NamedTensors, ExecError> {
        self.read(&self.manifest.param_specs())
    }

    fn read_state(&self) -> Result<NamedTensors, ExecError> {
        self.read(self.manifest.train.as_ref().map(|t| t.state.as_slice()).unwrap_or_default())
    }

    fn train_step(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        let entry = "train";
        no_resident(entry, inputs)?;
        if self.manifest.train.is_none() {
            return Err(fail(entry, "the model has no train step"));
        }
        let sig = self.signature(entry)?;
        self.call(&sig, inputs, true)
    }

    fn run(&mut self, entry: &str, inputs: &NamedTensors) -> Result<NamedTensors, ExecError> {
        if entry == "train" {
            return Err(fail(entry, "run the train step with `train_step`"));
        }
        no_resident(entry, inputs)?;
        let sig = self.signature(entry)?;
        self.call(&sig, inputs, false)
    }
}

//! The executor of one [`Plan`]: buffers, verification, and the steps in order.
//!
//! For a batch size it evaluates every buffer's length and the arena's size (checked
//! arithmetic), grows the arena when needed (64-byte aligned, kept across calls), and verifies
//! every step before the first one runs: a kernel's arguments exist, a library call's geometry
//! fits its buffers with the right element types, and what it writes overlaps nothing it reads.
//! That is done once per batch size; a call with the batch size of the previous call only binds
//! its inputs and outputs and runs.
//!
//! Buffers: inputs point at the caller's tensors (read only, never copied), outputs are fresh
//! vectors handed back as tensor data, residents are the session's [`HostBuf`]s, temporaries
//! live in the arena at their planned offsets.
//!
//! Threads: a [`Threads`] is a persistent [`Pool`] whose workers flush denormals and spin a
//! while before they sleep, so a kernel with a parallel outer loop is split into one chunk per
//! thread with a fork that costs well under a microsecond, when its buffers hold at least [`PAR_MIN_ELEMENTS`]
//! elements, weighted by the cost its signature gives an element (below that, waking a thread
//! costs more than the work). Library kernels split their
//! own work on the same pool.
//!
//! The commit point: before step `plan.commit` the executor asks the caller whether to go on
//! (a train step: is the loss finite?); when not, the remaining steps (the in-place updates of
//! resident parameters and state) are skipped.

use crate::aligned::{AlignedBuf, HostBuf, elem_size};
use crate::error::{CpuError, bail};
use crate::fpenv::FlushDenormals;
use crate::lib::{self, ArgReq, ArgType, Resolved, eval_size};
use crate::workers::{Pool, for_each, with_pool};
use hg_abi::DType;
use hg_abi::plan::{BufRole, DeviceLib, KernelFn, KernelSignature, LibCall, Plan, Step};
use hg_exec::TensorData;
use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

/// Elements (summed over a kernel's arguments) from which a parallel kernel is split: below
/// that a fork and join of the pool's threads (microseconds) costs about what it saves.
pub const PAR_MIN_ELEMENTS: usize = 1 << 16;

/// The generated kernels of a module and what keeps their code alive (a JIT module, a loaded
/// library).
pub struct Kernels {
    fns: Vec<KernelFn>,
    /// Each kernel's signature, when known: every plan step is checked against it.
    signatures: Option<Vec<KernelSignature>>,
    /// Generated kernels of library calls (the GPU's library kernels compiled for this CPU),
    /// which run those calls instead of the CPU library: how `mlir-cpu` runs the code the GPU
    /// runs. Each takes the call's arguments and a status word (`hg_abi::plan::DeviceLib`).
    libs: Vec<(DeviceLib, KernelFn)>,
    _owner: Mutex<Box<dyn Any + Send>>,
}

impl Kernels {
    /// # Safety
    ///
    /// Each function must implement [`KernelFn`]'s contract for every plan it is used in: called
    /// with pointers to buffers of the element types and lengths its plan step declares (at the
    /// batch size it is given), it reads and writes only inside them, writes no buffer the plan
    /// marks as an input, stores only 0 or 1 into bool buffers, and, when its step is parallel,
    /// writes for iterations `lo..hi` of its outer loop only what no other iteration reads or
    /// writes. The code must stay valid while `owner` lives.
    pub unsafe fn new(fns: Vec<KernelFn>, owner: Box<dyn Any + Send>) -> Kernels {
        Kernels { fns, signatures: None, libs: Vec::new(), _owner: Mutex::new(owner) }
    }

    /// These kernels with generated kernels for library calls: a plan step calling one of
    /// `libs` runs its function, over its work items `0..LibCall::device_extent` (split between
    /// threads like a parallel kernel), with a status word it raises to `1 + position` of an
    /// index out of range, which fails the step.
    ///
    /// # Safety
    ///
    /// Each function must implement its call's kernel for every geometry: given the call's
    /// arguments with at least the elements `crate::lib::Resolved::args` requires at the
    /// batch size (checked before any plan runs), it reads and writes only those elements,
    /// writes only the last argument and the status word (by an atomic maximum), and work items
    /// `lo..hi` write what no other item reads or writes.
    pub unsafe fn with_library(mut self, libs: Vec<(DeviceLib, KernelFn)>) -> Kernels {
        self.libs = libs;
        self
    }

    /// [`Kernels::new`] with each kernel's signature, against which every executor checks the
    /// kernel steps of its plan (types and lengths of the buffers, the parallel range), so a
    /// plan that does not fit its kernels is an error before anything runs.
    ///
    /// # Safety
    ///
    /// As [`Kernels::new`], for callers whose buffers fit `signatures`: each function reads
    /// and writes only inside arguments of its signature's types and lengths.
    pub unsafe fn with_signatures(
        fns: Vec<KernelFn>,
        signatures: Vec<KernelSignature>,
        owner: Box<dyn Any + Send>,
    ) -> Result<Kernels, CpuError> {
        if signatures.len() != fns.len() {
            bail!("{} kernel signatures for {} kernels", signatures.len(), fns.len());
        }
        Ok(Kernels { fns, signatures: Some(signatures), libs: Vec::new(), _owner: Mutex::new(owner) })
    }

    pub fn len(&self) -> usize {
        self.fns.len()
    }

    /// The relative cost of an element of kernel `k` (1 without a signature).
    fn cost(&self, k: usize) -> usize {
        let sig = self.signatures.as_ref().and_then(|s| s.get(k));
        sig.map_or(1, |s| s.cost.max(1) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }
}

/// A persistent pool of worker threads (none for one thread) shared by executors.
#[derive(Clone)]
pub struct Threads {
    count: usize,
    pool: Option<Arc<Pool>>,
}

impl Threads {
    /// A pool of `count` threads; 0 means one per available core.
    pub fn new(count: usize) -> Result<Threads, CpuError> {
        let count = match count {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        if count == 1 {
            return Ok(Threads { count, pool: None });
        }
        let pool = Pool::new(count).map_err(|e| CpuError::new(format!("cannot start {count} worker threads: {e}")))?;
        Ok(Threads { count, pool: Some(Arc::new(pool)) })
    }

    /// One thread per available core, or `HG_THREADS` of them when that is set.
    pub fn available() -> Result<Threads, CpuError> {
        match std::env::var("HG_THREADS") {
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) => Threads::new(n),
                Err(_) => Err(CpuError::new(format!("HG_THREADS must be a number of threads, found `{v}`"))),
            },
            Err(_) => Threads::new(0),
        }
    }

    /// Runs `f` on the calling thread with denormals flushed and this pool as the one that
    /// parallel steps and library calls split their work on ([`crate::workers::for_each`]).
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        let _flush = FlushDenormals::new();
        match &self.pool {
            Some(pool) => with_pool(pool, f),
            None => f(),
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }
}

/// One step as it runs at a batch size.
#[derive(Clone, Debug)]
pub enum Ready {
    Kernel { kernel: usize, args: Vec<usize>, parallel: Option<usize>, work: usize },
    Lib { call: Resolved, args: Vec<usize>, reqs: Vec<ArgReq> },
}

/// Everything that depends on the batch size, verified ([`layout`]): what any executor of the
/// plan, on any device, needs to run it.
#[derive(Clone, Debug)]
pub struct Layout {
    pub batch: usize,
    /// Elements of each buffer.
    pub lens: Vec<usize>,
    /// Byte offsets of temporaries in the arena.
    pub offsets: Vec<Option<usize>>,
    pub steps: Vec<Ready>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The plan's outputs, by name, in buffer order.
    pub outputs: Vec<(String, TensorData)>,
    /// Whether the steps from the commit point on ran.
    pub committed: bool,
}

/// Read access to a run's buffers at the commit point.
pub struct Peek<'a> {
    plan: &'a Plan,
    layout: &'a Layout,
    ptrs: &'a [*mut u8],
}

impl Peek<'_> {
    /// Buffer `id` as f32 elements (`None` when it is not an f32 buffer of the plan).
    pub fn f32(&self, id: usize) -> Option<&[f32]> {
        (self.plan.buffers.get(id)?.dtype == DType::F32).then(|| {
            // SAFETY: the pointer addresses `lens[id]` f32 elements (bound and verified), and no
            // step runs while the caller looks at them.
            unsafe { std::slice::from_raw_parts(self.ptrs[id].cast::<f32>(), self.layout.lens[id]) }
        })
    }

    /// The output buffer called `name`, as f32 elements.
    pub fn output_f32(&self, name: &str) -> Option<&[f32]> {
        let id = self.plan.buffers.iter().position(|b| matches!(&b.role, BufRole::Output(n) if n == name))?;
        self.f32(id)
    }
}

/// The pointers of a run's buffers, shared with worker threads.
struct Ptrs(Vec<*mut u8>);
// SAFETY: the pointers address buffers that outlive the run; steps that use them from several
// threads at once are split into disjoint parts (library kernels) or promised disjoint by the
// kernel's contract (`Kernels::new`).
unsafe impl Send for Ptrs {}
unsafe impl Sync for Ptrs {}

impl Ptrs {
    fn as_ptr(&self) -> *const *mut u8 {
        self.0.as_ptr()
    }
}

/// The executor of one plan.
pub struct Executor {
    plan: Plan,
    kernels: Arc<Kernels>,
    /// For each step, the generated kernel that runs its library call, if `kernels` has one.
    lib_kernels: Vec<Option<KernelFn>>,
    threads: Threads,
    sizes: Vec<usize>,
    layout: Option<Layout>,
    arena: AlignedBuf,
    arena_allocations: usize,
    par_min_elements: usize,
    /// With `HG_PROFILE` set in the environment: time spent in each step, printed to stderr
    /// when the executor is dropped (the profile behind performance notes).
    profile: Option<Mutex<Vec<(std::time::Duration, u64)>>>,
}

impl Drop for Executor {
    fn drop(&mut self) {
        let Some(profile) = self.profile.take() else { return };
        let times = profile.into_inner().unwrap_or_else(|e| e.into_inner());
        let total: std::time::Duration = times.iter().map(|(t, _)| *t).sum();
        if total.is_zero() {
            return;
        }
        let mut rows: Vec<(usize, &(std::time::Duration, u64))> = times.iter().enumerate().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.0));
        eprintln!(
            "profile of `{}`: {:.1} ms in {} steps over {} calls",
            self.plan.entry,
            total.as_secs_f64() * 1e3,
            times.len(),
            rows.first().map_or(0, |r| r.1.1)
        );
        let kind = |s: usize| match &self.plan.steps[s] {
            Step::Kernel { .. } => "generated kernels".to_string(),
            Step::Lib { call, .. } => format!("{call:?}").split([' ', '{', '(']).next().unwrap_or("lib").to_string(),
        };
        // Totals by kind of step first (where the time goes), then the slowest steps.
        let mut by_kind: Vec<(String, std::time::Duration, usize)> = Vec::new();
        for (s, (t, _)) in &rows {
            let k = kind(*s);
            match by_kind.iter_mut().find(|(name, _, _)| *name == k) {
                Some(e) => {
                    e.1 += *t;
                    e.2 += 1;
                }
                None => by_kind.push((k, *t, 1)),
            }
        }
        by_kind.sort_by_key(|e| std::cmp::Reverse(e.1));
        let summary: Vec<String> = by_kind
            .iter()
            .map(|(k, t, n)| format!("{k} {:.1}% ({n})", 100.0 * t.as_secs_f64() / total.as_secs_f64()))
            .collect();
        eprintln!("  by kind: {}", summary.join(", "));
        for (s, (t, n)) in rows.into_iter().take(15) {
            let what = match &self.plan.steps[s] {
                Step::Kernel { kernel, .. } => format!("kernel {kernel}"),
                Step::Lib { .. } => kind(s),
            };
            let per = t.as_secs_f64() * 1e3 / (*n).max(1) as f64;
            eprintln!(
                "  step {s:>3} {what:<22} {:>5.1}% {per:>8.3} ms/call",
                100.0 * t.as_secs_f64() / total.as_secs_f64()
            );
        }
    }
}

/// The number of arguments each library call takes.
fn lib_arity(call: &LibCall) -> usize {
    match call {
        LibCall::CheckIndices { .. } => 1,
        LibCall::Pool2d { .. } | LibCall::TopK { .. } | LibCall::ArgReduce { .. } => 2,
        LibCall::ScatterAdd { .. }
        | LibCall::Random { .. }
        | LibCall::SparseMatMul { .. }
        | LibCall::SampledMatMul { .. } => 4,
        _ => 3,
    }
}

/// Checks what does not depend on the batch size, for an executor on any device: element
/// types, argument and kernel indices (against `kernel_count` kernels and, when known, their
/// signatures), the commit point, named buffers, and that no library call writes an input, or
/// a resident before the commit point. Returns each buffer's element size in bytes.
pub fn check_plan(
    plan: &Plan,
    kernel_count: usize,
    signatures: Option<&[KernelSignature]>,
) -> Result<Vec<usize>, CpuError> {
    let entry = plan.entry.clone();
    let fail = |m: String| CpuError::new(format!("plan `{entry}`: {m}"));
    let mut sizes = Vec::with_capacity(plan.buffers.len());
    let mut names = HashSet::new();
    for (i, b) in plan.buffers.iter().enumerate() {
        // f64 appears only in scalar temporaries (Adam's bias corrections) that generated
        // kernels write and read; no tensor crosses the session boundary in f64.
        let size = match (b.dtype, &b.role) {
            (DType::F64, BufRole::Temp { .. }) => 8,
            (dtype, _) => elem_size(dtype).map_err(|e| fail(format!("buffer %{i}: {e}")))?,
        };
        sizes.push(size);
        let name = match &b.role {
            BufRole::Input(n) => Some(("input", n)),
            BufRole::Output(n) => Some(("output", n)),
            BufRole::Resident(n) => Some(("resident", n)),
            BufRole::Temp { .. } => None,
        };
        if let Some((what, n)) = name
            && !names.insert((what, n.clone()))
        {
            return Err(fail(format!("{what} `{n}` has two buffers")));
        }
    }
    if plan.commit > plan.steps.len() {
        return Err(fail(format!("the commit point {} is past the last step ({})", plan.commit, plan.steps.len())));
    }
    for (s, step) in plan.steps.iter().enumerate() {
        let args = match step {
            Step::Kernel { kernel, args, parallel } => {
                if *kernel as usize >= kernel_count {
                    return Err(fail(format!("step {s} calls kernel {kernel}, there are {kernel_count}")));
                }
                if let Some(signature) = signatures.and_then(|sigs| sigs.get(*kernel as usize)) {
                    signature
                        .check_step(plan, args, *parallel)
                        .map_err(|m| fail(format!("step {s} (kernel {kernel}) {m}")))?;
                }
                args
            }
            Step::Lib { call, args } => {
                if args.len() != lib_arity(call) {
                    return Err(fail(format!(
                        "step {s} passes {} arguments to a library call that takes {}",
                        args.len(),
                        lib_arity(call)
                    )));
                }
                args
            }
        };
        if let Some(a) = args.iter().find(|a| a.0 as usize >= plan.buffers.len()) {
            return Err(fail(format!("step {s} uses {a}, the plan has {} buffers", plan.buffers.len())));
        }
        if let Step::Lib { call, args } = step
            && !matches!(call, LibCall::CheckIndices { .. })
        {
            let out = args[args.len() - 1];
            match &plan.buffers[out.0 as usize].role {
                BufRole::Input(n) => return Err(fail(format!("step {s} writes the input `{n}`"))),
                BufRole::Resident(n) if s < plan.commit => {
                    return Err(fail(format!("step {s} writes the resident `{n}` before the commit point")));
                }
                _ => {}
            }
        }
    }
    Ok(sizes)
}

/// Sizes the buffers and the arena of `plan` for `batch` (buffers of `sizes` bytes per element,
/// from [`check_plan`]) and verifies every step: a library call's geometry fits its buffers
/// with the right element types, and what it writes overlaps nothing it reads. `cost` weighs
/// an element of each kernel (for splitting work between threads).
pub fn layout(plan: &Plan, sizes: &[usize], batch: usize, cost: &dyn Fn(usize) -> usize) -> Result<Layout, CpuError> {
    let arena_bytes = eval_size(plan.arena_bytes, batch, "arena size")?;
    let mut lens = Vec::with_capacity(plan.buffers.len());
    let mut offsets = Vec::with_capacity(plan.buffers.len());
    for (i, b) in plan.buffers.iter().enumerate() {
        let len = eval_size(b.len, batch, &format!("length of %{i}"))?;
        let bytes = len.checked_mul(sizes[i]).ok_or_else(|| CpuError::new(format!("%{i} overflows")))?;
        let offset = match b.role {
            BufRole::Temp { offset } => {
                let off = eval_size(offset, batch, &format!("offset of %{i}"))?;
                if !off.is_multiple_of(sizes[i]) {
                    bail!("%{i} at byte {off} is not aligned for {}", b.dtype);
                }
                if off.checked_add(bytes).is_none_or(|end| end > arena_bytes) {
                    bail!("%{i} ({bytes} bytes at {off}) does not fit the arena of {arena_bytes} bytes at B = {batch}");
                }
                Some(off)
            }
            _ => None,
        };
        lens.push(len);
        offsets.push(offset);
    }
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (s, step) in plan.steps.iter().enumerate() {
        let ready = match step {
            Step::Kernel { kernel, args, parallel } => {
                let args: Vec<usize> = args.iter().map(|a| a.0 as usize).collect();
                let parallel = match parallel {
                    Some(e) => Some(eval_size(*e, batch, &format!("step {s}: parallel extent"))?),
                    None => None,
                };
                let elements = args.iter().fold(0usize, |w, &a| w.saturating_add(lens[a]));
                let work = elements.saturating_mul(cost(*kernel as usize));
                Ready::Kernel { kernel: *kernel as usize, args, parallel, work }
            }
            Step::Lib { call, args } => {
                let call = lib::resolve(call, batch).map_err(|e| CpuError::new(format!("step {s}: {e}")))?;
                let args: Vec<usize> = args.iter().map(|a| a.0 as usize).collect();
                let reqs = call.args()?;
                check_lib(plan, sizes, s, &call, &args, &reqs, &lens, &offsets)?;
                Ready::Lib { call, args, reqs }
            }
        };
        steps.push(ready);
    }
    Ok(Layout { batch, lens, offsets, steps })
}

/// A library call's arguments: element types, lengths, and no overlap between what it
/// writes and anything else it is given.
#[allow(clippy::too_many_arguments)]
fn check_lib(
    plan: &Plan,
    sizes: &[usize],
    s: usize,
    call: &Resolved,
    args: &[usize],
    reqs: &[ArgReq],
    lens: &[usize],
    offsets: &[Option<usize>],
) -> Result<(), CpuError> {
    let name = call.name();
    let mut data_type: Option<DType> = None;
    for (pos, (&a, r)) in args.iter().zip(reqs).enumerate() {
        let dtype = plan.buffers[a].dtype;
        match r.ty {
            ArgType::Exactly(t) if t != dtype => {
                bail!("step {s} (`{name}`): argument {pos} (%{a}) is {dtype}, the call needs {t}")
            }
            ArgType::Data => {
                let allowed = matches!(call, Resolved::Gather(_)) || dtype != DType::Bool;
                if !allowed || data_type.is_some_and(|d| d != dtype) {
                    bail!("step {s} (`{name}`): argument {pos} (%{a}) has the wrong element type {dtype}");
                }
                data_type = Some(dtype);
            }
            _ => {}
        }
        if r.len > lens[a] {
            bail!("step {s} (`{name}`): argument {pos} (%{a}) has {} elements, the geometry needs {}", lens[a], r.len);
        }
    }
    // Byte ranges used, for the overlap check: temporaries share the arena, every other
    // buffer has its own memory.
    let range = |a: usize, r: &ArgReq| {
        let start = offsets[a].unwrap_or(0);
        (offsets[a].is_some(), start, start + r.len * sizes[a])
    };
    for (w, (&a, r)) in args.iter().zip(reqs).enumerate().filter(|(_, (_, r))| r.written) {
        for (o, (&b, q)) in args.iter().zip(reqs).enumerate().filter(|(o, _)| *o != w) {
            let (ta, sa, ea) = range(a, r);
            let (tb, sb, eb) = range(b, q);
            let overlap = sa < ea && sb < eb && (a == b || (ta && tb && sa < eb && sb < ea));
            if overlap {
                bail!("step {s} (`{name}`): the result (argument {w}, %{a}) overlaps argument {o} (%{b})");
            }
        }
    }
    Ok(())
}

impl Executor {
    /// Checks what does not depend on the batch size: element types, argument and kernel
    /// indices, the commit point, named buffers, and that no library call writes an input, or
    /// a resident before the commit point.
    pub fn new(plan: Plan, kernels: Arc<Kernels>, threads: Threads) -> Result<Executor, CpuError> {
        let sizes = check_plan(&plan, kernels.len(), kernels.signatures.as_deref())?;
        let calls: Vec<DeviceLib> = kernels.libs.iter().map(|(call, _)| call.clone()).collect();
        let lib_kernels = plan
            .steps
            .iter()
            .map(|step| match step {
                Step::Lib { call, args } => DeviceLib::find(&calls, &plan, call, args).map(|k| kernels.libs[k].1),
                Step::Kernel { .. } => None,
            })
            .collect();
        Ok(Executor {
            plan,
            kernels,
            lib_kernels,
            threads,
            sizes,
            layout: None,
            arena: AlignedBuf::default(),
            arena_allocations: 0,
            par_min_elements: PAR_MIN_ELEMENTS,
            profile: std::env::var_os("HG_PROFILE").map(|_| Mutex::new(Vec::new())),
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn threads(&self) -> usize {
        self.threads.count
    }

    /// How many times the arena was (re)allocated: once per batch size that needed more room.
    pub fn arena_allocations(&self) -> usize {
        self.arena_allocations
    }

    /// Sets the size from which parallel kernels are split (tests and tuning).
    pub fn set_par_min_elements(&mut self, elements: usize) {
        self.par_min_elements = elements;
    }

    /// Element counts of every buffer at batch size `batch` (verifying the plan there).
    pub fn buffer_lens(&mut self, batch: usize) -> Result<&[usize], CpuError> {
        self.prepare(batch)?;
        Ok(&self.layout.as_ref().expect("prepared").lens)
    }

    /// Sizes the buffers and the arena for `batch` and verifies every step; a no-op when the
    /// last call had the same batch size.
    pub fn prepare(&mut self, batch: usize) -> Result<(), CpuError> {
        if self.layout.as_ref().is_some_and(|l| l.batch == batch) {
            return Ok(());
        }
        self.layout = None;
        let kernels = &self.kernels;
        let layout = layout(&self.plan, &self.sizes, batch, &|k| kernels.cost(k))
            .map_err(|e| CpuError::new(format!("plan `{}`: {e}", self.plan.entry)))?;
        let arena_bytes = eval_size(self.plan.arena_bytes, batch, "arena size")?;
        if self.arena.grow_to(arena_bytes)? {
            self.arena_allocations += 1;
        }
        self.layout = Some(layout);
        Ok(())
    }

    /// Runs the plan at batch size `batch`: inputs by name from `inputs`, residents by name from
    /// `residents` (updated in place by the steps after the commit point), and `commit` asked at
    /// the commit point whether those steps run.
    pub fn run(
        &mut self,
        batch: usize,
        inputs: &BTreeMap<String, hg_exec::Tensor>,
        residents: &mut BTreeMap<String, HostBuf>,
        commit: &mut (dyn FnMut(&Peek<'_>) -> bool + Send),
    ) -> Result<Outcome, CpuError> {
        self.prepare(batch)?;
        let layout = self.layout.as_ref().expect("prepared");
        let plan = &self.plan;
        let entry = &plan.entry;
        // Outputs first, so their vectors do not move once their pointers are taken.
        let mut outputs = Vec::new();
        for (i, b) in plan.buffers.iter().enumerate() {
            if let BufRole::Output(name) = &b.role {
                let n = layout.lens[i];
                let data = match b.dtype {
                    DType::F32 => TensorData::F32(try_zeroed(n)?),
                    DType::I64 => TensorData::I64(try_zeroed(n)?),
                    _ => TensorData::Bool(try_zeroed(n)?),
                };
                outputs.push((name.clone(), data));
            }
        }
        let mut ptrs = Vec::with_capacity(plan.buffers.len());
        let mut next_output = outputs.iter_mut();
        let arena = self.arena.as_mut_ptr();
        for (i, b) in plan.buffers.iter().enumerate() {
            let n = layout.lens[i];
            let ptr: *mut u8 = match &b.role {
                BufRole::Input(name) => {
                    let t = inputs
                        .get(name)
                        .ok_or_else(|| CpuError::new(format!("`{entry}`: input `{name}` is missing")))?;
                    let (ptr, dtype) = match t.data() {
                        TensorData::F32(v) => (v.as_ptr().cast::<u8>(), DType::F32),
                        TensorData::I64(v) => (v.as_ptr().cast::<u8>(), DType::I64),
                        TensorData::Bool(v) => (v.as_ptr().cast::<u8>(), DType::Bool),
                        _ => (std::ptr::null(), t.dtype()),
                    };
                    if dtype != b.dtype || t.len() != n {
                        bail!(
                            "`{entry}`: input `{name}` is {} with {} elements, the plan reads {} with {n}",
                            t.dtype(),
                            t.len(),
                            b.dtype
                        );
                    }
                    // Read only (the plan never writes inputs; `Kernels::new`'s contract).
                    ptr.cast_mut()
                }
                BufRole::Output(_) => match &mut next_output.next().expect("one per output").1 {
                    TensorData::F32(v) => v.as_mut_ptr().cast(),
                    TensorData::I64(v) => v.as_mut_ptr().cast(),
                    TensorData::Bool(v) => v.as_mut_ptr().cast(),
                    _ => unreachable!("allocated above"),
                },
                BufRole::Resident(name) => {
                    let r = residents
                        .get_mut(name)
                        .ok_or_else(|| CpuError::new(format!("`{entry}`: `{name}` is not loaded")))?;
                    if r.dtype != b.dtype || r.len != n {
                        bail!(
                            "`{entry}`: resident `{name}` is {} with {} elements, the plan uses {} with {n}",
                            r.dtype,
                            r.len,
                            b.dtype
                        );
                    }
                    r.data.as_mut_ptr()
                }
                // SAFETY: the offset and the buffer's bytes are inside the arena (verified
                // in `layout_for`, and the arena was grown to the plan's size).
                BufRole::Temp { .. } => unsafe { arena.add(layout.offsets[i].expect("temporaries have offsets")) },
            };
            ptrs.push(ptr);
        }
        let ptrs = Ptrs(ptrs);
        let ctx = RunCtx {
            profile: self.profile.as_ref(),
            plan,
            layout,
            kernels: &self.kernels.fns,
            lib_kernels: &self.lib_kernels,
            threads: self.threads.count,
            par_min: self.par_min_elements,
        };
        let committed = match &self.threads.pool {
            Some(pool) => with_pool(pool, || ctx.run(&ptrs, commit)),
            None => ctx.run(&ptrs, commit),
        }?;
        Ok(Outcome { outputs, committed })
    }
}

fn try_zeroed<T: Clone + Default>(n: usize) -> Result<Vec<T>, CpuError> {
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        bail!("out of memory: cannot allocate an output of {n} elements");
    }
    v.resize(n, T::default());
    Ok(v)
}

/// What the steps of one run need, shared with the worker threads.
/// Clears the upper halves of the AVX registers before generated code runs. Library code
/// (the GEMM) leaves them dirty, and legacy-SSE code after that (the runtime's scalar math
/// functions that kernels call) then runs an order of magnitude slower on some CPUs.
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` only zeroes the upper halves of the vector registers, which no
        // live value occupies between two calls.
        // The vector registers are declared clobbered, so nothing the compiler keeps in them
        // survives the instruction unsaved.
        unsafe {
            core::arch::asm!(
                "vzeroupper",
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                options(nomem, nostack, preserves_flags)
            )
        };
    }
}

struct RunCtx<'a> {
    profile: Option<&'a Mutex<Vec<(std::time::Duration, u64)>>>,
    plan: &'a Plan,
    layout: &'a Layout,
    kernels: &'a [KernelFn],
    lib_kernels: &'a [Option<KernelFn>],
    threads: usize,
    par_min: usize,
}

impl RunCtx<'_> {
    fn run(&self, ptrs: &Ptrs, commit: &mut (dyn FnMut(&Peek<'_>) -> bool + Send)) -> Result<bool, CpuError> {
        let _flush = FlushDenormals::new();
        let mut args: Vec<*mut u8> = Vec::new();
        for (s, step) in self.layout.steps.iter().enumerate() {
            if s == self.plan.commit && !self.commit_ok(ptrs, commit) {
                return Ok(false);
            }
            let started = self.profile.map(|_| std::time::Instant::now());
            match step {
                Ready::Kernel { kernel, args: ids, parallel, work } => {
                    args.clear();
                    args.extend(ids.iter().map(|&a| ptrs.0[a]));
                    // SAFETY: the arguments are the verified buffers of this step (checked
                    // against the kernel's signature); `Kernels::new`'s contract makes
                    // disjoint iteration ranges safe to run at once.
                    unsafe { self.launch(self.kernels[*kernel], &mut args, *parallel, *work) };
                }
                Ready::Lib { call, args: ids, reqs } => {
                    let failed =
                        |e: String| CpuError::new(format!("`{}`: step {s} (`{}`): {e}", self.plan.entry, call.name()));
                    match (self.lib_kernels.get(s).copied().flatten(), &self.plan.steps[s]) {
                        (Some(f), Step::Lib { call: planned, .. }) => {
                            let extent = planned
                                .device_extent(self.layout.batch)
                                .ok_or_else(|| failed("its work overflows".into()))?;
                            let status = AtomicI64::new(0);
                            args.clear();
                            args.extend(ids.iter().map(|&a| ptrs.0[a]));
                            args.push(status.as_ptr().cast());
                            let work = reqs.iter().map(|r| r.len).sum();
                            // SAFETY: the arguments hold what `Resolved::args` requires at this
                            // batch size (checked by `layout`), the status word is one i64;
                            // `Kernels::with_library`'s contract does the rest.
                            unsafe { self.launch(f, &mut args, Some(extent), work) };
                            let code = status.into_inner();
                            if code != 0 {
                                return Err(failed(format!("the index at flat position {} is out of range", code - 1)));
                            }
                        }
                        _ => self.lib(call, ids, reqs, ptrs).map_err(|e| failed(e.to_string()))?,
                    }
                }
            }
            if let (Some(p), Some(t)) = (self.profile, started)
                && let Ok(mut p) = p.lock()
            {
                if p.len() < self.layout.steps.len() {
                    p.resize(self.layout.steps.len(), (std::time::Duration::ZERO, 0));
                }
                p[s].0 += t.elapsed();
                p[s].1 += 1;
            }
        }
        if self.plan.commit == self.layout.steps.len() {
            return Ok(self.commit_ok(ptrs, commit));
        }
        Ok(true)
    }

    /// Runs generated function `f` on the argument table `args` (iterations `0..extent` of its
    /// parallel loop, split between threads when that pays; `None`: not parallel).
    ///
    /// # Safety
    /// `f` must be safe to call with `args` at this batch size, and on disjoint ranges of its
    /// parallel loop at once.
    unsafe fn launch(&self, f: KernelFn, args: &mut Vec<*mut u8>, parallel: Option<usize>, work: usize) {
        let batch = self.layout.batch as i64;
        clear_upper_vector_state();
        match parallel {
            Some(extent) if self.threads > 1 && extent > 1 && work >= self.par_min => {
                let table = Ptrs(std::mem::take(args));
                let chunks = self.threads.min(extent);
                for_each(chunks, |c| {
                    let (lo, hi) = (extent * c / chunks, extent * (c + 1) / chunks);
                    clear_upper_vector_state();
                    // SAFETY: the caller's contract; the ranges are disjoint.
                    unsafe { f(table.as_ptr(), batch, lo as i64, hi as i64) }
                });
                *args = table.0;
            }
            // SAFETY: the caller's contract, on this thread alone.
            Some(extent) => unsafe { f(args.as_ptr(), batch, 0, extent as i64) },
            None => unsafe { f(args.as_ptr(), batch, 0, 0) },
        }
    }

    fn commit_ok(&self, ptrs: &Ptrs, commit: &mut (dyn FnMut(&Peek<'_>) -> bool + Send)) -> bool {
        commit(&Peek { plan: self.plan, layout: self.layout, ptrs: &ptrs.0 })
    }

    /// Runs one library call on slices of exactly the elements it uses (verified not to
    /// overlap the result).
    fn lib(&self, call: &Resolved, ids: &[usize], reqs: &[ArgReq], ptrs: &Ptrs) -> Result<(), CpuError> {
        let arg = |i: usize| (ptrs.0[ids[i]], reqs[i].len);
        // SAFETY (every `view`/`view_mut` below): argument `i` points at a buffer of this plan
        // with at least `reqs[i].len` elements of the element type it is read as (verified in
        // `check_lib`, dispatched on below), alive for the call; the written (last) argument
        // overlaps no other, and nothing else touches these buffers while the call runs.
        let out = arg(ids.len() - 1);
        let t = self.threads;
        let dtype0 = self.plan.buffers[ids[0]].dtype;
        unsafe {
            match call {
                Resolved::MatMul(g) => lib::gemm::matmul(g, view(arg(0)), view(arg(1)), view_mut(out), t),
                Resolved::Conv2d(g) => lib::conv::conv2d(g, view(arg(0)), view(arg(1)), view_mut(out), t),
                Resolved::ConvTranspose2d(g) => {
                    lib::conv::conv_transpose2d(g, view(arg(0)), view(arg(1)), view_mut(out), t)
                }
                Resolved::Conv2dWeightGrad(g) => {
                    lib::conv::conv2d_weight_grad(g, view(arg(0)), view(arg(1)), view_mut(out), t)
                }
                Resolved::Pool2d { geom, max } => lib::pool::pool2d(geom, *max, view(arg(0)), view_mut(out), t),
                Resolved::MaxPool2dGrad(g) => {
                    lib::pool::max_pool2d_grad(g, view(arg(0)), view(arg(1)), view_mut(out), t)
                }
                Resolved::Gather(g) => match dtype0 {
                    DType::F32 => lib::index::gather::<f32>(g, view(arg(0)), view(arg(1)), view_mut(out), t),
                    DType::I64 => lib::index::gather::<i64>(g, view(arg(0)), view(arg(1)), view_mut(out), t),
                    _ => lib::index::gather::<u8>(g, view(arg(0)), view(arg(1)), view_mut(out), t),
                },
                Resolved::ScatterAdd(g) => {
                    lib::index::scatter_add(g, view(arg(0)), view(arg(1)), view(arg(2)), view_mut(out))
                }
                Resolved::TopK(g) => match dtype0 {
                    DType::F32 => lib::reduce::topk::<f32>(g, view(arg(0)), view_mut(out), t),
                    _ => lib::reduce::topk::<i64>(g, view(arg(0)), view_mut(out), t),
                },
                Resolved::ArgReduce { geom, max } => match dtype0 {
                    DType::F32 => lib::reduce::arg_reduce::<f32>(geom, *max, view(arg(0)), view_mut(out), t),
                    _ => lib::reduce::arg_reduce::<i64>(geom, *max, view(arg(0)), view_mut(out), t),
                },
                Resolved::SparseMatMul(g) => {
                    lib::sparse::sparse_matmul(g, view(arg(0)), view(arg(1)), view(arg(2)), view_mut(out), t)
                }
                Resolved::SampledMatMul(g) => {
                    lib::sparse::sampled_matmul(g, view(arg(0)), view(arg(1)), view(arg(2)), view_mut(out), t)
                }
                Resolved::CheckIndices { n, .. } => lib::check_indices("class", view(arg(0)), *n),
                Resolved::Random { kind, site, .. } => {
                    let scalar = |i: usize| view::<i64>(arg(i))[0];
                    lib::random::fill(*kind, *site, scalar(0), scalar(1), scalar(2), view_mut(out))
                }
            }
        }
    }
}

/// # Safety
/// `p` must point at `n` initialised elements of `T` that nothing writes for `'a`.
unsafe fn view<'a, T>((p, n): (*mut u8, usize)) -> &'a [T] {
    unsafe { std::slice::from_raw_parts(p.cast::<T>(), n) }
}

/// # Safety
/// `p` must point at `n` initialised elements of `T` that nothing else reads or writes for `'a`.
unsafe fn view_mut<'a, T>((p, n): (*mut u8, usize)) -> &'a mut [T] {
    unsafe { std::slice::from_raw_parts_mut(p.cast::<T>(), n) }
}

//! The executor of one plan on the GPU: the same verified [`Layout`] as the CPU executor
//! (`hg_cpu::exec::check_plan` and `layout`: lengths, arena offsets, every library call's
//! geometry against its buffers), device buffers for it, and the steps in order on one stream.
//!
//! Buffers: temporaries at their planned offsets in one device arena per batch size; inputs
//! and outputs in device buffers sized per batch size; residents are the session's device
//! buffers. Generated kernels launch from the loaded PTX ([`crate::launch`]); matrix products
//! go to cuBLAS ([`crate::gemm`]); the other library calls run as the library kernels the PTX
//! carries (`hg_lib_N`, one per distinct call of the program, `DeviceLib`), each with a status
//! word of its own in one small device buffer, which a kernel raises when it meets an index out
//! of range. Random fills have no GPU form (no plan has them) and are refused when the session
//! opens, naming the call.
//!
//! The commit point: a train step reads its loss and the status words back before the steps
//! that update residents (one synchronisation a step), and skips them when the loss is not
//! finite; a raised status fails the call, so a bad index never updates parameters.

use std::collections::BTreeMap;
use std::ffi::c_void;

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::driver::result;
use hg_abi::DType;
use hg_abi::names;
use hg_abi::plan::{BufRole, DeviceLib, KernelSignature, LibCall, Plan, Step};
use hg_cpu::aligned::HostBuf;
use hg_cpu::exec::{Layout, Ready, check_plan, layout};
use hg_cpu::lib::{Resolved, eval_size};
use hg_exec::{NamedTensors, TensorData};

use crate::device::{DeviceBuf, Gpu};
use crate::error::{CudaError, bail};
use crate::gemm::{GemmCall, Operand, gemm_call};
use crate::launch;
use crate::module::Module;

/// A resident tensor on the GPU: its buffer, element type and length.
pub struct Resident {
    pub buf: DeviceBuf,
    pub dtype: DType,
    pub len: usize,
}

/// The name a library call has in messages (`matmul`, `gather`, ...), as the CPU executor
/// names it.
fn call_name(call: &LibCall) -> &'static str {
    hg_cpu::lib::resolve(call, 1).map_or("library call", |r| r.name())
}

/// Why the GPU executor cannot run `plan`, if it cannot: its first library call without a GPU
/// form (matrix products run on cuBLAS, the others but random fills as library kernels).
pub fn unsupported_step(plan: &Plan) -> Option<String> {
    plan.steps.iter().enumerate().find_map(|(s, step)| match step {
        Step::Lib { call, .. } if !matches!(call, LibCall::MatMul { .. }) && !call.is_device_kernel() => {
            Some(format!("step {s} is a `{}`, which the cuda backend does not run", call_name(call)))
        }
        _ => None,
    })
}

/// The elements of an f32 or i64 tensor as bytes, copied to the device as they are (other
/// element types are converted through a [`HostBuf`] first).
fn plain_bytes(data: &TensorData) -> Option<(DType, &[u8])> {
    // SAFETY: f32 and i64 are plain data without padding; the view covers the vector's
    // elements and lives as long as the borrow of `data`.
    unsafe {
        match data {
            TensorData::F32(v) => {
                Some((DType::F32, std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v.as_slice()))))
            }
            TensorData::I64(v) => {
                Some((DType::I64, std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v.as_slice()))))
            }
            _ => None,
        }
    }
}

/// What a batch size fixes, verified: the layout, the cuBLAS form of each product, and the
/// device memory.
struct Prepared {
    layout: Layout,
    gemms: Vec<Option<GemmCall>>,
    /// The work items of each library-kernel step at this batch size.
    extents: Vec<usize>,
    arena: DeviceBuf,
    /// Device buffers of inputs and outputs, by buffer index.
    io: BTreeMap<usize, DeviceBuf>,
}

/// The executor of one plan.
pub struct CudaExecutor {
    plan: Plan,
    sizes: Vec<usize>,
    /// For each step that is a library kernel, its index among the program's `DeviceLib`s.
    libs: Vec<Option<usize>>,
    prepared: Option<Prepared>,
    /// One status word (`i64`) per step, zero unless a library kernel met a bad index; `None`
    /// when no step has a library kernel.
    status: Option<DeviceBuf>,
}

impl CudaExecutor {
    /// Checks the plan as the CPU executor does (against `kernels` kernels and their
    /// signatures), refuses library calls without a GPU form, and finds the library kernel of
    /// every other library call in `libs` (the program's, from `DeviceLib::of_plans`).
    pub fn new(
        plan: Plan,
        kernels: usize,
        signatures: &[KernelSignature],
        libs: &[DeviceLib],
    ) -> Result<CudaExecutor, CudaError> {
        let sizes = check_plan(&plan, kernels, Some(signatures))?;
        if let Some(why) = unsupported_step(&plan) {
            bail!("plan `{}`: {why}; use --backend llvm or cranelift for this model", plan.entry);
        }
        let mut lib_of = Vec::with_capacity(plan.steps.len());
        for (s, step) in plan.steps.iter().enumerate() {
            lib_of.push(match step {
                Step::Lib { call, args } if call.is_device_kernel() => {
                    Some(DeviceLib::find(libs, &plan, call, args).ok_or_else(|| {
                        CudaError::new(format!("plan `{}`: step {s} has no library kernel in the program", plan.entry))
                    })?)
                }
                _ => None,
            });
        }
        Ok(CudaExecutor { plan, sizes, libs: lib_of, prepared: None, status: None })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// What batch size `batch` needs, made (and verified) when the last call had another.
    fn prepare<'p>(
        prepared: &'p mut Option<Prepared>,
        plan: &Plan,
        sizes: &[usize],
        gpu: &Gpu,
        batch: usize,
    ) -> Result<&'p Prepared, CudaError> {
        prepared.take_if(|p| p.layout.batch != batch);
        if let Some(p) = prepared {
            return Ok(p);
        }
        let entry = &plan.entry;
        let layout = layout(plan, sizes, batch, &|_| 1).map_err(|e| CudaError::new(format!("plan `{entry}`: {e}")))?;
        let mut gemms = Vec::with_capacity(layout.steps.len());
        let mut extents = Vec::with_capacity(layout.steps.len());
        for (s, (step, planned)) in layout.steps.iter().zip(&plan.steps).enumerate() {
            gemms.push(match step {
                Ready::Lib { call: Resolved::MatMul(g), .. } => {
                    Some(gemm_call(g).map_err(|e| CudaError::new(format!("plan `{entry}`: step {s}: {e}")))?)
                }
                _ => None,
            });
            extents.push(match planned {
                Step::Lib { call, .. } if call.is_device_kernel() => call.device_extent(batch).ok_or_else(|| {
                    CudaError::new(format!("plan `{entry}`: step {s}: its work overflows at batch size {batch}"))
                })?,
                _ => 0,
            });
        }
        let arena = gpu.alloc(eval_size(plan.arena_bytes, batch, "arena size")?)?;
        let mut io = BTreeMap::new();
        for (i, b) in plan.buffers.iter().enumerate() {
            if matches!(b.role, BufRole::Input(_) | BufRole::Output(_)) {
                io.insert(i, gpu.alloc(layout.lens[i] * sizes[i])?);
            }
        }
        Ok(prepared.insert(Prepared { layout, gemms, extents, arena, io }))
    }

    /// Runs the plan at batch size `batch` on `gpu` with `module`'s kernels: inputs by name,
    /// residents updated in place by the steps after the commit point, which run only when
    /// `train` is false or the loss is finite. Returns the outputs and whether it committed.
    pub fn run(
        &mut self,
        gpu: &Gpu,
        module: &Module,
        batch: usize,
        inputs: &NamedTensors,
        residents: &BTreeMap<String, Resident>,
        train: bool,
    ) -> Result<(Vec<(String, TensorData)>, bool), CudaError> {
        let plan = &self.plan;
        let p = Self::prepare(&mut self.prepared, plan, &self.sizes, gpu, batch)?;
        let fail = |m: String| CudaError::new(format!("`{}`: {m}", plan.entry));
        if self.status.is_none() && self.libs.iter().any(Option::is_some) {
            let status = gpu.alloc(plan.steps.len() * 8)?;
            gpu.upload(status.ptr(), &vec![0u8; plan.steps.len() * 8])?;
            self.status = Some(status);
        }
        let status = self.status.as_ref().map(DeviceBuf::ptr);

        // Every buffer's device address, and inputs copied in.
        let mut ptrs = Vec::with_capacity(plan.buffers.len());
        for (i, b) in plan.buffers.iter().enumerate() {
            let bytes = p.layout.lens[i] * self.sizes[i];
            let ptr = match &b.role {
                BufRole::Temp { .. } => p.arena.ptr() + p.layout.offsets[i].unwrap_or(0) as u64,
                BufRole::Input(_) | BufRole::Output(_) => {
                    p.io.get(&i).ok_or_else(|| fail(format!("buffer %{i} has no device memory")))?.ptr()
                }
                BufRole::Resident(n) => {
                    let r = residents.get(n).ok_or_else(|| fail(format!("resident `{n}` is not loaded")))?;
                    if r.dtype != b.dtype || r.buf.bytes() < bytes {
                        return Err(fail(format!("resident `{n}` does not fit buffer %{i}")));
                    }
                    r.buf.ptr()
                }
            };
            if let BufRole::Input(n) = &b.role {
                let t = inputs.get(n).ok_or_else(|| fail(format!("missing input `{n}`")))?;
                let staged;
                let (dtype, host) = match plain_bytes(t.data()) {
                    Some(plain) => plain,
                    None => {
                        staged = HostBuf::from_tensor(t)?;
                        (staged.dtype, staged.bytes()?)
                    }
                };
                if dtype != b.dtype || host.len() != bytes {
                    return Err(fail(format!("input `{n}` does not fit buffer %{i}")));
                }
                gpu.upload(ptr, host)?;
            }
            ptrs.push(ptr);
        }

        let mut committed = true;
        for (s, step) in p.layout.steps.iter().enumerate() {
            if train && s == plan.commit {
                check_status(plan, gpu, status, &p.layout)?;
                committed = loss_is_finite(plan, gpu, &ptrs)?;
                if !committed {
                    break;
                }
            }
            match step {
                Ready::Kernel { kernel, args, parallel, .. } => {
                    let f = module.function(*kernel).ok_or_else(|| fail(format!("step {s}: no kernel {kernel}")))?;
                    let buffers: Vec<(u64, usize)> = args.iter().map(|&a| (ptrs[a], p.layout.lens[a])).collect();
                    launch(gpu, f, &buffers, batch, *parallel)
                        .map_err(|e| CudaError::driver(&format!("launching step {s} (kernel {kernel})"), e))?;
                }
                Ready::Lib { args, .. } => match (&p.gemms[s], self.libs[s], status) {
                    (Some(call), _, _) => gemm(gpu, call, ptrs[args[0]], ptrs[args[1]], ptrs[args[2]])
                        .map_err(|e| fail(format!("step {s} (matmul): {e}")))?,
                    (None, Some(lib), Some(status)) => {
                        let f = module
                            .lib_function(lib)
                            .ok_or_else(|| fail(format!("step {s}: no library kernel {lib}")))?;
                        let mut buffers: Vec<(u64, usize)> =
                            args.iter().map(|&a| (ptrs[a], p.layout.lens[a])).collect();
                        buffers.push((status + 8 * s as u64, 1));
                        launch(gpu, f, &buffers, batch, Some(p.extents[s]))
                            .map_err(|e| CudaError::driver(&format!("launching step {s} (library kernel {lib})"), e))?;
                    }
                    _ => return Err(fail(format!("step {s}: no GPU form"))),
                },
            }
        }
        if train && plan.commit == p.layout.steps.len() {
            check_status(plan, gpu, status, &p.layout)?;
            committed = loss_is_finite(plan, gpu, &ptrs)?;
        }

        if !train {
            check_status(plan, gpu, status, &p.layout)?;
        }
        let mut outputs = Vec::new();
        for (i, b) in plan.buffers.iter().enumerate() {
            if let BufRole::Output(n) = &b.role {
                let mut host = HostBuf::zeroed(b.dtype, p.layout.lens[i])?;
                gpu.download(ptrs[i], host.bytes_mut()?)?;
                outputs.push((n.clone(), host_data(&host)?));
            }
        }
        gpu.sync()?;
        Ok((outputs, committed))
    }
}

/// Launches `f` over `buffers` (each a device address and length) at batch size `batch`, its
/// parallel loop (`None`: not parallel) spread over a grid.
///
/// The caller vouches that `f`'s parameters are these buffers, in this order, with the
/// lengths its code reads and writes (checked when the plan was opened).
fn launch(
    gpu: &Gpu,
    f: cudarc::driver::sys::CUfunction,
    buffers: &[(u64, usize)],
    batch: usize,
    parallel: Option<usize>,
) -> Result<(), cudarc::driver::DriverError> {
    let Some((blocks, threads)) = launch::grid(parallel) else { return Ok(()) };
    let mut words = launch::params(buffers, batch, 0, parallel.unwrap_or(0));
    let mut params: Vec<*mut c_void> = words.iter_mut().map(|w| (w as *mut u64).cast()).collect();
    // SAFETY: the kernel's signature (or its library call's geometry) was checked against
    // these buffers when the plan was opened, and the parameters follow the lowering's layout;
    // `words` outlives the launch call, which copies them.
    unsafe { result::launch_kernel(f, (blocks, 1, 1), (threads, 1, 1), 0, gpu.stream().cu_stream(), &mut params) }
}

/// Fails the call when a library kernel met an index out of range: reads the status words
/// (when the plan has library kernels), names the first raised step and position, and clears
/// them for the next call.
fn check_status(plan: &Plan, gpu: &Gpu, status: Option<u64>, layout: &Layout) -> Result<(), CudaError> {
    let Some(status) = status else { return Ok(()) };
    let mut bytes = vec![0u8; plan.steps.len() * 8];
    gpu.download(status, &mut bytes)?;
    let raised = bytes.chunks_exact(8).enumerate().find_map(|(s, w)| {
        let code = i64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        (code != 0).then_some((s, code - 1))
    });
    let Some((s, position)) = raised else { return Ok(()) };
    gpu.upload(status, &vec![0u8; bytes.len()])?;
    let name = match &layout.steps[s] {
        Ready::Lib { call, .. } => call.name(),
        Ready::Kernel { .. } => "kernel",
    };
    bail!("`{}`: step {s} ({name}): the index at flat position {position} is out of range", plan.entry)
}

/// Whether the train step's loss (its `loss` output, computed before the commit point) is
/// finite: the one read-back a step waits for.
fn loss_is_finite(plan: &Plan, gpu: &Gpu, ptrs: &[u64]) -> Result<bool, CudaError> {
    let Some(id) = plan.buffers.iter().position(|b| matches!(&b.role, BufRole::Output(n) if n == names::LOSS)) else {
        return Ok(false);
    };
    let mut bytes = [0u8; 4];
    gpu.download(ptrs[id], &mut bytes)?;
    Ok(f32::from_ne_bytes(bytes).is_finite())
}

/// The elements of a host buffer as tensor data.
fn host_data(host: &HostBuf) -> Result<TensorData, CudaError> {
    let bytes = host.bytes()?;
    Ok(match host.dtype {
        DType::F32 => {
            TensorData::F32(bytes.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        DType::I64 => TensorData::I64(
            bytes
                .chunks_exact(8)
                .map(|c| i64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        _ => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
    })
}

fn op(o: Operand) -> cublasOperation_t {
    if o.transpose { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N }
}

/// One plan product on cuBLAS: a strided batched call per outer batch item.
fn gemm(gpu: &Gpu, call: &GemmCall, a: u64, b: u64, c: u64) -> Result<(), String> {
    if call.m == 0 || call.n == 0 || call.inner == 0 {
        return Ok(());
    }
    let alpha = 1.0f32;
    let beta = if call.accumulate { 1.0f32 } else { 0.0 };
    let at = |base: u64, stride: usize, i: usize| base + (stride * i * 4) as u64;
    for i in 0..call.batch {
        // SAFETY: the layout verified that every element this product reads or writes lies
        // inside its buffers; sizes fit cuBLAS's ints (`gemm_call`).
        unsafe {
            cudarc::cublas::result::sgemm_strided_batched(
                *gpu.blas().handle(),
                op(call.first),
                op(call.second),
                call.m as i32,
                call.n as i32,
                call.k as i32,
                &alpha,
                at(b, call.outer_strides[1], i) as *const f32,
                call.first.ld as i32,
                call.inner_strides[1] as i64,
                at(a, call.outer_strides[0], i) as *const f32,
                call.second.ld as i32,
                call.inner_strides[0] as i64,
                &beta,
                at(c, call.outer_strides[2], i) as *mut f32,
                call.ldc as i32,
                call.inner_strides[2] as i64,
                call.inner as i32,
            )
        }
        .map_err(|e| format!("cuBLAS: {e:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::plan::{Affine, RandomKind};

    #[test]
    fn library_calls_are_named_as_in_plans() {
        let call = LibCall::Random { kind: RandomKind::Normal, site: 0, len: Affine::constant(4) };
        assert_eq!(call_name(&call), "random");
        let call = LibCall::ScatterAdd {
            outer: Affine::constant(1),
            axis: Affine::constant(1),
            idx_axis: Affine::constant(1),
            inner: Affine::constant(1),
        };
        assert_eq!(call_name(&call), "scatter_add");
    }
}

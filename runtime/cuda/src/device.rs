//! The GPU a session runs on: the driver probed before anything can panic, one context and
//! one stream on device 0, cuBLAS on that stream, and device memory that frees itself.
//!
//! cudarc loads `libcuda` (and `libcublas`) when first called and panics when it cannot, so
//! [`Gpu::open`] first checks that each library loads and turns absence into an error that
//! says what is missing. Every driver error afterwards is an error naming what was being done.

use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{CudaContext, CudaStream, result};

use crate::error::{CudaError, bail};

/// What the runtime knows of the GPU: for the choice of PTX and for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    /// Compute capability, e.g. `(9, 0)` for an H100.
    pub capability: (i32, i32),
    pub memory_bytes: usize,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gib = self.memory_bytes as f64 / f64::from(1u32 << 30);
        write!(f, "{} (compute capability {}.{}, {gib:.0} GiB)", self.name, self.capability.0, self.capability.1)
    }
}

/// Whether the NVIDIA driver library can be loaded on this machine; `Err` says why not.
pub fn probe_driver() -> Result<(), CudaError> {
    // SAFETY: only tries to load the library; no function of it is called.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        bail!(
            "no NVIDIA driver on this machine (libcuda.so could not be loaded): the cuda backend needs an NVIDIA \
             GPU and its driver; run on the CPU here (`--backend llvm` or `cranelift` with hgc, `--device cpu` for \
             a built model)"
        );
    }
    Ok(())
}

/// One GPU with a context, a stream and a cuBLAS handle on that stream.
pub struct Gpu {
    pub info: DeviceInfo,
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
}

impl Gpu {
    /// Opens device 0 (the first of `CUDA_VISIBLE_DEVICES`), after [`probe_driver`] and a check
    /// that cuBLAS loads.
    pub fn open() -> Result<Gpu, CudaError> {
        probe_driver()?;
        let count = CudaContext::device_count().map_err(|e| CudaError::driver("counting GPUs", e))?;
        if count < 1 {
            bail!("the NVIDIA driver reports no GPU (check CUDA_VISIBLE_DEVICES)");
        }
        let context = CudaContext::new(0).map_err(|e| CudaError::driver("opening GPU 0", e))?;
        let info = DeviceInfo {
            name: context.name().map_err(|e| CudaError::driver("reading the GPU's name", e))?,
            capability: context
                .compute_capability()
                .map_err(|e| CudaError::driver("reading the compute capability", e))?,
            memory_bytes: context.total_mem().map_err(|e| CudaError::driver("reading the GPU's memory", e))?,
        };
        // SAFETY: only tries to load the library.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            bail!(
                "cuBLAS (libcublas.so.12) could not be loaded, and the cuda backend runs matrix products with it: \
                 install the CUDA toolkit's libraries, or `pip install nvidia-cublas-cu12` and add its `lib` folder \
                 to LD_LIBRARY_PATH"
            );
        }
        let stream = context.new_stream().map_err(|e| CudaError::driver("creating a stream", e))?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| CudaError::new(format!("starting cuBLAS: {e:?}")))?;
        Ok(Gpu { info, context, stream, blas })
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub fn blas(&self) -> &CudaBlas {
        &self.blas
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// `bytes` of device memory (at least one, so every buffer has an address).
    pub fn alloc(&self, bytes: usize) -> Result<DeviceBuf, CudaError> {
        self.context.bind_to_thread().map_err(|e| CudaError::driver("binding the context", e))?;
        // SAFETY: a plain allocation in the bound context; freed once, by `DeviceBuf`'s drop.
        let ptr = unsafe { result::malloc_sync(bytes.max(1)) }
            .map_err(|e| CudaError::driver(&format!("allocating {bytes} bytes on the GPU"), e))?;
        Ok(DeviceBuf { ptr, bytes, context: self.context.clone() })
    }

    /// Copies `host` to device memory at `ptr` (at least `host.len()` bytes), in stream order.
    pub fn upload(&self, ptr: CUdeviceptr, host: &[u8]) -> Result<(), CudaError> {
        // SAFETY: the caller gives a live allocation of at least `host.len()` bytes; the copy is
        // complete before `host` may change because the stream is synchronised before this
        // function returns.
        unsafe { result::memcpy_htod_async(ptr, host, self.stream.cu_stream()) }
            .map_err(|e| CudaError::driver("copying to the GPU", e))?;
        self.sync()
    }

    /// Copies device memory at `ptr` into `host`, waiting for the stream's work first.
    pub fn download(&self, ptr: CUdeviceptr, host: &mut [u8]) -> Result<(), CudaError> {
        // SAFETY: as `upload`; the stream is synchronised before `host` is read.
        unsafe { result::memcpy_dtoh_async(host, ptr, self.stream.cu_stream()) }
            .map_err(|e| CudaError::driver("copying from the GPU", e))?;
        self.sync()
    }

    /// Copies `bytes` between two device allocations in stream order.
    pub fn copy(&self, dst: CUdeviceptr, src: CUdeviceptr, bytes: usize) -> Result<(), CudaError> {
        // SAFETY: both ranges lie in live allocations (the caller's verified layout).
        unsafe { result::memcpy_dtod_async(dst, src, bytes, self.stream.cu_stream()) }
            .map_err(|e| CudaError::driver("copying on the GPU", e))
    }

    /// Waits for everything queued on the stream; a kernel's fault surfaces here.
    pub fn sync(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(|e| CudaError::driver("running on the GPU", e))
    }
}

/// Device memory, freed when dropped.
pub struct DeviceBuf {
    ptr: CUdeviceptr,
    bytes: usize,
    context: Arc<CudaContext>,
}

impl DeviceBuf {
    pub fn ptr(&self) -> CUdeviceptr {
        self.ptr
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for DeviceBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `malloc_sync` in this context and is freed only here. A failure
        // (the context already torn down) leaves nothing to do.
        let _ = self.context.bind_to_thread();
        let _ = unsafe { result::free_sync(self.ptr) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without the driver, opening the GPU is an error that says so; with one,
    /// it opens or fails with a message, never a panic.
    #[test]
    fn opening_without_a_driver_is_an_error_not_a_crash() {
        // SAFETY: only tries to load the library.
        let present = unsafe { cudarc::driver::sys::is_culib_present() };
        match Gpu::open() {
            Ok(gpu) => assert!(present && gpu.info.capability.0 > 0),
            Err(e) if !present => assert!(e.0.contains("no NVIDIA driver"), "{e}"),
            Err(e) => assert!(!e.0.is_empty()),
        }
    }
}

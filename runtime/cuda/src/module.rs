//! Generated kernels on the GPU: the PTX texts a model carries (one per chip generation), the
//! one that fits the device, loaded by the driver (which compiles PTX for the actual GPU) and
//! its kernels looked up by name.

use std::ffi::CString;
use std::sync::Arc;

use cudarc::driver::sys::{CUfunction, CUmodule};
use cudarc::driver::{CudaContext, result};

use hg_abi::plan::DeviceLib;

use crate::device::DeviceInfo;
use crate::error::{CudaError, bail};

/// PTX texts by the compute capability they target (`80` for sm_80, `90` for sm_90).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PtxSet {
    pub texts: Vec<(u32, String)>,
}

impl PtxSet {
    /// The PTX for a device of `capability`: the newest target it can run (PTX made for an
    /// older chip runs on newer ones; the driver compiles it for the device), or why none fits.
    pub fn for_device(&self, capability: (i32, i32)) -> Result<(u32, &str), String> {
        let best = best_target(capability, self.texts.iter().map(|(target, _)| *target));
        match self.texts.iter().find(|(target, _)| Some(*target) == best) {
            Some((target, text)) => Ok((*target, text)),
            None => {
                let targets: Vec<String> = self.texts.iter().map(|(t, _)| format!("sm_{t}")).collect();
                Err(format!(
                    "this GPU has compute capability {}.{}, and the model carries PTX for {} only",
                    capability.0,
                    capability.1,
                    if targets.is_empty() { "no GPU".to_string() } else { targets.join(", ") }
                ))
            }
        }
    }
}

/// Of PTX `targets` (`80` for sm_80), the newest a device of `capability` runs: PTX made for
/// an older chip runs on newer ones (the driver compiles it for the device), never the reverse.
pub fn best_target(capability: (i32, i32), targets: impl IntoIterator<Item = u32>) -> Option<u32> {
    let device = u32::try_from(capability.0 * 10 + capability.1).unwrap_or(0);
    targets.into_iter().filter(|&target| target <= device).max()
}

/// A loaded PTX module, its kernels `hg_kernel_0 .. hg_kernel_{n-1}` and its library kernels
/// `hg_lib_0 .. hg_lib_{m-1}`.
pub struct Module {
    module: CUmodule,
    functions: Vec<CUfunction>,
    libs: Vec<CUfunction>,
    context: Arc<CudaContext>,
    /// The target of the PTX that was loaded (`90` for sm_90).
    pub target: u32,
}

impl Module {
    /// Loads the PTX of `ptx` that fits `info`'s device and looks up `kernels` kernels and
    /// `libs` library kernels.
    pub fn load(
        context: &Arc<CudaContext>,
        info: &DeviceInfo,
        ptx: &PtxSet,
        kernels: usize,
        libs: usize,
    ) -> Result<Module, CudaError> {
        let (target, text) = ptx.for_device(info.capability).map_err(CudaError::new)?;
        let source = CString::new(text).map_err(|_| CudaError::new("the model's PTX holds a NUL byte"))?;
        context.bind_to_thread().map_err(|e| CudaError::driver("binding the context", e))?;
        // SAFETY: a NUL-terminated PTX text the driver parses and checks.
        let module = unsafe { result::module::load_data(source.as_ptr().cast()) }
            .map_err(|e| CudaError::driver(&format!("loading the sm_{target} PTX on {info}"), e))?;
        let mut loaded = Module { module, functions: Vec::new(), libs: Vec::new(), context: context.clone(), target };
        loaded.functions = (0..kernels).map(|k| loaded.lookup(&format!("hg_kernel_{k}"))).collect::<Result<_, _>>()?;
        loaded.libs = (0..libs).map(|k| loaded.lookup(&DeviceLib::symbol(k))).collect::<Result<_, _>>()?;
        Ok(loaded)
    }

    fn lookup(&self, name: &str) -> Result<CUfunction, CudaError> {
        let c_name = CString::new(name).map_err(|_| CudaError::new("bad kernel name"))?;
        // SAFETY: the module is loaded; a missing name is an error, not a crash.
        match unsafe { result::module::get_function(self.module, c_name) } {
            Ok(f) => Ok(f),
            Err(e) => bail!("the model's PTX has no kernel `{name}`: {e}"),
        }
    }

    /// Library kernel `k` (`hg_lib_k`).
    pub fn lib_function(&self, k: usize) -> Option<CUfunction> {
        self.libs.get(k).copied()
    }

    pub fn function(&self, k: usize) -> Option<CUfunction> {
        self.functions.get(k).copied()
    }

    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.context.bind_to_thread();
        // SAFETY: loaded once in this context, unloaded only here.
        let _ = unsafe { result::module::unload(self.module) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_ptx_the_device_runs_is_chosen() {
        let set = PtxSet { texts: vec![(80, "a".into()), (90, "h".into())] };
        assert_eq!(set.for_device((8, 0)).unwrap(), (80, "a"));
        assert_eq!(set.for_device((8, 9)).unwrap(), (80, "a"));
        assert_eq!(set.for_device((9, 0)).unwrap(), (90, "h"));
        assert_eq!(set.for_device((12, 0)).unwrap(), (90, "h"));
        let err = set.for_device((7, 5)).unwrap_err();
        assert!(err.contains("7.5") && err.contains("sm_80, sm_90"), "{err}");
        assert!(PtxSet::default().for_device((9, 0)).unwrap_err().contains("no GPU"));
    }
}

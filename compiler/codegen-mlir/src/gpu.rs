//! The kernels of a program as PTX for one NVIDIA [`Chip`]: the module of
//! [`crate::kernel::gpu_module`] parsed, verified and lowered by [`crate::lower`]. One PTX text
//! holds every kernel, each an `.entry` named as its CPU symbol (`hg_kernel_N`). With
//! `libdevice`, kernels may call its math functions and it is linked; without, kernels that
//! need it have no GPU form.

use hg_abi::plan::DeviceLib;
use hg_kernel::ir::Kernel;

use crate::context::new_context;
use crate::cpu::parse_verified;
use crate::kernel::{GPU_MODULE, gpu_module, gpu_program};
use crate::libdevice::Libdevice;
use crate::lower::lower_to_ptx;
use crate::{Chip, CodegenError};

/// PTX for `chip` of every kernel in `kernels` (an error if one has no GPU form).
pub fn kernels_ptx(kernels: &[Kernel], chip: Chip, libdevice: Option<&Libdevice>) -> Result<String, CodegenError> {
    lower(&gpu_module(kernels, libdevice.is_some())?, chip, libdevice)
}

/// PTX for `chip` of the kernels of a program that have a GPU form, each an `.entry` named by
/// its index in the program (`hg_kernel_N`), and of its device library calls (`hg_lib_N`,
/// `libs` from `DeviceLib::of_plans`); the symbols left out, with why.
pub fn program_ptx(
    kernels: &[Kernel],
    libs: &[DeviceLib],
    chip: Chip,
    libdevice: Option<&Libdevice>,
) -> Result<(String, Vec<(String, CodegenError)>), CodegenError> {
    let program = gpu_program(kernels, libs, libdevice.is_some())?;
    Ok((lower(&program.text, chip, libdevice)?, program.refused))
}

fn lower(text: &str, chip: Chip, libdevice: Option<&Libdevice>) -> Result<String, CodegenError> {
    let context = new_context();
    let mut module = parse_verified(&context, text, GPU_MODULE)?;
    lower_to_ptx(&context, &mut module, GPU_MODULE, chip, libdevice)
}

//! The kernels of a program as PTX for one NVIDIA [`Chip`]: the module of
//! [`crate::kernel::gpu_module`] parsed, verified and lowered by [`crate::lower`]. One PTX text
//! holds every kernel, each an `.entry` named as its CPU symbol (`hg_kernel_N`).

use hg_kernel::ir::Kernel;

use crate::context::new_context;
use crate::cpu::parse_verified;
use crate::kernel::{GPU_MODULE, gpu_module_of};
use crate::lower::lower_to_ptx;
use crate::{Chip, CodegenError};

/// PTX for `chip` of every kernel in `kernels`.
pub fn kernels_ptx(kernels: &[Kernel], chip: Chip) -> Result<String, CodegenError> {
    some_kernels_ptx(kernels.iter().enumerate(), chip)
}

/// PTX for `chip` of some kernels of a program, each with its index in the program's table.
pub fn some_kernels_ptx<'k>(
    kernels: impl IntoIterator<Item = (usize, &'k Kernel)>,
    chip: Chip,
) -> Result<String, CodegenError> {
    let context = new_context();
    let mut module = parse_verified(&context, &gpu_module_of(kernels)?, GPU_MODULE)?;
    lower_to_ptx(&context, &mut module, GPU_MODULE, chip)
}

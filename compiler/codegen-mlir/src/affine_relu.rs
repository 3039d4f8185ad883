//! The affine-ReLU kernel, `y[i] = max(a * x[i] + b, 0)` over `f32` arrays, built op by op as
//! an MLIR `gpu.module` and lowered to PTX.
//!
//! Numerics are the same in all three code generators so their outputs can be compared bit
//! for bit: `arith.mulf` and `arith.addf` carry no fast-math flags, so they become separate
//! `mul.rn` and `add.rn` (no FMA), and the maximum is `arith.maximumf` (IEEE 754-2019
//! `maximum`: NaN in gives NaN out, and `+0.0 > -0.0`).
//!
//! Kernel ABI: `hg_affine_relu(x: memref<?xf32>, y: memref<?xf32>, a: f32, b: f32)`. Each
//! dynamic memref is passed as five PTX parameters (allocated pointer, aligned pointer,
//! offset, size, stride), so the entry has 12 parameters. The loop is grid-stride: thread `t`
//! of `T` launched threads handles `t, t + T, t + 2T, ...`, so any launch of at least one
//! thread covers the whole array. It runs over `min(size(x), size(y))` elements, so a launch
//! with mismatched sizes never writes out of bounds. `memref<?xf32>` has the identity
//! layout (offset 0, stride 1), so the generated code reads only the aligned pointers and the
//! sizes: a launch passes `(p, p, 0, n, 1)` for an array of `n` floats at device address `p`.

use melior::Context;
use melior::ir::{Block, Module, Type};

use crate::context::new_context;
use crate::lower::lower_to_ptx;
use crate::ops::{OpBuilder, argument, region};
use crate::{Chip, CodegenError};

/// Name of the kernel: the `gpu.func` symbol and the PTX `.entry`.
pub const KERNEL_NAME: &str = "hg_affine_relu";

/// Name of the `gpu.module` holding the kernel.
pub const MODULE_NAME: &str = "hg_affine_relu_module";

/// The kernel's MLIR module before lowering, as text.
pub fn affine_relu_mlir() -> Result<String, CodegenError> {
    let context = new_context();
    let module = build_affine_relu(&context)?;
    Ok(module.as_operation().to_string())
}

/// The kernel as PTX text for `chip`.
pub fn affine_relu_ptx(chip: Chip) -> Result<String, CodegenError> {
    let context = new_context();
    let mut module = build_affine_relu(&context)?;
    lower_to_ptx(&context, &mut module, MODULE_NAME, chip, None)
}

/// Builds a module holding the `gpu.module` with the kernel:
///
/// ```text
/// gpu.func @hg_affine_relu(%x: memref<?xf32>, %y: memref<?xf32>, %a: f32, %b: f32) kernel {
///   %n = arith.minui (memref.dim %x, 0), (memref.dim %y, 0)
///   %stride = arith.muli (gpu.block_dim x), (gpu.grid_dim x)
///   scf.for %i = (gpu.global_id x) to %n step %stride {
///     memref.store (arith.maximumf (arith.addf (arith.mulf %a, %x[%i]), %b), 0.0), %y[%i]
///   }
///   gpu.return
/// }
/// ```
fn build_affine_relu(context: &Context) -> Result<Module<'_>, CodegenError> {
    let ops = OpBuilder::new(context);
    let location = ops.location;
    let f32_type = Type::float32(context);
    let index = Type::index(context);
    let memref = ops.parse_type("memref<?xf32>")?;
    let dim_x = ops.parse_attribute("#gpu<dim x>")?;

    let inputs = [memref, memref, f32_type, f32_type];
    let body = Block::new(&inputs.map(|ty| (ty, location)));
    let x = argument(&body, 0)?;
    let y = argument(&body, 1)?;
    let scale = argument(&body, 2)?;
    let shift = argument(&body, 3)?;

    let zero_index = ops.constant(&body, "0 : index", index)?;
    let len_x = ops.value(&body, "memref.dim", &[x, zero_index], index, &[])?;
    let len_y = ops.value(&body, "memref.dim", &[y, zero_index], index, &[])?;
    let n = ops.value(&body, "arith.minui", &[len_x, len_y], index, &[])?;
    let dim_x = [("dimension", dim_x)];
    let first = ops.value(&body, "gpu.global_id", &[], index, &dim_x)?;
    let block_dim = ops.value(&body, "gpu.block_dim", &[], index, &dim_x)?;
    let grid_dim = ops.value(&body, "gpu.grid_dim", &[], index, &dim_x)?;
    let stride = ops.value(&body, "arith.muli", &[block_dim, grid_dim], index, &[])?;
    let zero = ops.constant(&body, "0.0 : f32", f32_type)?;

    let step = Block::new(&[(index, location)]);
    let i = argument(&step, 0)?;
    let xv = ops.value(&step, "memref.load", &[x, i], f32_type, &[])?;
    let product = ops.value(&step, "arith.mulf", &[scale, xv], f32_type, &[])?;
    let sum = ops.value(&step, "arith.addf", &[product, shift], f32_type, &[])?;
    let relu = ops.value(&step, "arith.maximumf", &[sum, zero], f32_type, &[])?;
    ops.append(&step, "memref.store", &[relu, y, i], vec![])?;
    ops.append(&step, "scf.yield", &[], vec![])?;
    ops.append(&body, "scf.for", &[first, n, stride], vec![region(step)])?;
    ops.append(&body, "gpu.return", &[], vec![])?;

    let kernel = ops.gpu_kernel(KERNEL_NAME, &inputs, body)?;
    ops.gpu_container(MODULE_NAME, vec![kernel])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptxas::{assemble, find_ptxas};

    #[test]
    fn mlir_text_uses_gpu_scf_arith_and_memref() {
        let text = affine_relu_mlir().expect("build");
        for needle in [
            "module attributes {gpu.container_module}",
            "gpu.module @hg_affine_relu_module",
            "gpu.func @hg_affine_relu(%arg0: memref<?xf32>, %arg1: memref<?xf32>, %arg2: f32, %arg3: f32) kernel",
            "arith.minui",
            "gpu.global_id  x",
            "scf.for",
            "memref.load",
            "arith.mulf",
            "arith.addf",
            "arith.maximumf",
            "memref.store",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
        }
    }

    #[test]
    fn ptx_has_the_entry_target_and_unfused_arithmetic() {
        for chip in Chip::ALL {
            let ptx = affine_relu_ptx(chip).expect("lower");
            let context = format!("{chip}:\n{ptx}");
            assert!(ptx.contains(&format!(".version {}\n", chip.ptx_version())), "{context}");
            assert!(ptx.contains(&format!(".target {}\n", chip.arch())), "{context}");
            assert!(ptx.contains(".visible .entry hg_affine_relu("), "{context}");
            // Two 5-field memref descriptors and two scalars.
            assert_eq!(ptx.matches(".param .").count(), 12, "{context}");
            for needle in ["mul.rn.f32", "add.rn.f32", "max.NaN.f32", "ld.global", "st.global"] {
                assert!(ptx.contains(needle), "missing `{needle}` in {context}");
            }
            assert!(!ptx.contains("fma."), "kernel must not fuse multiply-add: {context}");
        }
    }

    #[test]
    fn ptx_assembles_with_ptxas_for_its_chip_only() {
        let ptxas_path = find_ptxas().unwrap_or_else(|message| panic!("{message}"));
        let dir = tempfile::tempdir().expect("tempdir");
        for chip in Chip::ALL {
            let path = dir.path().join(format!("{KERNEL_NAME}_{chip}.ptx"));
            std::fs::write(&path, affine_relu_ptx(chip).expect("lower")).expect("write PTX");
            let cubin = assemble(&ptxas_path, chip.arch(), &path).unwrap_or_else(|e| panic!("{e}"));
            let cubin = std::fs::read(cubin).expect("cubin");
            assert_eq!(cubin.get(..4), Some(b"\x7fELF".as_slice()), "a cubin is an ELF file");
        }
        // Why there is one PTX per chip: the sm_90 text is refused when assembling for sm_80.
        let newer = dir.path().join(format!("{KERNEL_NAME}_sm_90.ptx"));
        assert!(assemble(&ptxas_path, "sm_80", &newer).is_err());
    }
}

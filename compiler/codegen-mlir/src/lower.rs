//! Lowering of a module holding one `gpu.module` to PTX text for a [`Chip`], in-process.
//!
//! The pipeline turns `scf` into branches, expands `memref` descriptors, attaches an NVVM
//! target for the chip, lowers the kernel bodies to the `llvm`/`nvvm` dialects and finally
//! serialises the `gpu.module` with LLVM's NVPTX backend (`format=isa` gives PTX text, so no
//! CUDA toolkit is involved). The `math` ops kernels use (`fma`, `absi`) become LLVM
//! intrinsics before the GPU conversion, which NVPTX implements with its own instructions;
//! the f32 transcendental functions are inline `arith` sequences. Kernels that call libdevice
//! (`__nv_sin`, `__nv_log`, ...: see `kernel::math`) get it linked (`nvvm-attach-target`'s
//! `l=`), and LLVM keeps only the functions they use, so the PTX holds their code and needs no
//! library at run time. The result is a `gpu.binary` whose first object is PTX.

use melior::Context;
use melior::ir::attribute::ArrayAttribute;
use melior::ir::operation::{OperationLike, WalkOrder, WalkResult};
use melior::ir::{AttributeLike, Module};
use melior::pass::PassManager;
use melior::utility::parse_pass_pipeline;

use crate::context::with_diagnostics;
use crate::libdevice::Libdevice;
use crate::{Chip, CodegenError};

/// The pass pipeline from a `gpu.module` to a `gpu.binary` holding PTX for `chip`, linking
/// `libdevice` when given.
pub fn ptx_pipeline(chip: Chip, libdevice: Option<&Libdevice>) -> String {
    let link = libdevice.map(|l| format!(" l={}", l.path().display())).unwrap_or_default();
    format!(
        "builtin.module(convert-scf-to-cf,expand-strided-metadata,\
         nvvm-attach-target{{chip={arch} features={features} O=3{link}}},\
         convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,\
         gpu.module(convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),\
         gpu-module-to-binary{{format=isa}})",
        arch = chip.arch(),
        features = chip.ptx_feature(),
    )
}

/// Verifies `module`, lowers it in place with [`ptx_pipeline`] and returns the PTX text.
/// `name` (the `gpu.module`'s symbol) only labels errors.
pub fn lower_to_ptx(
    context: &Context,
    module: &mut Module<'_>,
    name: &str,
    chip: Chip,
    libdevice: Option<&Libdevice>,
) -> Result<String, CodegenError> {
    let (valid, diagnostics) = with_diagnostics(context, || module.as_operation().verify());
    if !valid {
        return Err(CodegenError::InvalidModule { module: name.to_string(), diagnostics });
    }

    let pipeline = ptx_pipeline(chip, libdevice);
    let manager = PassManager::new(context);
    parse_pass_pipeline(manager.as_operation_pass_manager(), &pipeline)
        .map_err(|error| CodegenError::Pipeline { pipeline: pipeline.clone(), message: error.to_string() })?;
    let (result, diagnostics) = with_diagnostics(context, || manager.run(module));
    if result.is_err() {
        return Err(CodegenError::Lowering { chip, diagnostics });
    }
    extract_ptx(module, chip)
}

/// The text of the first object of the first `gpu.binary` in `module`.
fn extract_ptx(module: &Module<'_>, chip: Chip) -> Result<String, CodegenError> {
    let mut object: Option<Vec<u8>> = None;
    module.as_operation().walk(WalkOrder::PreOrder, |op| {
        if op.name().as_string_ref().as_str() != Ok("gpu.binary") {
            return WalkResult::Advance;
        }
        let first = op
            .attribute("objects")
            .ok()
            .and_then(|objects| ArrayAttribute::try_from(objects).ok())
            .and_then(|objects| objects.element(0).ok());
        if let Some(attribute) = first {
            // SAFETY: the attribute is checked to be a `#gpu.object` before its string is read;
            // the string is owned by the context, which outlives this copy.
            unsafe {
                if mlir_sys::mlirAttributeIsAGPUObjectAttr(attribute.to_raw()) {
                    let text = mlir_sys::mlirGPUObjectAttrGetObject(attribute.to_raw());
                    let bytes = std::slice::from_raw_parts(text.data.cast::<u8>(), text.length);
                    object = Some(bytes.to_vec());
                }
            }
        }
        WalkResult::Interrupt
    });
    let bytes = object.ok_or(CodegenError::NoBinary { chip })?;
    String::from_utf8(bytes).map_err(|_| CodegenError::NotPtx { chip })
}

#[cfg(test)]
mod tests {
    use melior::ir::Block;

    use super::*;
    use crate::context::new_context;
    use crate::ops::OpBuilder;

    #[test]
    fn pipeline_names_the_chip_and_ptx_version() {
        let pipeline = ptx_pipeline(Chip::Sm80, None);
        assert!(pipeline.contains("nvvm-attach-target{chip=sm_80 features=+ptx70 O=3}"));
        assert!(ptx_pipeline(Chip::Sm90, None).contains("chip=sm_90 features=+ptx80"));
    }

    #[test]
    fn a_failing_pass_reports_its_diagnostics() {
        let context = new_context();
        // `vector.print` becomes a call to a host print function that does not exist on the
        // device, so the pipeline must fail, and the error must point at the source line.
        let source = r#"
            module attributes {gpu.container_module} {
              gpu.module @unlowerable {
                gpu.func @k(%v: f32) kernel {
                  vector.print %v : f32
                  gpu.return
                }
              }
            }"#;
        let mut module = Module::parse(&context, source).expect("parse");
        match lower_to_ptx(&context, &mut module, "unlowerable", Chip::Sm90, None) {
            Err(CodegenError::Lowering { chip, diagnostics }) => {
                assert_eq!(chip, Chip::Sm90);
                assert!(diagnostics.contains("printF32"), "{diagnostics}");
                assert!(diagnostics.contains(":5:19"), "location of `vector.print`: {diagnostics}");
            }
            other => panic!("expected a lowering error, got {other:?}"),
        }
    }

    #[test]
    fn an_invalid_module_is_reported_with_diagnostics() {
        let context = new_context();
        let ops = OpBuilder::new(&context);
        // A `gpu.func` whose body has no terminator does not verify.
        let kernel = ops.gpu_kernel("k", &[], Block::new(&[])).expect("build gpu.func");
        let mut module = ops.gpu_container("bad", vec![kernel]).expect("build module");
        match lower_to_ptx(&context, &mut module, "bad", Chip::Sm80, None) {
            Err(CodegenError::InvalidModule { module, diagnostics }) => {
                assert_eq!(module, "bad");
                assert!(diagnostics.contains("terminator"), "{diagnostics}");
            }
            other => panic!("expected an invalid-module error, got {other:?}"),
        }
    }
}

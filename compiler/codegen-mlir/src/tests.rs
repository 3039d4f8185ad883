//! The MLIR lowering of kernel IR against the reference evaluator (`hg_kernel::eval`), bit for
//! bit, on the kernel catalogue every code generator is held to, through the real CPU path:
//! MLIR text, MLIR's conversion to the `llvm` dialect, LLVM's O3, an object loaded by the
//! runtime's loader.

use hg_kernel::eval::Buffer;
use hg_kernel::ir::{Kernel, Scalar, UnaryOp};
use hg_kernel::testing::kernels::{catalogue, inline_edge_case, integer_division_case, random_kernel, row_reduction};
use hg_kernel::testing::{KernelBuilder, b, c, check_against_evaluator, check_inputs_against_evaluator, ix};

use crate::cpu::{compile, llvm_dialect};
use crate::gpu::kernels_ptx;
use crate::kernel::{cpu_module, gpu_module, gpu_program};
use crate::{Chip, CodegenError, Libdevice};

/// The libdevice `scripts/setup.sh` installs (tests fail without it rather than skip).
fn libdevice() -> Libdevice {
    Libdevice::find()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("libdevice not found: run scripts/setup.sh, or {}", crate::libdevice::HOW_TO_GET))
}

#[test]
fn the_kernel_catalogue_matches_the_evaluator_bit_for_bit() {
    let cases = catalogue();
    let kernels: Vec<Kernel> = cases.iter().map(|(k, _)| k.clone()).collect();
    let compiled = compile(&kernels).unwrap_or_else(|e| panic!("{e}"));
    assert!(compiled.len() > 100);
    for (i, (kernel, batches)) in cases.iter().enumerate() {
        check_against_evaluator(kernel, batches, &mut |bufs, batch, lo, hi| {
            compiled.run(i, bufs, batch, lo, hi).unwrap()
        });
    }
}

/// The inline transcendental functions (written once over `fastmath::Arith`) on every edge
/// case.
#[test]
fn inline_functions_on_edge_cases() {
    for op in [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Softplus, UnaryOp::Gelu] {
        for shift in 0..8 {
            let (kernel, input) = inline_edge_case(op, shift, false);
            let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
            check_inputs_against_evaluator(&kernel, input, 1, &mut |bufs, batch, lo, hi| {
                compiled.run(0, bufs, batch, lo, hi).unwrap()
            });
        }
    }
}

/// Integer division never traps: by zero it gives 0, `MIN / -1` wraps.
#[test]
fn integer_division_by_zero_and_overflow() {
    let (kernel, mut bufs, want) = integer_division_case();
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    compiled.run(0, &mut bufs, 1, 0, 0).unwrap();
    assert_eq!(bufs[2], want);
}

/// Float-to-integer conversions saturate and take NaN to 0, as Rust's `as` and the evaluator.
#[test]
fn float_to_integer_conversions_saturate() {
    let mut k = KernelBuilder::new("to_int");
    let x = k.arg(Scalar::F32, c(6), false);
    let out = k.arg(Scalar::I64, c(6), true);
    k.loop_(c(6), |k, i| {
        let v = k.load(x, ix(&[(i, c(1))], c(0)));
        let n = k.cast(Scalar::I64, v);
        k.store(out, ix(&[(i, c(1))], c(0)), n);
    });
    let kernel = k.finish(false);
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    let input = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -2.5, 9.223_372e18];
    let want: Vec<i64> = input.iter().map(|&v| v as i64).collect();
    let mut bufs = vec![Buffer::F32(input), Buffer::I64(vec![0; 6])];
    compiled.run(0, &mut bufs, 1, 0, 0).unwrap();
    assert_eq!(bufs[1], Buffer::I64(want));
}

/// A kernel that fails verification is not compiled.
#[test]
fn invalid_kernels_are_not_compiled() {
    let err = compile(&[hg_kernel::testing::kernels::out_of_bounds()]).unwrap_err();
    assert!(matches!(err, CodegenError::Verify(_)), "{err}");
}

/// The MLIR of a parallel row reduction: the accumulator is an `iter_args` value of the inner
/// `scf.for`, the outer loop runs over `lo..hi`, memrefs are built from the pointer table.
#[test]
fn row_reduction_mlir() {
    insta::assert_snapshot!(cpu_module(&[row_reduction(3)]).unwrap());
}

/// After MLIR's conversion passes only the `llvm` dialect is left.
#[test]
fn the_cpu_pipeline_leaves_only_the_llvm_dialect() {
    let text = llvm_dialect(&[row_reduction(3)]).unwrap();
    for dialect in ["scf.", "memref.", "arith.", "math.", "func.func", "builtin.unrealized_conversion_cast"] {
        assert!(!text.contains(dialect), "`{dialect}` left:\n{text}");
    }
    assert!(text.contains("llvm.func @hg_kernel_0(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64)"), "{text}");
}

/// With libdevice, every catalogue kernel has a GPU form.
fn gpu_kernels() -> Vec<Kernel> {
    let all: Vec<Kernel> = catalogue().into_iter().map(|(k, _)| k).collect();
    let refused = gpu_program(&all, &[], true).unwrap().refused;
    assert!(refused.is_empty(), "no GPU form: {refused:?}");
    all
}

/// The GPU form of a parallel row reduction: the rows spread over the grid's threads.
#[test]
fn row_reduction_gpu_mlir() {
    insta::assert_snapshot!(gpu_module(&[row_reduction(3)], false).unwrap());
}

/// Without libdevice, kernels that need its functions (a normal draw's `log`) are refused
/// for the GPU with the function's name and how to get libdevice, not miscompiled.
#[test]
fn without_libdevice_math_kernels_are_refused() {
    let err = gpu_module(&[random_kernel(4)], false).unwrap_err().to_string();
    assert!(err.contains("`log` needs NVIDIA's libdevice") && err.contains("HG_LIBDEVICE"), "{err}");
}

/// The math functions the CPU takes from the runtime are libdevice's on the GPU, linked into
/// the PTX: `ptxas` assembles it alone, with no external function left.
#[test]
fn libdevice_functions_are_linked_into_the_ptx() {
    use hg_abi::plan::RandomKind;
    use hg_kernel::ir::BinaryOp;
    let mut k = KernelBuilder::new("math");
    let key = k.arg(Scalar::I64, c(2), false);
    let x = k.arg(Scalar::F32, b(4), false);
    let y = k.arg(Scalar::F32, b(4), true);
    k.loop_(b(4), |k, i| {
        let seed = k.load(key, ix(&[], c(0)));
        let step = k.load(key, ix(&[], c(1)));
        let counter = k.var(i);
        let z = k.random(RandomKind::Normal, 1, seed, step, counter);
        let v = k.load(x, ix(&[(i, c(1))], c(0)));
        let s = k.un(UnaryOp::Sin, v);
        let p = k.bin(BinaryOp::Pow, s, z);
        let wide = k.cast(Scalar::F64, p);
        let g = k.un(UnaryOp::Gelu, wide);
        let t = k.un(UnaryOp::Softplus, g);
        let narrow = k.cast(Scalar::F32, t);
        k.store(y, ix(&[(i, c(1))], c(0)), narrow);
    });
    let kernel = k.finish(true);
    let text = gpu_module(std::slice::from_ref(&kernel), true).unwrap();
    for f in ["__nv_log", "__nv_cos", "__nv_sin", "__nv_pow", "__nv_erfc", "__nv_log1p", "__nv_exp"] {
        assert!(text.contains(&format!("llvm.func @{f}(")), "{f} not declared:\n{text}");
    }
    let libdevice = libdevice();
    let ptxas = crate::ptxas::find_ptxas().unwrap_or_else(|message| panic!("{message}"));
    let dir = tempfile::tempdir().unwrap();
    for chip in Chip::ALL {
        let ptx = kernels_ptx(std::slice::from_ref(&kernel), chip, Some(&libdevice)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!ptx.contains(".extern"), "a function left external: {ptx}");
        let path = dir.path().join(format!("math_{chip}.ptx"));
        std::fs::write(&path, &ptx).unwrap();
        crate::ptxas::assemble(&ptxas, chip.arch(), &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every catalogue kernel the GPU form takes lowers to PTX for both chips, and `ptxas`
/// assembles it for its chip.
#[test]
fn catalogue_kernels_assemble_with_ptxas() {
    let kernels = gpu_kernels();
    let libdevice = libdevice();
    let ptxas = crate::ptxas::find_ptxas().unwrap_or_else(|message| panic!("{message}"));
    let dir = tempfile::tempdir().unwrap();
    for chip in Chip::ALL {
        let ptx = kernels_ptx(&kernels, chip, Some(&libdevice)).unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert_eq!(ptx.matches(".visible .entry hg_kernel_").count(), kernels.len());
        let path = dir.path().join(format!("catalogue_{chip}.ptx"));
        std::fs::write(&path, &ptx).unwrap();
        crate::ptxas::assemble(&ptxas, chip.arch(), &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Uniform and Bernoulli draws are inline Philox (bit for bit the runtime's stream on the CPU,
/// in the catalogue above), so a dropout-like kernel has a GPU form that `ptxas` assembles.
#[test]
fn uniform_and_bernoulli_draws_have_a_gpu_form() {
    use hg_abi::plan::RandomKind;
    let mut k = KernelBuilder::new("dropout");
    let key = k.arg(Scalar::I64, c(2), false);
    let y = k.arg(Scalar::F32, b(4), true);
    k.loop_(b(4), |k, i| {
        let seed = k.load(key, ix(&[], c(0)));
        let step = k.load(key, ix(&[], c(1)));
        let counter = k.var(i);
        let keep = k.random(RandomKind::Bernoulli { p: 0.9 }, 1, seed, step, counter);
        let u = k.random(RandomKind::Uniform { lo: -1.0, hi: 1.0 }, 2, seed, step, counter);
        let v = k.bin(hg_kernel::ir::BinaryOp::Mul, keep, u);
        k.store(y, ix(&[(i, c(1))], c(0)), v);
    });
    let kernel = k.finish(true);
    let ptxas = crate::ptxas::find_ptxas().unwrap_or_else(|message| panic!("{message}"));
    let dir = tempfile::tempdir().unwrap();
    for chip in Chip::ALL {
        let ptx = kernels_ptx(std::slice::from_ref(&kernel), chip, None).unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert!(!ptx.contains("call"), "no calls on the GPU: {ptx}");
        let path = dir.path().join(format!("dropout_{chip}.ptx"));
        std::fs::write(&path, &ptx).unwrap();
        crate::ptxas::assemble(&ptxas, chip.arch(), &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The PTX of a parallel row reduction for sm_90, as LLVM's NVPTX backend writes it.
#[test]
fn row_reduction_ptx() {
    insta::assert_snapshot!(kernels_ptx(&[row_reduction(3)], Chip::Sm90, None).unwrap());
}

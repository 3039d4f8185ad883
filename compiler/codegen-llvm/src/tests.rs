//! Generated code against the reference evaluator (`hg_kernel::eval`), bit for bit, on the
//! kernel catalogue every code generator is held to (`hg_kernel::testing::kernels`), through
//! the real path: an object emitted by LLVM and loaded by the runtime's loader.

use hg_kernel::ir::{Kernel, UnaryOp};
use hg_kernel::testing::kernels::{
    catalogue, inline_edge_case, inline_kernel, integer_division_case, normalise, row_reduction, transcendental_rows,
};
use hg_kernel::testing::{Rng, buffers, check_against_evaluator, check_inputs_against_evaluator};

use crate::{CodegenError, CompiledKernels, HostTarget, compile, kernels_ir};

/// Runs every kernel at every batch size on the same random buffers as the evaluator (a
/// parallel kernel also in two halves, upper half first) and compares every buffer.
fn check_all(kernels: &[(Kernel, Vec<i64>)]) -> CompiledKernels {
    let list: Vec<Kernel> = kernels.iter().map(|(k, _)| k.clone()).collect();
    let compiled = compile(&list).unwrap_or_else(|e| panic!("{e}"));
    for (i, (kernel, batches)) in kernels.iter().enumerate() {
        check_against_evaluator(kernel, batches, &mut |bufs, batch, lo, hi| {
            compiled.run(i, bufs, batch, lo, hi).unwrap()
        });
    }
    compiled
}

#[test]
fn the_kernel_catalogue_matches_the_evaluator_bit_for_bit() {
    let compiled = check_all(&catalogue());
    assert!(compiled.len() > 100);
}

/// The inline transcendental functions on every edge case, vectorised and in scalar loops.
#[test]
fn inline_functions_on_edge_cases() {
    for op in [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Softplus, UnaryOp::Gelu] {
        for scalar in [false, true] {
            for shift in 0..8 {
                let (kernel, input) = inline_edge_case(op, shift, scalar);
                let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
                check_inputs_against_evaluator(&kernel, input, 1, &mut |bufs, batch, lo, hi| {
                    compiled.run(0, bufs, batch, lo, hi).unwrap()
                });
            }
        }
    }
}

/// Elementwise loops are widened by LLVM's vectoriser (no run-time alias checks are needed:
/// the arguments are `noalias`), and the transcendental functions are inline, not calls.
#[test]
fn elementwise_loops_vectorise_without_calls() {
    let target = HostTarget::new().unwrap();
    let kernels = [normalise(1000), inline_kernel(UnaryOp::Tanh, 1000, false), transcendental_rows(1000)];
    let ir = kernels_ir(&kernels, &target, true).unwrap();
    assert!(!ir.contains("@hg_rt_"), "no runtime calls:\n{ir}");
    assert!(!ir.contains("@hg_body_"), "bodies are inlined into the entries");
    // Each kernel's function has vector code, the in-order reductions of the third included
    // (their lanes are added to the accumulator one by one: no reassociation).
    let functions: Vec<&str> = ir.split("\ndefine ").skip(1).collect();
    assert_eq!(functions.len(), 3, "{ir}");
    for (i, f) in functions.iter().enumerate() {
        assert!(f.starts_with(&format!("void @hg_kernel_{i}(")), "{f}");
        assert!(f.contains("x float>"), "kernel {i} is not vectorised:\n{f}");
    }
    assert!(!ir.contains("reassoc") && !ir.contains("fast "), "no fast-math flags:\n{ir}");
}

/// Integer division never traps: by zero it gives 0, `MIN / -1` wraps.
#[test]
fn integer_division_by_zero_and_overflow() {
    let (kernel, mut bufs, want) = integer_division_case();
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    compiled.run(0, &mut bufs, 1, 0, 0).unwrap();
    assert_eq!(bufs[2], want);
}

/// Calls that do not fit a kernel are refused before any code runs.
#[test]
fn calls_that_do_not_fit_are_refused() {
    let kernel = row_reduction(5);
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    let mut rng = Rng::new(1);
    let mut bufs = buffers(&kernel, 2, &mut rng);
    let refused = |r: Result<(), CodegenError>| matches!(r, Err(CodegenError::Call(_)));
    assert!(refused(compiled.run(0, &mut bufs, 3, 0, 3)), "buffers too short for B = 3");
    assert!(refused(compiled.run(0, &mut bufs, 0, 0, 0)), "B = 0");
    assert!(refused(compiled.run(1, &mut bufs, 2, 0, 2)), "no such kernel");
    let mut few = bufs[..1].to_vec();
    assert!(refused(compiled.run(0, &mut few, 2, 0, 2)), "too few buffers");
}

/// A kernel that fails verification is not compiled.
#[test]
fn invalid_kernels_are_not_compiled() {
    let err = compile(&[hg_kernel::testing::kernels::out_of_bounds()]).unwrap_err();
    assert!(matches!(err, CodegenError::Verify(_)), "{err}");
}

/// The catalogue compiled for each CPU level this machine runs (the objects artifacts carry,
/// with only the level's features), loaded by the runtime's loader: bit for bit the evaluator.
#[test]
fn objects_for_each_cpu_level_match_the_evaluator() {
    use hg_abi::CpuLevel;
    use hg_abi::plan::KernelFn;
    use hg_cpu::loader::{LoadedObject, runtime_symbol};
    let cases = catalogue();
    let kernels: Vec<Kernel> = cases.iter().map(|(k, _)| k.clone()).collect();
    for level in CpuLevel::ALL.into_iter().filter(|l| l.host_supports()) {
        let object = crate::compile_kernels(&kernels, &HostTarget::for_level(level).unwrap()).unwrap();
        let code =
            LoadedObject::load(&object.bytes, &runtime_symbol).unwrap_or_else(|e| panic!("{}: {e}", level.name()));
        for (i, (kernel, batches)) in cases.iter().enumerate() {
            let address = code.symbol(&object.symbols[i]).unwrap();
            // SAFETY: the symbol is a kernel entry with the `KernelFn` signature.
            let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
            let sig = hg_kernel::call::CallSignature::of(kernel);
            // SAFETY: `f` is the compiled code of `kernel`, alive with `code`.
            check_against_evaluator(kernel, batches, &mut |bufs, batch, lo, hi| unsafe {
                hg_kernel::call::run_checked(f, &sig, bufs, batch, lo, hi).unwrap()
            });
        }
    }
}

/// Parallel row reductions run two rows per iteration of their parallel loop (their bit-exact
/// results are in the catalogue above, with an odd row left over); a cheap one (no inline
/// function) leaves its merged inner loop to the SLP vectoriser, an expensive one does not.
#[test]
fn row_reductions_run_two_rows_at_once() {
    let target = HostTarget::new().unwrap();
    let hint = "llvm.loop.vectorize.enable";
    let cheap = kernels_ir(&[row_reduction(100)], &target, false).unwrap();
    assert!(cheap.contains(hint), "{cheap}");
    // Two rows' loads in the merged loop and one in the loop over the rows left over.
    assert!(cheap.matches("load float").count() >= 3, "{cheap}");
    let costly = kernels_ir(&[transcendental_rows(100)], &target, false).unwrap();
    assert!(!costly.contains(hint), "{costly}");
}

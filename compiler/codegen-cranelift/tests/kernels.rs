//! Generated code against the reference evaluator (`hg_kernel::eval`), bit for bit: every
//! buffer after a run must be identical (any NaN matching any NaN). That holds for the
//! transcendental functions too, since generated code either calls the evaluator's own scalar
//! functions (`sin`, `cos`, `pow`) or runs the evaluator's f32 approximations
//! (`hg_kernel::fastmath`) instruction for instruction; no tolerance is used anywhere.

mod common;

use common::{
    KernelBuilder, Rng, assert_same, b, buffers, c, check, check_against_evaluator, check_inputs_against_evaluator, ix,
};
use hg_abi::plan::Affine;
use hg_codegen_cranelift::{CodegenError, compile};
use hg_kernel::eval::{Buffer, eval};
use hg_kernel::ir::{BinaryOp, Scalar, UnaryOp};
use hg_kernel::testing::kernels::*;

#[test]
fn elementwise_chain_with_broadcasts() {
    for n in SIZES {
        let compiled = check(&normalise(n), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 1, "the inner loop is vectorised");
        assert!(compiled.clif(0).contains("f32x4"));
    }
}

/// The unary ops with an `f32x4` form: every float op but `rsqrt` (f64 arithmetic), `sin` and
/// `cos` (runtime calls).
const VECTORISED: [UnaryOp; 13] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sqrt,
    UnaryOp::Floor,
    UnaryOp::Round,
    UnaryOp::Relu,
    UnaryOp::Sign,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sigmoid,
    UnaryOp::Tanh,
    UnaryOp::Softplus,
    UnaryOp::Gelu,
];

/// The transcendental functions generated code computes inline (`hg_kernel::fastmath`).
const INLINE: [UnaryOp; 6] =
    [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Softplus, UnaryOp::Gelu];

#[test]
fn every_float_unary_op() {
    let vectorised = VECTORISED;
    for op in UnaryOp::ALL {
        if op == UnaryOp::Not {
            continue;
        }
        for n in [1, 7, 250] {
            let compiled = check(&unary_kernel(op, n), &[1, 3]);
            assert_eq!(compiled.vector_loops(0), usize::from(vectorised.contains(&op)), "{}", op.name());
        }
    }
}

/// The inline functions on every edge case, in a vector loop (with a scalar remainder) and in
/// a scalar loop: bit for bit the evaluator's results.
#[test]
fn inline_functions_on_edge_cases() {
    for op in INLINE {
        for scalar in [false, true] {
            for shift in 0..4 {
                // Every input in every lane position, and a remainder of 3 - shift elements.
                let (kernel, input) = inline_edge_case(op, shift, scalar);
                let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
                assert_eq!(compiled.vector_loops(0), usize::from(!scalar), "{}", op.name());
                check_inputs_against_evaluator(&kernel, input, 1, &mut |bufs, batch, lo, hi| {
                    compiled.run(0, bufs, batch, lo, hi).unwrap()
                });
            }
        }
    }
}

/// The loss and gradient kernels of a VAE trained with binary cross-entropy on logits:
/// `relu(l) - l·t + softplus(-|l|)` and `(sigmoid(l) - t) · g`, which now vectorise.
#[test]
fn loss_kernels_with_transcendental_functions_vectorise() {
    for n in [1, 3, 4, 7, 64, 785] {
        let mut k = KernelBuilder::new(&format!("bce_{n}"));
        let logits = k.arg(Scalar::F32, b(n), false);
        let target = k.arg(Scalar::F32, b(n), false);
        let grad = k.arg(Scalar::F32, c(1), false);
        let loss = k.arg(Scalar::F32, b(n), true);
        let dl = k.arg(Scalar::F32, b(n), true);
        k.loop_(b(n), |k, i| {
            let at = ix(&[(i, c(1))], c(0));
            let l = k.load(logits, at.clone());
            let t = k.load(target, at.clone());
            let g = k.load(grad, ix(&[(i, c(0))], c(0)));
            let r = k.un(UnaryOp::Relu, l);
            let lt = k.bin(BinaryOp::Mul, l, t);
            let a = k.un(UnaryOp::Abs, l);
            let na = k.un(UnaryOp::Neg, a);
            let sp = k.un(UnaryOp::Softplus, na);
            let v = k.bin(BinaryOp::Sub, r, lt);
            let v = k.bin(BinaryOp::Add, v, sp);
            k.store(loss, at.clone(), v);
            let s = k.un(UnaryOp::Sigmoid, l);
            let d = k.bin(BinaryOp::Sub, s, t);
            let d = k.bin(BinaryOp::Mul, d, g);
            let e = k.un(UnaryOp::Exp, d);
            let e = k.un(UnaryOp::Log, e);
            let e = k.un(UnaryOp::Tanh, e);
            let e = k.un(UnaryOp::Gelu, e);
            k.store(dl, at, e);
        });
        let compiled = check(&k.finish(true), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 1);
        assert!(!compiled.clif(0).contains("call"), "no runtime calls:\n{}", compiled.clif(0));
    }
}

#[test]
fn reductions_of_transcendental_functions_vectorise() {
    for n in SIZES {
        let compiled = check(&transcendental_rows(n), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 1, "the inner loop is vectorised");
    }
    // The same on every edge case, in every lane position.
    let inputs = edge_inputs();
    let n = inputs.len() as i64 - 3;
    let kernel = transcendental_rows(n);
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    for shift in 0..4 {
        let xs = inputs[shift..shift + n as usize].to_vec();
        let mut ts = xs.clone();
        ts.reverse();
        let mut input = vec![
            Buffer::F32(xs),
            Buffer::F32(ts),
            Buffer::F32(vec![0.5]),
            Buffer::F32(vec![0.0; 4]),
            Buffer::I64(vec![0]),
            Buffer::F32(vec![0.0; n as usize]),
        ];
        let mut want = input.clone();
        eval(&kernel, &mut want, 1, 0, 1).unwrap();
        compiled.run(0, &mut input, 1, 0, 1).unwrap();
        assert_same(&input, &want, &format!("shift {shift}"));
    }
}

/// Booleans in vector loops: a mask stored as bytes (`z[i] = x[i] == 0`), then loaded (with a
/// broadcast one) to select, as GELU's gradient does; the bytes read are any non-zero value.
#[test]
fn boolean_loads_and_stores_vectorise() {
    for n in [1, 3, 4, 5, 13, 100] {
        let mut k = KernelBuilder::new(&format!("masks_{n}"));
        let x = k.arg(Scalar::F32, b(n), false);
        let m = k.arg(Scalar::Bool, b(n), false);
        let flag = k.arg(Scalar::Bool, c(1), false);
        let z = k.arg(Scalar::Bool, b(n), true);
        let y = k.arg(Scalar::F32, b(n), true);
        k.loop_(b(n), |k, i| {
            let at = ix(&[(i, c(1))], c(0));
            let v = k.load(x, at.clone());
            let zero = k.f32(0.0);
            let is_zero = k.bin(BinaryOp::Eq, v, zero);
            k.store(z, at.clone(), is_zero);
            let mv = k.load(m, at.clone());
            let f = k.load(flag, ix(&[(i, c(0))], c(0)));
            let both = k.bin(BinaryOp::And, mv, f);
            let e = k.un(UnaryOp::Exp, v);
            let r = k.select(both, e, v);
            let r = k.select(mv, r, zero);
            k.store(y, at, r);
        });
        let kernel = k.finish(true);
        let compiled = check(&kernel, &BATCHES);
        assert_eq!(compiled.vector_loops(0), 1);
        // Bytes other than 0 and 1 read as true.
        let len = 2 * n as usize;
        let mut input = vec![
            Buffer::F32((0..len).map(|i| if i % 3 == 0 { 0.0 } else { i as f32 * 0.25 - 2.0 }).collect()),
            Buffer::Bool((0..len).map(|i| [0u8, 1, 2, 255, 128][i % 5]).collect()),
            Buffer::Bool(vec![7]),
            Buffer::Bool(vec![9; len]),
            Buffer::F32(vec![0.0; len]),
        ];
        let mut want = input.clone();
        eval(&kernel, &mut want, 2, 0, len as i64).unwrap();
        compiled.run(0, &mut input, 2, 0, len as i64).unwrap();
        assert_same(&input, &want, "bytes other than 0 and 1");
    }
}

#[test]
fn every_float_binary_op_and_boolean_masks() {
    for op in BinaryOp::ALL {
        if op.is_logical() {
            continue;
        }
        for n in [1, 6, 301] {
            let compiled = check(&binary_kernel(op, n), &[1, 2]);
            assert_eq!(compiled.vector_loops(0), usize::from(op != BinaryOp::Pow), "{}", op.name());
        }
    }
}

#[test]
fn row_reduction_with_locals() {
    for n in SIZES {
        let compiled = check(&row_reduction(n), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 0, "a loop with locals stays scalar");
    }
}

#[test]
fn column_reduction_into_the_output() {
    for n in SIZES {
        let compiled = check(&column_reduction(n), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 2);
    }
}

/// A shifted in-place update (`y[j + 1] = 2·y[j]`) carries a dependence from one iteration
/// to the next: it must stay scalar, and computes powers of two of `y[0]`.
#[test]
fn shifted_in_place_update_stays_scalar() {
    for n in [2, 5, 9] {
        let mut k = KernelBuilder::new("shift");
        let y = k.arg(Scalar::F32, c(n), true);
        k.loop_(c(n - 1), |k, j| {
            let v = k.load(y, ix(&[(j, c(1))], c(0)));
            let two = k.f32(2.0);
            let v = k.bin(BinaryOp::Mul, v, two);
            k.store(y, ix(&[(j, c(1))], c(1)), v);
        });
        let compiled = check(&k.finish(false), &[1]);
        assert_eq!(compiled.vector_loops(0), 0);
    }
}

#[test]
fn multiple_outputs_and_a_transposed_store() {
    for n in SIZES {
        check(&multiple_outputs(n), &BATCHES);
    }
}

#[test]
fn integer_and_boolean_ops() {
    for n in [1, 3, 13, 100] {
        let compiled = check(&integer_kernel(n), &BATCHES);
        assert_eq!(compiled.vector_loops(0), 0);
    }
}

#[test]
fn f64_scalar_work() {
    check(&f64_scalars(), &BATCHES);
}

#[test]
fn random_draws_follow_the_stream() {
    for n in [1, 5, 64] {
        check(&random_kernel(n), &BATCHES);
    }
    // A negative seed (all 64 bits used) through the safe entry point.
    let kernel = random_kernel(4);
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    let mut rng = Rng::new(3);
    let mut input = buffers(&kernel, 2, &mut rng);
    input[0] = Buffer::I64(vec![-123_456_789_012, 7, 1 << 40]);
    let mut want = input.clone();
    eval(&kernel, &mut want, 2, 0, 2).unwrap();
    compiled.run(0, &mut input, 2, 0, 2).unwrap();
    assert_same(&input, &want, "negative seed");
}

/// Several kernels in one module, each callable through its own entry.
#[test]
fn several_kernels_in_one_module() {
    let kernels = vec![normalise(5), row_reduction(3), integer_kernel(3), random_kernel(2)];
    let compiled = compile(&kernels).unwrap();
    assert_eq!(compiled.len(), 4);
    assert_eq!(compiled.functions().len(), 4);
    assert!(compiled.compile_time().as_nanos() > 0);
    for (n, kernel) in kernels.iter().enumerate() {
        let mut rng = Rng::new(n as u64);
        let input = buffers(kernel, 3, &mut rng);
        let extent = kernel.parallel_extent().map_or(0, |e| e.eval(3).unwrap());
        let mut want = input.clone();
        eval(kernel, &mut want, 3, 0, extent).unwrap();
        let mut got = input;
        compiled.run(n, &mut got, 3, 0, extent).unwrap();
        assert_same(&got, &want, &kernel.name);
    }
}

#[test]
fn calls_that_do_not_fit_are_refused() {
    let kernel = normalise(3);
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    let mut rng = Rng::new(1);
    let mut bufs = buffers(&kernel, 2, &mut rng);
    let refused = |r: Result<(), CodegenError>| matches!(r, Err(CodegenError::Call(_)));
    assert!(refused(compiled.run(0, &mut bufs, 3, 0, 3)), "buffers too short for B = 3");
    assert!(refused(compiled.run(0, &mut bufs, 2, 0, 3)), "range past the extent");
    assert!(refused(compiled.run(0, &mut bufs, 2, 2, 1)), "lo > hi");
    assert!(refused(compiled.run(0, &mut bufs, 0, 0, 0)), "B = 0");
    assert!(refused(compiled.run(0, &mut bufs[..4], 2, 0, 2)), "missing buffer");
    assert!(refused(compiled.run(1, &mut bufs, 2, 0, 2)), "no kernel 1");
    bufs[1] = Buffer::I64(vec![0; 3]);
    assert!(refused(compiled.run(0, &mut bufs, 2, 0, 2)), "wrong type");
}

#[test]
fn invalid_kernels_are_not_compiled() {
    let err = compile(&[hg_kernel::testing::kernels::out_of_bounds()]).unwrap_err();
    assert!(matches!(err, CodegenError::Verify(_)), "{err}");
    assert!(err.to_string().contains("reach past"), "{err}");
}

/// Integer division by zero: the evaluator reports it; generated code cannot, and gives 0
/// instead of trapping (and `MIN / -1` wraps).
#[test]
fn integer_division_by_zero_does_not_trap() {
    let (kernel, mut bufs, want) = hg_kernel::testing::kernels::integer_division_case();
    let compiled = compile(std::slice::from_ref(&kernel)).unwrap();
    assert!(eval(&kernel, &mut bufs.clone(), 1, 0, 0).is_err());
    compiled.run(0, &mut bufs, 1, 0, 0).unwrap();
    assert_eq!(bufs[2], want);
}

/// Loop extents and strides affine in `B`: `y[i] = Σ_j x[j·B + i]` over a `[3, B]` input read
/// column by column, then a loop of `B - 1` iterations reading the last row backwards.
#[test]
fn extents_and_strides_affine_in_the_batch() {
    let mut k = KernelBuilder::new("affine");
    let x = k.arg(Scalar::F32, b(3), false);
    let y = k.arg(Scalar::F32, b(1), true);
    let z = k.arg(Scalar::F32, Affine { b: 1, c: -1 }, true);
    k.loop_(b(1), |k, i| {
        let zero = k.f32(0.0);
        let s = k.local(zero);
        k.loop_(c(3), |k, j| {
            let v = k.load(x, ix(&[(j, Affine::batch(1)), (i, c(1))], c(0)));
            let acc = k.get(s, Scalar::F32);
            let acc = k.bin(BinaryOp::Add, acc, v);
            k.assign(s, acc);
        });
        let total = k.get(s, Scalar::F32);
        k.store(y, ix(&[(i, c(1))], c(0)), total);
    });
    k.loop_(Affine { b: 1, c: -1 }, |k, i| {
        let v = k.load(x, ix(&[(i, c(-1))], Affine { b: 3, c: -1 }));
        let w = k.load(x, ix(&[(i, c(1))], Affine::batch(2)));
        let r = k.bin(BinaryOp::Sub, v, w);
        k.store(z, ix(&[(i, c(1))], c(0)), r);
    });
    check(&k.finish(false), &[1, 2, 3, 17]);
}

/// The catalogue as a relocatable object for each CPU level this machine runs (the form
/// artifacts carry), loaded by the runtime's loader: bit for bit the evaluator.
#[test]
fn objects_for_each_cpu_level_match_the_evaluator() {
    use hg_abi::CpuLevel;
    use hg_abi::plan::KernelFn;
    use hg_cpu::loader::{LoadedObject, runtime_symbol};
    use hg_kernel::testing::kernels::catalogue;
    let cases = catalogue();
    let kernels: Vec<_> = cases.iter().map(|(k, _)| k.clone()).collect();
    for level in CpuLevel::ALL.into_iter().filter(|l| l.host_supports()) {
        let (bytes, _) = hg_codegen_cranelift::compile_object(&kernels, level).unwrap();
        let code = LoadedObject::load(&bytes, &runtime_symbol).unwrap_or_else(|e| panic!("{}: {e}", level.name()));
        for (i, (kernel, batches)) in cases.iter().enumerate() {
            let address = code.symbol(&format!("hg_kernel_{i}")).unwrap();
            // SAFETY: `hg_kernel_{i}` was defined with the `KernelFn` signature.
            let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
            let sig = hg_kernel::call::CallSignature::of(kernel);
            // SAFETY: `f` is the compiled code of `kernel`, alive with `code`.
            check_against_evaluator(kernel, batches, &mut |bufs, batch, lo, hi| unsafe {
                hg_kernel::call::run_checked(f, &sig, bufs, batch, lo, hi).unwrap()
            });
        }
    }
}

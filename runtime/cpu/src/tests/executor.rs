use super::*;
use crate::aligned::HostBuf;
use crate::exec::{Executor, Outcome, Peek, Threads};
use crate::lib::{self, ConvGeom};
use hg_abi::plan::{Conv2dGeom, DeviceLib, Plan, RandomKind};
use hg_exec::{NamedTensors, Tensor, TensorData};
use std::collections::BTreeMap;
use std::sync::Arc;

const B: Affine = Affine::batch(1);

fn b(k: i64) -> Affine {
    Affine::batch(k)
}

fn c(k: i64) -> Affine {
    Affine::constant(k)
}

/// `z = relu(x @ w)`: x `[B, 3]` input, w `[3, 2]` resident, z `[B, 2]` output.
fn encode_plan() -> Plan {
    Plan {
        entry: "encode".into(),
        buffers: vec![
            input("x", DType::F32, b(3)),
            resident("param:w", 6),
            temp(DType::F32, b(2), Affine::ZERO),
            output("z", DType::F32, b(2)),
        ],
        steps: vec![
            lib(
                LibCall::MatMul {
                    batch: c(1),
                    inner_batch: c(1),
                    m: B,
                    n: c(2),
                    k: c(3),
                    a: rm(c(3)),
                    b: rm(c(2)),
                    accumulate: false,
                },
                &[0, 1, 2],
            ),
            kernel(RELU, &[2, 3], Some(b(2))),
        ],
        commit: 2,
        arena_bytes: b(8).into(),
    }
}

fn executor(plan: Plan, threads: usize) -> Executor {
    Executor::new(plan, Arc::new(kernels()), Threads::new(threads).unwrap()).unwrap()
}

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 + seed * 3) % 11) as f32 / 4.0 - 1.25).collect()
}

fn residents(w: &[f32]) -> BTreeMap<String, HostBuf> {
    let t = Tensor::from_f32(vec![3, 2], w.to_vec()).unwrap();
    BTreeMap::from([("param:w".to_string(), HostBuf::from_tensor(&t).unwrap())])
}

fn go(e: &mut Executor, batch: usize, inputs: &NamedTensors, res: &mut BTreeMap<String, HostBuf>) -> Outcome {
    e.run(batch, inputs, res, &mut |_: &Peek<'_>| true).unwrap()
}

fn f32s(d: &TensorData) -> &[f32] {
    match d {
        TensorData::F32(v) => v,
        other => panic!("not f32: {other:?}"),
    }
}

fn expected_encode(x: &[f32], w: &[f32]) -> Vec<f32> {
    let rows = x.len() / 3;
    let mut z = vec![0.0; rows * 2];
    for r in 0..rows {
        for j in 0..2 {
            let s: f32 = (0..3).map(|p| x[r * 3 + p] * w[p * 2 + j]).sum();
            z[r * 2 + j] = s.max(0.0);
        }
    }
    z
}

#[test]
fn runs_library_and_generated_kernels() {
    let w = values(6, 1);
    let mut res = residents(&w);
    for threads in [1, 2] {
        let mut e = executor(encode_plan(), threads);
        for batch in [1, 5] {
            let x = values(3 * batch, batch);
            let inputs = NamedTensors::from([("x".into(), Tensor::from_f32(vec![batch, 3], x.clone()).unwrap())]);
            let out = go(&mut e, batch, &inputs, &mut res);
            assert!(out.committed);
            assert_eq!(out.outputs.len(), 1);
            assert_eq!(out.outputs[0].0, "z");
            assert_eq!(f32s(&out.outputs[0].1), expected_encode(&x, &w).as_slice());
        }
    }
}

#[test]
fn the_arena_is_allocated_once_per_larger_batch() {
    let w = values(6, 2);
    let mut res = residents(&w);
    let mut e = executor(encode_plan(), 1);
    let mut run = |e: &mut Executor, batch: usize| {
        let x = values(3 * batch, batch + 7);
        let inputs = NamedTensors::from([("x".into(), Tensor::from_f32(vec![batch, 3], x.clone()).unwrap())]);
        let out = go(e, batch, &inputs, &mut res);
        assert_eq!(f32s(&out.outputs[0].1), expected_encode(&x, &w).as_slice(), "B = {batch}");
    };
    run(&mut e, 4);
    run(&mut e, 4);
    assert_eq!(e.arena_allocations(), 1);
    // A smaller batch fits the arena; a larger one grows it once.
    run(&mut e, 2);
    assert_eq!(e.arena_allocations(), 1);
    run(&mut e, 9);
    run(&mut e, 9);
    run(&mut e, 3);
    assert_eq!(e.arena_allocations(), 2);
    assert_eq!(e.buffer_lens(7).unwrap(), &[21, 6, 14, 14]);
}

#[test]
fn parallel_kernels_split_into_disjoint_chunks() {
    let plan = Plan {
        entry: "ranges".into(),
        buffers: vec![output("r", DType::I64, b(2))],
        steps: vec![kernel(RANGES, &[0], Some(B))],
        commit: 1,
        arena_bytes: Affine::ZERO.into(),
    };
    let mut res = BTreeMap::new();
    let mut one = executor(plan.clone(), 1);
    let mut two = executor(plan, 2);
    two.set_par_min_elements(0);
    let i64s = |o: &Outcome| match &o.outputs[0].1 {
        TensorData::I64(v) => v.clone(),
        _ => unreachable!(),
    };
    // One thread: one call over everything; two: one call per half.
    assert_eq!(i64s(&go(&mut one, 5, &NamedTensors::new(), &mut res)), [0, 5, 0, 5, 0, 5, 0, 5, 0, 5]);
    assert_eq!(i64s(&go(&mut two, 5, &NamedTensors::new(), &mut res)), [0, 2, 0, 2, 2, 5, 2, 5, 2, 5]);
    // Too little work: not split.
    two.set_par_min_elements(1 << 20);
    assert_eq!(i64s(&go(&mut two, 3, &NamedTensors::new(), &mut res)), [0, 3, 0, 3, 0, 3]);
    // A split relu gives the result of an unsplit one.
    let w = values(6, 3);
    let mut res = residents(&w);
    let x = values(3 * 1000, 1);
    let inputs = NamedTensors::from([("x".into(), Tensor::from_f32(vec![1000, 3], x.clone()).unwrap())]);
    let mut split = executor(encode_plan(), 2);
    split.set_par_min_elements(0);
    let a = go(&mut split, 1000, &inputs, &mut res);
    let b = go(&mut executor(encode_plan(), 1), 1000, &inputs, &mut res);
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(f32s(&a.outputs[0].1), expected_encode(&x, &w).as_slice());
}

#[test]
fn commit_skips_the_remaining_steps() {
    // Step 0 writes the output, step 1 (after the commit point) adds one to the resident.
    let plan = Plan {
        entry: "train".into(),
        buffers: vec![input("x", DType::F32, b(2)), output("y", DType::F32, b(2)), resident("param:w", 6)],
        steps: vec![kernel(RELU, &[0, 1], Some(b(2))), kernel(RELU, &[0, 2], Some(c(2)))],
        commit: 1,
        arena_bytes: Affine::ZERO.into(),
    };
    for threads in [1, 2] {
        let mut e = executor(plan.clone(), threads);
        let mut res = residents(&[-1.0; 6]);
        let inputs =
            NamedTensors::from([("x".into(), Tensor::from_f32(vec![2, 2], vec![3.0, f32::NAN, 4.0, 5.0]).unwrap())]);
        let mut seen = Vec::new();
        let mut no = |p: &Peek<'_>| {
            seen = p.output_f32("y").unwrap().to_vec();
            false
        };
        let out = e.run(2, &inputs, &mut res, &mut no).unwrap();
        assert!(!out.committed);
        assert_eq!(seen[0], 3.0);
        assert_eq!(res["param:w"].data.view::<f32>(6).unwrap(), &[-1.0; 6]);
        let out = go(&mut e, 2, &inputs, &mut res);
        assert!(out.committed);
        assert_eq!(res["param:w"].data.view::<f32>(6).unwrap(), &[3.0, 0.0, -1.0, -1.0, -1.0, -1.0]);
    }
}

#[test]
fn denormals_are_flushed_during_a_run_only() {
    use crate::fpenv::flushing_denormals;
    use std::hint::black_box;
    let plan = Plan {
        entry: "denormals".into(),
        buffers: vec![output("d", DType::F32, c(6))],
        steps: vec![kernel(DENORMALS, &[0], Some(c(2)))],
        commit: 1,
        arena_bytes: Affine::ZERO.into(),
    };
    let before = flushing_denormals();
    for threads in [1, 2] {
        let mut e = executor(plan.clone(), threads);
        e.set_par_min_elements(0);
        let out = go(&mut e, 1, &NamedTensors::new(), &mut BTreeMap::new());
        let d = f32s(&out.outputs[0].1);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(d, [0.0, 0.0, 1.0, 0.0, 0.0, 1.0], "{threads} threads");
        }
        assert_eq!(flushing_denormals(), before);
    }
    // Outside a run this thread computes denormals again.
    assert!(!before);
    assert!(black_box(1e-30f32) * black_box(1e-10f32) > 0.0);
}

#[test]
fn every_library_call_dispatches() {
    let g = Conv2dGeom {
        n: B,
        c: 2,
        h: 5,
        w: 4,
        o: 4,
        oh: 3,
        ow: 2,
        kh: 3,
        kw: 3,
        stride: [1, 2],
        padding: [0, 1],
        groups: 2,
    };
    let pool = Conv2dGeom { o: 2, oh: 2, ow: 2, kh: 2, kw: 2, stride: [2, 2], padding: [0, 0], groups: 1, ..g };
    let cg = ConvGeom {
        n: 3,
        c: 2,
        h: 5,
        w: 4,
        o: 4,
        oh: 3,
        ow: 2,
        kh: 3,
        kw: 3,
        stride: [1, 2],
        padding: [0, 1],
        groups: 2,
    };
    let pg = ConvGeom { o: 2, oh: 2, ow: 2, kh: 2, kw: 2, stride: [2, 2], padding: [0, 0], groups: 1, ..cg };
    let (nx, nw, ny) = (40i64, 36i64, 24i64);
    let plan = Plan {
        entry: "all".into(),
        buffers: vec![
            input("x", DType::F32, b(nx)),         // 0
            input("w", DType::F32, c(nw)),         // 1
            input("dy", DType::F32, b(ny)),        // 2
            input("idx", DType::I64, b(2)),        // 3
            input("mask", DType::Bool, b(3)),      // 4
            input("seed", DType::I64, c(1)),       // 5
            output("y", DType::F32, b(ny)),        // 6
            output("dx", DType::F32, b(nx)),       // 7
            output("dw", DType::F32, c(nw)),       // 8
            output("pool", DType::F32, b(8)),      // 9
            output("pgrad", DType::F32, b(nx)),    // 10
            output("gathered", DType::Bool, b(2)), // 11
            output("scattered", DType::F32, b(3)), // 12
            output("top", DType::I64, b(2)),       // 13
            output("arg", DType::I64, B),          // 14
            output("noise", DType::F32, b(5)),     // 15
            temp(DType::F32, b(8), Affine::ZERO),  // 16: max pool output, reused as its gradient
        ],
        steps: vec![
            lib(LibCall::Conv2d(g), &[0, 1, 6]),
            lib(LibCall::ConvTranspose2d(g), &[2, 1, 7]),
            lib(LibCall::Conv2dWeightGrad(g), &[0, 2, 8]),
            lib(LibCall::Pool2d { geom: pool, max: false }, &[0, 9]),
            lib(LibCall::Pool2d { geom: pool, max: true }, &[0, 16]),
            lib(LibCall::MaxPool2dGrad(pool), &[0, 16, 10]),
            lib(LibCall::Gather { outer: B, axis: c(3), idx_axis: c(2), inner: c(1) }, &[4, 3, 11]),
            lib(LibCall::ScatterAdd { outer: B, axis: c(3), idx_axis: c(2), inner: c(1) }, &[0, 3, 2, 12]),
            lib(LibCall::TopK { outer: B, axis: c(3), inner: c(1), k: 2 }, &[0, 13]),
            lib(LibCall::ArgReduce { outer: B, axis: c(3), inner: c(1), max: false }, &[0, 14]),
            lib(
                LibCall::Random { kind: RandomKind::Uniform { lo: -1.0, hi: 3.0 }, site: 9, len: b(5) },
                &[5, 5, 5, 15],
            ),
        ],
        commit: 11,
        arena_bytes: b(32).into(),
    };
    let n = 3;
    let x = values(40 * n, 1);
    let w = values(36, 2);
    let dy = values(24 * n, 3);
    let idx: Vec<i64> = (0..2 * n as i64).map(|i| (i * 2) % 3).collect();
    let mask = vec![true, false, true, false, false, true, true, true, false];
    let t = |shape: Vec<usize>, v: &[f32]| Tensor::from_f32(shape, v.to_vec()).unwrap();
    let inputs = NamedTensors::from([
        ("x".into(), t(vec![n, 40], &x)),
        ("w".into(), t(vec![36], &w)),
        ("dy".into(), t(vec![n, 24], &dy)),
        ("idx".into(), Tensor::from_i64(vec![n, 2], idx.clone()).unwrap()),
        ("mask".into(), Tensor::new(DType::Bool, vec![n, 3], TensorData::Bool(mask.clone())).unwrap()),
        ("seed".into(), Tensor::from_i64(vec![1], vec![-77]).unwrap()),
    ]);
    for threads in [1, 2] {
        let out = go(&mut executor(plan.clone(), threads), n, &inputs, &mut BTreeMap::new());
        let get = |name: &str| &out.outputs.iter().find(|(k, _)| k == name).unwrap().1;
        let mut want = vec![0.0; 24 * n];
        lib::conv::conv2d(&cg, &x, &w, &mut want, 1).unwrap();
        assert_eq!(f32s(get("y")), want.as_slice());
        let mut want = vec![0.0; 40 * n];
        lib::conv::conv_transpose2d(&cg, &dy, &w, &mut want, 1).unwrap();
        assert_eq!(f32s(get("dx")), want.as_slice());
        let mut want = vec![0.0; 36];
        lib::conv::conv2d_weight_grad(&cg, &x, &dy, &mut want, 1).unwrap();
        assert_eq!(f32s(get("dw")), want.as_slice());
        let mut want = vec![0.0; 8 * n];
        lib::pool::pool2d(&pg, false, &x, &mut want, 1).unwrap();
        assert_eq!(f32s(get("pool")), want.as_slice());
        lib::pool::pool2d(&pg, true, &x, &mut want, 1).unwrap();
        let mut grad = vec![0.0; 40 * n];
        lib::pool::max_pool2d_grad(&pg, &x, &want, &mut grad, 1).unwrap();
        assert_eq!(f32s(get("pgrad")), grad.as_slice());
        let gathered: Vec<bool> = (0..2 * n).map(|p| mask[(p / 2) * 3 + idx[p] as usize]).collect();
        assert_eq!(get("gathered"), &TensorData::Bool(gathered));
        let mut want = x[..3 * n].to_vec();
        for p in 0..2 * n {
            want[(p / 2) * 3 + idx[p] as usize] += dy[p];
        }
        assert_eq!(f32s(get("scattered")), want.as_slice());
        let mut top = vec![0; 2 * n];
        lib::reduce::topk(&lib::SelectGeom { outer: n, axis: 3, inner: 1, k: 2 }, &x[..3 * n], &mut top, 1).unwrap();
        assert_eq!(get("top"), &TensorData::I64(top));
        let mut arg = vec![0; n];
        lib::reduce::arg_reduce(
            &lib::SelectGeom { outer: n, axis: 3, inner: 1, k: 1 },
            false,
            &x[..3 * n],
            &mut arg,
            1,
        )
        .unwrap();
        assert_eq!(get("arg"), &TensorData::I64(arg));
        let site = hg_exec::philox::DrawSite::new(-77i64 as u64, -77i64 as u64, 9);
        let noise: Vec<f32> =
            (0..5 * n as u64).map(|i| (-1.0 + 4.0 * site.uniform01((-77i64 as u64).wrapping_add(i))) as f32).collect();
        assert_eq!(f32s(get("noise")), noise.as_slice());
    }
}

fn plan_error(plan: Plan) -> String {
    match Executor::new(plan, Arc::new(kernels()), Threads::new(1).unwrap()) {
        Ok(mut e) => e.prepare(4).unwrap_err().to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_plans_are_errors_not_panics() {
    let base = encode_plan();
    let with = |f: &dyn Fn(&mut Plan)| {
        let mut p = base.clone();
        f(&mut p);
        plan_error(p)
    };
    let e = with(&|p| {
        p.steps[0] = lib(
            LibCall::MatMul {
                batch: c(1),
                inner_batch: c(1),
                m: B,
                n: c(2),
                k: c(4),
                a: rm(c(4)),
                b: rm(c(2)),
                accumulate: false,
            },
            &[0, 1, 2],
        )
    });
    assert!(e.contains("argument 0 (%0) has 12 elements, the geometry needs 16"), "{e}");
    let e = with(&|p| p.steps[1] = kernel(9, &[2, 3], None));
    assert!(e.contains("calls kernel 9"), "{e}");
    let e = with(&|p| p.steps[1] = kernel(RELU, &[2, 7], None));
    assert!(e.contains("uses %7"), "{e}");
    let e = with(&|p| p.arena_bytes = b(4).into());
    assert!(e.contains("does not fit the arena"), "{e}");
    let e = with(&|p| p.commit = 3);
    assert!(e.contains("commit point 3"), "{e}");
    let e = with(&|p| p.buffers[2].len = Affine { b: 1, c: -10 }.into());
    assert!(e.contains("negative"), "{e}");
    let e = with(&|p| p.buffers[2].len = Affine::batch(i64::MAX).into());
    assert!(e.contains("overflows"), "{e}");
    let e = with(&|p| p.buffers[2] = temp(DType::F32, b(2), c(2)));
    assert!(e.contains("not aligned"), "{e}");
    let e = with(&|p| p.buffers[1].dtype = DType::F64);
    assert!(e.contains("f64"), "{e}");
    let e = with(&|p| p.buffers[1].dtype = DType::I64);
    assert!(e.contains("is i64, the call needs f32"), "{e}");
    let e = with(&|p| {
        p.steps[0] = lib(
            LibCall::MatMul {
                batch: c(1),
                inner_batch: c(1),
                m: B,
                n: c(2),
                k: c(3),
                a: rm(c(3)),
                b: rm(c(2)),
                accumulate: false,
            },
            &[0, 1, 0],
        )
    });
    assert!(e.contains("writes the input `x`"), "{e}");
    let e = with(&|p| {
        p.steps[0] = lib(
            LibCall::MatMul {
                batch: c(1),
                inner_batch: c(1),
                m: B,
                n: c(2),
                k: c(3),
                a: rm(c(3)),
                b: rm(c(2)),
                accumulate: false,
            },
            &[0, 1],
        )
    });
    assert!(e.contains("takes 3"), "{e}");
    let e = with(&|p| {
        p.steps[0] = lib(
            LibCall::MatMul {
                batch: c(1),
                inner_batch: c(1),
                m: B,
                n: c(2),
                k: c(3),
                a: rm(c(3)),
                b: rm(c(2)),
                accumulate: false,
            },
            &[0, 1, 1],
        )
    });
    assert!(e.contains("before the commit point"), "{e}");
    let e = with(&|p| p.buffers.push(output("z", DType::F32, c(1))));
    assert!(e.contains("output `z` has two buffers"), "{e}");
    // A result overlapping an operand in the arena.
    let e = with(&|p| {
        p.buffers.push(temp(DType::F32, c(6), c(4)));
        p.steps[0] = lib(
            LibCall::MatMul {
                batch: c(1),
                inner_batch: c(1),
                m: c(3),
                n: c(2),
                k: c(2),
                a: rm(c(2)),
                b: rm(c(2)),
                accumulate: false,
            },
            &[2, 4, 4],
        );
        p.arena_bytes = c(64).into();
    });
    assert!(e.contains("overlaps"), "{e}");
    let e = with(&|p| {
        p.steps[0] = lib(
            LibCall::Conv2d(Conv2dGeom {
                n: B,
                c: 1,
                h: 3,
                w: 1,
                o: 2,
                oh: 2,
                ow: 1,
                kh: 1,
                kw: 1,
                stride: [1, 1],
                padding: [0, 0],
                groups: 1,
            }),
            &[0, 1, 2],
        )
    });
    assert!(e.contains("over 3x1 gives 3x1, not 2x1"), "{e}");
    // Inputs that do not match the plan, and residents that are missing.
    let mut e = executor(encode_plan(), 1);
    let short = NamedTensors::from([("x".into(), Tensor::from_f32(vec![1, 3], vec![0.0; 3]).unwrap())]);
    let msg = e.run(2, &short, &mut residents(&[0.0; 6]), &mut |_: &Peek<'_>| true).unwrap_err().to_string();
    assert!(msg.contains("input `x` is f32 with 3 elements, the plan reads f32 with 6"), "{msg}");
    let msg =
        e.run(2, &NamedTensors::new(), &mut residents(&[0.0; 6]), &mut |_: &Peek<'_>| true).unwrap_err().to_string();
    assert!(msg.contains("input `x` is missing"), "{msg}");
    let x = NamedTensors::from([("x".into(), Tensor::from_f32(vec![1, 3], vec![0.0; 3]).unwrap())]);
    let msg = e.run(1, &x, &mut BTreeMap::new(), &mut |_: &Peek<'_>| true).unwrap_err().to_string();
    assert!(msg.contains("`param:w` is not loaded"), "{msg}");
}

#[test]
fn out_of_range_indices_stop_the_run() {
    let plan = Plan {
        entry: "g".into(),
        buffers: vec![input("x", DType::F32, c(3)), input("i", DType::I64, c(1)), output("y", DType::F32, c(1))],
        steps: vec![lib(LibCall::Gather { outer: c(1), axis: c(3), idx_axis: c(1), inner: c(1) }, &[0, 1, 2])],
        commit: 1,
        arena_bytes: Affine::ZERO.into(),
    };
    let inputs = NamedTensors::from([
        ("x".into(), Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap()),
        ("i".into(), Tensor::from_i64(vec![1], vec![3]).unwrap()),
    ]);
    let e = executor(plan, 2).run(1, &inputs, &mut BTreeMap::new(), &mut |_: &Peek<'_>| true).unwrap_err();
    assert!(
        e.to_string().contains("`g`: step 0 (`gather`): index 3 at position [0, 0, 0] is out of range 0..3"),
        "{e}"
    );
}

/// Calls of [`gather_kernel`], to see that the executor ran it instead of the CPU library.
static GATHER_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The library kernel of `Gather { outer: 1, axis: 3, idx_axis: B, inner: 1 }` as the code
/// generator emits it (args x, idx, y, then the status word): items `lo..hi`, each `y[i] =
/// x[idx[i]]`, or a raised status for an index out of range.
unsafe extern "C" fn gather_kernel(args: *const *mut u8, _batch: i64, lo: i64, hi: i64) {
    GATHER_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the executor passes the step's buffers and a status word (`with_library`).
    unsafe {
        let (x, idx, y) =
            (*args.cast::<*const f32>(), *args.add(1).cast::<*const i64>(), *args.add(2).cast::<*mut f32>());
        let status = &*(*args.add(3)).cast::<std::sync::atomic::AtomicI64>();
        for i in lo..hi {
            let t = *idx.add(i as usize);
            if (0..3).contains(&t) {
                *y.add(i as usize) = *x.add(t as usize);
            } else {
                status.fetch_max(i + 1, std::sync::atomic::Ordering::Relaxed);
                *y.add(i as usize) = 0.0;
            }
        }
    }
}

#[test]
fn library_kernels_run_library_calls_and_report_bad_indices() {
    let call = LibCall::Gather { outer: c(1), axis: c(3), idx_axis: B, inner: c(1) };
    let plan = Plan {
        entry: "g".into(),
        buffers: vec![input("x", DType::F32, c(3)), input("i", DType::I64, B), output("y", DType::F32, B)],
        steps: vec![lib(call.clone(), &[0, 1, 2])],
        commit: 1,
        arena_bytes: Affine::ZERO.into(),
    };
    let dtypes = vec![DType::F32, DType::I64, DType::F32];
    // SAFETY: `gather_kernel` implements this call's library kernel.
    let kernels = unsafe { kernels().with_library(vec![(DeviceLib { call, dtypes }, gather_kernel)]) };
    let mut e = Executor::new(plan, Arc::new(kernels), Threads::new(2).unwrap()).unwrap();
    e.set_par_min_elements(1);
    let batch = 9;
    let inputs = |idx: Vec<i64>| {
        NamedTensors::from([
            ("x".into(), Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap()),
            ("i".into(), Tensor::from_i64(vec![idx.len()], idx).unwrap()),
        ])
    };
    let before = GATHER_CALLS.load(std::sync::atomic::Ordering::Relaxed);
    let idx: Vec<i64> = (0..batch).map(|i| (i * 2 % 3) as i64).collect();
    let out = e.run(batch, &inputs(idx.clone()), &mut BTreeMap::new(), &mut |_: &Peek<'_>| true).unwrap();
    let want: Vec<f32> = idx.iter().map(|&t| t as f32 + 1.0).collect();
    assert_eq!(f32s(&out.outputs[0].1), want);
    // Split between the two threads.
    assert_eq!(GATHER_CALLS.load(std::sync::atomic::Ordering::Relaxed) - before, 2);
    let mut bad = idx;
    bad[4] = 3;
    bad[7] = -1;
    let err = e.run(batch, &inputs(bad), &mut BTreeMap::new(), &mut |_: &Peek<'_>| true).unwrap_err();
    assert!(err.to_string().contains("`g`: step 0 (`gather`): the index at flat position 7 is out of range"), "{err}");
}

use super::*;
use crate::exec::Threads;
use crate::session::CpuSession;
use hg_abi::plan::{Plan, RandomKind};
use hg_abi::{DimSpec, EntrySignature, Init, Manifest, ParamSpec, TensorSpec, TrainLayout};
use hg_exec::{NamedTensors, Session, Tensor, TensorData};
use std::collections::BTreeMap;

const B: Affine = Affine::batch(1);

fn spec(name: &str, dtype: DType, shape: &[DimSpec]) -> TensorSpec {
    TensorSpec { name: name.into(), dtype, shape: shape.to_vec() }
}

use DimSpec::{Batch, Fixed};

fn manifest() -> Manifest {
    let w = spec("param:w", DType::F32, &[Fixed(3), Fixed(2)]);
    let steps = spec("state:steps", DType::F32, &[Fixed(1)]);
    Manifest {
        model: "Toy".into(),
        params: vec![ParamSpec {
            name: "w".into(),
            dtype: DType::F32,
            shape: vec![3, 2],
            init: Init::Zeros,
            trainable: true,
        }],
        entries: vec![
            EntrySignature {
                name: "train".into(),
                inputs: vec![
                    spec("x", DType::F32, &[Batch(1), Fixed(3)]),
                    spec("base_lr", DType::F32, &[]),
                    w.clone(),
                    steps.clone(),
                ],
                outputs: vec![spec("loss", DType::F32, &[]), w.clone(), steps.clone()],
            },
            EntrySignature {
                name: "encode".into(),
                inputs: vec![spec("x", DType::F32, &[Batch(1), Fixed(3)])],
                outputs: vec![spec("z", DType::F32, &[Batch(1), Fixed(2)])],
            },
            EntrySignature {
                name: "sample".into(),
                inputs: vec![spec("batch", DType::I64, &[]), spec("seed", DType::I64, &[])],
                outputs: vec![spec("z", DType::F32, &[Batch(1), Fixed(3)])],
            },
        ],
        train: Some(TrainLayout {
            carried: vec![("param:w".into(), "param:w".into()), ("state:steps".into(), "state:steps".into())],
            state: vec![steps],
        }),
    }
}

fn c(k: i64) -> Affine {
    Affine::constant(k)
}

fn matmul(m: Affine, n: i64, k: i64) -> LibCall {
    LibCall::MatMul { batch: c(1), inner_batch: c(1), m, n: c(n), k: c(k), a: rm(c(k)), b: rm(c(n)), accumulate: false }
}

/// Linear model `h = x @ w`, loss `mean(h^2)`, one SGD step on `w`, and a step counter.
fn train_plan() -> Plan {
    Plan {
        entry: "train".into(),
        buffers: vec![
            input("x", DType::F32, Affine::batch(3)),             // 0
            input("base_lr", DType::F32, c(1)),                   // 1
            resident("param:w", 6),                               // 2
            resident("state:steps", 1),                           // 3
            temp(DType::F32, Affine::batch(2), Affine::ZERO),     // 4 h
            temp(DType::F32, Affine::batch(2), Affine::batch(8)), // 5 g
            temp(DType::F32, c(6), Affine::batch(16)),            // 6 dw
            output("loss", DType::F32, c(1)),                     // 7
        ],
        steps: vec![
            lib(matmul(B, 2, 3), &[0, 2, 4]),
            kernel(MSE, &[4, 7, 5], None),
            lib(
                LibCall::MatMul {
                    batch: c(1),
                    inner_batch: c(1),
                    m: c(3),
                    n: c(2),
                    k: B,
                    a: hg_abi::plan::MatStrides { batch: Affine::ZERO, inner: Affine::ZERO, row: c(1), col: c(3) },
                    b: rm(c(2)),
                    accumulate: false,
                },
                &[0, 5, 6],
            ),
            kernel(SGD, &[2, 6, 1, 3], None),
        ],
        commit: 3,
        arena_bytes: Affine { b: 16, c: 24 }.into(),
    }
}

fn encode_plan() -> Plan {
    Plan {
        entry: "encode".into(),
        buffers: vec![
            input("x", DType::F32, Affine::batch(3)),
            resident("param:w", 6),
            temp(DType::F32, Affine::batch(2), Affine::ZERO),
            output("z", DType::F32, Affine::batch(2)),
        ],
        steps: vec![lib(matmul(B, 2, 3), &[0, 1, 2]), kernel(RELU, &[2, 3], Some(Affine::batch(2)))],
        commit: 2,
        arena_bytes: Affine::batch(8).into(),
    }
}

fn sample_plan() -> Plan {
    Plan {
        entry: "sample".into(),
        buffers: vec![
            input("batch", DType::I64, c(1)),
            input("seed", DType::I64, c(1)),
            temp(DType::I64, c(1), Affine::ZERO),
            output("z", DType::F32, Affine::batch(3)),
        ],
        steps: vec![
            kernel(ZERO_I64, &[2], None),
            lib(LibCall::Random { kind: RandomKind::Normal, site: 7, len: Affine::batch(3) }, &[1, 2, 2, 3]),
        ],
        commit: 2,
        arena_bytes: c(8).into(),
    }
}

fn plans() -> BTreeMap<String, Plan> {
    BTreeMap::from([("train".into(), train_plan()), ("encode".into(), encode_plan()), ("sample".into(), sample_plan())])
}

fn open(threads: usize) -> CpuSession {
    CpuSession::with_threads(manifest(), plans(), kernels(), "test", Threads::new(threads).unwrap()).unwrap()
}

fn w0() -> Vec<f32> {
    vec![0.5, -0.25, 1.0, 0.75, -0.5, 0.25]
}

fn load(s: &mut CpuSession) {
    s.load_params(NamedTensors::from([("param:w".into(), Tensor::from_f32(vec![3, 2], w0()).unwrap())])).unwrap();
    s.load_state(NamedTensors::from([("state:steps".into(), Tensor::from_f32(vec![1], vec![0.0]).unwrap())])).unwrap();
}

fn xs(batch: usize) -> Vec<f32> {
    (0..3 * batch).map(|i| ((i * 5) % 7) as f32 / 4.0 - 0.75).collect()
}

fn batch_inputs(x: Vec<f32>, lr: f32) -> NamedTensors {
    let b = x.len() / 3;
    NamedTensors::from([
        ("x".into(), Tensor::from_f32(vec![b, 3], x).unwrap()),
        ("base_lr".into(), Tensor::scalar_f32(lr)),
    ])
}

fn f32s(t: &Tensor) -> Vec<f32> {
    match t.data() {
        TensorData::F32(v) => v.clone(),
        _ => panic!("not f32"),
    }
}

/// The train step in plain Rust, the same f32 operations.
fn reference_step(x: &[f32], w: &[f32], lr: f32) -> (f32, Vec<f32>) {
    let rows = x.len() / 3;
    let n = (rows * 2) as f32;
    let mut h = vec![0.0f32; rows * 2];
    for r in 0..rows {
        for j in 0..2 {
            h[r * 2 + j] = (0..3).map(|p| x[r * 3 + p] * w[p * 2 + j]).sum();
        }
    }
    let loss = h.iter().map(|v| v * v).sum::<f32>() / n;
    let g: Vec<f32> = h.iter().map(|v| 2.0 * v / n).collect();
    let mut new_w = w.to_vec();
    for p in 0..3 {
        for j in 0..2 {
            let dw: f32 = (0..rows).map(|r| x[r * 3 + p] * g[r * 2 + j]).sum();
            new_w[p * 2 + j] -= lr * dw;
        }
    }
    (loss, new_w)
}

#[test]
fn train_steps_update_residents_in_place() {
    for threads in [1, 2] {
        let mut s = open(threads);
        assert_eq!(s.backend(), "test");
        load(&mut s);
        let x = xs(4);
        let out = s.train_step(&batch_inputs(x.clone(), 0.5)).unwrap();
        // Only the loss comes back; parameters and state stay resident.
        assert_eq!(out.keys().collect::<Vec<_>>(), ["loss"]);
        let (loss, w1) = reference_step(&x, &w0(), 0.5);
        assert_eq!(out["loss"].shape(), &[] as &[usize]);
        assert_eq!(f32s(&out["loss"]), [loss]);
        assert_eq!(f32s(&s.read_params().unwrap()["param:w"]), w1);
        assert_eq!(f32s(&s.read_state().unwrap()["state:steps"]), [1.0]);
        // A second step at another batch size starts from the new parameters.
        let x2 = xs(3);
        let out = s.train_step(&batch_inputs(x2.clone(), 0.25)).unwrap();
        let (loss2, w2) = reference_step(&x2, &w1, 0.25);
        assert_eq!(f32s(&out["loss"]), [loss2]);
        assert_eq!(f32s(&s.read_params().unwrap()["param:w"]), w2);
        assert_eq!(f32s(&s.read_state().unwrap()["state:steps"]), [2.0]);
    }
}

#[test]
fn a_step_with_a_nan_loss_changes_nothing() {
    let mut s = open(2);
    load(&mut s);
    let mut x = xs(4);
    x[5] = f32::NAN;
    let out = s.train_step(&batch_inputs(x, 0.5)).unwrap();
    assert!(f32s(&out["loss"])[0].is_nan());
    assert_eq!(f32s(&s.read_params().unwrap()["param:w"]), w0());
    assert_eq!(f32s(&s.read_state().unwrap()["state:steps"]), [0.0]);
    // An infinite loss neither.
    let out = s.train_step(&batch_inputs(vec![1e30; 6], 0.5)).unwrap();
    assert_eq!(f32s(&out["loss"]), [f32::INFINITY]);
    assert_eq!(f32s(&s.read_params().unwrap()["param:w"]), w0());
}

#[test]
fn inference_entries_run_on_the_resident_parameters() {
    let mut s = open(2);
    load(&mut s);
    let x = xs(5);
    let out =
        s.run("encode", &NamedTensors::from([("x".into(), Tensor::from_f32(vec![5, 3], x.clone()).unwrap())])).unwrap();
    let z = &out["z"];
    assert_eq!(z.shape(), &[5, 2]);
    let w = w0();
    for r in 0..5 {
        for j in 0..2 {
            let h: f32 = (0..3).map(|p| x[r * 3 + p] * w[p * 2 + j]).sum();
            assert_eq!(f32s(z)[r * 2 + j], h.max(0.0));
        }
    }
    // `sample` takes its batch size from the `batch` scalar and draws from the shared stream.
    let inputs = NamedTensors::from([("batch".into(), Tensor::scalar_i64(4)), ("seed".into(), Tensor::scalar_i64(-3))]);
    let z = &s.run("sample", &inputs).unwrap()["z"];
    assert_eq!(z.shape(), &[4, 3]);
    let site = hg_exec::philox::DrawSite::new(-3i64 as u64, 0, 7);
    let want: Vec<f32> = (0..12).map(|i| site.normal(i) as f32).collect();
    assert_eq!(f32s(z), want);
}

fn err(r: Result<NamedTensors, hg_exec::ExecError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_calls_get_the_interpreters_messages() {
    let mut s = open(1);
    let x = |shape: Vec<usize>| {
        let n = shape.iter().product();
        NamedTensors::from([("x".into(), Tensor::from_f32(shape, vec![0.0; n]).unwrap())])
    };
    // Nothing loaded yet.
    assert_eq!(err(s.run("encode", &x(vec![2, 3]))), "`encode`: missing input `param:w` (expected f32[3, 2])");
    assert_eq!(err(s.train_step(&batch_inputs(xs(2), 0.1))), "`train`: missing input `param:w` (expected f32[3, 2])");
    assert!(s.read_params().unwrap().is_empty());
    load(&mut s);
    assert_eq!(err(s.run("encode", &NamedTensors::new())), "`encode`: missing input `x` (expected f32[B, 3])");
    assert_eq!(
        err(s.run("encode", &x(vec![2, 4]))),
        "`encode`: input `x`: expected f32[B, 3] with B = 2, got f32[2, 4]: dimension 1 is 4, expected 3"
    );
    assert_eq!(
        err(s.run("encode", &x(vec![6]))),
        "`encode`: input `x`: expected f32[B, 3], got f32[6]: rank 1 is not 2"
    );
    let ints = NamedTensors::from([("x".into(), Tensor::from_i64(vec![1, 3], vec![0; 3]).unwrap())]);
    assert_eq!(
        err(s.run("encode", &ints)),
        "`encode`: input `x`: expected f32[B, 3] with B = 1, got i64[1, 3]: dtype i64 is not f32"
    );
    let mut both = x(vec![2, 3]);
    both.insert("batch".into(), Tensor::scalar_i64(3));
    assert_eq!(
        err(s.run("encode", &both)),
        "`encode`: batch size `B`: the inputs give B = 2 but the run context fixes B = 3"
    );
    assert_eq!(err(s.run("train", &x(vec![2, 3]))), "`train`: run the train step with `train_step`");
    assert_eq!(
        err(s.run("decode", &x(vec![2, 3]))),
        "model `Toy` has no entry `decode` (it has: train, encode, sample)"
    );
    let mut resident = x(vec![2, 3]);
    resident.insert("param:w".into(), Tensor::from_f32(vec![3, 2], w0()).unwrap());
    assert_eq!(
        err(s.run("encode", &resident)),
        "`encode`: `param:w` is resident in the session; load it, do not pass it"
    );
    assert_eq!(
        err(s.run("sample", &NamedTensors::from([("seed".into(), Tensor::scalar_i64(1))]))),
        "`sample`: missing input `batch` (expected i64[])"
    );
    // Loads are checked like the interpreter's.
    let e = s.load_params(NamedTensors::from([("param:w".into(), Tensor::from_f32(vec![2, 3], w0()).unwrap())]));
    assert_eq!(e.unwrap_err().to_string(), "parameter `param:w` is f32 [2, 3] but the model expects f32 [3, 2]");
    let e = s.load_state(NamedTensors::new()).unwrap_err().to_string();
    assert_eq!(e, "optimizer state `state:steps` is missing");
    // A failed load keeps what was loaded.
    assert_eq!(f32s(&s.read_params().unwrap()["param:w"]), w0());
}

#[test]
fn plans_that_break_the_contract_are_refused() {
    let open_with = |f: &dyn Fn(&mut BTreeMap<String, Plan>)| {
        let mut p = plans();
        f(&mut p);
        match CpuSession::with_threads(manifest(), p, kernels(), "test", Threads::new(1).unwrap()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    // The loss is written after the commit point.
    let e = open_with(&|p| p.get_mut("train").unwrap().commit = 1);
    assert!(e.contains("the output `loss` is used after the commit point"), "{e}");
    let e = open_with(&|p| p.get_mut("train").unwrap().steps.swap(1, 3));
    assert!(e.contains("used after the commit point"), "{e}");
    let e = open_with(&|p| p.get_mut("encode").unwrap().buffers[3] = output("q", DType::F32, B));
    assert!(e.contains("output `q`, which the entry's signature does not declare"), "{e}");
    let e = open_with(&|p| p.get_mut("encode").unwrap().buffers[1] = resident("param:w", 5));
    assert!(e.contains("has 5 elements, not 6"), "{e}");
    let e = open_with(&|p| p.get_mut("encode").unwrap().buffers[0].dtype = DType::I64);
    assert!(e.contains("is i64 but the signature says f32"), "{e}");
    let e = open_with(&|p| {
        let plan = p.remove("encode").unwrap();
        p.insert("decode".into(), plan);
    });
    assert!(e.contains("it is the plan of `encode`"), "{e}");
    let e = open_with(&|p| {
        let mut plan = p.remove("encode").unwrap();
        plan.entry = "decode".into();
        p.insert("decode".into(), plan);
    });
    assert!(e.contains("model `Toy` has no such entry"), "{e}");
    // An entry without a plan is an error when called, not when opened.
    let mut s = CpuSession::with_threads(
        manifest(),
        BTreeMap::from([("encode".to_string(), encode_plan())]),
        kernels(),
        "test",
        Threads::new(1).unwrap(),
    )
    .unwrap();
    let inputs = NamedTensors::from([("batch".into(), Tensor::scalar_i64(1)), ("seed".into(), Tensor::scalar_i64(1))]);
    assert_eq!(err(s.run("sample", &inputs)), "`sample`: the test backend has no plan for this entry");
}

#[test]
fn sessions_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CpuSession>();
}

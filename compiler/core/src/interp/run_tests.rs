//! Whole-function tests: input binding, the batch size, precision modes, seeds, liveness,
//! errors that must be errors, and the `Executable` implementation.

use super::testutil::{Graph, f32s, inputs, ty};
use super::{InterpError, InterpSession, Precision, RunContext, run_function};
use hg_abi::{DimSpec, names};
use hg_exec::philox::DrawSite;
use hg_exec::{Session, Tensor, TensorData, init_params};
use hg_ir::{BinaryOp, DType, Dim, Module, Op, ReduceOp, UnaryOp};

fn f32_ctx() -> RunContext {
    RunContext::new(Precision::F32)
}

/// `relu(x @ w + b)` with `x: f32[B, 3]`, `w: f32[3, 2]`, `b: f32[2]`.
fn affine_relu() -> Graph {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "B, 3");
    let w = g.node(Op::Param { name: "w".into() }, &[], DType::F32, "3, 2");
    let b = g.node(Op::Param { name: "b".into() }, &[], DType::F32, "2");
    let xw = g.node(Op::MatMul, &[x, w], DType::F32, "B, 2");
    let s = g.node(Op::Binary(BinaryOp::Add), &[xw, b], DType::F32, "B, 2");
    let y = g.node(Op::Unary(UnaryOp::Relu), &[s], DType::F32, "B, 2");
    g.output("y", y);
    g
}

fn affine_inputs() -> hg_exec::NamedTensors {
    inputs(&[
        ("x", f32s(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.5, 0.0])),
        ("param:w", f32s(&[3, 2], &[0.1, -1.0, 0.2, 0.0, 0.3, 1.0])),
        ("param:b", f32s(&[2], &[0.5, -0.25])),
    ])
}

#[test]
fn runs_a_small_model_in_both_precisions() {
    let g = affine_relu();
    let out = run_function(&g.f, &affine_inputs(), &f32_ctx()).unwrap();
    let y = &out["y"];
    assert_eq!((y.dtype(), y.shape()), (DType::F32, &[2usize, 2][..]));
    // Row 0: [1.4 + 0.5, 2 - 0.25]; row 1: [-0.1 + 0.1 + 0.5 = 0.5, 1 - 0.25].
    let want = [1.0f32 * 0.1 + 2.0 * 0.2 + 3.0 * 0.3 + 0.5, -1.0 + 3.0 - 0.25, -0.1f32 + 0.5 * 0.2 + 0.5, 1.0 - 0.25];
    let got = y.to_f64_vec();
    for (g, w) in got.iter().zip(want) {
        assert!((g - f64::from(w)).abs() < 1e-6, "{got:?}");
    }
    let out64 = run_function(&g.f, &affine_inputs(), &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out64["y"].dtype(), DType::F64);
    let exact = 0.1f32 as f64 + 2.0 * (0.2f32 as f64) + 3.0 * (0.3f32 as f64) + 0.5;
    assert_eq!(out64["y"].to_f64_vec()[0], exact);
}

#[test]
fn f32_mode_rounds_every_op_and_f64_mode_does_not() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "3");
    let c = g.node(Op::Const { value: 0.1 }, &[], DType::F32, "");
    let s = g.node(Op::Binary(BinaryOp::Add), &[x, c], DType::F32, "3");
    let q = g.node(Op::Binary(BinaryOp::Div), &[s, x], DType::F32, "3");
    g.output("q", q);
    let xs = [1.0f32, 3.0, 1e-3];
    let given = inputs(&[("x", f32s(&[3], &xs))]);
    let out = run_function(&g.f, &given, &f32_ctx()).unwrap();
    let want: Vec<f64> = xs.iter().map(|&x| f64::from((x + 0.1f32) / x)).collect();
    assert_eq!(out["q"].to_f64_vec(), want);
    let out64 = run_function(&g.f, &given, &RunContext::new(Precision::F64)).unwrap();
    let want64: Vec<f64> = xs.iter().map(|&x| (f64::from(x) + 0.1) / f64::from(x)).collect();
    assert_eq!(out64["q"].to_f64_vec(), want64);
}

#[test]
fn batch_size_is_solved_from_a_multiple() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "2*B, 3");
    let n = g.node(Op::DimValue { dim: Dim::batch() }, &[], DType::I64, "");
    let full = g.node(Op::Full { value: 1.5 }, &[], DType::F32, "B");
    let r = g.node(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keepdims: false }, &[x], DType::F32, "");
    g.output("n", n);
    g.output("full", full);
    g.output("r", r);
    let out = run_function(&g.f, &inputs(&[("x", f32s(&[6, 3], &[1.0; 18]))]), &f32_ctx()).unwrap();
    assert_eq!(out["n"].data(), &TensorData::I64(vec![3]));
    assert_eq!(out["full"].shape(), &[3]);
    assert_eq!(out["r"].to_f64_vec(), vec![18.0]);
    let odd = run_function(&g.f, &inputs(&[("x", f32s(&[7, 3], &[1.0; 21]))]), &f32_ctx()).unwrap_err();
    let msg = odd.to_string();
    assert!(msg.contains("input `x`") && msg.contains("not a multiple of 2"), "{msg}");
    // The run context may fix B too, but must agree with the inputs.
    let clash = run_function(&g.f, &inputs(&[("x", f32s(&[6, 3], &[1.0; 18]))]), &f32_ctx().with_batch(4));
    assert!(matches!(clash, Err(InterpError::Batch(_))));
}

#[test]
fn batch_size_from_the_context_when_no_input_fixes_it() {
    let mut g = Graph::new();
    let key = g.random_key();
    let z = g.node(Op::RandomNormal { site: 1 }, &key, DType::F32, "B, 2");
    g.output("z", z);
    let zero = Tensor::scalar_i64(0);
    let given = inputs(&[("seed", zero.clone()), ("step", zero.clone()), ("offset", zero)]);
    let err = run_function(&g.f, &given, &f32_ctx()).unwrap_err();
    assert!(err.to_string().contains("needs the batch size"), "{err}");
    let out = run_function(&g.f, &given, &f32_ctx().with_batch(4)).unwrap();
    assert_eq!(out["z"].shape(), &[4, 2]);
}

#[test]
fn input_mismatches_name_the_input_and_types() {
    let g = affine_relu();
    let mut given = affine_inputs();
    given.insert("x".into(), f32s(&[2, 4], &[0.0; 8]));
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("input `x`") && e.contains("f32[B, 3] with B = 2") && e.contains("f32[2, 4]"), "{e}");
    assert!(e.contains("dimension 1 is 4, expected 3"), "{e}");

    let mut given = affine_inputs();
    given.insert("param:b".into(), Tensor::from_i64(vec![2], vec![1, 2]).unwrap());
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("input `param:b`") && e.contains("dtype i64 is not f32"), "{e}");

    let mut given = affine_inputs();
    given.insert("param:w".into(), f32s(&[6], &[0.0; 6]));
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("rank 1 is not 2"), "{e}");

    let mut given = affine_inputs();
    given.remove("param:w");
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err();
    assert_eq!(e, InterpError::MissingInput { name: "param:w".into(), expected: "f32[3, 2]".into() });
}

#[test]
fn f64_mode_accepts_f64_tensors_for_float_inputs() {
    let g = affine_relu();
    let mut given = affine_inputs();
    let x64 = Tensor::from_f64(vec![2, 3], vec![1.0 + 1e-12, 2.0, 3.0, -1.0, 0.5, 0.0]).unwrap();
    given.insert("x".into(), x64);
    assert!(run_function(&g.f, &given, &f32_ctx()).is_err());
    let out = run_function(&g.f, &given, &RunContext::new(Precision::F64)).unwrap();
    let base = run_function(&g.f, &affine_inputs(), &RunContext::new(Precision::F64)).unwrap();
    let d = out["y"].to_f64_vec()[0] - base["y"].to_f64_vec()[0];
    // The perturbation survives: d = 1e-12 * w[0][0].
    assert!((d - 1e-12 * f64::from(0.1f32)).abs() < 1e-15, "{d}");
}

#[test]
fn random_draws_read_their_key_and_counters_from_operands() {
    let mut g = Graph::new();
    let key = g.random_key();
    let z = g.node(Op::RandomNormal { site: 3 }, &key, DType::F32, "4");
    let u = g.node(Op::RandomUniform { site: 4, lo: -1.0, hi: 1.0 }, &key, DType::F64, "2, 2");
    let b = g.node(Op::Bernoulli { site: 5, p: 0.5 }, &key, DType::F32, "8");
    g.output("z", z);
    g.output("u", u);
    g.output("b", b);
    let given = |seed: i64, step: i64, offset: i64| {
        inputs(&[
            (names::SEED, Tensor::scalar_i64(seed)),
            (names::STEP, Tensor::scalar_i64(step)),
            ("offset", Tensor::scalar_i64(offset)),
        ])
    };
    let out = run_function(&g.f, &given(5, 2, 0), &f32_ctx()).unwrap();
    let site = |s| DrawSite { seed: 5, step: 2, site: s };
    let want: Vec<f64> = (0..4).map(|i| site(3).normal(i) as f32 as f64).collect();
    assert_eq!(out["z"].to_f64_vec(), want);
    let want_u: Vec<f64> = (0..4).map(|i| site(4).uniform(i, -1.0, 1.0)).collect();
    assert_eq!(out["u"].to_f64_vec(), want_u);
    let want_b: Vec<f64> = (0..8).map(|i| site(5).bernoulli(i, 0.5)).collect();
    assert_eq!(out["b"].to_f64_vec(), want_b);
    // The offset moves the window along the same stream.
    let shifted = run_function(&g.f, &given(5, 2, 2), &f32_ctx()).unwrap();
    assert_eq!(shifted["z"].to_f64_vec()[..2], out["z"].to_f64_vec()[2..]);
    assert_ne!(run_function(&g.f, &given(5, 3, 0), &f32_ctx()).unwrap()["z"], out["z"]);
    assert_ne!(run_function(&g.f, &given(6, 2, 0), &f32_ctx()).unwrap()["z"], out["z"]);
    // A seed uses all 64 bits: seeds that differ beyond 2^53 draw different numbers.
    let big = |s: u64| run_function(&g.f, &given(s as i64, 0, 0), &f32_ctx()).unwrap();
    let (a, b2) = (big(0xFEDC_BA98_7654_3211), big(0xFEDC_BA98_7654_3210));
    assert_ne!(a["z"], b2["z"]);
    let want: Vec<f64> = (0..4).map(|i| DrawSite::new(0xFEDC_BA98_7654_3211, 0, 3).normal(i) as f32 as f64).collect();
    assert_eq!(a["z"].to_f64_vec(), want);
    // Nothing falls back to a default: a missing or ill-typed key is an error.
    let mut missing = given(5, 2, 0);
    missing.remove(names::SEED);
    let e = run_function(&g.f, &missing, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("seed"), "{e}");
    let mut bad = given(5, 2, 0);
    bad.insert(names::SEED.into(), Tensor::scalar_f32(1.0));
    let e = run_function(&g.f, &bad, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("input `seed`") && e.contains("dtype f32 is not i64"), "{e}");
}

#[test]
fn dead_nodes_are_not_evaluated() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "3");
    let idx = g.input("idx", DType::I64, "1");
    // This gather would fail (index 7 of 3), but no output needs it; nor the parameter, so it
    // need not be given.
    let _dead = g.node(Op::Gather { axis: 0 }, &[x, idx], DType::F32, "1");
    let _unused = g.node(Op::Param { name: "unused".into() }, &[], DType::F32, "2");
    let y = g.node(Op::Unary(UnaryOp::Neg), &[x], DType::F32, "3");
    g.output("y", y);
    let given = inputs(&[("x", f32s(&[3], &[1.0, 2.0, 3.0])), ("idx", Tensor::from_i64(vec![1], vec![7]).unwrap())]);
    assert_eq!(run_function(&g.f, &given, &f32_ctx()).unwrap()["y"].to_f64_vec(), vec![-1.0, -2.0, -3.0]);
    // Once live, the bad index is an error naming the node, not a panic.
    let dead = g.f.values().find(|v| matches!(g.f.op(*v), Op::Gather { .. })).unwrap();
    g.output("g", dead);
    match run_function(&g.f, &given, &f32_ctx()).unwrap_err() {
        InterpError::Op { node, op, message, .. } => {
            assert_eq!((node, op), (dead, "gather"));
            assert!(message.contains("index 7"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn declared_shapes_and_arity_are_checked() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "2, 3");
    let bad = g.node(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: false }, &[x], DType::F32, "3");
    g.output("bad", bad);
    let given = inputs(&[("x", f32s(&[2, 3], &[0.0; 6]))]);
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("`sum`") && e.contains("[2]") && e.contains("f32[3]"), "{e}");

    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "2, 3");
    let one = g.node(Op::Binary(BinaryOp::Add), &[x], DType::F32, "2, 3");
    g.output("one", one);
    let e = run_function(&g.f, &given, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("expects 2 operands, has 1"), "{e}");
}

#[test]
fn oversized_allocations_are_errors_not_aborts() {
    // 2^60 elements, declared or from the batch size: refused with the node, never allocated.
    let mut g = Graph::new();
    let full = g.node(Op::Full { value: 1.0 }, &[], DType::F32, "1099511627776, 1048576");
    g.output("full", full);
    match run_function(&g.f, &inputs(&[]), &f32_ctx()).unwrap_err() {
        InterpError::Op { node, op: "full", message, .. } => {
            assert_eq!(node, full);
            assert!(message.contains("[1099511627776, 1048576]"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }
    let mut g = Graph::new();
    let x = g.node(Op::Full { value: 1.0 }, &[], DType::F32, "B, 1048576");
    let y = g.node(Op::Unary(UnaryOp::Exp), &[x], DType::F32, "B, 1048576");
    g.output("y", y);
    let e = run_function(&g.f, &inputs(&[]), &f32_ctx().with_batch(1 << 40)).unwrap_err();
    assert!(matches!(e, InterpError::Op { op: "full", .. }), "{e}");
}

#[test]
fn cycles_and_dangling_outputs_are_graph_errors() {
    let mut g = Graph::new();
    let a = g.node(Op::Const { value: 1.0 }, &[], DType::F32, "");
    let b = g.node(Op::Unary(UnaryOp::Neg), &[a], DType::F32, "");
    g.f.graph.add_edge(b.0, a.0, 0);
    g.output("b", b);
    assert!(matches!(run_function(&g.f, &inputs(&[]), &f32_ctx()), Err(InterpError::Graph { .. })));
    let mut h = Graph::new();
    let c = h.node(Op::Const { value: 1.0 }, &[], DType::F32, "");
    h.f.remove(c);
    h.output("c", c);
    assert!(run_function(&h.f, &inputs(&[]), &f32_ctx()).unwrap_err().to_string().contains("not a node"));
}

#[test]
fn casts_truncate_and_check() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "4");
    let i = g.node(Op::Cast { to: DType::I64 }, &[x], DType::I64, "4");
    let b = g.node(Op::Cast { to: DType::Bool }, &[x], DType::Bool, "4");
    let back = g.node(Op::Cast { to: DType::F32 }, &[i], DType::F32, "4");
    g.output("i", i);
    g.output("b", b);
    g.output("back", back);
    let given = inputs(&[("x", f32s(&[4], &[-1.7, 2.9, 0.0, -0.5]))]);
    let out = run_function(&g.f, &given, &f32_ctx()).unwrap();
    assert_eq!(out["i"].data(), &TensorData::I64(vec![-1, 2, 0, 0]));
    assert_eq!(out["b"].data(), &TensorData::Bool(vec![true, true, false, true]));
    assert_eq!(out["back"].to_f64_vec(), vec![-1.0, 2.0, 0.0, 0.0]);
    let nan = inputs(&[("x", f32s(&[4], &[f32::NAN, 0.0, 0.0, 0.0]))]);
    let e = run_function(&g.f, &nan, &f32_ctx()).unwrap_err().to_string();
    assert!(e.contains("`cast`") && e.contains("NaN"), "{e}");
}

#[test]
fn integers_stay_exact_and_in_range() {
    let mut g = Graph::new();
    let a = g.input("a", DType::I64, "2");
    let s = g.node(Op::Binary(BinaryOp::Mul), &[a, a], DType::I64, "2");
    g.output("s", s);
    let big = 3_000_000_000i64;
    let out =
        run_function(&g.f, &inputs(&[("a", Tensor::from_i64(vec![2], vec![big / 1000, -7]).unwrap())]), &f32_ctx());
    assert_eq!(out.unwrap()["s"].data(), &TensorData::I64(vec![(big / 1000) * (big / 1000), 49]));
    let e = run_function(&g.f, &inputs(&[("a", Tensor::from_i64(vec![2], vec![big, 1]).unwrap())]), &f32_ctx());
    assert!(e.unwrap_err().to_string().contains("2^53"));
    let huge = run_function(&g.f, &inputs(&[("a", Tensor::from_i64(vec![2], vec![1 << 60, 1]).unwrap())]), &f32_ctx());
    assert!(matches!(huge, Err(InterpError::BadInput { .. })));

    let mut h = Graph::new();
    let a = h.input("a", DType::I32, "1");
    let s = h.node(Op::Binary(BinaryOp::Add), &[a, a], DType::I32, "1");
    h.output("s", s);
    let t = Tensor::new(DType::I32, vec![1], TensorData::I32(vec![i32::MAX])).unwrap();
    assert!(run_function(&h.f, &inputs(&[("a", t)]), &f32_ctx()).unwrap_err().to_string().contains("i32 range"));
}

#[test]
fn pass_through_ops_and_shared_values() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, "2, 3");
    let r = g.node(Op::Reshape, &[x], DType::F32, "3, 2");
    let st = g.node(Op::StopGradient, &[r], DType::F32, "3, 2");
    let neg = g.node(Op::Unary(UnaryOp::Neg), &[r], DType::F32, "3, 2");
    let thru = g.node(Op::StraightThrough, &[st, neg], DType::F32, "3, 2");
    let flat = g.node(Op::Reshape, &[thru], DType::F32, "6");
    let cat = g.node(Op::Concat { axis: 0 }, &[flat, flat, flat], DType::F32, "18");
    g.output("x", x);
    g.output("flat", flat);
    g.output("cat", cat);
    let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let want: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
    let out = run_function(&g.f, &inputs(&[("x", f32s(&[2, 3], &data))]), &f32_ctx()).unwrap();
    assert_eq!(out["x"].shape(), &[2, 3]);
    assert_eq!(out["flat"].to_f64_vec(), want);
    assert_eq!(out["cat"].to_f64_vec()[12..], want[..]);
}

#[test]
fn index_sources_through_the_evaluator() {
    let mut g = Graph::new();
    let io = g.node(Op::Iota { axis: 1 }, &[], DType::I64, "B, 3");
    let oh = g.node(Op::OneHot { n: 4 }, &[io], DType::F32, "B, 3, 4");
    let s = g.node(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keepdims: false }, &[oh], DType::F32, "4");
    g.output("s", s);
    let out = run_function(&g.f, &inputs(&[]), &f32_ctx().with_batch(2)).unwrap();
    assert_eq!(out["s"].to_f64_vec(), vec![2.0, 2.0, 2.0, 0.0]);
}

fn module() -> Module {
    let mut f = affine_relu().f;
    f.name = "encode".into();
    let w = f.values().find(|v| matches!(f.op(*v), Op::Param { name } if name == "w")).unwrap();
    let b = f.values().find(|v| matches!(f.op(*v), Op::Param { name } if name == "b")).unwrap();
    f.inputs.push(("param:w".into(), w));
    f.inputs.push(("param:b".into(), b));
    let params = vec![
        hg_ir::ParamDecl {
            name: "w".into(),
            ty: ty(DType::F32, "3, 2"),
            init: hg_ir::Init::GlorotUniform,
            span: Default::default(),
            trainable: true,
        },
        hg_ir::ParamDecl {
            name: "b".into(),
            ty: ty(DType::F32, "2"),
            init: hg_ir::Init::Zeros,
            span: Default::default(),
            trainable: true,
        },
    ];
    Module { model: "tiny".into(), params, functions: vec![f] }
}

#[test]
fn interpreter_session_keeps_parameters_resident() {
    let mut it = InterpSession::new(module(), None, Precision::F32).unwrap();
    assert_eq!(it.backend(), "interp");
    assert_eq!(it.manifest().entry_names(), vec!["encode"]);
    let sig = it.manifest().entry("encode").unwrap().clone();
    assert_eq!(sig.inputs.len(), 3);
    assert_eq!(sig.inputs[0].shape, vec![DimSpec::Batch(1), DimSpec::Fixed(3)]);
    assert_eq!(sig.inputs[1].name, "param:w");
    assert_eq!((sig.outputs[0].name.as_str(), sig.outputs[0].dtype), ("y", DType::F32));
    let params = init_params(&it.manifest().params.clone(), 11).unwrap();
    assert_eq!(params["param:b"].to_f64_vec(), vec![0.0, 0.0]);
    it.load_params(params.clone()).unwrap();
    assert_eq!(it.read_params().unwrap(), params);
    let x = inputs(&[("x", f32s(&[4, 3], &[1.0; 12]))]);
    let out = it.run("encode", &x).unwrap();
    assert_eq!(out["y"].shape(), &[4, 2]);
    let e = it.run("decode", &x).unwrap_err();
    assert!(e.message.contains("no entry `decode`") && e.message.contains("(it has: encode)"), "{}", e.message);
    assert!(it.run("encode", &inputs(&[])).unwrap_err().message.contains("missing input `x`"));
    // Parameters are resident: passing one is refused, loading a wrong one names it.
    let mut with_param = x.clone();
    with_param.insert("param:w".into(), params["param:w"].clone());
    assert!(it.run("encode", &with_param).unwrap_err().message.contains("resident"));
    let mut bad = params.clone();
    bad.insert("param:b".into(), f32s(&[3], &[0.0; 3]));
    let e = it.load_params(bad).unwrap_err().message;
    assert!(e.contains("parameter `param:b` is f32 [3] but the model expects f32 [2]"), "{e}");
    assert!(it.train_step(&x).unwrap_err().message.contains("no train step"));
}

//! Train steps against PyTorch: a tiny linear regression stepped several times through the
//! interpreter, with the state fed back as the runtime would, compared with the steps
//! `torch.optim` (and its LR schedulers and `clip_grad_norm_`) takes from the same start. The
//! PyTorch numbers are committed in `tests/fixtures/optim/cases.json`, written by
//! `tests/fixtures/make_optim_fixtures.py` (see that script for the torch side of every case),
//! so torch is not needed at test time.
//!
//! Every case comes in f64 (run with [`Precision::F64`]: only the order of operations may
//! differ, so the tolerance is a few f64 roundings) and in f32 (run with [`Precision::F32`]
//! against torch's float32 arithmetic, with the scalars (Adam's bias corrections and step
//! size) in f64 on both sides, so the tolerance is a few f32 roundings per step).

use super::{OptimizerConfig, OptimizerKind, Schedule, TrainStepError, build_train_step};
use crate::autodiff::testkit::{decl, ty};
use crate::interp::{NamedTensors, Precision, RunContext, run_function};
use hg_abi::names;
use hg_exec::Tensor;
use hg_ir::{BinaryOp, DType, Function, NodeSpan, Op, ParamDecl, ReduceOp, UnaryOp};
use serde_json::Value;

const X: [f64; 4] = [0.5, -1.0, 2.0, 1.5];
const T: [f64; 4] = [1.0, 0.0, -1.0, 2.0];

fn params() -> Vec<ParamDecl> {
    vec![decl("lin.w", "4"), decl("lin.b", "")]
}

/// `loss = sum((w * x + b - t)^2)`, `metric:abs = sum(|w * x + b - t|)`.
fn forward() -> Function {
    let s = NodeSpan::default();
    let mut f = Function::new("train");
    let x = f.add_input("x", ty(DType::F32, "4"), s);
    let t = f.add_input("t", ty(DType::F32, "4"), s);
    let w = f.add_typed(Op::Param { name: "lin.w".into() }, &[], ty(DType::F32, "4"), s);
    let b = f.add_typed(Op::Param { name: "lin.b".into() }, &[], ty(DType::F32, ""), s);
    let wx = f.add(Op::Binary(BinaryOp::Mul), &[w, x], s).unwrap();
    let pred = f.add(Op::Binary(BinaryOp::Add), &[wx, b], s).unwrap();
    let r = f.add(Op::Binary(BinaryOp::Sub), &[pred, t], s).unwrap();
    let sq = f.add(Op::Binary(BinaryOp::Mul), &[r, r], s).unwrap();
    let sum = Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false };
    let loss = f.add(sum.clone(), &[sq], s).unwrap();
    let a = f.add(Op::Unary(UnaryOp::Abs), &[r], s).unwrap();
    let m = f.add(sum, &[a], s).unwrap();
    f.outputs = vec![(names::LOSS.into(), loss), (names::metric("abs"), m)];
    f
}

const CASES: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/optim/cases.json"));

/// One fixture case: an optimizer configuration and the steps PyTorch took with it.
struct Case {
    name: String,
    dtype: DType,
    opt: OptimizerConfig,
    base_lr: f64,
    total_steps: u64,
    x: Vec<f64>,
    t: Vec<f64>,
    w0: Vec<f64>,
    b0: f64,
    steps: Vec<Step>,
}

/// What PyTorch reports for one step: the rate used, the loss before the update and the
/// parameters after it.
struct Step {
    lr: f64,
    loss: f64,
    w: Vec<f64>,
    b: f64,
}

/// A float of the fixture file: a string of its shortest round-trip spelling.
fn number(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a float string: {v}"));
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list of floats").iter().map(number).collect()
}

fn optimizer(v: &Value) -> OptimizerKind {
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("optimizer field `{k}`: {v}"));
    match v["kind"].as_str().expect("optimizer kind") {
        "sgd" => OptimizerKind::Sgd {
            momentum: f("momentum"),
            nesterov: v["nesterov"].as_bool().expect("nesterov"),
            weight_decay: f("weight_decay"),
        },
        "adam" => {
            OptimizerKind::Adam { beta1: f("beta1"), beta2: f("beta2"), eps: f("eps"), weight_decay: f("weight_decay") }
        }
        "adamw" => OptimizerKind::AdamW {
            beta1: f("beta1"),
            beta2: f("beta2"),
            eps: f("eps"),
            weight_decay: f("weight_decay"),
        },
        other => panic!("unknown optimizer `{other}`"),
    }
}

fn schedule(v: &Value) -> Schedule {
    let warmup = || v["warmup"].as_u64().expect("warmup");
    match v["kind"].as_str().expect("schedule kind") {
        "constant" => Schedule::Constant,
        "linear" => Schedule::Linear { warmup: warmup() },
        "cosine" => Schedule::Cosine { warmup: warmup() },
        other => panic!("unknown schedule `{other}`"),
    }
}

fn cases() -> Vec<Case> {
    let file: Value = serde_json::from_str(CASES).expect("the fixture file is JSON");
    let cases = file["cases"].as_array().expect("cases");
    cases
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            dtype: DType::from_name(c["dtype"].as_str().expect("dtype")).expect("known dtype"),
            opt: OptimizerConfig {
                kind: optimizer(&c["optimizer"]),
                schedule: schedule(&c["schedule"]),
                clip_grad_norm: c["clip_grad_norm"].as_f64(),
                critic: Default::default(),
            },
            base_lr: c["base_lr"].as_f64().expect("base_lr"),
            total_steps: c["total_steps"].as_u64().expect("total_steps"),
            x: numbers(&c["x"]),
            t: numbers(&c["t"]),
            w0: numbers(&c["w0"]),
            b0: number(&c["b0"]),
            steps: c["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .map(|s| Step {
                    lr: number(&s["lr"]),
                    loss: number(&s["loss"]),
                    w: numbers(&s["w"]),
                    b: number(&s["b"]),
                })
                .collect(),
        })
        .collect()
}

/// A tensor of the case's dtype.
fn tensor(dtype: DType, shape: Vec<usize>, values: &[f64]) -> Tensor {
    match dtype {
        DType::F32 => Tensor::from_f32(shape, values.iter().map(|&v| v as f32).collect()).unwrap(),
        _ => Tensor::from_f64(shape, values.to_vec()).unwrap(),
    }
}

/// Largest accepted difference `|ours - torch| / max(|torch|, 0.01)` of a case (the floor only
/// matters for values that pass near zero). f64 cases differ only in the order of operations;
/// f32 cases in f32 rounding, see [`f32_tolerance`].
fn tolerance(case: &Case) -> f64 {
    if case.dtype == DType::F32 { f32_tolerance(&case.opt.kind) } else { 1e-13 }
}

/// f32 rounding, a few roundings per step. SGD measured up to 8e-7. Adam and AdamW compute
/// their bias corrections `1 - beta^t` in f64 as PyTorch does (in f32 they cancel, and the
/// first steps then differed from PyTorch by up to 1.5e-4 of the floor).
fn f32_tolerance(kind: &OptimizerKind) -> f64 {
    match kind {
        OptimizerKind::Sgd { .. } => 2e-6,
        OptimizerKind::Adam { .. } | OptimizerKind::AdamW { .. } => 2e-6,
    }
}

/// Runs the case's steps through the interpreter and compares the rate, the loss and the
/// parameters of every step with PyTorch's; returns the largest difference (see
/// [`tolerance`]).
fn check_case(case: &Case) -> f64 {
    let (f, info) = build_train_step(&forward(), &params(), &case.opt).unwrap();
    let (precision, dt) = match case.dtype {
        DType::F32 => (Precision::F32, DType::F32),
        _ => (Precision::F64, DType::F64),
    };
    let mut inputs: NamedTensors = NamedTensors::new();
    inputs.insert("x".into(), tensor(dt, vec![4], &case.x));
    inputs.insert("t".into(), tensor(dt, vec![4], &case.t));
    inputs.insert("param:lin.w".into(), tensor(dt, vec![4], &case.w0));
    inputs.insert("param:lin.b".into(), tensor(dt, vec![], &[case.b0]));
    for s in &info.state {
        let shape = s.ty.concrete_shape(1).unwrap();
        inputs.insert(s.name.clone(), Tensor::zeros(dt, shape).unwrap());
    }
    inputs.insert(names::BASE_LR.into(), tensor(dt, vec![], &[case.base_lr]));
    inputs.insert(names::TOTAL_STEPS.into(), Tensor::scalar_i64(case.total_steps as i64));
    let tol = tolerance(case);
    let mut worst: f64 = 0.0;
    for (step, want) in case.steps.iter().enumerate() {
        inputs.insert(names::STEP.into(), Tensor::scalar_i64(step as i64));
        let out = run_function(&f, &inputs, &RunContext::new(precision)).unwrap();
        let mut compare = |what: &str, ours: f64, torch: f64| {
            let diff = (ours - torch).abs() / torch.abs().max(0.01);
            assert!(
                diff <= tol,
                "{}: {what} at step {step}: {ours} vs torch {torch} (difference {diff:e}, tolerance {tol:e})",
                case.name
            );
            worst = worst.max(diff);
        };
        compare("lr", out["lr"].scalar_value().unwrap(), want.lr);
        compare("loss", out["loss"].scalar_value().unwrap(), want.loss);
        let ours: Vec<f64> =
            out["param:lin.w"].to_f64_vec().into_iter().chain(out["param:lin.b"].to_f64_vec()).collect();
        let torch: Vec<f64> = want.w.iter().copied().chain([want.b]).collect();
        assert_eq!(ours.len(), torch.len());
        for (i, (a, b)) in ours.iter().zip(&torch).enumerate() {
            compare(&format!("parameter {i} after the update"), *a, *b);
        }
        // Carry parameters and state to the next step, as the runtime does.
        for (name, t) in out {
            if name.starts_with(names::PARAM) || name.starts_with(names::STATE) {
                inputs.insert(name, t);
            }
        }
    }
    worst
}

/// Checks every fixture case `select` accepts, in both dtypes; returns how many there were.
fn check_cases(select: impl Fn(&Case) -> bool) -> usize {
    let chosen: Vec<Case> = cases().into_iter().filter(|c| select(c)).collect();
    for case in &chosen {
        let worst = check_case(case);
        println!("{:<36} {} steps, max difference from torch {worst:.1e}", case.name, case.steps.len());
    }
    assert!(chosen.iter().any(|c| c.dtype == DType::F32) && chosen.iter().any(|c| c.dtype == DType::F64));
    chosen.len()
}

fn plain(c: &Case) -> bool {
    c.opt.schedule == Schedule::Constant && c.opt.clip_grad_norm.is_none()
}

fn config(kind: OptimizerKind) -> OptimizerConfig {
    OptimizerConfig { kind, schedule: Schedule::Constant, clip_grad_norm: None, critic: Default::default() }
}

#[test]
fn sgd_matches_torch() {
    // Plain, momentum, Nesterov momentum with weight decay, weight decay alone.
    let n = check_cases(|c| plain(c) && matches!(c.opt.kind, OptimizerKind::Sgd { .. }));
    assert_eq!(n, 8);
}

#[test]
fn adam_and_adamw_match_torch() {
    // Defaults and non-default betas, eps and (coupled or decoupled) weight decay.
    let n = check_cases(|c| plain(c) && !matches!(c.opt.kind, OptimizerKind::Sgd { .. }));
    assert_eq!(n, 8);
}

#[test]
fn schedules_and_clipping_match_torch() {
    // linear and cosine with and without warmup (through the last step, where the rate is 0),
    // and global-norm clipping, active and inactive.
    let n = check_cases(|c| !plain(c));
    assert_eq!(n, 16);
}

/// Past `total_steps` the rate stays at 0. PyTorch's `CosineAnnealingLR` rises again after
/// `T_max` (it is periodic), so this is Hourglass's own rule, checked on its own.
#[test]
fn scheduled_rate_stays_zero_after_total_steps() {
    for schedule in [Schedule::Linear { warmup: 2 }, Schedule::Cosine { warmup: 3 }, Schedule::Cosine { warmup: 0 }] {
        let (f, _) =
            build_train_step(&forward(), &params(), &OptimizerConfig { schedule, ..config(OptimizerKind::sgd(0.0)) })
                .unwrap();
        let mut inputs: NamedTensors = NamedTensors::new();
        inputs.insert("x".into(), tensor(DType::F32, vec![4], &X));
        inputs.insert("t".into(), tensor(DType::F32, vec![4], &T));
        inputs.insert("param:lin.w".into(), tensor(DType::F32, vec![4], &[0.3, -0.2, 0.1, 0.4]));
        inputs.insert("param:lin.b".into(), tensor(DType::F32, vec![], &[0.05]));
        inputs.insert(names::BASE_LR.into(), tensor(DType::F32, vec![], &[0.05]));
        inputs.insert(names::TOTAL_STEPS.into(), Tensor::scalar_i64(6));
        for step in [6, 7, 9, 12, 100] {
            inputs.insert(names::STEP.into(), Tensor::scalar_i64(step));
            let out = run_function(&f, &inputs, &RunContext::new(Precision::F32)).unwrap();
            assert_eq!(out["lr"].scalar_value(), Some(0.0), "{schedule:?} at step {step}");
            assert_eq!(out["param:lin.w"].to_f64_vec(), inputs["param:lin.w"].to_f64_vec());
        }
    }
}

#[test]
fn train_step_signature_and_state() {
    let opt = config(OptimizerKind::adam());
    let (f, info) = build_train_step(&forward(), &params(), &opt).unwrap();
    let ins: Vec<&str> = f.inputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        ins,
        [
            "x",
            "t",
            "param:lin.w",
            "param:lin.b",
            "state:adam.m.lin.w",
            "state:adam.v.lin.w",
            "state:adam.m.lin.b",
            "state:adam.v.lin.b",
            "step",
            "base_lr",
            "total_steps"
        ]
    );
    let outs: Vec<&str> = f.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        outs,
        [
            "loss",
            "metric:abs",
            "lr",
            "param:lin.w",
            "param:lin.b",
            "state:adam.m.lin.w",
            "state:adam.v.lin.w",
            "state:adam.m.lin.b",
            "state:adam.v.lin.b"
        ]
    );
    let state: Vec<(&str, String)> = info.state.iter().map(|s| (s.name.as_str(), s.ty.to_string())).collect();
    assert_eq!(state[0], ("state:adam.m.lin.w", "f32[4]".to_string()));
    assert_eq!(state[3], ("state:adam.v.lin.b", "f32[]".to_string()));
    assert!(info.unused_params.is_empty());
    for (name, v) in &f.outputs {
        assert_eq!(f.ty(*v), f.ty(f.input(name).unwrap_or(*v)), "`{name}` keeps its input's type");
    }

    let (f, info) = build_train_step(&forward(), &params(), &config(OptimizerKind::sgd(0.0))).unwrap();
    assert!(info.state.is_empty());
    assert!(f.inputs.iter().all(|(n, _)| !n.starts_with(names::STATE)));
}

#[test]
fn forward_step_input_is_reused_and_unused_params_reported() {
    let mut fwd = forward();
    fwd.add_input(names::STEP, ty(DType::I64, ""), NodeSpan::default());
    let mut ps = params();
    ps.push(decl("extra", "2"));
    let (f, info) = build_train_step(&fwd, &ps, &config(OptimizerKind::sgd(0.9))).unwrap();
    assert_eq!(f.inputs.iter().filter(|(n, _)| n == names::STEP).count(), 1);
    assert_eq!(info.unused_params, ["extra"]);
    assert!(f.output("param:extra").is_some());
}

#[test]
fn train_step_errors() {
    let bad = OptimizerConfig {
        kind: OptimizerKind::Adam { beta1: 1.0, beta2: 0.9, eps: 1e-8, weight_decay: 0.0 },
        ..config(OptimizerKind::adam())
    };
    let err = build_train_step(&forward(), &params(), &bad).unwrap_err();
    assert_eq!(err.to_string(), "invalid optimizer setting: beta1 must be in [0, 1), found 1");
    let nesterov = config(OptimizerKind::Sgd { momentum: 0.0, nesterov: true, weight_decay: 0.0 });
    assert!(matches!(build_train_step(&forward(), &params(), &nesterov), Err(TrainStepError::InvalidConfig { .. })));
    let clip = OptimizerConfig { clip_grad_norm: Some(0.0), ..config(OptimizerKind::adam()) };
    assert!(matches!(build_train_step(&forward(), &params(), &clip), Err(TrainStepError::InvalidConfig { .. })));

    let mut extra = forward();
    let loss = extra.output("loss").unwrap();
    extra.outputs.push(("recon".into(), loss));
    let err = build_train_step(&extra, &params(), &config(OptimizerKind::adam())).unwrap_err();
    assert_eq!(err, TrainStepError::UnexpectedOutput { name: "recon".into() });

    let mut vector_loss = forward();
    let x = vector_loss.input("x").unwrap();
    vector_loss.outputs[0].1 = x;
    let err = build_train_step(&vector_loss, &params(), &config(OptimizerKind::adam())).unwrap_err();
    assert_eq!(err.to_string(), "the loss must be a float scalar, found f32[4]");

    let mut bad_step = forward();
    bad_step.add_input(names::STEP, ty(DType::F32, ""), NodeSpan::default());
    let err = build_train_step(&bad_step, &params(), &config(OptimizerKind::adam())).unwrap_err();
    assert_eq!(err.to_string(), "input `step` of the forward function has type f32[], expected i64[]");
}

/// Two players: `critic.c` is trained by the critic's loss only, `lin.w` by the loss only,
/// though each loss reads both. With plain SGD, one step moves each parameter by its own
/// player's rate times the gradient of its own player's loss, computed here by hand:
/// loss = sum((w * x - c)^2), critic loss = sum(c * w * x); d loss / d w = 2 x (w x - c),
/// d critic / d c = sum(w * x).
#[test]
fn two_players_step_on_their_own_losses() {
    two_players_step(false);
}

/// `players = alternating`: the model steps as before; the critic's loss and gradient are those
/// of the model's new parameters, which it sees as constants (no gradient through the model's
/// step, which would add c0 * 2 * lr * sum(x^2) to the critic's gradient here).
#[test]
fn alternating_players_step_the_critic_on_the_new_model() {
    two_players_step(true);
}

/// Loss (w*x - c)^2 summed for the model's `w`, c * sum(w*x) for the critic's `c`, each player
/// a step of SGD; every number derived by hand.
fn two_players_step(alternating: bool) {
    let s = NodeSpan::default();
    let mut f = Function::new("train");
    let x = f.add_input("x", ty(DType::F32, "4"), s);
    let w = f.add_typed(Op::Param { name: "lin.w".into() }, &[], ty(DType::F32, "4"), s);
    let c = f.add_typed(Op::Param { name: "critic.c".into() }, &[], ty(DType::F32, ""), s);
    let wx = f.add(Op::Binary(BinaryOp::Mul), &[w, x], s).unwrap();
    let r = f.add(Op::Binary(BinaryOp::Sub), &[wx, c], s).unwrap();
    let sq = f.add(Op::Binary(BinaryOp::Mul), &[r, r], s).unwrap();
    let sum = Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false };
    let loss = f.add(sum.clone(), &[sq], s).unwrap();
    let cwx = f.add(Op::Binary(BinaryOp::Mul), &[c, wx], s).unwrap();
    let critic = f.add(sum, &[cwx], s).unwrap();
    f.outputs = vec![(names::LOSS.into(), loss), (super::CRITIC_LOSS.into(), critic)];
    let params = vec![decl("lin.w", "4"), decl("critic.c", "")];
    let opt = OptimizerConfig {
        critic: super::CriticOptimizer { kind: OptimizerKind::sgd(0.0), lr_ratio: 0.5, alternating },
        ..config(OptimizerKind::sgd(0.0))
    };
    let (step, info) = build_train_step(&f, &params, &opt).unwrap();
    assert!(info.state.is_empty(), "plain SGD keeps no state");
    let (w0, c0, lr) = ([0.5, -0.25, 1.0, 0.0], 0.75, 0.1);
    let mut inputs = NamedTensors::new();
    inputs.insert("x".into(), tensor(DType::F64, vec![4], &X));
    inputs.insert("param:lin.w".into(), tensor(DType::F64, vec![4], &w0));
    inputs.insert("param:critic.c".into(), tensor(DType::F64, vec![], &[c0]));
    inputs.insert(names::STEP.into(), Tensor::scalar_i64(0));
    inputs.insert(names::BASE_LR.into(), tensor(DType::F64, vec![], &[lr]));
    inputs.insert(names::TOTAL_STEPS.into(), Tensor::scalar_i64(10));
    let out = run_function(&step, &inputs, &RunContext::new(Precision::F64)).unwrap();
    let new_w = out["param:lin.w"].to_f64_vec();
    let mut w1 = [0.0; 4];
    for i in 0..4 {
        let grad = 2.0 * X[i] * (w0[i] * X[i] - c0);
        w1[i] = w0[i] - lr * grad;
        assert!((new_w[i] - w1[i]).abs() < 1e-12, "w[{i}]: {} vs {}", new_w[i], w1[i]);
    }
    // The critic judges the model it steps against: before its step, or after with `alternating`.
    let seen = if alternating { w1 } else { w0 };
    let grad_c: f64 = (0..4).map(|i| seen[i] * X[i]).sum();
    let new_c = out["param:critic.c"].scalar_value().unwrap();
    assert!((new_c - (c0 - 0.5 * lr * grad_c)).abs() < 1e-12, "c: {new_c} vs {}", c0 - 0.5 * lr * grad_c);
    // Like every metric of a step, the critic's loss is the one before the step's updates.
    let before: f64 = (0..4).map(|i| w0[i] * X[i]).sum();
    let critic_loss = out[super::CRITIC_LOSS].scalar_value().unwrap();
    assert!((critic_loss - c0 * before).abs() < 1e-12, "critic loss {critic_loss}");
}

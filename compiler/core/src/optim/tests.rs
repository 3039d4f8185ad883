//! Train steps against hand-written PyTorch reference updates: a tiny linear regression whose
//! gradients are known in closed form, stepped several times through the interpreter (f64),
//! with the state fed back as the runtime would.

use super::{OptimizerConfig, OptimizerKind, Schedule, TrainStepError, build_train_step};
use crate::autodiff::testkit::ty;
use crate::interp::{NamedTensors, Precision, RunContext, run_function};
use hg_abi::names;
use hg_ir::{BinaryOp, DType, Function, Init, NodeSpan, Op, ParamDecl, ReduceOp, UnaryOp};
use hg_runtime::Tensor;

const X: [f64; 4] = [0.5, -1.0, 2.0, 1.5];
const T: [f64; 4] = [1.0, 0.0, -1.0, 2.0];

fn decl(name: &str, shape: &str) -> ParamDecl {
    ParamDecl { name: name.into(), ty: ty(DType::F32, shape), init: Init::Zeros, span: NodeSpan::default() }
}

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

/// Parameters as one flat vector: `w[0..4]`, then `b`.
type Flat = Vec<f64>;

fn closed_form_grads(p: &Flat) -> Flat {
    let mut g = vec![0.0; 5];
    for i in 0..4 {
        let r = p[i] * X[i] + p[4] - T[i];
        g[i] = 2.0 * r * X[i];
        g[4] += 2.0 * r;
    }
    g
}

/// PyTorch's schedules, written from their definitions.
fn reference_lr(schedule: Schedule, base: f64, step: u64, total: u64) -> f64 {
    let (w, cosine) = match schedule {
        Schedule::Constant => return base,
        Schedule::Linear { warmup } => (warmup, false),
        Schedule::Cosine { warmup } => (warmup, true),
    };
    if step < w {
        return base * (step + 1) as f64 / w as f64;
    }
    let progress = ((step - w) as f64 / (total.saturating_sub(w).max(1)) as f64).min(1.0);
    if cosine { base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) } else { base * (1.0 - progress) }
}

/// One reference optimizer step on the flat parameters (`torch.optim` semantics).
struct Reference {
    p: Flat,
    buf: Flat,
    m: Flat,
    v: Flat,
}

impl Reference {
    fn step(&mut self, opt: &OptimizerConfig, lr: f64, step: u64) {
        let mut g = closed_form_grads(&self.p);
        if let Some(c) = opt.clip_grad_norm {
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            let coef = (c / (norm + 1e-6)).min(1.0);
            g.iter_mut().for_each(|x| *x *= coef);
        }
        let t = (step + 1) as i32;
        for (i, &gi) in g.iter().enumerate() {
            match opt.kind {
                OptimizerKind::Sgd { momentum, nesterov, weight_decay } => {
                    let mut d = gi + weight_decay * self.p[i];
                    if momentum != 0.0 {
                        self.buf[i] = if step == 0 { d } else { momentum * self.buf[i] + d };
                        d = if nesterov { d + momentum * self.buf[i] } else { self.buf[i] };
                    }
                    self.p[i] -= lr * d;
                }
                OptimizerKind::Adam { beta1, beta2, eps, weight_decay }
                | OptimizerKind::AdamW { beta1, beta2, eps, weight_decay } => {
                    let mut gi = gi;
                    if matches!(opt.kind, OptimizerKind::AdamW { .. }) {
                        self.p[i] *= 1.0 - lr * weight_decay;
                    } else {
                        gi += weight_decay * self.p[i];
                    }
                    self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * gi;
                    self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * gi * gi;
                    let bc1 = 1.0 - beta1.powi(t);
                    let bc2 = 1.0 - beta2.powi(t);
                    let denom = self.v[i].sqrt() / bc2.sqrt() + eps;
                    self.p[i] -= lr / bc1 * self.m[i] / denom;
                }
            }
        }
    }
}

fn tensor(shape: Vec<usize>, values: &[f64]) -> Tensor {
    Tensor::from_f64(shape, values.to_vec()).unwrap()
}

/// Runs `n` train steps through the interpreter and the reference, comparing parameters, the
/// learning rate and the loss after every step.
fn compare(opt: OptimizerConfig, n: u64, total: u64) {
    let (f, info) = build_train_step(&forward(), &params(), &opt).unwrap();
    let base_lr = 0.05;
    let p0: Flat = vec![0.3, -0.2, 0.1, 0.4, 0.05];
    let mut reference = Reference { p: p0.clone(), buf: vec![0.0; 5], m: vec![0.0; 5], v: vec![0.0; 5] };
    let mut inputs: NamedTensors = NamedTensors::new();
    inputs.insert("x".into(), tensor(vec![4], &X));
    inputs.insert("t".into(), tensor(vec![4], &T));
    inputs.insert("param:lin.w".into(), tensor(vec![4], &p0[..4]));
    inputs.insert("param:lin.b".into(), tensor(vec![], &p0[4..]));
    for s in &info.state {
        let shape = s.ty.concrete_shape(1).unwrap();
        inputs.insert(s.name.clone(), Tensor::zeros(DType::F64, shape).unwrap());
    }
    inputs.insert(names::BASE_LR.into(), tensor(vec![], &[base_lr]));
    inputs.insert(names::TOTAL_STEPS.into(), Tensor::scalar_i64(total as i64));
    for step in 0..n {
        inputs.insert(names::STEP.into(), Tensor::scalar_i64(step as i64));
        let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
        let lr = reference_lr(opt.schedule, base_lr, step, total);
        let loss: f64 = (0..4).map(|i| (reference.p[i] * X[i] + reference.p[4] - T[i]).powi(2)).sum();
        reference.step(&opt, lr, step);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        assert!(close(out["loss"].scalar_value().unwrap(), loss), "loss at step {step}");
        assert!(
            close(out["lr"].scalar_value().unwrap(), lr),
            "lr at step {step}: {:?} vs {lr}",
            out["lr"].scalar_value()
        );
        let got: Vec<f64> =
            out["param:lin.w"].to_f64_vec().into_iter().chain(out["param:lin.b"].to_f64_vec()).collect();
        for (a, b) in got.iter().zip(&reference.p) {
            assert!(close(*a, *b), "{opt:?} step {step}: {got:?} vs {:?}", reference.p);
        }
        // Carry parameters and state to the next step, as the runtime does.
        for (name, t) in out {
            if name.starts_with(names::PARAM) || name.starts_with(names::STATE) {
                inputs.insert(name, t);
            }
        }
    }
}

fn config(kind: OptimizerKind) -> OptimizerConfig {
    OptimizerConfig { kind, schedule: Schedule::Constant, clip_grad_norm: None }
}

#[test]
fn sgd_matches_torch() {
    compare(config(OptimizerKind::sgd(0.0)), 3, 10);
    compare(config(OptimizerKind::sgd(0.9)), 4, 10);
    compare(config(OptimizerKind::Sgd { momentum: 0.8, nesterov: true, weight_decay: 0.1 }), 4, 10);
    compare(config(OptimizerKind::Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.3 }), 2, 10);
}

#[test]
fn adam_and_adamw_match_torch() {
    compare(config(OptimizerKind::adam()), 4, 10);
    compare(config(OptimizerKind::Adam { beta1: 0.8, beta2: 0.9, eps: 1e-3, weight_decay: 0.2 }), 4, 10);
    compare(config(OptimizerKind::adamw()), 4, 10);
    compare(config(OptimizerKind::AdamW { beta1: 0.5, beta2: 0.99, eps: 1e-6, weight_decay: 0.5 }), 3, 10);
}

#[test]
fn schedules_and_clipping_match_their_formulas() {
    for schedule in [Schedule::Linear { warmup: 2 }, Schedule::Cosine { warmup: 3 }, Schedule::Cosine { warmup: 0 }] {
        // Past `total_steps` the rate stays at zero.
        compare(OptimizerConfig { kind: OptimizerKind::sgd(0.5), schedule, clip_grad_norm: None }, 8, 6);
    }
    compare(
        OptimizerConfig {
            kind: OptimizerKind::adam(),
            schedule: Schedule::Linear { warmup: 0 },
            clip_grad_norm: Some(0.1),
        },
        3,
        5,
    );
    // A threshold above the norm leaves gradients (almost) untouched, as in PyTorch.
    compare(
        OptimizerConfig { kind: OptimizerKind::sgd(0.0), schedule: Schedule::Constant, clip_grad_norm: Some(1e6) },
        2,
        5,
    );
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

//! Gradient checks against central finite differences (f64 interpreter) for every
//! differentiable primitive, with broadcasting and symbolic batch sizes, plus the error paths.

use super::testkit::{BATCH, Case, Rng, decl, ty};
use super::{AutodiffError, differentiate, gradient_function};
use crate::interp::{Precision, RunContext, run_function};
use hg_abi::names;
use hg_exec::Tensor;
use hg_ir::{BinaryOp, DType, Dim, Function, NodeSpan, Op, PoolKind, ReduceOp, TensorType, UnaryOp};

fn unary_domain(u: UnaryOp) -> (f64, f64) {
    match u {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt => (0.3, 3.0),
        _ => (-3.0, 3.0),
    }
}

#[test]
fn unary_elementwise_gradients() {
    let differentiable = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Abs,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Gelu,
        UnaryOp::Softplus,
        UnaryOp::Sin,
        UnaryOp::Cos,
    ];
    for (i, u) in differentiable.into_iter().enumerate() {
        for shape in ["5", "2, 3", "B, 2"] {
            let mut c = Case::new(i as u64 * 7 + shape.len() as u64);
            let (lo, hi) = unary_domain(u);
            let x = c.wrt("x", shape, lo, hi);
            let y = c.op(Op::Unary(u), &[x]);
            c.check(y);
        }
    }
}

#[test]
fn gelu_gradient_at_zero_and_softplus_past_threshold() {
    let mut c = Case::new(1);
    let x = c.wrt("x", "4", -1.0, 1.0);
    c.inputs.insert("x".into(), Tensor::from_f32(vec![4], vec![0.0, 1e-7, -25.0, 30.0]).unwrap());
    let a = c.op(Op::Unary(UnaryOp::Gelu), &[x]);
    let b = c.op(Op::Unary(UnaryOp::Softplus), &[x]);
    let y = c.op(Op::Binary(BinaryOp::Add), &[a, b]);
    c.check(y);
}

/// Shape pairs covering equal shapes, rank extension, size-1 axes on either side and scalars.
const BROADCAST_PAIRS: [(&str, &str); 6] =
    [("3, 4", "3, 4"), ("2, 3, 4", "4"), ("3, 1", "1, 4"), ("2, 1, 4", "3, 1"), ("", "2, 3"), ("B, 3", "1, 3")];

#[test]
fn binary_elementwise_gradients_with_broadcasting() {
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
    ];
    for (i, b) in ops.into_iter().enumerate() {
        for (j, (sa, sb)) in BROADCAST_PAIRS.into_iter().enumerate() {
            let mut c = Case::new((i * 10 + j) as u64);
            let (alo, ahi, blo, bhi) = match b {
                BinaryOp::Div => (-2.0, 2.0, 0.5, 2.0),
                BinaryOp::Pow => (0.5, 2.0, -1.5, 1.5),
                _ => (-2.0, 2.0, -2.0, 2.0),
            };
            let x = c.wrt("a", sa, alo, ahi);
            let y = c.wrt("b", sb, blo, bhi);
            let z = c.op(Op::Binary(b), &[x, y]);
            c.check(z);
        }
    }
}

#[test]
fn pow_with_constant_exponent_accepts_negative_bases() {
    for (seed, e) in [(1, 2.0), (2, 3.0), (3, -2.0)] {
        let mut c = Case::new(seed);
        let x = c.wrt("x", "2, 3", -2.0, 2.0);
        let k = c.constant(e);
        let y = c.op(Op::Binary(BinaryOp::Pow), &[x, k]);
        c.check(y);
    }
}

#[test]
fn pow_gradient_is_masked_like_torch_at_zero() {
    // d/da 0^0 and d/db 0^b are defined as 0 by torch.pow's backward, not NaN.
    let mut f = Function::new("pow");
    let a = f.add_input("a", ty(DType::F32, "2"), NodeSpan::default());
    let b = f.add_input("b", ty(DType::F32, "2"), NodeSpan::default());
    let y = f.add(Op::Binary(BinaryOp::Pow), &[a, b], NodeSpan::default()).unwrap();
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[y], NodeSpan::default()).unwrap();
    let grads = differentiate(&mut f, loss, &[a, b]).unwrap().grads;
    f.outputs = vec![("ga".into(), grads[0]), ("gb".into(), grads[1])];
    let inputs = [
        ("a".to_string(), Tensor::from_f32(vec![2], vec![0.0, 0.0]).unwrap()),
        ("b".to_string(), Tensor::from_f32(vec![2], vec![0.0, 2.0]).unwrap()),
    ]
    .into_iter()
    .collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["ga"].to_f64_vec(), vec![0.0, 0.0]);
    assert_eq!(out["gb"].to_f64_vec(), vec![0.0, 0.0]);
}

#[test]
fn maximum_splits_ties_in_half() {
    let mut f = Function::new("max");
    let a = f.add_input("a", ty(DType::F32, "3"), NodeSpan::default());
    let b = f.add_input("b", ty(DType::F32, "3"), NodeSpan::default());
    let y = f.add(Op::Binary(BinaryOp::Maximum), &[a, b], NodeSpan::default()).unwrap();
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[y], NodeSpan::default()).unwrap();
    let grads = differentiate(&mut f, loss, &[a, b]).unwrap().grads;
    f.outputs = vec![("ga".into(), grads[0]), ("gb".into(), grads[1])];
    let inputs = [
        ("a".to_string(), Tensor::from_f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap()),
        ("b".to_string(), Tensor::from_f32(vec![3], vec![2.0, 2.0, 1.0]).unwrap()),
    ]
    .into_iter()
    .collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["ga"].to_f64_vec(), vec![0.0, 0.5, 1.0]);
    assert_eq!(out["gb"].to_f64_vec(), vec![1.0, 0.5, 0.0]);
}

#[test]
fn where_routes_gradients_and_broadcasts() {
    for (seed, (sc, sa, sb)) in
        [("3, 4", "3, 4", "3, 4"), ("3, 1", "1, 4", "4"), ("", "2, 3", "")].into_iter().enumerate()
    {
        let mut c = Case::new(seed as u64);
        let s = c.fixed("s", sc, -1.0, 1.0);
        let zero = c.constant(0.0);
        let cond = c.op(Op::Binary(BinaryOp::Gt), &[s, zero]);
        let a = c.wrt("a", sa, -1.0, 1.0);
        let b = c.wrt("b", sb, -1.0, 1.0);
        let y = c.op(Op::Where, &[cond, a, b]);
        c.check(y);
    }
}

#[test]
fn float_casts_pass_gradients_through() {
    let mut c = Case::new(3);
    let x = c.wrt("x", "2, 3", -1.0, 1.0);
    let wide = c.op(Op::Cast { to: DType::F64 }, &[x]);
    let sq = c.op(Op::Binary(BinaryOp::Mul), &[wide, wide]);
    let y = c.op(Op::Cast { to: DType::F32 }, &[sq]);
    c.check(y);
}

#[test]
fn reduction_gradients() {
    let cases: [(&str, &[usize]); 5] =
        [("4", &[0]), ("2, 3, 4", &[1]), ("2, 3, 4", &[0, 2]), ("3, 4", &[0, 1]), ("B, 4", &[0])];
    let mut seed = 0;
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
        for (shape, axes) in cases {
            for keepdims in [false, true] {
                seed += 1;
                let mut c = Case::new(seed);
                let x = c.wrt("x", shape, -2.0, 2.0);
                let y = c.op(Op::Reduce { op, axes: axes.to_vec(), keepdims }, &[x]);
                c.check(y);
            }
        }
    }
}

#[test]
fn mean_over_the_batch_divides_by_its_runtime_size() {
    let mut c = Case::new(5);
    let x = c.wrt("x", "B, 2", -1.0, 1.0);
    let y = c.op(Op::Reduce { op: ReduceOp::Mean, axes: vec![0, 1], keepdims: false }, &[x]);
    let mut f = c.f.clone();
    let g = differentiate(&mut f, y, &[x]).unwrap().grads[0];
    f.outputs = vec![("g".into(), g)];
    let out = run_function(&f, &c.inputs, &RunContext::new(Precision::F64)).unwrap();
    let expected = 1.0 / (2 * BATCH) as f64;
    assert!(out["g"].to_f64_vec().iter().all(|v| (v - expected).abs() < 1e-15));
    c.check(y);
}

#[test]
fn max_reduction_splits_ties_evenly() {
    let mut f = Function::new("amax");
    let x = f.add_input("x", ty(DType::F32, "4"), NodeSpan::default());
    let y = f.add(Op::Reduce { op: ReduceOp::Max, axes: vec![0], keepdims: false }, &[x], NodeSpan::default()).unwrap();
    let g = differentiate(&mut f, y, &[x]).unwrap().grads[0];
    f.outputs = vec![("g".into(), g)];
    let inputs =
        [("x".to_string(), Tensor::from_f32(vec![4], vec![3.0, 1.0, 3.0, 2.0]).unwrap())].into_iter().collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["g"].to_f64_vec(), vec![0.5, 0.0, 0.5, 0.0]);
}

#[test]
fn matmul_gradients_batched_broadcast_and_rank_one() {
    let pairs = [
        ("3, 4", "4, 5"),
        ("2, 3, 4", "4, 5"),
        ("4", "4, 5"),
        ("3, 4", "4"),
        ("4", "4"),
        ("2, 1, 3, 4", "5, 4, 2"),
        ("2, 3, 4", "2, 4, 5"),
        ("4", "2, 4, 3"),
        ("B, 3, 4", "4"),
    ];
    for (seed, (sa, sb)) in pairs.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let a = c.wrt("a", sa, -1.0, 1.0);
        let b = c.wrt("b", sb, -1.0, 1.0);
        let y = c.op(Op::MatMul, &[a, b]);
        c.check(y);
    }
}

#[test]
fn conv2d_gradients() {
    // (x, w, stride, padding, groups): strides that skip trailing rows need output padding.
    let cases = [
        ("2, 3, 5, 6", "4, 3, 3, 3", [1, 1], [0, 0], 1),
        ("1, 4, 7, 6", "6, 2, 3, 2", [2, 1], [1, 0], 2),
        ("2, 2, 6, 7", "3, 2, 2, 3", [2, 3], [1, 1], 1),
        ("B, 2, 5, 5", "2, 1, 3, 3", [2, 2], [1, 1], 2),
        ("1, 2, 6, 5", "2, 2, 3, 3", [2, 2], [0, 0], 1),
        ("1, 2, 7, 9", "2, 1, 2, 2", [3, 3], [0, 1], 2),
    ];
    for (seed, (sx, sw, stride, padding, groups)) in cases.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.wrt("x", sx, -1.0, 1.0);
        let w = c.wrt("w", sw, -1.0, 1.0);
        let y = c.op(Op::Conv2d { stride, padding, groups }, &[x, w]);
        c.check(y);
    }
}

#[test]
fn conv_transpose2d_gradients() {
    let cases = [
        ("2, 3, 3, 4", "3, 2, 3, 3", [1, 1], [0, 0], [0, 0], 1),
        ("1, 4, 3, 4", "4, 3, 2, 3", [2, 3], [0, 1], [1, 0], 1),
        ("2, 4, 3, 3", "4, 2, 3, 3", [2, 2], [1, 1], [1, 1], 2),
    ];
    for (seed, (sx, sw, stride, padding, output_padding, groups)) in cases.into_iter().enumerate() {
        let mut c = Case::new(seed as u64 + 40);
        let x = c.wrt("x", sx, -1.0, 1.0);
        let w = c.wrt("w", sw, -1.0, 1.0);
        let y = c.op(Op::ConvTranspose2d { stride, padding, output_padding, groups }, &[x, w]);
        c.check(y);
    }
}

#[test]
fn conv2d_weight_grad_is_differentiable_in_both_operands() {
    let mut c = Case::new(9);
    let x = c.wrt("x", "2, 4, 6, 5", -1.0, 1.0);
    let gy = c.wrt("gy", "2, 2, 3, 2", -1.0, 1.0);
    let y = c.typed(
        Op::Conv2dWeightGrad { stride: [2, 2], padding: [1, 0], groups: 2 },
        &[x, gy],
        ty(DType::F32, "2, 2, 3, 3"),
    );
    c.check(y);
}

#[test]
fn pooling_gradients() {
    let cases = [([2, 2], [2, 2], [0, 0]), ([3, 2], [2, 1], [1, 0]), ([3, 3], [2, 2], [1, 1])];
    for (seed, (kernel, stride, padding)) in cases.into_iter().enumerate() {
        for kind in [PoolKind::Avg, PoolKind::Max] {
            let mut c = Case::new(seed as u64 + 60);
            let x = c.wrt("x", "B, 2, 5, 6", -1.0, 1.0);
            let y = c.op(Op::Pool2d { kind, kernel, stride, padding }, &[x]);
            c.check(y);
        }
    }
}

#[test]
fn reshape_transpose_broadcast_gradients() {
    let mut c = Case::new(1);
    let x = c.wrt("x", "2, 3, 4", -1.0, 1.0);
    let r = c.typed(Op::Reshape, &[x], ty(DType::F32, "6, 4"));
    let t = c.op(Op::Transpose { perm: vec![1, 0] }, &[r]);
    c.check(t);

    let mut c = Case::new(2);
    let x = c.wrt("x", "2, 3, 4", -1.0, 1.0);
    let t = c.op(Op::Transpose { perm: vec![2, 0, 1] }, &[x]);
    c.check(t);

    for (seed, (from, to)) in
        [("3, 1", "2, 3, 4"), ("4", "3, 4"), ("", "2, 2"), ("1, 3", "B, 3")].into_iter().enumerate()
    {
        let mut c = Case::new(seed as u64 + 3);
        let x = c.wrt("x", from, -1.0, 1.0);
        let y = c.typed(Op::BroadcastTo, &[x], ty(DType::F32, to));
        c.check(y);
    }
}

#[test]
fn concat_slice_pad_gradients() {
    let mut c = Case::new(1);
    let a = c.wrt("a", "2, 3", -1.0, 1.0);
    let b = c.wrt("b", "2, 1", -1.0, 1.0);
    let d = c.wrt("d", "2, 4", -1.0, 1.0);
    let y = c.op(Op::Concat { axis: 1 }, &[a, b, d, a]);
    c.check(y);

    // Batch-symbolic operands concatenated along a constant axis.
    let mut c = Case::new(2);
    let a = c.wrt("a", "B, 2", -1.0, 1.0);
    let b = c.wrt("b", "B, 3", -1.0, 1.0);
    let y = c.op(Op::Concat { axis: 1 }, &[a, b]);
    c.check(y);

    // Along the batch axis itself (a critic judging two batches with one network): parts of
    // one shape, one of them twice.
    let mut c = Case::new(3);
    let a = c.wrt("a", "B, 2, 3", -1.0, 1.0);
    let b = c.wrt("b", "B, 2, 3", -1.0, 1.0);
    let y = c.op(Op::Concat { axis: 0 }, &[a, b, b]);
    c.check(y);

    let slices = [(0, 7, 1), (2, 5, 1), (1, 7, 2), (0, 6, 3), (2, 3, 4), (5, 7, 2), (1, 6, 5)];
    for (seed, (start, end, step)) in slices.into_iter().enumerate() {
        let mut c = Case::new(seed as u64 + 10);
        let x = c.wrt("x", "2, 7, 3", -1.0, 1.0);
        let y = c.op(Op::Slice { axis: 1, start, end, step }, &[x]);
        c.check(y);
    }

    let mut c = Case::new(20);
    let x = c.wrt("x", "B, 3, 2", -1.0, 1.0);
    let y = c.op(Op::Pad { pads: vec![(0, 0), (1, 2), (0, 3)], value: 0.5 }, &[x]);
    c.check(y);
}

#[test]
fn gather_and_scatter_add_gradients() {
    for axis in [0, 1] {
        let mut c = Case::new(axis as u64);
        let x = c.wrt("x", "4, 5", -1.0, 1.0);
        let n = if axis == 0 { 4 } else { 5 };
        // More reads than rows along `axis`, so some rows are read twice (accumulation).
        let idx = c.indices("idx", if axis == 0 { "6, 5" } else { "4, 7" }, n);
        let y = c.op(Op::Gather { axis }, &[x, idx]);
        c.check(y);

        let mut c = Case::new(axis as u64 + 5);
        let x = c.wrt("x", "4, 5", -1.0, 1.0);
        let idx = c.indices("idx", if axis == 0 { "6, 5" } else { "4, 7" }, n);
        let v = c.wrt("v", if axis == 0 { "6, 5" } else { "4, 7" }, -1.0, 1.0);
        let y = c.op(Op::ScatterAdd { axis }, &[x, idx, v]);
        c.check(y);
    }
}

#[test]
fn random_sources_are_constants_of_the_draw() {
    let mut c = Case::new(4);
    let x = c.wrt("x", "B, 3", -1.0, 1.0);
    let key = c.random_key(5, 2);
    let noise = c.typed(Op::RandomNormal { site: 7 }, &key, ty(DType::F32, "B, 3"));
    let keep = c.typed(Op::Bernoulli { site: 8, p: 0.5 }, &key, ty(DType::F32, "B, 3"));
    let scaled = c.op(Op::Binary(BinaryOp::Mul), &[x, noise]);
    let y = c.op(Op::Binary(BinaryOp::Mul), &[scaled, keep]);
    c.check(y);
}

/// A small network mixing many rules: the composition must be right too.
#[test]
fn composite_network_gradient() {
    let mut c = Case::new(11);
    let x = c.fixed("x", "B, 4", -1.0, 1.0);
    let w1 = c.wrt("w1", "4, 5", -0.5, 0.5);
    let b1 = c.wrt("b1", "5", -0.1, 0.1);
    let h = c.op(Op::MatMul, &[x, w1]);
    let h = c.op(Op::Binary(BinaryOp::Add), &[h, b1]);
    let h = c.op(Op::Unary(UnaryOp::Tanh), &[h]);
    // log-softmax over the last axis, as the standard library writes it.
    let m = c.op(Op::Reduce { op: ReduceOp::Max, axes: vec![1], keepdims: true }, &[h]);
    let m = c.op(Op::StopGradient, &[m]);
    let z = c.op(Op::Binary(BinaryOp::Sub), &[h, m]);
    let e = c.op(Op::Unary(UnaryOp::Exp), &[z]);
    let s = c.op(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: true }, &[e]);
    let ls = c.op(Op::Unary(UnaryOp::Log), &[s]);
    let y = c.op(Op::Binary(BinaryOp::Sub), &[z, ls]);
    c.check(y);
}

#[test]
fn straight_through_takes_the_backward_operands_gradient() {
    let mut f = Function::new("st");
    let a = f.add_input("a", ty(DType::F32, "3"), NodeSpan::default());
    let b = f.add_input("b", ty(DType::F32, "3"), NodeSpan::default());
    let r = f.add(Op::Unary(UnaryOp::Round), &[a], NodeSpan::default()).unwrap();
    let st = f.add(Op::StraightThrough, &[r, b], NodeSpan::default()).unwrap();
    let sq = f.add(Op::Binary(BinaryOp::Mul), &[st, st], NodeSpan::default()).unwrap();
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[sq], NodeSpan::default()).unwrap();
    let result = differentiate(&mut f, loss, &[b]).unwrap();
    f.outputs = vec![("g".into(), result.grads[0])];
    let inputs = [
        ("a".to_string(), Tensor::from_f32(vec![3], vec![0.4, 1.6, -2.2]).unwrap()),
        ("b".to_string(), Tensor::from_f32(vec![3], vec![7.0, 8.0, 9.0]).unwrap()),
    ]
    .into_iter()
    .collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    // d/db sum(st^2) = 2 * st, and st's value is round(a).
    assert_eq!(out["g"].to_f64_vec(), vec![0.0, 4.0, -4.0]);
}

#[test]
fn stop_gradient_blocks_one_path_only() {
    let mut f = Function::new("sg");
    let x = f.add_input("x", ty(DType::F32, "2"), NodeSpan::default());
    let s = f.add(Op::StopGradient, &[x], NodeSpan::default()).unwrap();
    let p = f.add(Op::Binary(BinaryOp::Mul), &[x, s], NodeSpan::default()).unwrap();
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[p], NodeSpan::default()).unwrap();
    let g = differentiate(&mut f, loss, &[x]).unwrap().grads[0];
    f.outputs = vec![("g".into(), g)];
    let inputs = [("x".to_string(), Tensor::from_f32(vec![2], vec![3.0, -1.5]).unwrap())].into_iter().collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["g"].to_f64_vec(), vec![3.0, -1.5]);
}

fn span(start: u32) -> NodeSpan {
    NodeSpan { file: 0, start, end: start + 1 }
}

#[test]
fn parameter_reached_only_through_argmin_is_an_error() {
    let mut f = Function::new("vq");
    let w = f.add_typed(Op::Param { name: "encoder.w".into() }, &[], ty(DType::F32, "4, 3"), span(1));
    let idx = f.add(Op::ArgReduce { max: false, axis: 1, keepdims: false }, &[w], span(20)).unwrap();
    let fl = f.add(Op::Cast { to: DType::F32 }, &[idx], span(30)).unwrap();
    let loss = f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[fl], span(40)).unwrap();
    let err = differentiate(&mut f, loss, &[w]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `encoder.w` reaches the loss only through `argmin` (not differentiable)");
    assert_eq!(err.span(), Some(span(20)));
    if let AutodiffError::Blocked { wrt_span, .. } = err {
        assert_eq!(wrt_span, span(1));
    }
}

#[test]
fn parameter_reached_only_through_round_or_stop_gradient_is_an_error() {
    let mut f = Function::new("fsq");
    let w = f.add_input("param:q", ty(DType::F32, "3"), span(1));
    let r = f.add(Op::Unary(UnaryOp::Round), &[w], span(5)).unwrap();
    let loss = f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[r], span(9)).unwrap();
    let err = differentiate(&mut f, loss, &[w]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `q` reaches the loss only through `round` (not differentiable)");

    let mut f = Function::new("sg");
    let w = f.add_input("x", ty(DType::F32, "3"), span(1));
    let s = f.add(Op::StopGradient, &[w], span(5)).unwrap();
    let loss = f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[s], span(9)).unwrap();
    let err = differentiate(&mut f, loss, &[w]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` reaches the loss only through `stop_gradient` (gradients are stopped there)"
    );
}

#[test]
fn a_differentiable_path_beside_a_blocked_one_is_fine() {
    // The vector-quantizer pattern: the codebook reaches the loss through argmin (blocked)
    // and through the gather of the chosen codes (differentiable).
    let mut c = Case::new(3);
    let book = c.wrt("book", "4, 3", -1.0, 1.0);
    let e = c.fixed("e", "5, 3", -1.0, 1.0);
    let bt = c.op(Op::Transpose { perm: vec![1, 0] }, &[book]);
    let d = c.op(Op::MatMul, &[e, bt]);
    let idx = c.op(Op::ArgReduce { max: true, axis: 1, keepdims: true }, &[d]);
    let idx = c.typed(Op::BroadcastTo, &[idx], ty(DType::I64, "5, 3"));
    let q = c.op(Op::Gather { axis: 0 }, &[book, idx]);
    c.check(q);
}

#[test]
fn unused_values_get_zero_gradients_and_are_listed() {
    let mut f = Function::new("unused");
    let x = f.add_input("x", ty(DType::F32, "2"), NodeSpan::default());
    let u = f.add_input("u", ty(DType::F32, "B, 3"), NodeSpan::default());
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[x], NodeSpan::default()).unwrap();
    let result = differentiate(&mut f, loss, &[x, u]).unwrap();
    assert_eq!(result.unused, vec![u]);
    assert_eq!(f.op(result.grads[1]), &Op::Full { value: 0.0 });
    assert_eq!(f.ty(result.grads[1]), &ty(DType::F32, "B, 3"));
}

#[test]
fn non_float_loss_and_wrt_are_errors() {
    let mut f = Function::new("ints");
    let x = f.add_input("x", ty(DType::I64, "2"), NodeSpan::default());
    let y = f.add_input("y", ty(DType::F32, "2"), NodeSpan::default());
    assert!(matches!(differentiate(&mut f, x, &[y]), Err(AutodiffError::NonFloatLoss { .. })));
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[y], NodeSpan::default()).unwrap();
    let err = differentiate(&mut f, loss, &[x]).unwrap_err();
    assert_eq!(err.to_string(), "input `x` has type i64[2]; only float values get gradients");
}

#[test]
fn second_order_through_max_pool_grad_is_reported() {
    let mut f = Function::new("mpg");
    let x = f.add_input("x", ty(DType::F32, "1, 1, 4, 4"), NodeSpan::default());
    let g = f.add_input("g", ty(DType::F32, "1, 1, 2, 2"), span(3));
    let pool = Op::MaxPool2dGrad { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };
    let y = f.add(pool, &[x, g], span(7)).unwrap();
    let loss = f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1, 2, 3], keepdims: false }, &[y], span(9)).unwrap();
    let err = differentiate(&mut f, loss, &[g]).unwrap_err();
    assert!(matches!(err, AutodiffError::Unsupported { op: "max_pool2d_grad", .. }), "{err}");
    assert_eq!(err.span(), Some(span(7)));
}

#[test]
fn deep_chains_do_not_recurse() {
    let mut f = Function::new("deep");
    let x = f.add_input("x", ty(DType::F32, "2"), NodeSpan::default());
    let mut v = x;
    for _ in 0..20_000 {
        v = f.add(Op::Unary(UnaryOp::Neg), &[v], NodeSpan::default()).unwrap();
    }
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[v], NodeSpan::default()).unwrap();
    let g = differentiate(&mut f, loss, &[x]).unwrap().grads[0];
    f.outputs = vec![("g".into(), g)];
    let inputs = [("x".to_string(), Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap())].into_iter().collect();
    let out = run_function(&f, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["g"].to_f64_vec(), vec![1.0, 1.0]);
}

#[test]
fn gradient_function_binds_params_and_names_outputs() {
    let mut f = Function::new("train");
    let x = f.add_input("x", ty(DType::F32, "B, 3"), NodeSpan::default());
    let w = f.add_typed(Op::Param { name: "lin.w".into() }, &[], ty(DType::F32, "3, 2"), NodeSpan::default());
    let h = f.add(Op::MatMul, &[x, w], NodeSpan::default()).unwrap();
    let h = f.add(Op::Unary(UnaryOp::Tanh), &[h], NodeSpan::default()).unwrap();
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0, 1], keepdims: false }, &[h], NodeSpan::default()).unwrap();
    let metric = f.add(Op::Unary(UnaryOp::Exp), &[loss], NodeSpan::default()).unwrap();
    f.outputs = vec![("loss".into(), loss), (names::metric("e"), metric)];
    let params = [decl("lin.w", "3, 2"), decl("unused.b", "4")];
    let g = gradient_function(&f, &params).unwrap();
    let outs: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(outs, ["loss", "grad:lin.w", "grad:unused.b"]);
    let ins: Vec<&str> = g.inputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(ins, ["x", "param:lin.w", "param:unused.b"]);
    assert!(g.values().all(|v| !matches!(g.op(v), Op::Param { .. } | Op::Unary(UnaryOp::Exp))));

    // The gradients it computes pass a finite-difference check.
    let mut rng = Rng::new(2);
    let mut t = |shape: Vec<usize>| {
        let n = shape.iter().product();
        Tensor::from_f64_values(DType::F32, shape, &(0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<_>>()).unwrap()
    };
    let inputs = [
        ("x".to_string(), t(vec![2, 3])),
        ("param:lin.w".to_string(), t(vec![3, 2])),
        ("param:unused.b".to_string(), t(vec![4])),
    ]
    .into_iter()
    .collect();
    let mut fwd = f.clone();
    super::bind_params(&mut fwd, &params).unwrap();
    let err = super::gradcheck::check_gradients(&fwd, &inputs, &["param:lin.w", "param:unused.b"], 1e-6).unwrap();
    assert!(err < 1e-5, "{err}");
    let out = run_function(&g, &inputs, &RunContext::new(Precision::F64)).unwrap();
    assert_eq!(out["grad:unused.b"].to_f64_vec(), vec![0.0; 4]);
}

#[test]
fn param_type_mismatch_and_undeclared_params_are_errors() {
    let mut f = Function::new("train");
    let w = f.add_typed(Op::Param { name: "w".into() }, &[], ty(DType::F32, "3"), span(4));
    let loss =
        f.add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keepdims: false }, &[w], NodeSpan::default()).unwrap();
    f.outputs = vec![("loss".into(), loss)];
    let err = gradient_function(&f, &[decl("w", "4")]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `w` is used with type f32[3] but declared as f32[4]");
    assert_eq!(err.span(), Some(span(4)));
    let err = gradient_function(&f, &[]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `w` is read but not declared");
    let mut no_loss = f.clone();
    no_loss.outputs.clear();
    assert_eq!(gradient_function(&no_loss, &[decl("w", "3")]).unwrap_err(), AutodiffError::MissingLoss);
}

#[test]
fn gradients_have_their_values_types_with_symbolic_shapes() {
    let mut f = Function::new("sym");
    let x = f.add_input("x", ty(DType::F32, "B, 1, 4"), NodeSpan::default());
    let y = f.add_input("y", ty(DType::F32, "3, 1"), NodeSpan::default());
    let s = f.add(Op::Binary(BinaryOp::Mul), &[x, y], NodeSpan::default()).unwrap();
    assert_eq!(f.ty(s).shape, vec![Dim::batch(), Dim::constant(3), Dim::constant(4)]);
    let loss = f
        .add(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1, 2], keepdims: false }, &[s], NodeSpan::default())
        .unwrap();
    let grads = differentiate(&mut f, loss, &[x, y]).unwrap().grads;
    assert_eq!(f.ty(grads[0]), &ty(DType::F32, "B, 1, 4"));
    assert_eq!(f.ty(grads[1]), &TensorType::new(DType::F32, vec![Dim::constant(3), Dim::constant(1)]));
}

/// Random shape pairs that broadcast (dropped leading axes, size-1 axes on either side), each
/// through a random binary op and a random reduction of the result.
#[test]
fn seeded_random_broadcast_shapes() {
    let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum, BinaryOp::Pow];
    let reductions = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min];
    let mut rng = Rng::new(2024);
    for case in 0..40 {
        let rank = 1 + rng.below(3);
        let full: Vec<usize> = (0..rank).map(|_| 1 + rng.below(4)).collect();
        let side = |rng: &mut Rng| -> String {
            let drop = rng.below(rank);
            let dims: Vec<String> =
                full[drop..].iter().map(|&d| if rng.below(3) == 0 { "1".to_string() } else { d.to_string() }).collect();
            dims.join(", ")
        };
        let (sa, sb) = (side(&mut rng), side(&mut rng));
        let op = ops[rng.below(ops.len())];
        let mut c = Case::new(case);
        let positive = matches!(op, BinaryOp::Div | BinaryOp::Pow);
        let a = c.wrt("a", &sa, if op == BinaryOp::Pow { 0.5 } else { -2.0 }, 2.0);
        let b = c.wrt("b", &sb, if positive { 0.5 } else { -2.0 }, 2.0);
        let y = c.op(Op::Binary(op), &[a, b]);
        let out_rank = c.f.ty(y).rank();
        let axes: Vec<usize> = (0..out_rank).filter(|_| rng.below(2) == 0).collect();
        let y = if axes.is_empty() {
            y
        } else {
            let r = reductions[rng.below(reductions.len())];
            c.op(Op::Reduce { op: r, axes, keepdims: rng.below(2) == 0 }, &[y])
        };
        c.check(y);
    }
}

#[test]
fn topk_values_through_gather() {
    let mut c = Case::new(8);
    let x = c.wrt("x", "B, 6", -1.0, 1.0);
    let idx = c.op(Op::TopKIndices { k: 2, axis: 1 }, &[x]);
    let vals = c.op(Op::Gather { axis: 1 }, &[x, idx]);
    let hot = c.op(Op::OneHot { n: 6 }, &[idx]);
    let mask = c.op(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: false }, &[hot]);
    let kept = c.op(Op::Binary(BinaryOp::Mul), &[x, mask]);
    let s = c.op(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keepdims: true }, &[vals]);
    let y = c.op(Op::Binary(BinaryOp::Add), &[kept, s]);
    c.check(y);
}

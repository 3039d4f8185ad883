//! Random elementwise kernels over `[B, n]` (inputs full, broadcast along either axis, or
//! scalar; chains of every f32 op, comparisons and selects), generated code against the
//! evaluator bit for bit. Bodies of vector-friendly ops get an `f32x4` loop; any call keeps
//! the loop scalar, so both paths and their remainders are exercised.

mod common;

use common::{KernelBuilder, b, c, check, ix};
use hg_abi::plan::Affine;
use hg_kernel::ir::{BinaryOp, Kernel, Scalar, UnaryOp, Val};
use proptest::prelude::*;

/// How an input is laid out against the `[B, n]` iteration space.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Full,
    /// One row of `n` shared by every batch item.
    Row,
    /// One value per batch item.
    Column,
    Scalar,
}

#[derive(Clone, Debug)]
enum Step {
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    /// `select(a cmp b, c, d)`.
    Select(BinaryOp, usize, usize, usize, usize),
    Const(f32),
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Full), Just(Layout::Row), Just(Layout::Column), Just(Layout::Scalar)]
}

fn float_unary() -> impl Strategy<Value = UnaryOp> {
    proptest::sample::select(UnaryOp::ALL.into_iter().filter(|&u| u != UnaryOp::Not).collect::<Vec<_>>())
}

/// Mostly the vectorised ops, so that many kernels vectorise.
fn vector_unary() -> impl Strategy<Value = UnaryOp> {
    proptest::sample::select(vec![
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
    ])
}

fn arith() -> impl Strategy<Value = BinaryOp> {
    proptest::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::Pow,
    ])
}

fn comparison() -> impl Strategy<Value = BinaryOp> {
    proptest::sample::select(BinaryOp::ALL.into_iter().filter(|o| o.is_comparison()).collect::<Vec<_>>())
}

fn step() -> impl Strategy<Value = Step> {
    let i = || 0usize..64;
    prop_oneof![
        3 => (vector_unary(), i()).prop_map(|(o, a)| Step::Unary(o, a)),
        1 => (float_unary(), i()).prop_map(|(o, a)| Step::Unary(o, a)),
        4 => (arith(), i(), i()).prop_map(|(o, a, b)| Step::Binary(o, a, b)),
        1 => (comparison(), i(), i(), i(), i()).prop_map(|(o, a, b, c, d)| Step::Select(o, a, b, c, d)),
        1 => (-3.0f32..3.0).prop_map(Step::Const),
    ]
}

fn kernel(n: i64, layouts: &[Layout], steps: &[Step], outputs: usize) -> Kernel {
    let mut k = KernelBuilder::new("random");
    let inputs: Vec<(u32, Layout)> = layouts
        .iter()
        .map(|&l| {
            let len = match l {
                Layout::Full => b(n),
                Layout::Row => c(n),
                Layout::Column => b(1),
                Layout::Scalar => c(1),
            };
            (k.arg(Scalar::F32, len, false), l)
        })
        .collect();
    let outs: Vec<u32> = (0..outputs).map(|_| k.arg(Scalar::F32, b(n), true)).collect();
    k.loop_(b(1), |k, i| {
        k.loop_(c(n), |k, j| {
            let mut vals: Vec<Val> = inputs
                .iter()
                .map(|&(arg, l)| {
                    let (si, sj) = match l {
                        Layout::Full => (c(n), c(1)),
                        Layout::Row => (c(0), c(1)),
                        Layout::Column => (c(1), c(0)),
                        Layout::Scalar => (c(0), c(0)),
                    };
                    k.load(arg, ix(&[(i, si), (j, sj)], Affine::ZERO))
                })
                .collect();
            for s in steps {
                let pick = |x: usize| vals[x % vals.len()];
                let v = match *s {
                    Step::Unary(op, a) => k.un(op, pick(a)),
                    Step::Binary(op, a, b) => k.bin(op, pick(a), pick(b)),
                    Step::Select(op, a, b, c, d) => {
                        let m = k.bin(op, pick(a), pick(b));
                        k.select(m, pick(c), pick(d))
                    }
                    Step::Const(x) => k.f32(f64::from(x)),
                };
                vals.push(v);
            }
            for (o, &out) in outs.iter().enumerate() {
                let v = vals[vals.len() - 1 - o.min(vals.len() - 1)];
                k.store(out, ix(&[(i, c(n)), (j, c(1))], Affine::ZERO), v);
            }
        });
    });
    k.finish(true)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_elementwise_kernels_match_the_evaluator(
        n in prop_oneof![1i64..=9, Just(13), Just(31), Just(100)],
        layouts in proptest::collection::vec(layout(), 1..4),
        steps in proptest::collection::vec(step(), 1..12),
        outputs in 1usize..3,
    ) {
        check(&kernel(n, &layouts, &steps, outputs), &[1, 2, 3]);
    }
}

/// Kernels of the vector ops alone always vectorise.
#[test]
fn vector_ops_alone_vectorise() {
    let steps = [
        Step::Binary(BinaryOp::Sub, 0, 1),
        Step::Unary(UnaryOp::Sign, 2),
        Step::Select(BinaryOp::Lt, 0, 1, 2, 3),
        Step::Unary(UnaryOp::Round, 4),
        Step::Binary(BinaryOp::Maximum, 5, 1),
    ];
    for n in [1, 4, 7, 100] {
        let compiled = check(&kernel(n, &[Layout::Full, Layout::Row, Layout::Column], &steps, 2), &[1, 3]);
        assert_eq!(compiled.vector_loops(0), 1);
    }
}

//! Helpers for gradient tests: a seeded generator, typed inputs with random values, and a
//! one-call finite-difference check of `sum(y * w)` for a fixed random `w`, which gives every
//! element of `y` a different cotangent (an all-ones cotangent would hide transposed or
//! misrouted gradients).

use super::gradcheck::{GradCheckOptions, check_gradients_with};
use hg_exec::{NamedTensors, Tensor};
use hg_ir::{DType, Dim, Function, NodeSpan, Op, ReduceOp, TensorType, ValueId};

/// Batch size used for `B` in test inputs.
pub const BATCH: usize = 3;

/// xorshift64*: deterministic test data without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A trainable f32 parameter of `shape` (compact spelling, see [`ty`]) initialised to zeros.
pub fn decl(name: &str, shape: &str) -> hg_ir::ParamDecl {
    hg_ir::ParamDecl {
        name: name.into(),
        ty: ty(DType::F32, shape),
        init: hg_ir::Init::Zeros,
        span: NodeSpan::default(),
        trainable: true,
    }
}

/// A type from a compact spelling: `"B, 3"`, `"2, 4"`, `""` (scalar).
pub fn ty(dtype: DType, shape: &str) -> TensorType {
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| if s == "B" { Dim::batch() } else { Dim::constant(s.parse().expect("test shape")) })
        .collect();
    TensorType::new(dtype, dims)
}

/// A function under test with its input values.
pub struct Case {
    pub f: Function,
    pub inputs: NamedTensors,
    pub wrt: Vec<String>,
    pub rng: Rng,
}

impl Case {
    pub fn new(seed: u64) -> Case {
        Case { f: Function::new("case"), inputs: NamedTensors::new(), wrt: Vec::new(), rng: Rng::new(seed) }
    }

    fn add_values(&mut self, name: &str, t: &TensorType, mut value: impl FnMut(&mut Rng) -> f64) -> ValueId {
        let shape = t.concrete_shape(BATCH).expect("test shape");
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n).map(|_| value(&mut self.rng)).collect();
        let tensor = Tensor::from_f64_values(t.dtype, shape, &values).expect("test tensor");
        self.inputs.insert(name.to_string(), tensor);
        self.f.add_input(name, t.clone(), NodeSpan::default())
    }

    /// An f32 input with values in `[lo, hi)`, differentiated by `check`.
    pub fn wrt(&mut self, name: &str, shape: &str, lo: f64, hi: f64) -> ValueId {
        self.wrt.push(name.to_string());
        self.add_values(name, &ty(DType::F32, shape), |r| r.uniform(lo, hi))
    }

    /// An f32 input that is not differentiated.
    pub fn fixed(&mut self, name: &str, shape: &str, lo: f64, hi: f64) -> ValueId {
        self.add_values(name, &ty(DType::F32, shape), |r| r.uniform(lo, hi))
    }

    /// An i64 input with values in `[0, n)`.
    pub fn indices(&mut self, name: &str, shape: &str, n: usize) -> ValueId {
        self.add_values(name, &ty(DType::I64, shape), |r| r.below(n) as f64)
    }

    /// The `(seed, step, offset)` operands of random draws, as `seed` and `step` inputs and a
    /// zero offset.
    pub fn random_key(&mut self, seed: i64, step: i64) -> [ValueId; 3] {
        let mut scalar = |name: &str, value: i64| {
            self.inputs.insert(name.to_string(), Tensor::scalar_i64(value));
            self.f.add_input(name, TensorType::scalar(DType::I64), NodeSpan::default())
        };
        let (seed, step) = (scalar("seed", seed), scalar("step", step));
        let offset = self.typed(Op::Const { value: 0.0 }, &[], TensorType::scalar(DType::I64));
        [seed, step, offset]
    }

    pub fn op(&mut self, op: Op, operands: &[ValueId]) -> ValueId {
        let mnemonic = op.mnemonic();
        self.f.add(op, operands, NodeSpan::default()).unwrap_or_else(|e| panic!("building `{mnemonic}`: {e}"))
    }

    pub fn typed(&mut self, op: Op, operands: &[ValueId], t: TensorType) -> ValueId {
        let mnemonic = op.mnemonic();
        self.f
            .add_with_type(op, operands, t, NodeSpan::default())
            .unwrap_or_else(|e| panic!("building `{mnemonic}`: {e}"))
    }

    pub fn constant(&mut self, value: f64) -> ValueId {
        self.typed(Op::Const { value }, &[], TensorType::scalar(DType::F32))
    }

    /// Sets `loss = sum(y * w)` for a random fixed `w` of `y`'s type.
    pub fn weighted_loss(&mut self, y: ValueId) -> ValueId {
        let t = self.f.ty(y).clone();
        let w = self.add_values("cotangent", &t, |r| r.uniform(-1.0, 1.0));
        let prod = self.op(Op::Binary(hg_ir::BinaryOp::Mul), &[y, w]);
        let axes: Vec<usize> = (0..t.rank()).collect();
        let loss = self.op(Op::Reduce { op: ReduceOp::Sum, axes, keepdims: false }, &[prod]);
        self.f.outputs = vec![("loss".to_string(), loss)];
        loss
    }

    /// The largest gradient-check error of `sum(y * w)` with respect to the `wrt` inputs.
    pub fn check(mut self, y: ValueId) -> f64 {
        self.weighted_loss(y);
        let wrt: Vec<&str> = self.wrt.iter().map(String::as_str).collect();
        let opts = GradCheckOptions::new(1e-6);
        let report = check_gradients_with(&self.f, &self.inputs, &wrt, &opts)
            .unwrap_or_else(|e| panic!("gradient check failed to run: {e}"));
        assert!(report.checked > 0, "no element was checked");
        if report.max_error > TOLERANCE {
            panic!("gradient mismatch {:.3e}: {:?}", report.max_error, report.worst);
        }
        report.max_error
    }
}

/// Largest accepted gradient-check error (f64 central differences with `eps = 1e-6`).
pub const TOLERANCE: f64 = 1e-5;

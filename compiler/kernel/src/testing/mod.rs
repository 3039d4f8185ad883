//! Support for the tests of code generators (feature `testing`): a small builder of kernel IR,
//! deterministic random buffers with special values, and the bitwise comparison of buffers
//! that generated code is held to against the reference evaluator. Test code: it panics on
//! misuse.

pub mod kernels;

use std::collections::HashMap;

use crate::eval::Buffer;
use crate::ir::{Arg, BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};
use hg_abi::plan::{Affine, RandomKind};

pub const fn c(x: i64) -> Affine {
    Affine::constant(x)
}

pub const fn b(k: i64) -> Affine {
    Affine::batch(k)
}

/// `offset + Σ var·stride`.
pub fn ix(terms: &[(Var, Affine)], offset: Affine) -> Index {
    Index { terms: terms.to_vec(), offset }
}

/// Builds a kernel statement by statement; loops nest through closures.
pub struct KernelBuilder {
    name: String,
    args: Vec<Arg>,
    blocks: Vec<Vec<Stmt>>,
    types: HashMap<Val, Scalar>,
    next_val: u32,
    next_var: u32,
    next_local: u32,
}

impl KernelBuilder {
    pub fn new(name: &str) -> KernelBuilder {
        KernelBuilder {
            name: name.into(),
            args: Vec::new(),
            blocks: vec![Vec::new()],
            types: HashMap::new(),
            next_val: 0,
            next_var: 0,
            next_local: 0,
        }
    }

    pub fn arg(&mut self, ty: Scalar, len: impl Into<hg_abi::plan::Quadratic>, written: bool) -> u32 {
        self.args.push(Arg { ty, len: len.into(), written });
        self.args.len() as u32 - 1
    }

    fn push(&mut self, s: Stmt) {
        self.blocks.last_mut().unwrap().push(s);
    }

    pub fn let_(&mut self, ty: Scalar, expr: Expr) -> Val {
        let dst = Val(self.next_val);
        self.next_val += 1;
        self.types.insert(dst, ty);
        self.push(Stmt::Let { dst, ty, expr });
        dst
    }

    pub fn ty(&self, v: Val) -> Scalar {
        self.types[&v]
    }

    pub fn f32(&mut self, x: f64) -> Val {
        self.let_(Scalar::F32, Expr::Const(Scalar::F32, x))
    }

    pub fn i64(&mut self, x: i64) -> Val {
        self.let_(Scalar::I64, Expr::Const(Scalar::I64, x as f64))
    }

    pub fn bool(&mut self, x: bool) -> Val {
        self.let_(Scalar::Bool, Expr::Const(Scalar::Bool, if x { 1.0 } else { 0.0 }))
    }

    pub fn load(&mut self, arg: u32, index: Index) -> Val {
        let ty = self.args[arg as usize].ty;
        self.let_(ty, Expr::Load { arg, index })
    }

    pub fn un(&mut self, op: UnaryOp, a: Val) -> Val {
        let ty = self.ty(a);
        self.let_(ty, Expr::Unary(op, a))
    }

    pub fn bin(&mut self, op: BinaryOp, a: Val, b: Val) -> Val {
        let ty = if op.is_comparison() { Scalar::Bool } else { self.ty(a) };
        self.let_(ty, Expr::Binary(op, a, b))
    }

    pub fn select(&mut self, cond: Val, a: Val, b: Val) -> Val {
        let ty = self.ty(a);
        self.let_(ty, Expr::Select(cond, a, b))
    }

    pub fn cast(&mut self, to: Scalar, a: Val) -> Val {
        self.let_(to, Expr::Cast(to, a))
    }

    pub fn var(&mut self, v: Var) -> Val {
        self.let_(Scalar::I64, Expr::Var(v))
    }

    pub fn batch(&mut self) -> Val {
        self.let_(Scalar::I64, Expr::Batch)
    }

    pub fn random(&mut self, kind: RandomKind, site: u32, seed: Val, step: Val, counter: Val) -> Val {
        self.let_(Scalar::F32, Expr::Random { kind, site, seed, step, counter })
    }

    pub fn store(&mut self, arg: u32, index: Index, value: Val) {
        self.push(Stmt::Store { arg, index, value });
    }

    pub fn local(&mut self, init: Val) -> Local {
        let local = Local(self.next_local);
        self.next_local += 1;
        let ty = self.ty(init);
        self.push(Stmt::Local { local, ty, init });
        local
    }

    pub fn get(&mut self, l: Local, ty: Scalar) -> Val {
        self.let_(ty, Expr::Get(l))
    }

    pub fn assign(&mut self, local: Local, value: Val) {
        self.push(Stmt::Assign { local, value });
    }

    pub fn loop_(&mut self, extent: Affine, body: impl FnOnce(&mut KernelBuilder, Var)) {
        let var = Var(self.next_var);
        self.next_var += 1;
        self.blocks.push(Vec::new());
        body(self, var);
        let body = self.blocks.pop().unwrap();
        self.push(Stmt::Loop { var, extent, body });
    }

    pub fn finish(mut self, parallel: bool) -> Kernel {
        assert_eq!(self.blocks.len(), 1);
        Kernel { name: self.name, args: self.args, body: self.blocks.pop().unwrap(), parallel }
    }
}

/// xorshift64: deterministic test data without extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Mostly uniform in [-4, 4), with one value in ten special: zeros of both signs, NaN,
    /// infinities, subnormals, huge values, halves (for round), and values around the
    /// thresholds of softplus.
    pub fn f32(&mut self) -> f32 {
        const SPECIAL: [f32; 14] = [
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -3e-39,
            1e30,
            -1e30,
            0.5,
            2.5,
            -1.5,
            20.0,
            25.0,
        ];
        let r = self.next_u64();
        if r.is_multiple_of(10) {
            SPECIAL[(r >> 8) as usize % SPECIAL.len()]
        } else {
            ((r >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        }
    }

    pub fn buffer(&mut self, ty: Scalar, len: usize) -> Buffer {
        match ty {
            Scalar::F32 => Buffer::F32((0..len).map(|_| self.f32()).collect()),
            Scalar::F64 => Buffer::F64((0..len).map(|_| f64::from(self.f32()) * 1.000_000_1).collect()),
            Scalar::I64 => Buffer::I64((0..len).map(|_| (self.next_u64() % 101) as i64 - 50).collect()),
            Scalar::Bool => Buffer::Bool((0..len).map(|_| (self.next_u64() % 2) as u8).collect()),
        }
    }
}

/// Random buffers for `kernel`'s arguments at `batch` (outputs too: a kernel that accumulates
/// into one starts from its contents).
pub fn buffers(kernel: &Kernel, batch: i64, rng: &mut Rng) -> Vec<Buffer> {
    kernel.args.iter().map(|a| rng.buffer(a.ty, a.len.eval(batch as usize).unwrap() as usize)).collect()
}

/// Bitwise equality, except that any NaN matches any NaN (payloads are not specified).
pub fn assert_same(got: &[Buffer], want: &[Buffer], context: &str) {
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (Buffer::F32(g), Buffer::F32(w)) => {
                assert_eq!(g.len(), w.len());
                for (i, (x, y)) in g.iter().zip(w).enumerate() {
                    let same = x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                    assert!(
                        same,
                        "{context}: %{n}[{i}] = {x:?} ({:#x}), evaluator {y:?} ({:#x})",
                        x.to_bits(),
                        y.to_bits()
                    );
                }
            }
            (Buffer::F64(g), Buffer::F64(w)) => {
                assert_eq!(g.len(), w.len());
                for (i, (x, y)) in g.iter().zip(w).enumerate() {
                    let same = x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                    assert!(same, "{context}: %{n}[{i}] = {x:?}, evaluator {y:?}");
                }
            }
            _ => assert_eq!(g, w, "{context}: %{n}"),
        }
    }
}

/// Compiled code of one kernel under test: `(buffers, batch, lo, hi)`.
pub type RunKernel<'a> = dyn FnMut(&mut [Buffer], i64, i64, i64) + 'a;

/// Runs `kernel` through `run` (compiled code: buffers, batch, lo, hi) and the evaluator on the
/// same random buffers at every batch size and compares every buffer bit for bit; a parallel
/// kernel also runs in two halves, upper half first. `run` panics on a refused call.
pub fn check_against_evaluator(kernel: &Kernel, batches: &[i64], run: &mut RunKernel<'_>) {
    for &batch in batches {
        let mut rng = Rng::new(batch as u64 * 7919 + kernel.name.len() as u64);
        check_inputs_against_evaluator(kernel, buffers(kernel, batch, &mut rng), batch, run);
    }
}

/// [`check_against_evaluator`] on given buffers at one batch size.
pub fn check_inputs_against_evaluator(kernel: &Kernel, input: Vec<Buffer>, batch: i64, run: &mut RunKernel<'_>) {
    let extent = kernel.parallel_extent().map_or(0, |e| e.eval(batch as usize).unwrap());
    let mut want = input.clone();
    crate::eval(kernel, &mut want, batch, 0, extent).unwrap_or_else(|e| panic!("evaluator: {e}\n{kernel}"));
    let mut got = input.clone();
    run(&mut got, batch, 0, extent);
    let context = format!("kernel {} at B = {batch}\n{kernel}", kernel.name);
    assert_same(&got, &want, &context);
    if kernel.parallel {
        let mid = extent / 2;
        let mut halves = input;
        run(&mut halves, batch, mid, extent);
        run(&mut halves, batch, 0, mid);
        assert_same(&halves, &want, &format!("{context} (two halves)"));
    }
}

//! A reference evaluator of kernels over host buffers: the oracle every code generator is
//! tested against.
//!
//! It walks the kernel's statements one at a time, with the scalar semantics of [`crate::math`]
//! (the interpreter's f32 mode, and the f32 approximations of [`crate::fastmath`] for `exp`,
//! `log`, `sigmoid`, `tanh`, `softplus` and `gelu`), so it is slow and obviously right. Every access is checked:
//! an index outside its argument's declared length, a buffer of the wrong type or too short, a
//! value used before it is defined, an overflowing index or an integer division by zero is an
//! [`EvalError`], never a panic or a wrong answer.
//!
//! A parallel kernel runs iterations `lo..hi` of its outermost loop (which must lie inside
//! `0..extent`); any other kernel ignores `lo` and `hi`, as the `KernelFn` ABI says.

use crate::ir::{BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};
use crate::math;
use hg_abi::plan::{Affine, Quadratic};

/// A host buffer of one kernel argument. Booleans are bytes, 0 or 1 (any non-zero byte reads
/// as true).
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<u8>),
}

impl Buffer {
    /// A buffer of `len` zeros (false).
    pub fn zeros(ty: Scalar, len: usize) -> Buffer {
        match ty {
            Scalar::F32 => Buffer::F32(vec![0.0; len]),
            Scalar::F64 => Buffer::F64(vec![0.0; len]),
            Scalar::I64 => Buffer::I64(vec![0; len]),
            Scalar::Bool => Buffer::Bool(vec![0; len]),
        }
    }

    pub fn scalar(&self) -> Scalar {
        match self {
            Buffer::F32(_) => Scalar::F32,
            Buffer::F64(_) => Scalar::F64,
            Buffer::I64(_) => Scalar::I64,
            Buffer::Bool(_) => Scalar::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first byte of the elements, for passing the buffer to generated code.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            Buffer::F32(v) => v.as_mut_ptr().cast(),
            Buffer::F64(v) => v.as_mut_ptr().cast(),
            Buffer::I64(v) => v.as_mut_ptr().cast(),
            Buffer::Bool(v) => v.as_mut_ptr(),
        }
    }
}

/// A scalar value of a kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    F32(f32),
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl Value {
    pub fn scalar(self) -> Scalar {
        match self {
            Value::F32(_) => Scalar::F32,
            Value::F64(_) => Scalar::F64,
            Value::I64(_) => Scalar::I64,
            Value::Bool(_) => Scalar::Bool,
        }
    }
}

/// Why a kernel could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("kernel `{kernel}`: {message}")]
    Invalid { kernel: String, message: String },
    #[error("kernel `{kernel}`: index {index} of argument %{arg} is outside its {len} elements")]
    OutOfBounds { kernel: String, arg: u32, index: i64, len: i64 },
    #[error("kernel `{kernel}`: integer division by zero")]
    DivisionByZero { kernel: String },
}

/// Runs `kernel` on `args` for batch size `batch` (and, for a parallel kernel, iterations
/// `lo..hi` of its outermost loop). `args[i]` must have the type of the kernel's argument `i`
/// and at least its length at `batch`; arguments the kernel writes are updated in place.
pub fn eval(kernel: &Kernel, args: &mut [Buffer], batch: i64, lo: i64, hi: i64) -> Result<(), EvalError> {
    let mut ev = Evaluator { kernel, batch, lens: Vec::new(), vals: Vec::new(), vars: Vec::new(), locals: Vec::new() };
    if batch < 0 {
        return Err(ev.invalid(format!("batch size {batch} is negative")));
    }
    if args.len() != kernel.args.len() {
        return Err(ev.invalid(format!("{} buffers for {} arguments", args.len(), kernel.args.len())));
    }
    for (i, (decl, buf)) in kernel.args.iter().zip(args.iter()).enumerate() {
        let len = ev.quadratic(decl.len)?;
        if buf.scalar() != decl.ty || (buf.len() as u64) < len.max(0) as u64 {
            return Err(ev.invalid(format!(
                "argument %{i} is {}[{len}] but its buffer is {}[{}]",
                decl.ty.name(),
                buf.scalar().name(),
                buf.len()
            )));
        }
        ev.lens.push(len);
    }
    if kernel.parallel {
        let [Stmt::Loop { var, extent, body }] = kernel.body.as_slice() else {
            return Err(ev.invalid("a parallel kernel's body must be one loop".into()));
        };
        let extent = ev.affine(*extent)?;
        if !(0 <= lo && lo <= hi && hi <= extent) {
            return Err(ev.invalid(format!("range {lo}..{hi} is not inside the parallel loop's 0..{extent}")));
        }
        ev.run_loop(args, *var, lo, hi, body)
    } else {
        ev.block(args, &kernel.body)
    }
}

struct Evaluator<'k> {
    kernel: &'k Kernel,
    batch: i64,
    /// Declared length of each argument at this batch size.
    lens: Vec<i64>,
    vals: Vec<Option<Value>>,
    vars: Vec<Option<i64>>,
    locals: Vec<Option<Value>>,
}

fn set<T>(slots: &mut Vec<Option<T>>, i: u32, v: Option<T>) {
    let i = i as usize;
    if slots.len() <= i {
        slots.resize_with(i + 1, || None);
    }
    slots[i] = v;
}

impl Evaluator<'_> {
    fn invalid(&self, message: String) -> EvalError {
        EvalError::Invalid { kernel: self.kernel.name.clone(), message }
    }

    fn affine(&self, a: Affine) -> Result<i64, EvalError> {
        a.b.checked_mul(self.batch)
            .and_then(|x| x.checked_add(a.c))
            .ok_or_else(|| self.invalid(format!("{a} overflows at B = {}", self.batch)))
    }

    fn quadratic(&self, a: Quadratic) -> Result<i64, EvalError> {
        let batch = usize::try_from(self.batch).map_err(|_| self.invalid(format!("batch {}", self.batch)))?;
        a.eval(batch).ok_or_else(|| self.invalid(format!("{a} overflows at B = {}", self.batch)))
    }

    fn val(&self, v: Val) -> Result<Value, EvalError> {
        self.vals.get(v.0 as usize).copied().flatten().ok_or_else(|| self.invalid(format!("v{} is not defined", v.0)))
    }

    fn var(&self, v: Var) -> Result<i64, EvalError> {
        self.vars.get(v.0 as usize).copied().flatten().ok_or_else(|| self.invalid(format!("i{} is not bound", v.0)))
    }

    fn block(&mut self, args: &mut [Buffer], stmts: &[Stmt]) -> Result<(), EvalError> {
        for stmt in stmts {
            match stmt {
                Stmt::Loop { var, extent, body } => {
                    let n = self.affine(*extent)?;
                    self.run_loop(args, *var, 0, n, body)?;
                }
                Stmt::Let { dst, ty, expr } => {
                    let v = self.expr(args, expr)?;
                    if v.scalar() != *ty {
                        return Err(self.invalid(format!(
                            "v{} is declared {} but computes {}",
                            dst.0,
                            ty.name(),
                            v.scalar().name()
                        )));
                    }
                    set(&mut self.vals, dst.0, Some(v));
                }
                Stmt::Store { arg, index, value } => {
                    let v = self.val(*value)?;
                    let i = self.index(*arg, index)?;
                    match (&mut args[*arg as usize], v) {
                        (Buffer::F32(b), Value::F32(x)) => b[i] = x,
                        (Buffer::F64(b), Value::F64(x)) => b[i] = x,
                        (Buffer::I64(b), Value::I64(x)) => b[i] = x,
                        (Buffer::Bool(b), Value::Bool(x)) => b[i] = u8::from(x),
                        (b, v) => {
                            return Err(self.invalid(format!(
                                "store of a {} into %{arg} of {}",
                                v.scalar().name(),
                                b.scalar().name()
                            )));
                        }
                    }
                }
                Stmt::Local { local, ty, init } => {
                    let v = self.val(*init)?;
                    if v.scalar() != *ty {
                        return Err(self.invalid(format!(
                            "l{} is {} but starts as {}",
                            local.0,
                            ty.name(),
                            v.scalar().name()
                        )));
                    }
                    set(&mut self.locals, local.0, Some(v));
                }
                Stmt::Assign { local, value } => {
                    let v = self.val(*value)?;
                    let old = self.local(*local)?;
                    if old.scalar() != v.scalar() {
                        return Err(self.invalid(format!(
                            "l{} is {} but is assigned {}",
                            local.0,
                            old.scalar().name(),
                            v.scalar().name()
                        )));
                    }
                    set(&mut self.locals, local.0, Some(v));
                }
            }
        }
        Ok(())
    }

    fn run_loop(&mut self, args: &mut [Buffer], var: Var, lo: i64, hi: i64, body: &[Stmt]) -> Result<(), EvalError> {
        let outer = self.vars.get(var.0 as usize).copied().flatten();
        for i in lo..hi {
            set(&mut self.vars, var.0, Some(i));
            self.block(args, body)?;
        }
        set(&mut self.vars, var.0, outer);
        Ok(())
    }

    fn local(&self, l: Local) -> Result<Value, EvalError> {
        self.locals
            .get(l.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| self.invalid(format!("l{} is not declared", l.0)))
    }

    /// The element index of an access, checked against the argument's declared length.
    fn index(&self, arg: u32, index: &Index) -> Result<usize, EvalError> {
        let len = *self.lens.get(arg as usize).ok_or_else(|| self.invalid(format!("no argument %{arg}")))?;
        let overflow = || self.invalid(format!("index of %{arg} overflows"));
        let mut i = self.affine(index.offset)?;
        for (var, stride) in &index.terms {
            let term = self.var(*var)?.checked_mul(self.affine(*stride)?).ok_or_else(overflow)?;
            i = i.checked_add(term).ok_or_else(overflow)?;
        }
        if i < 0 || i >= len {
            return Err(EvalError::OutOfBounds { kernel: self.kernel.name.clone(), arg, index: i, len });
        }
        Ok(i as usize)
    }

    fn expr(&self, args: &[Buffer], expr: &Expr) -> Result<Value, EvalError> {
        Ok(match expr {
            Expr::Const(ty, x) => match ty {
                Scalar::F32 => Value::F32(*x as f32),
                Scalar::F64 => Value::F64(*x),
                Scalar::I64 => Value::I64(*x as i64),
                Scalar::Bool => Value::Bool(*x != 0.0),
            },
            Expr::Load { arg, index } => {
                let i = self.index(*arg, index)?;
                match &args[*arg as usize] {
                    Buffer::F32(b) => Value::F32(b[i]),
                    Buffer::F64(b) => Value::F64(b[i]),
                    Buffer::I64(b) => Value::I64(b[i]),
                    Buffer::Bool(b) => Value::Bool(b[i] != 0),
                }
            }
            Expr::Get(l) => self.local(*l)?,
            Expr::Var(v) => Value::I64(self.var(*v)?),
            Expr::Batch => Value::I64(self.batch),
            Expr::Unary(op, a) => self.unary(*op, self.val(*a)?)?,
            Expr::Binary(op, a, b) => self.binary(*op, self.val(*a)?, self.val(*b)?)?,
            Expr::Select(c, a, b) => {
                let (a, b) = (self.val(*a)?, self.val(*b)?);
                if a.scalar() != b.scalar() {
                    return Err(self.invalid("select of two types".into()));
                }
                match self.val(*c)? {
                    Value::Bool(c) => {
                        if c {
                            a
                        } else {
                            b
                        }
                    }
                    _ => return Err(self.invalid("select on a non-bool".into())),
                }
            }
            Expr::Cast(to, a) => cast(*to, self.val(*a)?),
            Expr::Random { kind, site, seed, step, counter } => {
                match (self.val(*seed)?, self.val(*step)?, self.val(*counter)?) {
                    (Value::I64(seed), Value::I64(step), Value::I64(counter)) => {
                        Value::F32(math::random_f32(*kind, *site, seed, step, counter))
                    }
                    _ => return Err(self.invalid("random draw with non-i64 operands".into())),
                }
            }
        })
    }

    fn unary(&self, op: UnaryOp, a: Value) -> Result<Value, EvalError> {
        Ok(match (a, op) {
            (Value::F32(x), op) if op != UnaryOp::Not => Value::F32(math::unary_f32(op, x)),
            (Value::F64(x), op) if op != UnaryOp::Not => Value::F64(math::unary_f64(op, x)),
            (Value::I64(x), UnaryOp::Neg) => Value::I64(x.wrapping_neg()),
            (Value::I64(x), UnaryOp::Abs) => Value::I64(x.wrapping_abs()),
            (Value::I64(x), UnaryOp::Sign) => Value::I64(x.signum()),
            (Value::Bool(x), UnaryOp::Not) => Value::Bool(!x),
            (a, op) => return Err(self.invalid(format!("{} of a {}", op.name(), a.scalar().name()))),
        })
    }

    fn binary(&self, op: BinaryOp, a: Value, b: Value) -> Result<Value, EvalError> {
        let bad = || self.invalid(format!("{} of {} and {}", op.name(), a.scalar().name(), b.scalar().name()));
        Ok(match (a, b) {
            (Value::F32(x), Value::F32(y)) => match math::binary_f32(op, x, y) {
                Some(r) => Value::F32(r),
                None => Value::Bool(math::compare(op, x, y).ok_or_else(bad)?),
            },
            (Value::F64(x), Value::F64(y)) => match math::binary_f64(op, x, y) {
                Some(r) => Value::F64(r),
                None => Value::Bool(math::compare(op, x, y).ok_or_else(bad)?),
            },
            (Value::I64(x), Value::I64(y)) => match op {
                BinaryOp::Add => Value::I64(x.wrapping_add(y)),
                BinaryOp::Sub => Value::I64(x.wrapping_sub(y)),
                BinaryOp::Mul => Value::I64(x.wrapping_mul(y)),
                BinaryOp::Div if y == 0 => return Err(EvalError::DivisionByZero { kernel: self.kernel.name.clone() }),
                BinaryOp::Div => Value::I64(x.wrapping_div(y)),
                BinaryOp::Maximum => Value::I64(x.max(y)),
                BinaryOp::Minimum => Value::I64(x.min(y)),
                _ => Value::Bool(math::compare(op, x, y).ok_or_else(bad)?),
            },
            (Value::Bool(x), Value::Bool(y)) => Value::Bool(match op {
                BinaryOp::And => x && y,
                BinaryOp::Or => x || y,
                BinaryOp::Eq => x == y,
                BinaryOp::Ne => x != y,
                _ => return Err(bad()),
            }),
            _ => return Err(bad()),
        })
    }
}

/// A conversion between scalar types (the identity when `to` is the value's type).
pub fn cast(to: Scalar, a: Value) -> Value {
    match (a, to) {
        (a, to) if a.scalar() == to => a,
        (Value::F32(x), Scalar::I64) => Value::I64(math::f32_to_i64(x)),
        (Value::F32(x), Scalar::Bool) => Value::Bool(x != 0.0),
        (Value::I64(x), Scalar::F32) => Value::F32(math::i64_to_f32(x)),
        (Value::I64(x), Scalar::Bool) => Value::Bool(x != 0),
        (Value::Bool(x), Scalar::F32) => Value::F32(f32::from(u8::from(x))),
        (Value::Bool(x), Scalar::I64) => Value::I64(i64::from(x)),
        (Value::F32(x), Scalar::F64) => Value::F64(f64::from(x)),
        (Value::F64(x), Scalar::F32) => Value::F32(x as f32),
        (Value::F64(x), Scalar::I64) => Value::I64(x as i64),
        (Value::F64(x), Scalar::Bool) => Value::Bool(x != 0.0),
        (Value::I64(x), Scalar::F64) => Value::F64(x as f64),
        (Value::Bool(x), Scalar::F64) => Value::F64(f64::from(u8::from(x))),
        (a, _) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Arg;

    fn idx(terms: &[(u32, Affine)], offset: Affine) -> Index {
        Index { terms: terms.iter().map(|&(v, s)| (Var(v), s)).collect(), offset }
    }

    fn let_(dst: u32, ty: Scalar, expr: Expr) -> Stmt {
        Stmt::Let { dst: Val(dst), ty, expr }
    }

    fn arg(ty: Scalar, len: Affine, written: bool) -> Arg {
        Arg { ty, len: len.into(), written }
    }

    /// `y[i, j] = relu(x[i, j] * w[j])` over `[B, 3]`, parallel over rows.
    fn scale_relu() -> Kernel {
        let at = idx(&[(0, Affine::constant(3)), (1, Affine::ONE)], Affine::ZERO);
        Kernel {
            name: "scale_relu".into(),
            args: vec![
                arg(Scalar::F32, Affine::batch(3), false),
                arg(Scalar::F32, Affine::constant(3), false),
                arg(Scalar::F32, Affine::batch(3), true),
            ],
            body: vec![Stmt::Loop {
                var: Var(0),
                extent: Affine::batch(1),
                body: vec![Stmt::Loop {
                    var: Var(1),
                    extent: Affine::constant(3),
                    body: vec![
                        let_(0, Scalar::F32, Expr::Load { arg: 0, index: at.clone() }),
                        let_(1, Scalar::F32, Expr::Load { arg: 1, index: idx(&[(1, Affine::ONE)], Affine::ZERO) }),
                        let_(2, Scalar::F32, Expr::Binary(BinaryOp::Mul, Val(0), Val(1))),
                        let_(3, Scalar::F32, Expr::Unary(UnaryOp::Relu, Val(2))),
                        Stmt::Store { arg: 2, index: at, value: Val(3) },
                    ],
                }],
            }],
            parallel: true,
        }
    }

    #[test]
    fn computes_an_elementwise_kernel_and_honours_lo_hi() {
        let k = scale_relu();
        crate::verify(&k).unwrap();
        let x = Buffer::F32(vec![1.0, -2.0, 3.0, 4.0, 5.0, -6.0]);
        let w = Buffer::F32(vec![2.0, 1.0, -1.0]);
        let mut args = vec![x.clone(), w.clone(), Buffer::F32(vec![9.0; 6])];
        eval(&k, &mut args, 2, 0, 2).unwrap();
        assert_eq!(args[2], Buffer::F32(vec![2.0, 0.0, 0.0, 8.0, 5.0, 6.0]));
        // Only row 1.
        let mut args = vec![x, w, Buffer::F32(vec![9.0; 6])];
        eval(&k, &mut args, 2, 1, 2).unwrap();
        assert_eq!(args[2], Buffer::F32(vec![9.0, 9.0, 9.0, 8.0, 5.0, 6.0]));
        let e = eval(&k, &mut args, 2, 1, 3).unwrap_err();
        assert!(e.to_string().contains("range 1..3"), "{e}");
    }

    #[test]
    fn wrong_buffers_are_errors() {
        let k = scale_relu();
        let mut short = vec![Buffer::F32(vec![0.0; 5]), Buffer::F32(vec![0.0; 3]), Buffer::F32(vec![0.0; 6])];
        assert!(eval(&k, &mut short, 2, 0, 2).unwrap_err().to_string().contains("f32[6] but its buffer is f32[5]"));
        let mut typed = vec![Buffer::F32(vec![0.0; 6]), Buffer::I64(vec![0; 3]), Buffer::F32(vec![0.0; 6])];
        assert!(eval(&k, &mut typed, 2, 0, 2).is_err());
        assert!(eval(&k, &mut typed[..2], 2, 0, 2).is_err());
    }

    #[test]
    fn out_of_bounds_and_undefined_values_are_errors_not_panics() {
        // Read w[j + 1]: past the end at j = 2.
        let with_stmt = |stmt: Stmt| {
            let mut k = scale_relu();
            let Stmt::Loop { body, .. } = &mut k.body[0] else { unreachable!() };
            let Stmt::Loop { body, .. } = &mut body[0] else { unreachable!() };
            body[1] = stmt;
            k
        };
        let k = with_stmt(let_(1, Scalar::F32, Expr::Load { arg: 1, index: idx(&[(1, Affine::ONE)], Affine::ONE) }));
        assert!(crate::verify(&k).is_err());
        let mut args = vec![Buffer::F32(vec![0.0; 6]), Buffer::F32(vec![0.0; 3]), Buffer::F32(vec![0.0; 6])];
        let e = eval(&k, &mut args, 2, 0, 2).unwrap_err();
        assert_eq!(e, EvalError::OutOfBounds { kernel: "scale_relu".into(), arg: 1, index: 3, len: 3 });
        let k = with_stmt(let_(1, Scalar::F32, Expr::Unary(UnaryOp::Exp, Val(7))));
        let e = eval(&k, &mut args, 2, 0, 2).unwrap_err();
        assert!(e.to_string().contains("v7 is not defined"), "{e}");
    }

    /// `s = Σ_j x[j]` with a local, then `y[0] = s / B` as i64 division checks.
    #[test]
    fn locals_integers_booleans_and_division_by_zero() {
        let k = Kernel {
            name: "sum".into(),
            args: vec![
                arg(Scalar::I64, Affine::batch(1), false),
                arg(Scalar::I64, Affine::ONE, true),
                arg(Scalar::Bool, Affine::ONE, true),
            ],
            body: vec![
                let_(0, Scalar::I64, Expr::Const(Scalar::I64, 0.0)),
                Stmt::Local { local: Local(0), ty: Scalar::I64, init: Val(0) },
                Stmt::Loop {
                    var: Var(0),
                    extent: Affine::batch(1),
                    body: vec![
                        let_(1, Scalar::I64, Expr::Load { arg: 0, index: idx(&[(0, Affine::ONE)], Affine::ZERO) }),
                        let_(2, Scalar::I64, Expr::Get(Local(0))),
                        let_(3, Scalar::I64, Expr::Binary(BinaryOp::Add, Val(2), Val(1))),
                        Stmt::Assign { local: Local(0), value: Val(3) },
                    ],
                },
                let_(4, Scalar::I64, Expr::Get(Local(0))),
                let_(5, Scalar::I64, Expr::Load { arg: 0, index: idx(&[], Affine::ZERO) }),
                let_(6, Scalar::I64, Expr::Binary(BinaryOp::Div, Val(4), Val(5))),
                Stmt::Store { arg: 1, index: idx(&[], Affine::ZERO), value: Val(6) },
                let_(7, Scalar::Bool, Expr::Binary(BinaryOp::Lt, Val(6), Val(5))),
                let_(8, Scalar::Bool, Expr::Unary(UnaryOp::Not, Val(7))),
                Stmt::Store { arg: 2, index: idx(&[], Affine::ZERO), value: Val(8) },
            ],
            parallel: false,
        };
        crate::verify(&k).unwrap();
        let mut args = vec![Buffer::I64(vec![-4, 7, 10]), Buffer::I64(vec![0]), Buffer::Bool(vec![7])];
        // lo/hi are ignored by a kernel that is not parallel.
        eval(&k, &mut args, 3, 5, 1).unwrap();
        // 13 / -4 truncates toward zero.
        assert_eq!(args[1], Buffer::I64(vec![-3]));
        assert_eq!(args[2], Buffer::Bool(vec![1]), "not (-3 < -4)");
        let mut args = vec![Buffer::I64(vec![0, 7, 10]), Buffer::I64(vec![0]), Buffer::Bool(vec![0])];
        assert_eq!(eval(&k, &mut args, 3, 0, 0), Err(EvalError::DivisionByZero { kernel: "sum".into() }));
    }

    #[test]
    fn casts() {
        assert_eq!(cast(Scalar::I64, Value::F32(-2.9)), Value::I64(-2));
        assert_eq!(cast(Scalar::I64, Value::F32(f32::NAN)), Value::I64(0));
        assert_eq!(cast(Scalar::Bool, Value::F32(f32::NAN)), Value::Bool(true));
        assert_eq!(cast(Scalar::Bool, Value::F32(-0.0)), Value::Bool(false));
        assert_eq!(cast(Scalar::F32, Value::Bool(true)), Value::F32(1.0));
        assert_eq!(cast(Scalar::I64, Value::Bool(true)), Value::I64(1));
        assert_eq!(cast(Scalar::Bool, Value::I64(-5)), Value::Bool(true));
        assert_eq!(cast(Scalar::F32, Value::I64(3)), Value::F32(3.0));
        assert_eq!(cast(Scalar::F32, Value::F32(3.5)), Value::F32(3.5));
    }
}

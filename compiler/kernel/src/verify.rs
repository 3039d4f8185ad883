//! The kernel verifier: the structural and typing rules every code generator relies on, and
//! the proof that every load and store stays inside its argument for every batch size `B ≥ 1`
//! (so generated code needs no bounds checks).
//!
//! Rules:
//! - every `Val` is defined once, before its uses and in an enclosing block, and every `Let`'s
//!   type is what its expression computes (the graph IR's typing: `not` on bools; `neg`, `abs`,
//!   `sign` on f32 or i64; other unary ops on f32; `and`/`or` on bools; `eq`/`ne` on any type;
//!   `pow` on f32; `div` on f32 or i64 (truncating); the others on f32 or i64; comparisons
//!   give bool; `Random` takes i64 operands and gives f32);
//! - every `Var` is bound by an enclosing loop (and no loop rebinds a bound one), every
//!   `Local` is declared before its uses in an enclosing block and keeps its type;
//! - argument indices are in range, stores go only to arguments marked `written` and store a
//!   value of the argument's type; a parallel kernel's body is exactly one loop;
//! - loop extents and argument lengths are non-negative for every `B ≥ 1`;
//! - for each access, with every loop variable `v` in `0..extent_v`, the largest index
//!   `offset + Σ max(0, stride)·(extent − 1)` is at most `len − 1` and the smallest
//!   `offset + Σ min(0, stride)·(extent − 1)` at least 0, for every `B ≥ 1`. These are
//!   polynomials of degree at most 2 in `B` (a stride affine in `B` times an extent affine in
//!   `B`), checked exactly over the integers `B ≥ 1`; a stride whose sign depends on `B` is
//!   rejected.

use crate::ir::{BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};
use crate::print::IndexText;
use hg_abi::plan::{Affine, Quadratic, RandomKind, nonneg_for_every_batch};
use std::collections::{HashMap, HashSet};

/// A broken rule, with the kernel's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("kernel `{kernel}`: {message}")]
pub struct VerifyError {
    pub kernel: String,
    pub message: String,
}

/// Checks every rule of the module docs.
pub fn verify(kernel: &Kernel) -> Result<(), VerifyError> {
    let fail = |message: String| VerifyError { kernel: kernel.name.clone(), message };
    for (i, arg) in kernel.args.iter().enumerate() {
        if !nonneg(Poly::quadratic(arg.len)) {
            return Err(fail(format!("argument %{i} has length {} < 0 for some B ≥ 1", arg.len)));
        }
    }
    if kernel.parallel && !matches!(kernel.body.as_slice(), [Stmt::Loop { .. }]) {
        return Err(fail("a parallel kernel's body must be exactly one loop".into()));
    }
    let mut v =
        Verifier { kernel, defined: HashSet::new(), vals: HashMap::new(), locals: HashMap::new(), vars: Vec::new() };
    v.block(&kernel.body).map_err(fail)
}

/// A polynomial `c[0] + c[1]·B + c[2]·B²`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Poly([i128; 3]);

impl Poly {
    fn affine(a: Affine) -> Poly {
        Poly([i128::from(a.c), i128::from(a.b), 0])
    }

    fn quadratic(a: Quadratic) -> Poly {
        Poly([i128::from(a.c), i128::from(a.b), i128::from(a.q)])
    }

    fn add(self, o: Poly) -> Poly {
        Poly([self.0[0] + o.0[0], self.0[1] + o.0[1], self.0[2] + o.0[2]])
    }

    fn neg(self) -> Poly {
        Poly([-self.0[0], -self.0[1], -self.0[2]])
    }

    /// The product of two affine polynomials.
    fn mul_affine(a: Affine, b: Affine) -> Poly {
        let (a0, a1, b0, b1) = (i128::from(a.c), i128::from(a.b), i128::from(b.c), i128::from(b.b));
        Poly([a0 * b0, a0 * b1 + a1 * b0, a1 * b1])
    }
}

/// Whether `p(B) ≥ 0` for every integer `B ≥ 1` (exact; `false` when the arithmetic would
/// overflow, which only a kernel with absurd sizes reaches).
fn nonneg(p: Poly) -> bool {
    nonneg_for_every_batch(p.0)
}

struct Verifier<'k> {
    kernel: &'k Kernel,
    /// Every value defined so far (SSA: once per kernel).
    defined: HashSet<Val>,
    /// The values visible here, with their types.
    vals: HashMap<Val, Scalar>,
    locals: HashMap<Local, Scalar>,
    /// Enclosing loops, outermost first.
    vars: Vec<(Var, Affine)>,
}

impl Verifier<'_> {
    fn block(&mut self, stmts: &[Stmt]) -> Result<(), String> {
        let (vals, locals) = (self.vals.clone(), self.locals.clone());
        for stmt in stmts {
            self.stmt(stmt)?;
        }
        // Definitions inside a block are not visible after it.
        self.vals = vals;
        self.locals = locals;
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), String> {
        match stmt {
            Stmt::Loop { var, extent, body } => {
                if self.vars.iter().any(|(v, _)| v == var) {
                    return Err(format!("loop rebinds i{}", var.0));
                }
                if !nonneg(Poly::affine(*extent)) {
                    return Err(format!("loop i{} has extent {extent} < 0 for some B ≥ 1", var.0));
                }
                self.vars.push((*var, *extent));
                let r = self.block(body);
                self.vars.pop();
                r
            }
            Stmt::Let { dst, ty, expr } => {
                let got = self.expr(expr).map_err(|m| format!("v{}: {m}", dst.0))?;
                if got != *ty {
                    return Err(format!(
                        "v{} is declared {} but its expression gives {}",
                        dst.0,
                        ty.name(),
                        got.name()
                    ));
                }
                if !self.defined.insert(*dst) {
                    return Err(format!("v{} is defined twice", dst.0));
                }
                self.vals.insert(*dst, *ty);
                Ok(())
            }
            Stmt::Store { arg, index, value } => {
                let ty = self.access(*arg, index).map_err(|m| format!("store to %{arg}: {m}"))?;
                if !self.kernel.args[*arg as usize].written {
                    return Err(format!("store to %{arg}, which is not marked written"));
                }
                let v = self.val(*value)?;
                if v != ty {
                    return Err(format!("store of v{} ({}) into %{arg} of {}", value.0, v.name(), ty.name()));
                }
                Ok(())
            }
            Stmt::Local { local, ty, init } => {
                if self.locals.contains_key(local) {
                    return Err(format!("l{} is declared twice", local.0));
                }
                let v = self.val(*init)?;
                if v != *ty {
                    return Err(format!("l{} is {} but starts as v{} ({})", local.0, ty.name(), init.0, v.name()));
                }
                self.locals.insert(*local, *ty);
                Ok(())
            }
            Stmt::Assign { local, value } => {
                let ty = self.local(*local)?;
                let v = self.val(*value)?;
                if v != ty {
                    return Err(format!("l{} is {} but is assigned v{} ({})", local.0, ty.name(), value.0, v.name()));
                }
                Ok(())
            }
        }
    }

    fn val(&self, v: Val) -> Result<Scalar, String> {
        self.vals.get(&v).copied().ok_or_else(|| format!("v{} is used where it is not defined", v.0))
    }

    fn local(&self, l: Local) -> Result<Scalar, String> {
        self.locals.get(&l).copied().ok_or_else(|| format!("l{} is used where it is not declared", l.0))
    }

    fn expr(&self, expr: &Expr) -> Result<Scalar, String> {
        use Scalar::{Bool, F32, F64, I64};
        Ok(match expr {
            Expr::Const(ty, x) => {
                let ok = match ty {
                    F32 | F64 => true,
                    I64 => x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0,
                    Bool => *x == 0.0 || *x == 1.0,
                };
                if !ok {
                    return Err(format!("{x} is not a {} constant", ty.name()));
                }
                *ty
            }
            Expr::Load { arg, index } => self.access(*arg, index).map_err(|m| format!("load of %{arg}: {m}"))?,
            Expr::Get(l) => self.local(*l)?,
            Expr::Var(v) => {
                if !self.vars.iter().any(|(w, _)| w == v) {
                    return Err(format!("i{} is not bound by an enclosing loop", v.0));
                }
                I64
            }
            Expr::Batch => I64,
            Expr::Unary(op, a) => {
                let t = self.val(*a)?;
                let ok = match op {
                    UnaryOp::Not => t == Bool,
                    UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => t != Bool,
                    _ => t == F32 || t == F64,
                };
                if !ok {
                    return Err(format!("{} of a {}", op.name(), t.name()));
                }
                t
            }
            Expr::Binary(op, a, b) => {
                let (ta, tb) = (self.val(*a)?, self.val(*b)?);
                let ok = ta == tb
                    && match op {
                        BinaryOp::And | BinaryOp::Or => ta == Bool,
                        BinaryOp::Eq | BinaryOp::Ne => true,
                        BinaryOp::Pow => ta == F32 || ta == F64,
                        _ => ta != Bool,
                    };
                if !ok {
                    return Err(format!("{} of {} and {}", op.name(), ta.name(), tb.name()));
                }
                if op.is_comparison() { Bool } else { ta }
            }
            Expr::Select(c, a, b) => {
                let (tc, ta, tb) = (self.val(*c)?, self.val(*a)?, self.val(*b)?);
                if tc != Bool || ta != tb {
                    return Err(format!("select on {} of {} and {}", tc.name(), ta.name(), tb.name()));
                }
                ta
            }
            Expr::Cast(to, a) => {
                self.val(*a)?;
                *to
            }
            Expr::Random { kind, seed, step, counter, .. } => {
                for v in [seed, step, counter] {
                    if self.val(*v)? != I64 {
                        return Err(format!("random draw operand v{} is not i64", v.0));
                    }
                }
                let ok = match *kind {
                    RandomKind::Normal => true,
                    RandomKind::Uniform { lo, hi } => lo.is_finite() && hi.is_finite() && lo <= hi,
                    RandomKind::Bernoulli { p } => (0.0..=1.0).contains(&p),
                };
                if !ok {
                    return Err(format!("invalid random distribution {kind:?}"));
                }
                F32
            }
        })
    }

    /// Checks an access of argument `arg` at `index` and returns the argument's type.
    fn access(&self, arg: u32, index: &Index) -> Result<Scalar, String> {
        let decl = self.kernel.args.get(arg as usize).ok_or_else(|| format!("there is no argument %{arg}"))?;
        // Strides per variable (a variable may appear in several terms).
        let mut strides: Vec<(Var, Affine, Affine)> = Vec::new();
        for (var, stride) in &index.terms {
            let extent = self
                .vars
                .iter()
                .find(|(v, _)| v == var)
                .map(|(_, e)| *e)
                .ok_or_else(|| format!("i{} is not bound by an enclosing loop", var.0))?;
            match strides.iter_mut().find(|(v, _, _)| v == var) {
                Some((_, s, _)) => *s = s.checked_add(*stride).ok_or("stride overflows")?,
                None => strides.push((*var, *stride, extent)),
            }
        }
        let mut max = Poly::affine(index.offset);
        let mut min = max;
        for (var, stride, extent) in strides {
            let last = extent.checked_add(Affine::constant(-1)).ok_or("extent overflows")?;
            let reach = Poly::mul_affine(stride, last);
            if nonneg(Poly::affine(stride)) {
                max = max.add(reach);
            } else if nonneg(Poly::affine(stride).neg()) {
                min = min.add(reach);
            } else {
                return Err(format!("the stride {stride} of i{} changes sign with B", var.0));
            }
        }
        let last = Poly::quadratic(decl.len).add(Poly([-1, 0, 0]));
        if !nonneg(last.add(max.neg())) {
            return Err(format!("index {} can reach past the {} elements for some B ≥ 1", IndexText(index), decl.len));
        }
        if !nonneg(min) {
            return Err(format!("index {} can be negative for some B ≥ 1", IndexText(index)));
        }
        Ok(decl.ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Arg;

    #[test]
    fn polynomial_sign_is_exact_over_integers() {
        assert!(nonneg(Poly([0, 0, 0])));
        assert!(nonneg(Poly([-1, 1, 0])), "B - 1");
        assert!(!nonneg(Poly([-2, 1, 0])), "B - 2 at B = 1");
        assert!(!nonneg(Poly([100, -1, 0])), "100 - B for large B");
        assert!(nonneg(Poly([0, -1, 1])), "B² - B");
        assert!(!nonneg(Poly([0, 0, -1])));
        // (B - 3)² - 1 is -1 at B = 3 only; (2B - 5)² - 1 is 0 at both B = 2 and B = 3 and
        // negative only between them, where there is no integer.
        assert!(!nonneg(Poly([8, -6, 1])));
        assert!(nonneg(Poly([24, -20, 4])));
        assert!(!nonneg(Poly([i128::MAX, i128::MAX, 1])), "overflow is not a proof");
    }

    fn arg(ty: Scalar, len: Affine, written: bool) -> Arg {
        Arg { ty, len: len.into(), written }
    }

    fn idx(terms: &[(u32, Affine)], offset: Affine) -> Index {
        Index { terms: terms.iter().map(|&(v, s)| (Var(v), s)).collect(), offset }
    }

    /// `out[i*n + j] = in[...]` over `i < B`, `j < n`, with the given load index.
    fn copy_kernel(len_in: Affine, n: i64, load: Index) -> Kernel {
        Kernel {
            name: "k".into(),
            args: vec![arg(Scalar::F32, len_in, false), arg(Scalar::F32, Affine::batch(n), true)],
            body: vec![Stmt::Loop {
                var: Var(0),
                extent: Affine::batch(1),
                body: vec![Stmt::Loop {
                    var: Var(1),
                    extent: Affine::constant(n),
                    body: vec![
                        Stmt::Let { dst: Val(0), ty: Scalar::F32, expr: Expr::Load { arg: 0, index: load } },
                        Stmt::Store {
                            arg: 1,
                            index: idx(&[(0, Affine::constant(n)), (1, Affine::ONE)], Affine::ZERO),
                            value: Val(0),
                        },
                    ],
                }],
            }],
            parallel: true,
        }
    }

    fn err(k: &Kernel) -> String {
        verify(k).unwrap_err().message
    }

    #[test]
    fn bounds_are_proved_or_refused() {
        let rows = idx(&[(0, Affine::constant(5)), (1, Affine::ONE)], Affine::ZERO);
        assert_eq!(verify(&copy_kernel(Affine::batch(5), 5, rows.clone())), Ok(()));
        assert!(err(&copy_kernel(Affine { b: 5, c: -1 }, 5, rows)).contains("reach past"));
        // Broadcast (stride 0 in i0) and a transposed read with a stride affine in B.
        let bias = idx(&[(0, Affine::ZERO), (1, Affine::ONE)], Affine::ZERO);
        assert_eq!(verify(&copy_kernel(Affine::constant(5), 5, bias)), Ok(()));
        let transposed = idx(&[(0, Affine::ONE), (1, Affine::batch(1))], Affine::ZERO);
        assert_eq!(verify(&copy_kernel(Affine::batch(5), 5, transposed.clone())), Ok(()));
        assert!(err(&copy_kernel(Affine::batch(4), 5, transposed)).contains("reach past"));
        // Reversed rows: a negative stride with an offset that keeps the minimum at 0.
        let reversed = idx(&[(0, Affine::constant(-5)), (1, Affine::ONE)], Affine { b: 5, c: -5 });
        assert_eq!(verify(&copy_kernel(Affine::batch(5), 5, reversed)), Ok(()));
        let negative = idx(&[(0, Affine::constant(-5)), (1, Affine::ONE)], Affine { b: 5, c: -6 });
        assert!(err(&copy_kernel(Affine::batch(5), 5, negative)).contains("negative"));
        let sign = idx(&[(0, Affine { b: 1, c: -2 }), (1, Affine::ONE)], Affine::ZERO);
        assert!(err(&copy_kernel(Affine::batch(100), 5, sign)).contains("changes sign"));
        // The same variable twice: strides add up (i1 - i1 = 0).
        let twice = idx(&[(1, Affine::ONE), (1, Affine::constant(-1))], Affine::constant(4));
        assert_eq!(verify(&copy_kernel(Affine::constant(5), 5, twice)), Ok(()));
        // A `[B, B]` buffer read by rows of B: the last element is B² - 1, proved against a
        // quadratic length; one more element, or a length of B² - 1, is refused.
        let square = |len: Quadratic, offset: i64| {
            let mut k = copy_kernel(Affine::batch(5), 5, idx(&[], Affine::ZERO));
            k.args[0].len = len;
            let Stmt::Loop { body, .. } = &mut k.body[0] else { unreachable!() };
            let Stmt::Loop { extent, body, .. } = &mut body[0] else { unreachable!() };
            *extent = Affine::batch(1);
            body[0] = Stmt::Let {
                dst: Val(0),
                ty: Scalar::F32,
                expr: Expr::Load {
                    arg: 0,
                    index: idx(&[(0, Affine::batch(1)), (1, Affine::ONE)], Affine::constant(offset)),
                },
            };
            // Store at i1 (< B) into the B*5 output.
            body[1] = Stmt::Store { arg: 1, index: idx(&[(1, Affine::ONE)], Affine::ZERO), value: Val(0) };
            k
        };
        assert_eq!(verify(&square(Quadratic { q: 1, b: 0, c: 0 }, 0)), Ok(()));
        assert!(err(&square(Quadratic { q: 1, b: 0, c: 0 }, 1)).contains("reach past"));
        assert!(err(&square(Quadratic { q: 1, b: 0, c: -1 }, 0)).contains("reach past"));
        assert!(err(&square(Quadratic { q: -1, b: 0, c: 0 }, 0)).contains("< 0"));
    }

    #[test]
    fn scoping_typing_and_stores_are_checked() {
        let good = copy_kernel(Affine::batch(5), 5, idx(&[(0, Affine::constant(5)), (1, Affine::ONE)], Affine::ZERO));
        let with_body = |f: &dyn Fn(&mut Vec<Stmt>)| {
            let mut k = good.clone();
            let Stmt::Loop { body, .. } = &mut k.body[0] else { unreachable!() };
            let Stmt::Loop { body, .. } = &mut body[0] else { unreachable!() };
            f(body);
            k
        };
        let let_ = |dst, ty, expr| Stmt::Let { dst: Val(dst), ty, expr };
        let cases: Vec<(Kernel, &str)> = vec![
            (with_body(&|b| b.insert(0, let_(1, Scalar::F32, Expr::Unary(UnaryOp::Exp, Val(0))))), "not defined"),
            (with_body(&|b| b.push(let_(0, Scalar::F32, Expr::Const(Scalar::F32, 1.0)))), "defined twice"),
            (with_body(&|b| b.push(let_(1, Scalar::I64, Expr::Unary(UnaryOp::Exp, Val(0))))), "declared i64"),
            (with_body(&|b| b.push(let_(1, Scalar::I64, Expr::Var(Var(7))))), "not bound"),
            (with_body(&|b| b.push(let_(1, Scalar::Bool, Expr::Unary(UnaryOp::Not, Val(0))))), "not of a f32"),
            (with_body(&|b| b.push(let_(1, Scalar::Bool, Expr::Const(Scalar::Bool, 2.0)))), "not a bool constant"),
            (with_body(&|b| b.push(let_(1, Scalar::I64, Expr::Const(Scalar::I64, 0.5)))), "not a i64 constant"),
            (
                with_body(&|b| {
                    b.push(let_(1, Scalar::I64, Expr::Batch));
                    b.push(let_(2, Scalar::F32, Expr::Binary(BinaryOp::Add, Val(0), Val(1))));
                }),
                "add of f32 and i64",
            ),
            (
                with_body(&|b| {
                    b.push(let_(1, Scalar::I64, Expr::Batch));
                    b.push(let_(2, Scalar::I64, Expr::Binary(BinaryOp::Pow, Val(1), Val(1))));
                }),
                "pow of i64",
            ),
            (with_body(&|b| b.push(let_(1, Scalar::F32, Expr::Select(Val(0), Val(0), Val(0))))), "select on f32"),
            (
                with_body(&|b| {
                    b.push(Stmt::Store { arg: 0, index: idx(&[], Affine::ZERO), value: Val(0) });
                }),
                "not marked written",
            ),
            (
                with_body(&|b| {
                    b.push(let_(1, Scalar::I64, Expr::Batch));
                    b.push(Stmt::Store { arg: 1, index: idx(&[], Affine::ZERO), value: Val(1) });
                }),
                "store of v1 (i64)",
            ),
            (
                with_body(&|b| b.push(let_(1, Scalar::F32, Expr::Load { arg: 9, index: idx(&[], Affine::ZERO) }))),
                "no argument %9",
            ),
            (with_body(&|b| b.push(Stmt::Assign { local: Local(0), value: Val(0) })), "not declared"),
            (
                with_body(&|b| {
                    b.push(Stmt::Loop { var: Var(0), extent: Affine::ONE, body: vec![] });
                }),
                "rebinds i0",
            ),
            (
                with_body(&|b| {
                    b.push(Stmt::Loop { var: Var(5), extent: Affine { b: 1, c: -2 }, body: vec![] });
                }),
                "extent B-2 < 0",
            ),
            (
                with_body(&|b| {
                    b.push(let_(1, Scalar::I64, Expr::Batch));
                    b.push(let_(
                        2,
                        Scalar::F32,
                        Expr::Random {
                            kind: RandomKind::Bernoulli { p: 1.5 },
                            site: 0,
                            seed: Val(1),
                            step: Val(1),
                            counter: Val(1),
                        },
                    ));
                }),
                "invalid random",
            ),
        ];
        for (k, want) in cases {
            let e = err(&k);
            assert!(e.contains(want), "expected `{want}` in `{e}`");
        }
    }

    #[test]
    fn values_and_locals_do_not_escape_their_block() {
        let let_ = |dst, ty, expr| Stmt::Let { dst: Val(dst), ty, expr };
        let k = Kernel {
            name: "scope".into(),
            args: vec![arg(Scalar::F32, Affine::ONE, true)],
            body: vec![
                Stmt::Loop {
                    var: Var(0),
                    extent: Affine::batch(1),
                    body: vec![
                        let_(0, Scalar::F32, Expr::Const(Scalar::F32, 1.0)),
                        Stmt::Local { local: Local(0), ty: Scalar::F32, init: Val(0) },
                    ],
                },
                Stmt::Store { arg: 0, index: idx(&[], Affine::ZERO), value: Val(0) },
            ],
            parallel: false,
        };
        assert!(err(&k).contains("v0 is used where it is not defined"));
        let mut k2 = k.clone();
        k2.body[1] = let_(1, Scalar::F32, Expr::Get(Local(0)));
        assert!(err(&k2).contains("l0 is used where it is not declared"));
        let mut par = k;
        par.parallel = true;
        assert!(err(&par).contains("exactly one loop"));
    }
}

//! The text form of kernels: one line per statement, two-space indentation per loop, stable
//! (golden tests compare it) and meant for people reading `hgc` dumps and test failures.
//!
//! ```text
//! kernel k3_relu(%0: f32[784*B] in, %1: f32[784*B] out) parallel {
//!   for i0 in 0..B {
//!     for i1 in 0..784 {
//!       v0: f32 = load %0[i0*784 + i1]
//!       v1: f32 = relu v0
//!       store %1[i0*784 + i1] = v1
//!     }
//!   }
//! }
//! ```
//!
//! Arguments are `%n: type[len] mode`, where the mode is `in` (read only), `out` (written, never
//! loaded) or `inout` (written and loaded: an in-place update). Values are `vN`, loop variables
//! `iN`, locals `lN`; sizes, strides and offsets print through `Affine`'s `Display` (`B` is
//! the batch size). Expressions are the operation's name followed by its operands:
//!
//! | statement or expression | text |
//! | --- | --- |
//! | `Loop` | `for i0 in 0..extent { ... }` |
//! | `Let` | `v0: f32 = <expr>` |
//! | `Store` | `store %1[index] = v0` |
//! | `Local` / `Assign` | `local l0: f32 = v0` / `l0 = v1` |
//! | `Const` | `const 1.5` (f32: Rust's `{:?}` of the value), `const 3` (i64), `const true` |
//! | `Load` / `Get` / `Var` / `Batch` | `load %0[index]` / `get l0` / `i0` / `B` |
//! | `Unary` / `Binary` | `exp v0` / `add v0, v1` (the ops' IR names) |
//! | `Select` / `Cast` | `select v0, v1, v2` / `cast v0` (the target type is the `Let`'s) |
//! | `Random` | `random normal site 3 (seed v0, step v1, counter v2)`; `uniform(lo, hi)`, `bernoulli(p)` |

use crate::ir::{Arg, Expr, Index, Kernel, Scalar, Stmt};
use hg_abi::plan::RandomKind;
use std::fmt::{self, Write};

/// The text form of one kernel (see the module docs), ending with a newline.
pub fn print_kernel(kernel: &Kernel) -> String {
    kernel.to_string()
}

/// The text form of several kernels, separated by blank lines.
pub fn print_kernels(kernels: &[Kernel]) -> String {
    let mut out = String::new();
    for (i, k) in kernels.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&print_kernel(k));
    }
    out
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel {}(", self.name)?;
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let mode = match (arg.written, loads_arg(&self.body, i)) {
                (false, _) => "in",
                (true, false) => "out",
                (true, true) => "inout",
            };
            let Arg { ty, len, .. } = arg;
            write!(f, "%{i}: {}[{len}] {mode}", ty.name())?;
        }
        f.write_str(")")?;
        if self.parallel {
            f.write_str(" parallel")?;
        }
        f.write_str(" {\n")?;
        let mut text = String::new();
        for stmt in &self.body {
            stmt_text(&mut text, stmt, 1)?;
        }
        f.write_str(&text)?;
        f.write_str("}\n")
    }
}

/// Whether any statement of `body` loads argument `arg`.
fn loads_arg(body: &[Stmt], arg: usize) -> bool {
    body.iter().any(|s| match s {
        Stmt::Loop { body, .. } => loads_arg(body, arg),
        Stmt::Let { expr: Expr::Load { arg: a, .. }, .. } => *a as usize == arg,
        _ => false,
    })
}

fn stmt_text(out: &mut String, stmt: &Stmt, depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    match stmt {
        Stmt::Loop { var, extent, body } => {
            writeln!(out, "{pad}for i{} in 0..{extent} {{", var.0)?;
            for s in body {
                stmt_text(out, s, depth + 1)?;
            }
            writeln!(out, "{pad}}}")
        }
        Stmt::Let { dst, ty, expr } => {
            writeln!(out, "{pad}v{}: {} = {}", dst.0, ty.name(), ExprText(expr))
        }
        Stmt::Store { arg, index, value } => {
            writeln!(out, "{pad}store %{arg}[{}] = v{}", IndexText(index), value.0)
        }
        Stmt::Local { local, ty, init } => {
            writeln!(out, "{pad}local l{}: {} = v{}", local.0, ty.name(), init.0)
        }
        Stmt::Assign { local, value } => writeln!(out, "{pad}l{} = v{}", local.0, value.0),
    }
}

/// A constant's text: f32 values with Rust's `{:?}` (always a decimal point or an exponent,
/// `NaN`, `inf`), integers without one, booleans as words.
fn const_text(ty: Scalar, value: f64) -> String {
    match ty {
        Scalar::F32 => format!("{:?}", value as f32),
        Scalar::F64 => format!("{value:?}"),
        Scalar::I64 if value.fract() == 0.0 && value.abs() <= 9.007_199_254_740_992e15 => {
            format!("{}", value as i64)
        }
        Scalar::I64 => format!("{value:?}"),
        Scalar::Bool if value == 0.0 => "false".into(),
        Scalar::Bool if value == 1.0 => "true".into(),
        Scalar::Bool => format!("{value:?}"),
    }
}

struct ExprText<'a>(&'a Expr);

impl fmt::Display for ExprText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::Const(ty, value) => write!(f, "const {}", const_text(*ty, *value)),
            Expr::Load { arg, index } => write!(f, "load %{arg}[{}]", IndexText(index)),
            Expr::Get(local) => write!(f, "get l{}", local.0),
            Expr::Var(var) => write!(f, "i{}", var.0),
            Expr::Batch => f.write_str("B"),
            Expr::Unary(op, a) => write!(f, "{} v{}", op.name(), a.0),
            Expr::Binary(op, a, b) => write!(f, "{} v{}, v{}", op.name(), a.0, b.0),
            Expr::Select(c, a, b) => write!(f, "select v{}, v{}, v{}", c.0, a.0, b.0),
            Expr::Cast(_, a) => write!(f, "cast v{}", a.0),
            Expr::Random { kind, site, seed, step, counter } => {
                f.write_str("random ")?;
                match kind {
                    RandomKind::Normal => f.write_str("normal")?,
                    RandomKind::Uniform { lo, hi } => write!(f, "uniform({lo:?}, {hi:?})")?,
                    RandomKind::Bernoulli { p } => write!(f, "bernoulli({p:?})")?,
                }
                write!(f, " site {site} (seed v{}, step v{}, counter v{})", seed.0, step.0, counter.0)
            }
        }
    }
}

/// `i0*784 + i1 + 3`: the terms in their order, then the offset when it is not zero.
pub(crate) struct IndexText<'a>(pub(crate) &'a Index);

impl fmt::Display for IndexText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Index { terms, offset } = self.0;
        for (i, (var, stride)) in terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            write!(f, "i{}", var.0)?;
            match (stride.b, stride.c) {
                (0, 1) => {}
                (0, c) if c >= 0 => write!(f, "*{c}")?,
                (1, 0) => f.write_str("*B")?,
                _ => write!(f, "*({stride})")?,
            }
        }
        match (terms.is_empty(), offset.b, offset.c) {
            (true, _, _) => write!(f, "{offset}"),
            (false, 0, 0) => Ok(()),
            (false, 0, c) if c < 0 => write!(f, " - {}", c.unsigned_abs()),
            (false, _, _) => write!(f, " + {offset}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Local, UnaryOp, Val, Var};
    use hg_abi::plan::Affine;

    fn idx(terms: &[(u32, Affine)], offset: Affine) -> Index {
        Index { terms: terms.iter().map(|&(v, s)| (Var(v), s)).collect(), offset }
    }

    fn relu_kernel() -> Kernel {
        let i = idx(&[(0, Affine::constant(784)), (1, Affine::ONE)], Affine::ZERO);
        Kernel {
            name: "k3_relu".into(),
            args: vec![
                Arg { ty: Scalar::F32, len: Affine::batch(784).into(), written: false },
                Arg { ty: Scalar::F32, len: Affine::batch(784).into(), written: true },
            ],
            body: vec![Stmt::Loop {
                var: Var(0),
                extent: Affine::batch(1),
                body: vec![Stmt::Loop {
                    var: Var(1),
                    extent: Affine::constant(784),
                    body: vec![
                        Stmt::Let { dst: Val(0), ty: Scalar::F32, expr: Expr::Load { arg: 0, index: i.clone() } },
                        Stmt::Let { dst: Val(1), ty: Scalar::F32, expr: Expr::Unary(UnaryOp::Relu, Val(0)) },
                        Stmt::Store { arg: 1, index: i, value: Val(1) },
                    ],
                }],
            }],
            parallel: true,
        }
    }

    /// Every construct once: locals, every expression kind, each random kind, unusual strides
    /// and offsets, an in-place argument.
    fn everything_kernel() -> Kernel {
        let let_ = |dst: u32, ty, expr| Stmt::Let { dst: Val(dst), ty, expr };
        Kernel {
            name: "k7_everything".into(),
            args: vec![
                Arg { ty: Scalar::F32, len: Affine { b: 2, c: 1 }.into(), written: true },
                Arg { ty: Scalar::I64, len: Affine::constant(3).into(), written: false },
                Arg { ty: Scalar::Bool, len: Affine::batch(1).into(), written: true },
            ],
            body: vec![
                let_(0, Scalar::I64, Expr::Load { arg: 1, index: idx(&[], Affine::constant(0)) }),
                let_(1, Scalar::I64, Expr::Load { arg: 1, index: idx(&[], Affine::constant(1)) }),
                let_(2, Scalar::F32, Expr::Const(Scalar::F32, 0.0)),
                Stmt::Local { local: Local(0), ty: Scalar::F32, init: Val(2) },
                Stmt::Loop {
                    var: Var(0),
                    extent: Affine::batch(1),
                    body: vec![
                        let_(
                            3,
                            Scalar::F32,
                            Expr::Load { arg: 0, index: idx(&[(0, Affine::constant(2))], Affine::ONE) },
                        ),
                        let_(4, Scalar::F32, Expr::Get(Local(0))),
                        let_(5, Scalar::F32, Expr::Binary(BinaryOp::Add, Val(3), Val(4))),
                        Stmt::Assign { local: Local(0), value: Val(5) },
                        let_(6, Scalar::I64, Expr::Var(Var(0))),
                        let_(7, Scalar::I64, Expr::Batch),
                        let_(8, Scalar::Bool, Expr::Binary(BinaryOp::Lt, Val(6), Val(7))),
                        let_(
                            9,
                            Scalar::F32,
                            Expr::Random {
                                kind: RandomKind::Normal,
                                site: 3,
                                seed: Val(0),
                                step: Val(1),
                                counter: Val(6),
                            },
                        ),
                        let_(
                            10,
                            Scalar::F32,
                            Expr::Random {
                                kind: RandomKind::Uniform { lo: -1.0, hi: 1.0 },
                                site: 4,
                                seed: Val(0),
                                step: Val(1),
                                counter: Val(6),
                            },
                        ),
                        let_(
                            11,
                            Scalar::F32,
                            Expr::Random {
                                kind: RandomKind::Bernoulli { p: 0.25 },
                                site: 5,
                                seed: Val(0),
                                step: Val(1),
                                counter: Val(6),
                            },
                        ),
                        let_(12, Scalar::F32, Expr::Select(Val(8), Val(9), Val(10))),
                        let_(13, Scalar::F32, Expr::Binary(BinaryOp::Mul, Val(12), Val(11))),
                        let_(14, Scalar::I64, Expr::Cast(Scalar::I64, Val(13))),
                        let_(15, Scalar::Bool, Expr::Cast(Scalar::Bool, Val(14))),
                        let_(16, Scalar::Bool, Expr::Const(Scalar::Bool, 1.0)),
                        let_(17, Scalar::I64, Expr::Const(Scalar::I64, -3.0)),
                        let_(18, Scalar::F32, Expr::Const(Scalar::F32, f64::NAN)),
                        let_(19, Scalar::Bool, Expr::Binary(BinaryOp::And, Val(15), Val(16))),
                        Stmt::Store { arg: 2, index: idx(&[(0, Affine::ONE)], Affine::ZERO), value: Val(19) },
                    ],
                },
                let_(20, Scalar::F32, Expr::Get(Local(0))),
                Stmt::Store { arg: 0, index: idx(&[], Affine { b: 2, c: 0 }), value: Val(20) },
                Stmt::Loop {
                    var: Var(1),
                    extent: Affine { b: 1, c: -1 },
                    body: vec![
                        let_(
                            21,
                            Scalar::F32,
                            Expr::Load {
                                arg: 0,
                                index: idx(
                                    &[(1, Affine { b: 1, c: 1 }), (1, Affine::constant(-1))],
                                    Affine::constant(-3),
                                ),
                            },
                        ),
                        let_(22, Scalar::F32, Expr::Unary(UnaryOp::Exp, Val(21))),
                    ],
                },
            ],
            parallel: false,
        }
    }

    #[test]
    fn relu_kernel_text() {
        insta::assert_snapshot!(print_kernel(&relu_kernel()));
    }

    #[test]
    fn every_construct_text() {
        insta::assert_snapshot!(print_kernel(&everything_kernel()));
    }

    #[test]
    fn several_kernels_are_separated_by_blank_lines() {
        let text = print_kernels(&[relu_kernel(), relu_kernel()]);
        assert_eq!(text.matches("\n\nkernel ").count(), 1);
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
        assert_eq!(print_kernels(&[]), "");
    }

    #[test]
    fn index_text_forms() {
        let t = |terms: &[(u32, Affine)], offset| IndexText(&idx(terms, offset)).to_string();
        assert_eq!(t(&[], Affine::ZERO), "0");
        assert_eq!(t(&[], Affine { b: 1, c: -1 }), "B-1");
        assert_eq!(t(&[(0, Affine::ONE)], Affine::constant(-2)), "i0 - 2");
        assert_eq!(t(&[(0, Affine::ZERO)], Affine::batch(3)), "i0*0 + 3*B");
        assert_eq!(t(&[(0, Affine::batch(1)), (1, Affine::batch(2))], Affine::ZERO), "i0*B + i1*(2*B)");
        assert_eq!(t(&[(2, Affine::constant(-4))], Affine::ONE), "i2*(-4) + 1");
    }
}

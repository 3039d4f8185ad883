//! `f32x4` versions of innermost loops.
//!
//! A loop is vectorised when its body (no nested loop) consists only of:
//! - `Let`s of f32 and boolean constants, f32 and boolean loads whose index has stride 1
//!   (contiguous) or 0 (a broadcast, hoisted out of the loop and splatted) in the loop's
//!   variable, the unary ops `neg`, `abs`, `sqrt`, `floor`, `round`, `relu`, `sign` and the
//!   inline transcendental functions `exp`, `log`, `sigmoid`, `tanh`, `softplus`, `gelu`
//!   ([`crate::math`]), the binary ops `add`, `sub`, `mul`, `div`, `maximum`, `minimum` and the
//!   six comparisons on f32, `and`/`or`/`not`/`eq`/`ne` on booleans, and `select` between f32
//!   values (booleans live as `i32x4` lane masks; in memory they are four bytes, widened on
//!   loads and narrowed on stores);
//! - f32 and boolean stores with stride 1;
//! - operands defined outside the loop only if they are f32 (splatted once before it), except
//!   in per-lane statements (below).
//!
//! No calls (`sin`, `cos`, `pow` and `rsqrt` stay scalar), no random draws. Arguments the loop
//! stores must be loaded and stored at one and the same index throughout the loop (an in-place
//! update), so no lane reads an element another lane writes.
//!
//! **Per-lane statements.** A loop that also reads and assigns locals (a reduction: `acc =
//! acc + softplus(x[i])`) is vectorised when its lanes compute one of the transcendental
//! functions, which is where its time goes: the statements that depend on a local (`get`, what
//! is computed from it, the `assign`), and the other scalar work that only feeds them (casts,
//! i64 arithmetic, the loop variable), run once per lane with the scalar code, for iterations
//! `i`, `i + 1`, `i + 2`, `i + 3` in turn, after the lanes of the four iterations are computed.
//! Each iteration thus accumulates in the scalar loop's order, with the same operations, and
//! nothing stored can depend on a local. Without such a function the loop stays scalar (the
//! extraction of lanes would cost what the vector arithmetic saves).
//!
//! The vector loop runs while four iterations remain (`i + 4 ≤ end`); the scalar loop then
//! finishes the last zero to three. Lanes compute exactly what the scalar code computes (same
//! IEEE operations, `fmin`/`fmax` with the same NaN and zero rules, the same instruction
//! sequence for the transcendental functions), so the result does not depend on which loop
//! handled an element. Vector accesses are marked non-trapping but not aligned (elements are
//! only 4-byte aligned).

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I8, I8X16, I32, I32X4, I64};
use cranelift_codegen::ir::{BlockArg, Endianness, InstBuilder, MemFlagsData, Value};
use hg_abi::plan::Affine;
use hg_kernel::ir::{BinaryOp, Expr, Index, Scalar, Stmt, UnaryOp, Val, Var};

use crate::CodegenError;
use crate::kernel::{Gen, combined_strides, float_cc, scalar_flags};

/// Lanes per vector.
const LANES: i64 = 4;

/// The stride of `var` in `index` (all its terms together).
fn stride_of(index: &Index, var: Var) -> Affine {
    combined_strides(index).into_iter().find(|(v, _)| *v == var).map_or(Affine::ZERO, |(_, s)| s)
}

fn vector_unary(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Floor | UnaryOp::Round | UnaryOp::Relu | UnaryOp::Sign
    ) || crate::math::inline(op)
}

fn vector_arith(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Maximum | BinaryOp::Minimum)
}

/// How the statements of a vectorised loop run: `serial[n]` for statement `n` run once per
/// lane, in lane order (see the module docs), the others on four lanes at once.
pub(crate) struct Plan {
    serial: Vec<bool>,
}

/// Whether the expression can run once per lane with the scalar code: everything but loads and
/// random draws.
fn per_lane(expr: &Expr) -> bool {
    !matches!(expr, Expr::Load { .. } | Expr::Random { .. })
}

/// Whether the loop over `var` with this body gets an `f32x4` version, and how (see the module
/// docs).
pub(crate) fn plan(g: &Gen<'_>, var: Var, body: &[Stmt]) -> Option<Plan> {
    let args = &g.kernel.args;
    // The one index at which each stored argument is accessed.
    let mut stored: HashMap<u32, &Index> = HashMap::new();
    for stmt in body {
        match stmt {
            Stmt::Store { arg, index, .. } => {
                if stored.insert(*arg, index).is_some_and(|other| other != index) {
                    return None;
                }
            }
            Stmt::Let { .. } | Stmt::Assign { .. } => {}
            Stmt::Loop { .. } | Stmt::Local { .. } => return None,
        }
    }
    // Types of the values defined in the loop as lanes (f32 lanes or boolean masks), and the
    // values computed once per lane.
    let mut inner: HashMap<Val, Scalar> = HashMap::new();
    let mut serial: Vec<Val> = Vec::new();
    let mut serial_stmts = vec![false; body.len()];
    // Whether the lanes do work worth the per-lane statements' extraction of lanes.
    let mut expensive = false;
    let operand = |inner: &HashMap<Val, Scalar>, v: Val| -> Option<Scalar> {
        match inner.get(&v) {
            Some(&t) => Some(t),
            // From outside the loop: only f32 values are splatted.
            None => g.vals.get(&v).map(|&(_, t)| t).filter(|&t| t == Scalar::F32),
        }
    };
    // A per-lane statement reads lanes of vector values, per-lane values and outside values.
    let available = |inner: &HashMap<Val, Scalar>, serial: &[Val], v: Val| {
        inner.contains_key(&v) || serial.contains(&v) || g.vals.contains_key(&v)
    };
    for (n, stmt) in body.iter().enumerate() {
        match stmt {
            Stmt::Let { dst, ty, expr } => {
                let reads = operands(stmt);
                let vector = !reads.iter().any(|v| serial.contains(v))
                    && match expr {
                        Expr::Const(t, _) => *t == Scalar::F32 || *t == Scalar::Bool,
                        Expr::Load { arg, index } => {
                            let s = stride_of(index, var);
                            matches!(args[*arg as usize].ty, Scalar::F32 | Scalar::Bool)
                                && (s == Affine::ONE || s == Affine::ZERO)
                                && stored.get(arg).is_none_or(|i| *i == index)
                        }
                        Expr::Unary(op, a) => match operand(&inner, *a) {
                            Some(Scalar::F32) => vector_unary(*op),
                            Some(Scalar::Bool) => *op == UnaryOp::Not,
                            _ => false,
                        },
                        Expr::Binary(op, a, b) => {
                            let (ta, tb) = (operand(&inner, *a), operand(&inner, *b));
                            ta == tb
                                && match ta {
                                    Some(Scalar::F32) => vector_arith(*op) || op.is_comparison(),
                                    Some(Scalar::Bool) => {
                                        matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Eq | BinaryOp::Ne)
                                    }
                                    _ => false,
                                }
                        }
                        Expr::Select(c, a, b) => {
                            operand(&inner, *c) == Some(Scalar::Bool)
                                && operand(&inner, *a) == Some(Scalar::F32)
                                && operand(&inner, *b) == Some(Scalar::F32)
                        }
                        Expr::Get(_) | Expr::Var(_) | Expr::Batch | Expr::Cast(..) | Expr::Random { .. } => false,
                    };
                if vector {
                    if let Expr::Unary(op, _) = expr
                        && crate::math::inline(*op)
                    {
                        expensive = true;
                    }
                    inner.insert(*dst, *ty);
                } else if per_lane(expr) && reads.iter().all(|&v| available(&inner, &serial, v)) {
                    serial.push(*dst);
                    serial_stmts[n] = true;
                } else {
                    return None;
                }
            }
            Stmt::Assign { value, .. } => {
                if !available(&inner, &serial, *value) {
                    return None;
                }
                serial_stmts[n] = true;
            }
            Stmt::Store { arg, index, value } => {
                let ty = args[*arg as usize].ty;
                if !matches!(ty, Scalar::F32 | Scalar::Bool)
                    || stride_of(index, var) != Affine::ONE
                    || operand(&inner, *value) != Some(ty)
                {
                    return None;
                }
            }
            Stmt::Loop { .. } | Stmt::Local { .. } => return None,
        }
    }
    if serial_stmts.contains(&true) && !expensive {
        return None;
    }
    Some(Plan { serial: serial_stmts })
}

/// Flags of a bitcast between vector types (lanes in memory order).
fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// Memory flags of vector accesses: in bounds, not necessarily 16-byte aligned.
fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Gen<'_> {
    /// Emits the `f32x4` loop over `start..end` (four iterations at a time) for a body that
    /// [`plan`] accepted; returns the first iteration it did not run.
    pub(crate) fn vector_loop(
        &mut self,
        var: Var,
        start: Value,
        end: Value,
        body: &[Stmt],
        plan: &Plan,
    ) -> Result<Value, CodegenError> {
        let types: HashMap<Val, Scalar> = body
            .iter()
            .filter_map(|s| if let Stmt::Let { dst, ty, .. } = s { Some((*dst, *ty)) } else { None })
            .collect();
        let defined: Vec<Val> = types.keys().copied().collect();
        // Before the loop: splat the f32 values its vector statements use from outside, and
        // load and splat the broadcast elements (their arguments are not stored in the loop).
        let mut lanes: HashMap<Val, Value> = HashMap::new();
        for (stmt, &serial) in body.iter().zip(&plan.serial) {
            if serial {
                continue;
            }
            for v in operands(stmt) {
                if !defined.contains(&v) && !lanes.contains_key(&v) {
                    let (x, _) = self.val(v)?;
                    lanes.insert(v, self.b.ins().splat(F32X4, x));
                }
            }
            if let Stmt::Let { dst, expr: Expr::Load { arg, index }, .. } = stmt
                && stride_of(index, var) == Affine::ZERO
            {
                let (addr, imm) = self.address(*arg, index);
                let splat = if self.kernel.args[*arg as usize].ty == Scalar::Bool {
                    let byte = self.b.ins().load(I8, scalar_flags(), addr, imm);
                    let mask = self.b.ins().bmask(I32, byte);
                    self.b.ins().splat(I32X4, mask)
                } else {
                    let x = self.b.ins().load(F32, scalar_flags(), addr, imm);
                    self.b.ins().splat(F32X4, x)
                };
                lanes.insert(*dst, splat);
            }
        }
        // i + 4 ≤ end  ⇔  i < end - 3.
        let vector_end = self.b.ins().iadd_imm_s(end, -(LANES - 1));
        let body_block = self.b.create_block();
        let exit = self.b.create_block();
        let i = self.b.append_block_param(body_block, I64);
        let rest = self.b.append_block_param(exit, I64);
        let enter = self.b.ins().icmp(IntCC::SignedLessThan, start, vector_end);
        self.b.ins().brif(enter, body_block, &[BlockArg::Value(start)], exit, &[BlockArg::Value(start)]);

        self.b.switch_to_block(body_block);
        self.vars.insert(var, i);
        for (stmt, &serial) in body.iter().zip(&plan.serial) {
            if serial {
                continue;
            }
            match stmt {
                Stmt::Let { dst, expr, .. } => {
                    if lanes.contains_key(dst) {
                        continue; // a broadcast load, done before the loop
                    }
                    let v = self.vector_expr(expr, &lanes)?;
                    lanes.insert(*dst, v);
                }
                Stmt::Store { arg, index, value } => {
                    let (addr, imm) = self.address(*arg, index);
                    let x = if self.kernel.args[*arg as usize].ty == Scalar::Bool {
                        self.mask_bytes(lanes[value])
                    } else {
                        lanes[value]
                    };
                    self.b.ins().store(vector_flags(), x, addr, imm);
                }
                _ => return Err(self.unsupported("a vector loop runs only lets and stores on lanes".into())),
            }
        }
        if plan.serial.contains(&true) {
            // The per-lane statements, for iterations i, i + 1, i + 2, i + 3 in turn: the scalar
            // code, reading lane `lane` of the vector values.
            for lane in 0..LANES {
                let at = if lane == 0 { i } else { self.b.ins().iadd_imm_s(i, lane) };
                self.vars.insert(var, at);
                for (stmt, _) in body.iter().zip(&plan.serial).filter(|(_, serial)| **serial) {
                    for v in operands(stmt) {
                        if let (Some(&x), Some(&ty)) = (lanes.get(&v), types.get(&v)) {
                            let scalar = self.lane(x, ty, lane as u8);
                            self.vals.insert(v, (scalar, ty));
                        }
                    }
                    self.stmt(stmt)?;
                }
            }
            // The loop's values exist in its block only.
            for v in &defined {
                self.vals.remove(v);
            }
        }
        self.vars.remove(&var);
        let next = self.b.ins().iadd_imm_s(i, LANES);
        let again = self.b.ins().icmp(IntCC::SignedLessThan, next, vector_end);
        self.b.ins().brif(again, body_block, &[BlockArg::Value(next)], exit, &[BlockArg::Value(next)]);

        self.b.switch_to_block(exit);
        Ok(rest)
    }

    /// Lane `lane` of a vector value of type `ty`: an `f32`, or a boolean (`i8` 0/1) of a mask.
    fn lane(&mut self, x: Value, ty: Scalar, lane: u8) -> Value {
        let v = self.b.ins().extractlane(x, lane);
        match ty {
            Scalar::Bool => self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0),
            _ => v,
        }
    }

    /// A lane mask as the four bytes (0 or 1) of booleans in memory, in the low 32 bits of an
    /// `i32` for one store.
    fn mask_bytes(&mut self, mask: Value) -> Value {
        let halves = self.b.ins().snarrow(mask, mask);
        let bytes = self.b.ins().snarrow(halves, halves);
        let one = self.b.ins().iconst(I8, 1);
        let one = self.b.ins().splat(I8X16, one);
        let bytes = self.b.ins().band(bytes, one);
        let words = self.b.ins().bitcast(I32X4, little(), bytes);
        self.b.ins().extractlane(words, 0)
    }

    /// A lane mask (`i32x4`, all ones where true) as `f32x4` bits, for `bitselect`.
    fn mask_bits(&mut self, mask: Value) -> Value {
        self.b.ins().bitcast(F32X4, little(), mask)
    }

    fn vector_expr(&mut self, expr: &Expr, lanes: &HashMap<Val, Value>) -> Result<Value, CodegenError> {
        let get = |v: &Val| lanes[v];
        Ok(match expr {
            Expr::Const(Scalar::Bool, x) => {
                let m = self.b.ins().iconst(I32, if *x != 0.0 { -1 } else { 0 });
                self.b.ins().splat(I32X4, m)
            }
            Expr::Const(_, x) => {
                let c = self.b.ins().f32const(*x as f32);
                self.b.ins().splat(F32X4, c)
            }
            Expr::Load { arg, index } => {
                let (addr, imm) = self.address(*arg, index);
                if self.kernel.args[*arg as usize].ty == Scalar::Bool {
                    // Four bytes, widened to 32-bit lanes; any non-zero byte is true.
                    let bytes = self.b.ins().load(I32, vector_flags(), addr, imm);
                    let bytes = self.b.ins().scalar_to_vector(I32X4, bytes);
                    let bytes = self.b.ins().bitcast(I8X16, little(), bytes);
                    let halves = self.b.ins().uwiden_low(bytes);
                    let words = self.b.ins().uwiden_low(halves);
                    let zero = self.b.ins().iconst(I32, 0);
                    let zero = self.b.ins().splat(I32X4, zero);
                    self.b.ins().icmp(IntCC::NotEqual, words, zero)
                } else {
                    self.b.ins().load(F32X4, vector_flags(), addr, imm)
                }
            }
            Expr::Unary(op, a) => {
                let x = get(a);
                match op {
                    UnaryOp::Neg => self.b.ins().fneg(x),
                    UnaryOp::Abs => self.b.ins().fabs(x),
                    UnaryOp::Sqrt => self.b.ins().sqrt(x),
                    UnaryOp::Floor => self.b.ins().floor(x),
                    UnaryOp::Round => self.b.ins().nearest(x),
                    UnaryOp::Relu => {
                        // Keep the lanes that are > 0 or NaN, zero the others (-0 too): two
                        // instructions where `fmax` needs a NaN-fixing sequence.
                        let zero = self.splat_f32(0.0);
                        let keep = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, x, zero);
                        let keep = self.mask_bits(keep);
                        self.b.ins().band(x, keep)
                    }
                    UnaryOp::Sign => {
                        let (zero, one, minus_one) = (self.splat_f32(0.0), self.splat_f32(1.0), self.splat_f32(-1.0));
                        let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                        let lt = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                        let (gt, lt) = (self.mask_bits(gt), self.mask_bits(lt));
                        let neg = self.b.ins().bitselect(lt, minus_one, x);
                        self.b.ins().bitselect(gt, one, neg)
                    }
                    UnaryOp::Not => self.b.ins().bnot(x),
                    op => match crate::math::unary_f32x4(&mut self.b, *op, x) {
                        Some(y) => y,
                        None => return Err(self.unsupported(format!("{} in a vector loop", op.name()))),
                    },
                }
            }
            Expr::Binary(op, a, b) => {
                let (x, y) = (get(a), get(b));
                let is_mask = self.b.func.dfg.value_type(x) == I32X4;
                match op {
                    BinaryOp::Add => self.b.ins().fadd(x, y),
                    BinaryOp::Sub => self.b.ins().fsub(x, y),
                    BinaryOp::Mul => self.b.ins().fmul(x, y),
                    BinaryOp::Div => self.b.ins().fdiv(x, y),
                    BinaryOp::Maximum => self.b.ins().fmax(x, y),
                    BinaryOp::Minimum => self.b.ins().fmin(x, y),
                    BinaryOp::And => self.b.ins().band(x, y),
                    BinaryOp::Or => self.b.ins().bor(x, y),
                    BinaryOp::Eq if is_mask => self.b.ins().icmp(IntCC::Equal, x, y),
                    BinaryOp::Ne if is_mask => self.b.ins().icmp(IntCC::NotEqual, x, y),
                    op if op.is_comparison() => self.b.ins().fcmp(float_cc(*op), x, y),
                    op => return Err(self.unsupported(format!("{} in a vector loop", op.name()))),
                }
            }
            Expr::Select(c, a, b) => {
                let mask = self.mask_bits(get(c));
                self.b.ins().bitselect(mask, get(a), get(b))
            }
            _ => return Err(self.unsupported("an expression that is not vectorised".into())),
        })
    }

    fn splat_f32(&mut self, x: f32) -> Value {
        let c = self.b.ins().f32const(x);
        self.b.ins().splat(F32X4, c)
    }
}

/// The values a statement reads.
fn operands(stmt: &Stmt) -> Vec<Val> {
    match stmt {
        Stmt::Let { expr, .. } => match expr {
            Expr::Unary(_, a) | Expr::Cast(_, a) => vec![*a],
            Expr::Binary(_, a, b) => vec![*a, *b],
            Expr::Select(c, a, b) => vec![*c, *a, *b],
            Expr::Random { seed, step, counter, .. } => vec![*seed, *step, *counter],
            Expr::Const(..) | Expr::Load { .. } | Expr::Get(_) | Expr::Var(_) | Expr::Batch => vec![],
        },
        Stmt::Store { value, .. } => vec![*value],
        Stmt::Local { init, .. } => vec![*init],
        Stmt::Assign { value, .. } => vec![*value],
        Stmt::Loop { .. } => vec![],
    }
}

//! Building one kernel: arguments by plan buffer, fresh loop variables and values, nested blocks.

use crate::ir::{Arg, Expr, Index, Kernel, Local, Scalar, Stmt, Val, Var};
use hg_abi::plan::{Affine, BufId, Quadratic};
use std::collections::HashMap;

pub struct KernelBuilder {
    name: String,
    args: Vec<Arg>,
    /// Plan buffer of each argument.
    pub bufs: Vec<BufId>,
    next_var: u32,
    next_val: u32,
    next_local: u32,
    /// Open blocks, innermost last: the kernel body, then one per open loop.
    blocks: Vec<Vec<Stmt>>,
    open_loops: Vec<(Var, Affine)>,
    types: HashMap<Val, Scalar>,
    /// Values already computed for a key, with the block depth they were defined at (a value
    /// defined inside a loop is not visible after it).
    memo: HashMap<MemoKey, (Val, usize)>,
}

/// What a memoised value computes: a graph node at an index, or a constant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemoKey {
    Node(u32, Vec<Index>),
    Const(Scalar, u64),
    Var(Var),
    Batch,
}

impl KernelBuilder {
    pub fn new(name: impl Into<String>) -> Self {
        KernelBuilder {
            name: name.into(),
            args: Vec::new(),
            bufs: Vec::new(),
            next_var: 0,
            next_val: 0,
            next_local: 0,
            blocks: vec![Vec::new()],
            open_loops: Vec::new(),
            types: HashMap::new(),
            memo: HashMap::new(),
        }
    }

    /// The argument index of `buf`, added on first use; `written` accumulates.
    pub fn arg(&mut self, buf: BufId, ty: Scalar, len: Quadratic, written: bool) -> u32 {
        if let Some(i) = self.bufs.iter().position(|b| *b == buf) {
            self.args[i].written |= written;
            return i as u32;
        }
        self.bufs.push(buf);
        self.args.push(Arg { ty, len, written });
        (self.args.len() - 1) as u32
    }

    pub fn ty(&self, v: Val) -> Scalar {
        self.types[&v]
    }

    pub fn push(&mut self, s: Stmt) {
        self.blocks.last_mut().expect("a kernel always has its body block").push(s);
    }

    pub fn let_(&mut self, ty: Scalar, expr: Expr) -> Val {
        let dst = Val(self.next_val);
        self.next_val += 1;
        self.types.insert(dst, ty);
        self.push(Stmt::Let { dst, ty, expr });
        dst
    }

    /// A memoised value: computed once per block where it stays visible.
    pub fn memo(&mut self, key: MemoKey, make: impl FnOnce(&mut Self) -> Val) -> Val {
        if let Some(&(v, _)) = self.memo.get(&key) {
            return v;
        }
        let v = make(self);
        let depth = self.blocks.len();
        self.memo.insert(key, (v, depth));
        v
    }

    pub fn lookup(&self, key: &MemoKey) -> Option<Val> {
        self.memo.get(key).map(|(v, _)| *v)
    }

    /// Remembers `v` for `key` in the current block.
    pub fn remember(&mut self, key: MemoKey, v: Val) {
        let depth = self.blocks.len();
        self.memo.insert(key, (v, depth));
    }

    pub fn constant(&mut self, ty: Scalar, value: f64) -> Val {
        self.memo(MemoKey::Const(ty, value.to_bits()), |b| b.let_(ty, Expr::Const(ty, value)))
    }

    pub fn var_value(&mut self, v: Var) -> Val {
        self.memo(MemoKey::Var(v), |b| b.let_(Scalar::I64, Expr::Var(v)))
    }

    pub fn batch_value(&mut self) -> Val {
        self.memo(MemoKey::Batch, |b| b.let_(Scalar::I64, Expr::Batch))
    }

    /// The i64 value of an index form.
    pub fn index_value(&mut self, idx: &Index) -> Val {
        let mut acc: Option<Val> = None;
        let batch_terms: Vec<(Option<Var>, Affine)> =
            idx.terms.iter().map(|&(v, c)| (Some(v), c)).chain(std::iter::once((None, idx.offset))).collect();
        for (v, coef) in batch_terms {
            if coef == hg_abi::plan::Affine::ZERO {
                continue;
            }
            let c = self.affine_value(coef);
            let term = match v {
                Some(v) => {
                    let x = self.var_value(v);
                    if coef == Affine::ONE {
                        x
                    } else {
                        self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Mul, x, c))
                    }
                }
                None => c,
            };
            acc = Some(match acc {
                Some(a) => self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Add, a, term)),
                None => term,
            });
        }
        match acc {
            Some(a) => a,
            None => self.constant(Scalar::I64, 0.0),
        }
    }

    /// The i64 value of `b*B + c`.
    pub fn affine_value(&mut self, a: Affine) -> Val {
        let c = self.constant(Scalar::I64, a.c as f64);
        if a.b == 0 {
            return c;
        }
        let batch = self.batch_value();
        let bb = if a.b == 1 {
            batch
        } else {
            let k = self.constant(Scalar::I64, a.b as f64);
            self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Mul, batch, k))
        };
        if a.c == 0 { bb } else { self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Add, bb, c)) }
    }

    /// The i64 value of `q*B² + b*B + c` (the element count of a `[B, B]` mean).
    pub fn quadratic_value(&mut self, a: Quadratic) -> Val {
        let linear = self.affine_value(Affine { b: a.b, c: a.c });
        if a.q == 0 {
            return linear;
        }
        let batch = self.batch_value();
        let qb = self.affine_value(Affine::batch(a.q));
        let square = self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Mul, qb, batch));
        if a.b == 0 && a.c == 0 {
            square
        } else {
            self.let_(Scalar::I64, Expr::Binary(hg_ir::BinaryOp::Add, square, linear))
        }
    }

    pub fn begin_loop(&mut self, extent: Affine) -> Var {
        let var = Var(self.next_var);
        self.next_var += 1;
        self.open_loops.push((var, extent));
        self.blocks.push(Vec::new());
        var
    }

    pub fn end_loop(&mut self) {
        let body = self.blocks.pop().expect("end_loop matches begin_loop");
        let (var, extent) = self.open_loops.pop().expect("end_loop matches begin_loop");
        let depth = self.blocks.len();
        self.memo.retain(|_, (_, d)| *d <= depth);
        self.push(Stmt::Loop { var, extent, body });
    }

    pub fn local(&mut self, ty: Scalar, init: Val) -> Local {
        let local = Local(self.next_local);
        self.next_local += 1;
        self.push(Stmt::Local { local, ty, init });
        local
    }

    pub fn finish(mut self, parallel: bool) -> (Kernel, Vec<BufId>) {
        let body = self.blocks.pop().unwrap_or_default();
        let parallel = parallel && matches!(body.as_slice(), [Stmt::Loop { .. }]);
        (Kernel { name: self.name, args: self.args, body, parallel }, self.bufs)
    }
}

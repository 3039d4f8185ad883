//! Loop collapsing: `for i in 0..n { for j in 0..m { body } }` becomes one loop over `n*m`
//! when every index in the body reads `i` and `j` only as the flat position `i*m + j` (times a
//! stride) and nothing else reads the variables. Elementwise kernels over `[B, 784]` then run
//! one long contiguous loop, which is what vectorisation and splitting between threads want.

use crate::ir::{Expr, Index, Kernel, Stmt, Var};
use hg_abi::plan::Affine;

pub fn collapse(kernel: &mut Kernel) {
    collapse_block(&mut kernel.body);
}

fn collapse_block(body: &mut [Stmt]) {
    for s in body.iter_mut() {
        if let Stmt::Loop { body, .. } = s {
            collapse_block(body);
        }
        // Repeatedly merge the loop with its single inner loop.
        while try_merge(s) {}
    }
}

fn try_merge(s: &mut Stmt) -> bool {
    let Stmt::Loop { var: outer, extent: n, body } = s else { return false };
    let [Stmt::Loop { var: inner, extent: m, body: inner_body }] = body.as_mut_slice() else { return false };
    let Some(total) = n.checked_mul(*m) else { return false };
    if !mergeable(inner_body, *outer, *inner, *m) {
        return false;
    }
    let (outer, inner) = (*outer, *inner);
    let mut new_body = std::mem::take(inner_body);
    rewrite(&mut new_body, outer, inner);
    *s = Stmt::Loop { var: inner, extent: total, body: new_body };
    true
}

/// Whether every use of `outer` and `inner` is in an index with coef(outer) = m * coef(inner).
fn mergeable(body: &[Stmt], outer: Var, inner: Var, m: Affine) -> bool {
    body.iter().all(|s| match s {
        Stmt::Loop { body, .. } => mergeable(body, outer, inner, m),
        Stmt::Let { expr, .. } => match expr {
            Expr::Var(v) => *v != outer && *v != inner,
            Expr::Load { index, .. } => index_ok(index, outer, inner, m),
            _ => true,
        },
        Stmt::Store { index, .. } => index_ok(index, outer, inner, m),
        _ => true,
    })
}

fn coef(index: &Index, v: Var) -> Affine {
    index.terms.iter().find(|(w, _)| *w == v).map(|(_, c)| *c).unwrap_or(Affine::ZERO)
}

fn index_ok(index: &Index, outer: Var, inner: Var, m: Affine) -> bool {
    let (co, ci) = (coef(index, outer), coef(index, inner));
    ci.checked_mul(m) == Some(co)
}

/// Drops `outer` from every index: `inner` now runs over the whole flat range.
fn rewrite(body: &mut [Stmt], outer: Var, inner: Var) {
    let _ = inner;
    for s in body {
        match s {
            Stmt::Loop { body, .. } => rewrite(body, outer, inner),
            Stmt::Let { expr: Expr::Load { index, .. }, .. } | Stmt::Store { index, .. } => {
                index.terms.retain(|(v, _)| *v != outer);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Arg, Scalar, Val};

    fn idx(terms: &[(u32, i64)]) -> Index {
        Index { terms: terms.iter().map(|&(v, c)| (Var(v), Affine::constant(c))).collect(), offset: Affine::ZERO }
    }

    fn kernel(load: Index, store: Index) -> Kernel {
        let body = vec![Stmt::Loop {
            var: Var(0),
            extent: Affine::batch(1),
            body: vec![Stmt::Loop {
                var: Var(1),
                extent: Affine::constant(784),
                body: vec![
                    Stmt::Let { dst: Val(0), ty: Scalar::F32, expr: Expr::Load { arg: 0, index: load } },
                    Stmt::Store { arg: 1, index: store, value: Val(0) },
                ],
            }],
        }];
        let arg = Arg { ty: Scalar::F32, len: Affine::batch(784).into(), written: false };
        Kernel { name: "k".into(), args: vec![arg.clone(), Arg { written: true, ..arg }], body, parallel: true }
    }

    #[test]
    fn contiguous_nests_become_one_loop() {
        let mut k = kernel(idx(&[(0, 784), (1, 1)]), idx(&[(0, 784), (1, 1)]));
        collapse(&mut k);
        let Stmt::Loop { extent, body, .. } = &k.body[0] else { panic!("a loop") };
        assert_eq!(*extent, Affine::batch(784));
        assert!(matches!(&body[0], Stmt::Let { expr: Expr::Load { index, .. }, .. } if *index == idx(&[(1, 1)])));
    }

    #[test]
    fn broadcasts_and_transposes_stay_nested() {
        // A bias read by column (stride 0 on the row) does not flatten.
        let mut k = kernel(idx(&[(1, 1)]), idx(&[(0, 784), (1, 1)]));
        collapse(&mut k);
        let Stmt::Loop { extent, .. } = &k.body[0] else { panic!("a loop") };
        assert_eq!(*extent, Affine::batch(1));
    }
}

//! The products of top-k codes: a row-sparse `S` (`rows x n`, row `r` holding `v[r, j]` at
//! column `idx[r, j]`) times a dense matrix, and the entries of a dense product a gather reads.
//! Accumulation is in f32, in index order.

use hg_abi::plan::{LibCall, MatStrides, SparseForm};

use crate::CodegenError;
use crate::kernel::Emitter;

/// Element `(r, c)` of a strided matrix argument `k`.
fn at(e: &mut Emitter, k: usize, s: &MatStrides, r: &str, c: &str) -> Result<String, CodegenError> {
    let (row, col) = (e.size(s.row), e.size(s.col));
    let a = e.mul(r, &row);
    let b = e.mul(c, &col);
    let p = e.add(&a, &b);
    e.load(k, &p)
}

/// Work item `i` of a sparse or sampled product: args (idx, v, d, y) or (idx, a, b, y).
pub(super) fn item(e: &mut Emitter, call: &LibCall, i: &str) -> Result<(), CodegenError> {
    match *call {
        // y[r, c] = Σ_j v[r, j] d[idx[r, j], c]: item i is y[r, c].
        LibCall::SparseMatMul { form: SparseForm::GatherRows, nnz, n, cols, d, .. } => {
            let (n, cols, nnz) = (e.size(n), e.size(cols), e.c64(nnz));
            let r = e.div(i, &cols);
            let c = e.rem(i, &cols);
            let zero = e.f32_const(0.0);
            let rn = e.mul(&r, &nnz);
            let sum = e.for_n(&nnz, vec![(zero.clone(), "f32")], |e, j, acc| {
                let p = e.add(&rn, j);
                let t = e.load(0, &p)?;
                let ok = e.in_range(&t, &n);
                let acc = acc[0].clone();
                e.if_else(
                    &ok,
                    &["f32"],
                    |e| {
                        let w = e.load(1, &p)?;
                        let x = at(e, 2, &d, &t, &c)?;
                        let wx = e.arith("mulf", &w, &x, "f32");
                        Ok(vec![e.arith("addf", &acc, &wx, "f32")])
                    },
                    |e| {
                        e.flag(&p);
                        Ok(vec![acc.clone()])
                    },
                )
            })?;
            e.store(3, i, &sum[0])
        }
        // Item c owns column c of y (y = Sᵀ d: y[idx[r, j], c] += v[r, j] d[r, c]; y = d S:
        // y[c, idx[r, j]] += d[c, r] v[r, j]): it zeroes its column, then adds in (r, j) order.
        LibCall::SparseMatMul { form, rows, nnz, n, cols, d } => {
            let (rows, n, cols, nnz) = (e.size(rows), e.size(n), e.size(cols), e.c64(nnz));
            let rows_form = form == SparseForm::ScatterRows;
            // Position of y[t, c] (ScatterRows: n x cols) or y[c, t] (ScatterCols: cols x n).
            let target = |e: &mut Emitter, t: &str| {
                if rows_form {
                    let a = e.mul(t, &cols);
                    e.add(&a, i)
                } else {
                    let a = e.mul(i, &n);
                    e.add(&a, t)
                }
            };
            let zero = e.f32_const(0.0);
            e.for_n(&n, Vec::new(), |e, t, _| {
                let p = target(e, t);
                e.store(3, &p, &zero)?;
                Ok(Vec::new())
            })?;
            e.for_n(&rows, Vec::new(), |e, r, _| {
                let rn = e.mul(r, &nnz);
                e.for_n(&nnz, Vec::new(), |e, j, _| {
                    let p = e.add(&rn, j);
                    let t = e.load(0, &p)?;
                    let ok = e.in_range(&t, &n);
                    e.if_else(
                        &ok,
                        &[],
                        |e| {
                            let w = e.load(1, &p)?;
                            let x = if rows_form { at(e, 2, &d, r, i)? } else { at(e, 2, &d, i, r)? };
                            let q = target(e, &t);
                            let y = e.load(3, &q)?;
                            let wx =
                                if rows_form { e.arith("mulf", &w, &x, "f32") } else { e.arith("mulf", &x, &w, "f32") };
                            let y = e.arith("addf", &y, &wx, "f32");
                            e.store(3, &q, &y)?;
                            Ok(Vec::new())
                        },
                        |e| {
                            e.flag(&p);
                            Ok(Vec::new())
                        },
                    )?;
                    Ok(Vec::new())
                })?;
                Ok(Vec::new())
            })?;
            Ok(())
        }
        // y[r, j] = Σ_q a[r, q] b[q, idx[r, j]]: item i is y[r, j].
        LibCall::SampledMatMul { nnz, n, inner, a, b, .. } => {
            let (n, inner, nnz) = (e.size(n), e.size(inner), e.c64(nnz));
            let r = e.div(i, &nnz);
            let t = e.load(0, i)?;
            let ok = e.in_range(&t, &n);
            let zero = e.f32_const(0.0);
            let value = e.if_else(
                &ok,
                &["f32"],
                |e| {
                    e.for_n(&inner, vec![(zero.clone(), "f32")], |e, q, acc| {
                        let x = at(e, 1, &a, &r, q)?;
                        let y = at(e, 2, &b, q, &t)?;
                        let xy = e.arith("mulf", &x, &y, "f32");
                        Ok(vec![e.arith("addf", &acc[0], &xy, "f32")])
                    })
                },
                |e| {
                    e.flag(i);
                    Ok(vec![zero.clone()])
                },
            )?;
            e.store(3, i, &value[0])
        }
        _ => Err(e.unsupported("is not a sparse or sampled product".into())),
    }
}

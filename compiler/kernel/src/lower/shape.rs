//! Shapes and strides of the graph IR as affine functions of the batch `B`, and the linear index
//! forms loads and stores are built from.

use super::LowerError;
use crate::ir::{Index, Var};
use hg_abi::plan::Affine;
use hg_ir::Dim;

/// A graph dimension as `b*B + c`; anything else (another symbol, `B²`) is refused.
pub fn affine(d: &Dim) -> Result<Affine, LowerError> {
    if let Some(c) = d.as_const() {
        return Ok(Affine::constant(c));
    }
    // `k*B + c`: subtract the constant part and check the rest is a multiple of B.
    let c = d.eval_batch(0).ok_or_else(|| LowerError::NotAffine(d.to_string()))?;
    let one = d.eval_batch(1).ok_or_else(|| LowerError::NotAffine(d.to_string()))?;
    let a = Affine { b: one - c, c };
    let check = d.eval_batch(7).ok_or_else(|| LowerError::NotAffine(d.to_string()))?;
    if a.eval(7) != Some(check) || d.symbols().iter().any(|s| s != "B") {
        return Err(LowerError::NotAffine(d.to_string()));
    }
    Ok(a)
}

pub fn shape(dims: &[Dim]) -> Result<Vec<Affine>, LowerError> {
    dims.iter().map(affine).collect()
}

/// `a * b`: refused as not affine when both grow with `B` (a `[B, B]` tensor, such as the
/// kernel matrix of an MMD between two batches), as an overflow otherwise.
pub fn mul(a: Affine, b: Affine) -> Result<Affine, LowerError> {
    if a.b != 0 && b.b != 0 {
        return Err(LowerError::NotAffine(format!("({a})*({b})")));
    }
    a.checked_mul(b).ok_or(LowerError::Overflow)
}

/// Product of a shape (its element count).
pub fn numel(shape: &[Affine]) -> Result<Affine, LowerError> {
    shape.iter().try_fold(Affine::ONE, |acc, d| mul(acc, *d))
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn row_major(shape: &[Affine]) -> Result<Vec<Affine>, LowerError> {
    let mut strides = vec![Affine::ONE; shape.len()];
    let mut acc = Affine::ONE;
    for k in (0..shape.len()).rev() {
        strides[k] = acc;
        acc = mul(acc, shape[k])?;
    }
    Ok(strides)
}

/// Whether an axis has size one for every batch size.
pub fn is_unit(d: Affine) -> bool {
    d == Affine::ONE
}

/// A linear index form: `Σ var·coef + offset`.
pub fn var(v: Var) -> Index {
    Index { terms: vec![(v, Affine::ONE)], offset: Affine::ZERO }
}

pub fn constant(c: Affine) -> Index {
    Index::constant(c)
}

/// `a + b`.
pub fn add(a: &Index, b: &Index) -> Result<Index, LowerError> {
    let mut terms = a.terms.clone();
    for &(v, c) in &b.terms {
        match terms.iter_mut().find(|(w, _)| *w == v) {
            Some((_, k)) => *k = k.checked_add(c).ok_or(LowerError::Overflow)?,
            None => terms.push((v, c)),
        }
    }
    terms.retain(|(_, c)| *c != Affine::ZERO);
    Ok(Index { terms, offset: a.offset.checked_add(b.offset).ok_or(LowerError::Overflow)? })
}

/// `a * k` for an affine factor (refused when the result would not be affine in `B`).
pub fn scale(a: &Index, k: Affine) -> Result<Index, LowerError> {
    let mul = |c: Affine| c.checked_mul(k).ok_or_else(|| LowerError::NotAffine(format!("({c})*({k})")));
    let mut terms = Vec::with_capacity(a.terms.len());
    for &(v, c) in &a.terms {
        let p = mul(c)?;
        if p != Affine::ZERO {
            terms.push((v, p));
        }
    }
    Ok(Index { terms, offset: mul(a.offset)? })
}

/// The flat element index of a multi-index under `strides` and a base `offset`.
pub fn flatten(idx: &[Index], strides: &[Affine], offset: Affine) -> Result<Index, LowerError> {
    let mut out = constant(offset);
    for (i, s) in idx.iter().zip(strides) {
        out = add(&out, &scale(i, *s)?)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_become_affine_in_the_batch() {
        let b = Dim::batch();
        let d = b.checked_mul(&Dim::constant(3)).unwrap().checked_add(&Dim::constant(2)).unwrap();
        assert_eq!(affine(&d).unwrap(), Affine { b: 3, c: 2 });
        assert_eq!(affine(&Dim::constant(5)).unwrap(), Affine::constant(5));
        assert!(affine(&b.checked_mul(&b).unwrap()).is_err());
        assert!(affine(&Dim::sym("N")).is_err());
    }

    #[test]
    fn strides_and_flat_indices() {
        let s = row_major(&[Affine::batch(1), Affine::constant(4), Affine::constant(3)]).unwrap();
        assert_eq!(s, vec![Affine::constant(12), Affine::constant(3), Affine::ONE]);
        let idx = [var(Var(0)), var(Var(1)), constant(Affine::constant(2))];
        let flat = flatten(&idx, &s, Affine::constant(1)).unwrap();
        assert_eq!(flat.terms, vec![(Var(0), Affine::constant(12)), (Var(1), Affine::constant(3))]);
        assert_eq!(flat.offset, Affine::constant(3));
    }

    #[test]
    fn a_batch_by_batch_tensor_is_not_affine_not_an_overflow() {
        let b = Affine::batch(1);
        let e = numel(&[b, Affine::constant(4), b]).unwrap_err();
        assert_eq!(e, LowerError::NotAffine("(4*B)*(B)".into()));
        assert!(e.to_string().contains("`[B, B]` tensor"), "{e}");
        assert!(row_major(&[b, b]).is_err());
        assert_eq!(mul(Affine::constant(i64::MAX), Affine::constant(2)), Err(LowerError::Overflow));
        assert_eq!(mul(b, Affine::constant(3)), Ok(Affine::batch(3)));
    }
}

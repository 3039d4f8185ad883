//! Shapes and strides of the graph IR as affine functions of the batch `B`, element counts as
//! quadratic ones (a `[B, B]` tensor), and the linear index forms loads and stores are built from.

use super::LowerError;
use crate::ir::{Index, Var};
use hg_abi::plan::{Affine, Quadratic};
use hg_ir::Dim;

/// A graph dimension as `b*B + c`; anything else (another symbol, `B²`) is refused.
pub fn affine(d: &Dim) -> Result<Affine, LowerError> {
    quadratic(d)?.as_affine().ok_or_else(|| LowerError::NotAffine(d.to_string()))
}

/// A graph dimension as `q*B² + b*B + c` (the element count of a `[B, B]` tensor, which the
/// gradient of its mean divides by); anything else is refused.
pub fn quadratic(d: &Dim) -> Result<Quadratic, LowerError> {
    if let Some(c) = d.as_const() {
        return Ok(Quadratic::constant(c));
    }
    let refuse = || LowerError::NotAffine(d.to_string());
    let at = |b: usize| d.eval_batch(b).ok_or_else(refuse);
    let (p0, p1, p2) = (at(0)?, at(1)?, at(2)?);
    // p(B) = q*B² + b*B + c through p(0), p(1), p(2).
    let second = p1.checked_mul(2).and_then(|t| p2.checked_sub(t)).and_then(|x| x.checked_add(p0));
    let second = second.ok_or(LowerError::Overflow)?;
    if second % 2 != 0 || d.symbols().iter().any(|s| s != "B") {
        return Err(refuse());
    }
    let q = second / 2;
    let b = p1.checked_sub(p0).and_then(|x| x.checked_sub(q)).ok_or(LowerError::Overflow)?;
    let a = Quadratic { q, b, c: p0 };
    if a.eval(7) != Some(at(7)?) || a.eval(1000) != d.eval_batch(1000) {
        return Err(refuse());
    }
    Ok(a)
}

pub fn shape(dims: &[Dim]) -> Result<Vec<Affine>, LowerError> {
    dims.iter().map(affine).collect()
}

/// `a * b`: refused as not affine when both grow with `B` (a stride or extent of `B²`), as an
/// overflow otherwise.
pub fn mul(a: Affine, b: Affine) -> Result<Affine, LowerError> {
    if a.b != 0 && b.b != 0 {
        return Err(LowerError::NotAffine(format!("({a})*({b})")));
    }
    a.checked_mul(b).ok_or(LowerError::Overflow)
}

/// Product of a shape (its element count): quadratic in `B` for a `[B, B]` tensor, refused
/// beyond.
pub fn numel(shape: &[Affine]) -> Result<Quadratic, LowerError> {
    shape.iter().try_fold(Quadratic::constant(1), |acc, d| {
        if acc.q != 0 && d.b != 0 {
            return Err(LowerError::NotAffine(format!("({acc})*({d})")));
        }
        acc.checked_mul(*d).ok_or(LowerError::Overflow)
    })
}

/// Product of a shape where it must be affine (a loop extent, a library call's size).
pub fn numel_affine(shape: &[Affine]) -> Result<Affine, LowerError> {
    shape.iter().try_fold(Affine::ONE, |acc, d| mul(acc, *d))
}

/// Row-major strides of a contiguous tensor of `shape`: every stride must be affine, so a
/// `[B, B, 4]` tensor has strides `[4*B, 4, 1]` while `[B, B, B]` is refused.
pub fn row_major(shape: &[Affine]) -> Result<Vec<Affine>, LowerError> {
    let mut strides = vec![Affine::ONE; shape.len()];
    let mut acc = Affine::ONE;
    for k in (1..shape.len()).rev() {
        acc = mul(acc, shape[k])?;
        strides[k - 1] = acc;
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
        let square = b.checked_mul(&b).unwrap().checked_mul(&Dim::constant(3)).unwrap();
        assert_eq!(quadratic(&square.checked_add(&d).unwrap()).unwrap(), Quadratic { q: 3, b: 3, c: 2 });
        assert_eq!(quadratic(&d).unwrap(), Quadratic { q: 0, b: 3, c: 2 });
        assert!(quadratic(&square.checked_mul(&b).unwrap()).is_err());
        assert!(quadratic(&Dim::sym("N")).is_err());
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
    fn a_batch_by_batch_tensor_has_quadratic_length_and_affine_strides() {
        let b = Affine::batch(1);
        assert_eq!(numel(&[b, Affine::constant(4), b]), Ok(Quadratic { q: 4, b: 0, c: 0 }));
        assert_eq!(row_major(&[b, Affine::constant(4), b]).unwrap(), vec![Affine::batch(4), b, Affine::ONE]);
        let e = numel(&[b, b, b]).unwrap_err();
        assert_eq!(e, LowerError::NotAffine("(B^2)*(B)".into()));
        assert!(e.to_string().contains("up to `B²` elements"), "{e}");
        assert!(row_major(&[b, b, b]).is_err());
        assert!(numel_affine(&[b, b]).is_err());
        assert_eq!(mul(Affine::constant(i64::MAX), Affine::constant(2)), Err(LowerError::Overflow));
        assert_eq!(mul(b, Affine::constant(3)), Ok(Affine::batch(3)));
    }
}

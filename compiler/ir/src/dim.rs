//! Symbolic dimensions: integer polynomials over named symbols.
//!
//! The only symbol that survives into a model's entry points is the batch `B`; inside a `fn`
//! body other names (`I`, `D`) are bound at each call. A [`Dim`] is kept in a normal form (a sum
//! of monomials with non-zero integer coefficients, monomials sorted), so two dimensions are
//! equal exactly when their normal forms are, and `H / 2` is accepted only when the division is
//! exact for every value of the symbols.

use std::collections::BTreeMap;
use std::fmt;

/// A dimension symbol (`B`).
pub type Sym = String;

/// A polynomial in symbols with integer coefficients, in normal form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Dim {
    /// Monomial (sorted symbol list, with repetition for powers) → coefficient (never 0).
    terms: BTreeMap<Vec<Sym>, i64>,
}

impl Dim {
    pub fn constant(n: i64) -> Dim {
        let mut terms = BTreeMap::new();
        if n != 0 {
            terms.insert(Vec::new(), n);
        }
        Dim { terms }
    }

    pub fn sym(name: &str) -> Dim {
        let mut terms = BTreeMap::new();
        terms.insert(vec![name.to_string()], 1);
        Dim { terms }
    }

    /// The batch symbol `B`.
    pub fn batch() -> Dim {
        Dim::sym("B")
    }

    /// `Some(n)` when the dimension does not depend on any symbol.
    pub fn as_const(&self) -> Option<i64> {
        match self.terms.len() {
            0 => Some(0),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }

    pub fn is_const(&self) -> bool {
        self.as_const().is_some()
    }

    /// `Some(k)` when the dimension is `k * B` (k ≥ 1).
    pub fn as_batch_multiple(&self) -> Option<i64> {
        if self.terms.len() != 1 {
            return None;
        }
        self.terms.get(&vec!["B".to_string()]).copied().filter(|&k| k > 0)
    }

    /// Symbols this dimension mentions.
    pub fn symbols(&self) -> Vec<Sym> {
        let mut out: Vec<Sym> = self.terms.keys().flatten().cloned().collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn checked_add(&self, other: &Dim) -> Option<Dim> {
        let mut terms = self.terms.clone();
        for (m, c) in &other.terms {
            let e = terms.entry(m.clone()).or_insert(0);
            *e = e.checked_add(*c)?;
            if *e == 0 {
                terms.remove(m);
            }
        }
        Some(Dim { terms })
    }

    pub fn checked_neg(&self) -> Option<Dim> {
        let mut terms = BTreeMap::new();
        for (m, c) in &self.terms {
            terms.insert(m.clone(), c.checked_neg()?);
        }
        Some(Dim { terms })
    }

    pub fn checked_sub(&self, other: &Dim) -> Option<Dim> {
        self.checked_add(&other.checked_neg()?)
    }

    pub fn checked_mul(&self, other: &Dim) -> Option<Dim> {
        let mut out = Dim::default();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                let mut m: Vec<Sym> = ma.iter().chain(mb.iter()).cloned().collect();
                m.sort();
                let mut single = BTreeMap::new();
                single.insert(m, ca.checked_mul(*cb)?);
                out = out.checked_add(&Dim { terms: single })?;
            }
        }
        Some(out)
    }

    /// Exact division: `Some(q)` only when `self == q * other` for every value of the symbols.
    /// Supports division by a constant, and by a single monomial that divides every term.
    pub fn div_exact(&self, other: &Dim) -> Option<Dim> {
        if other.terms.len() != 1 {
            return if self == other { Some(Dim::constant(1)) } else { None };
        }
        let (dm, dc) = other.terms.iter().next()?;
        if *dc == 0 {
            return None;
        }
        let mut terms = BTreeMap::new();
        for (m, c) in &self.terms {
            if c % dc != 0 {
                return None;
            }
            let mut rest = m.clone();
            for s in dm {
                let pos = rest.iter().position(|x| x == s)?;
                rest.remove(pos);
            }
            terms.insert(rest, c / dc);
        }
        Some(Dim { terms })
    }

    /// Substitutes symbols by dimensions (missing symbols stay symbolic).
    pub fn substitute(&self, bindings: &BTreeMap<Sym, Dim>) -> Option<Dim> {
        let mut out = Dim::default();
        for (m, c) in &self.terms {
            let mut term = Dim::constant(*c);
            for s in m {
                let factor = bindings.get(s).cloned().unwrap_or_else(|| Dim::sym(s));
                term = term.checked_mul(&factor)?;
            }
            out = out.checked_add(&term)?;
        }
        Some(out)
    }

    /// Value for concrete symbol values; `None` if a symbol is unbound or on overflow.
    pub fn eval(&self, values: &BTreeMap<Sym, i64>) -> Option<i64> {
        let mut total: i64 = 0;
        for (m, c) in &self.terms {
            let mut term = *c;
            for s in m {
                term = term.checked_mul(*values.get(s)?)?;
            }
            total = total.checked_add(term)?;
        }
        Some(total)
    }

    /// Value given only the batch size.
    pub fn eval_batch(&self, batch: usize) -> Option<i64> {
        let mut v = BTreeMap::new();
        v.insert("B".to_string(), i64::try_from(batch).ok()?);
        self.eval(&v)
    }
}

impl From<i64> for Dim {
    fn from(n: i64) -> Dim {
        Dim::constant(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return f.write_str("0");
        }
        // Highest-degree terms first, the constant last: `2*B + 1`.
        let mut terms: Vec<(&Vec<Sym>, &i64)> = self.terms.iter().collect();
        terms.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        for (i, &(m, &c)) in terms.iter().enumerate() {
            let neg = c < 0;
            let mag = c.unsigned_abs();
            if i == 0 {
                if neg {
                    f.write_str("-")?;
                }
            } else {
                f.write_str(if neg { " - " } else { " + " })?;
            }
            if m.is_empty() {
                write!(f, "{mag}")?;
            } else {
                if mag != 1 {
                    write!(f, "{mag}*")?;
                }
                f.write_str(&m.join("*"))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form_makes_equal_dims_equal() {
        let b = Dim::batch();
        let two_b = b.checked_add(&b).unwrap();
        assert_eq!(two_b, Dim::constant(2).checked_mul(&b).unwrap());
        assert_eq!(two_b.to_string(), "2*B");
        assert_eq!(b.checked_sub(&b).unwrap(), Dim::constant(0));
        let e = b.checked_mul(&Dim::constant(49)).unwrap().checked_add(&Dim::constant(1)).unwrap();
        assert_eq!(e.to_string(), "49*B + 1");
    }

    #[test]
    fn division_is_exact_or_refused() {
        let b = Dim::batch();
        let x = b.checked_mul(&Dim::constant(6)).unwrap();
        assert_eq!(x.div_exact(&Dim::constant(3)).unwrap().to_string(), "2*B");
        assert_eq!(x.div_exact(&b).unwrap(), Dim::constant(6));
        assert!(x.div_exact(&Dim::constant(4)).is_none());
        assert!(b.div_exact(&Dim::constant(2)).is_none());
        assert_eq!(Dim::constant(28).div_exact(&Dim::constant(2)), Some(Dim::constant(14)));
    }

    #[test]
    fn eval_and_substitute() {
        let d = Dim::sym("H").checked_mul(&Dim::sym("W")).unwrap();
        let mut bind = BTreeMap::new();
        bind.insert("H".to_string(), Dim::constant(7));
        bind.insert("W".to_string(), Dim::batch());
        assert_eq!(d.substitute(&bind).unwrap().to_string(), "7*B");
        assert_eq!(d.substitute(&bind).unwrap().eval_batch(3), Some(21));
        assert_eq!(Dim::constant(i64::MAX).checked_add(&Dim::constant(1)), None);
    }
}

//! Randomness: the `random_normal`, `random_uniform` and `bernoulli` ops. Everything draws
//! from the shared Philox stream (`hg_exec::philox`): element `i` of a result, in row-major
//! order, is element `offset + i` of the draw site `{seed, step, site}`, so every backend
//! produces the same numbers. Parameter initialisation is the runtime's (`hg_exec::init`).

use super::buf::{Buf, KernelResult};
use hg_exec::philox::DrawSite;

/// A draw of `shape` from `site`, starting at stream element `start` (the op's offset operand).
pub type Draw = (DrawSite, u64);

pub fn random_normal(shape: &[usize], (site, start): Draw) -> KernelResult {
    let mut out = Buf::try_zeros(shape)?;
    site.fill_normal(start, &mut out.data);
    Ok(out)
}

pub fn random_uniform(shape: &[usize], (site, start): Draw, lo: f64, hi: f64) -> KernelResult {
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(format!("bounds [{lo}, {hi}) must be finite with lo <= hi"));
    }
    let mut out = Buf::try_zeros(shape)?;
    site.fill_uniform(start, &mut out.data);
    out.data.iter_mut().for_each(|u| *u = lo + (hi - lo) * *u);
    Ok(out)
}

pub fn bernoulli(shape: &[usize], (site, start): Draw, p: f64) -> KernelResult {
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("probability {p} is not in [0, 1]"));
    }
    let mut out = Buf::try_zeros(shape)?;
    site.fill_bernoulli(start, &mut out.data, p);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ops_follow_the_stream() {
        let s = DrawSite { seed: 3, step: 5, site: 2 };
        for start in [0u64, 3, 5, 1 << 40] {
            let n = random_normal(&[2, 3], (s, start)).unwrap();
            assert_eq!(n.shape, vec![2, 3]);
            for (i, &v) in n.data.iter().enumerate() {
                assert_eq!(v, s.normal(start + i as u64));
            }
            let u = random_uniform(&[7], (s, start), -2.0, 2.0).unwrap();
            for (i, &v) in u.data.iter().enumerate() {
                assert_eq!(v, -2.0 + 4.0 * s.uniform01(start + i as u64));
                assert!((-2.0..2.0).contains(&v));
            }
            let b = bernoulli(&[100], (s, start), 0.3).unwrap();
            for (i, &v) in b.data.iter().enumerate() {
                assert_eq!(v, if s.uniform01(start + i as u64) < 0.3 { 1.0 } else { 0.0 });
            }
        }
        // A draw split in two at any element gives the numbers of the whole draw.
        let whole = random_normal(&[9], (s, 0)).unwrap();
        let tail = random_normal(&[4], (s, 5)).unwrap();
        assert_eq!(&whole.data[5..], &tail.data[..]);
        assert!(bernoulli(&[1], (s, 0), 1.5).is_err());
        assert!(random_uniform(&[1], (s, 0), 1.0, 0.0).is_err());
    }
}

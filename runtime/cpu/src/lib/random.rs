//! Random fills from the shared Philox stream (`hg_exec::philox`), bit-identical to the
//! interpreter's random ops: element `i` of the result is element `offset + i` of draw site
//! `{seed, step, site}`, computed in f64 and rounded to f32 once.

use crate::error::{CpuError, bail};
use hg_abi::plan::RandomKind;
use hg_exec::philox::DrawSite;

/// Checks a distribution's parameters as the interpreter does.
pub fn check_kind(kind: RandomKind) -> Result<(), CpuError> {
    match kind {
        RandomKind::Normal => Ok(()),
        RandomKind::Uniform { lo, hi } if lo.is_finite() && hi.is_finite() && lo <= hi => Ok(()),
        RandomKind::Uniform { lo, hi } => bail!("random: bounds [{lo}, {hi}) must be finite with lo <= hi"),
        RandomKind::Bernoulli { p } if (0.0..=1.0).contains(&p) => Ok(()),
        RandomKind::Bernoulli { p } => bail!("random: probability {p} is not in [0, 1]"),
    }
}

/// `y[i]` = element `offset + i` of site `{seed, step, site}` in `kind`'s distribution. The
/// i64 operands are taken as the u64 of the same bits.
pub fn fill(kind: RandomKind, site: u32, seed: i64, step: i64, offset: i64, y: &mut [f32]) -> Result<(), CpuError> {
    check_kind(kind)?;
    let draw = DrawSite::new(seed as u64, step as u64, site);
    let mut buf = [0.0f64; 256];
    let mut start = offset as u64;
    for out in y.chunks_mut(buf.len()) {
        let vals = &mut buf[..out.len()];
        match kind {
            RandomKind::Normal => draw.fill_normal(start, vals),
            RandomKind::Uniform { lo, hi } => {
                draw.fill_uniform(start, vals);
                vals.iter_mut().for_each(|u| *u = lo + (hi - lo) * *u);
            }
            RandomKind::Bernoulli { p } => draw.fill_bernoulli(start, vals, p),
        }
        for (o, &v) in out.iter_mut().zip(vals.iter()) {
            *o = v as f32;
        }
        start = start.wrapping_add(out.len() as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_are_the_interpreters_numbers() {
        let s = DrawSite::new(u64::MAX - 3, 5, 2);
        for offset in [0i64, 3, 1 << 40] {
            let mut y = vec![0.0f32; 601];
            fill(RandomKind::Normal, 2, -4, 5, offset, &mut y).unwrap();
            for (i, &v) in y.iter().enumerate() {
                assert_eq!(v, s.normal(offset as u64 + i as u64) as f32);
            }
            fill(RandomKind::Uniform { lo: -2.0, hi: 0.5 }, 2, -4, 5, offset, &mut y).unwrap();
            for (i, &v) in y.iter().enumerate() {
                assert_eq!(v, (-2.0 + 2.5 * s.uniform01(offset as u64 + i as u64)) as f32);
            }
            fill(RandomKind::Bernoulli { p: 0.3 }, 2, -4, 5, offset, &mut y).unwrap();
            for (i, &v) in y.iter().enumerate() {
                assert_eq!(v, s.bernoulli(offset as u64 + i as u64, 0.3) as f32);
            }
        }
        // A fill split in two gives the numbers of the whole.
        let mut whole = vec![0.0; 9];
        let mut tail = vec![0.0; 4];
        fill(RandomKind::Normal, 1, 1, 1, 0, &mut whole).unwrap();
        fill(RandomKind::Normal, 1, 1, 1, 5, &mut tail).unwrap();
        assert_eq!(&whole[5..], &tail[..]);
        assert!(fill(RandomKind::Bernoulli { p: 1.5 }, 0, 0, 0, 0, &mut tail).is_err());
        assert!(fill(RandomKind::Uniform { lo: 1.0, hi: 0.0 }, 0, 0, 0, 0, &mut tail).is_err());
        assert!(fill(RandomKind::Uniform { lo: 0.0, hi: f64::INFINITY }, 0, 0, 0, 0, &mut tail).is_err());
    }
}

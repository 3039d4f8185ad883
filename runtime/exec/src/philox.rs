//! The counter-based random number generator every backend shares: Philox 4x32-10 (Salmon,
//! Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//!
//! # The canonical stream
//!
//! A *draw site* is one random op of a model in one call, keyed by `(seed: u64, step: u64,
//! site: u32)`: `seed` is the run's seed, `step` the optimizer step (or epoch, for shuffling),
//! and `site` a number the compiler gives each random op. Element `i: u64` of the draw takes
//! its 32 random bits from one Philox block:
//!
//! ```text
//! key     = [seed lo32, seed hi32]
//! counter = [block lo32, block hi32, site, step lo32]    where block = i / 4
//! bits(i) = philox4x32_10(counter, key)[i % 4]
//! ```
//!
//! and turns them into numbers, always computing in f64 (f32 outputs round the f64 result):
//!
//! - `uniform01(i) = (bits(i) >> 8) * 2^-24`, in `[0, 1)` (24 bits, so it is exact in f32)
//! - `uniform(i, lo, hi) = lo + (hi - lo) * uniform01(i)`
//! - `normal(i)`: Box-Muller on `u1 = ((bits(2i) >> 8) + 1) * 2^-24` in `(0, 1]` and
//!   `u2 = (bits(2i+1) >> 8) * 2^-24`: `sqrt(-2 ln u1) * cos(2π u2)` (the sine half is unused,
//!   so element `i` depends on nothing but `i`)
//! - `bernoulli(i, p) = 1.0 if uniform01(i) < p else 0.0`
//!
//! **Invariants**: element `i` of a draw depends only on `(seed, step, site, i)`, never on how
//! many elements are drawn, the batch size of other draws, threads or the backend; only the low
//! 32 bits of `step` take part (steps repeat after 2^32); `normal(i)` needs `i < 2^63`. Site
//! numbers from [`RUNTIME_SITES`] upwards are reserved for the runtime itself ([`SHUFFLE_SITE`],
//! [`SHAPES_SITE`]), so they never collide with a model's random ops.

/// Round multipliers and key increments of Philox 4x32 from the paper.
pub const M0: u32 = 0xD251_1F53;
pub const M1: u32 = 0xCD9E_8D57;
pub const W0: u32 = 0x9E37_79B9;
pub const W1: u32 = 0xBB67_AE85;

/// The first site number reserved for the runtime; compilers number random ops below it.
pub const RUNTIME_SITES: u32 = 0xFFFF_FF00;
/// Site of the per-epoch data shuffle ([`ShuffleRng`]), with `step` = epoch.
pub const SHUFFLE_SITE: u32 = RUNTIME_SITES;
/// Site of the `shapes` scene generator, with `step` = example index.
pub const SHAPES_SITE: u32 = RUNTIME_SITES + 1;

/// 2^-24: the spacing of the 24-bit uniform grid.
const UNIT: f64 = 1.0 / (1u64 << 24) as f64;

/// One Philox 4x32 block with 10 rounds.
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The 24-bit uniform in `[0, 1)` made from 32 random bits.
fn unit_from_bits(bits: u32) -> f64 {
    f64::from(bits >> 8) * UNIT
}

/// Box-Muller (cosine half) from two 32-bit draws.
fn normal_from_bits(b1: u32, b2: u32) -> f64 {
    let u1 = f64::from((b1 >> 8) + 1) * UNIT;
    let u2 = f64::from(b2 >> 8) * UNIT;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// One random op in one call: the key of a draw in the canonical stream (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DrawSite {
    pub seed: u64,
    pub step: u64,
    pub site: u32,
}

impl DrawSite {
    pub fn new(seed: u64, step: u64, site: u32) -> DrawSite {
        DrawSite { seed, step, site }
    }

    /// The four words of Philox block `block` of this draw (elements `4*block .. 4*block+4`).
    pub fn block(&self, block: u64) -> [u32; 4] {
        let ctr = [block as u32, (block >> 32) as u32, self.site, self.step as u32];
        let key = [self.seed as u32, (self.seed >> 32) as u32];
        philox4x32_10(ctr, key)
    }

    /// The 32 random bits of element `i`.
    pub fn bits(&self, i: u64) -> u32 {
        self.block(i / 4)[(i % 4) as usize]
    }

    /// Element `i` uniform in `[0, 1)`.
    pub fn uniform01(&self, i: u64) -> f64 {
        unit_from_bits(self.bits(i))
    }

    /// Element `i` uniform in `[lo, hi)`.
    pub fn uniform(&self, i: u64, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform01(i)
    }

    /// Element `i` standard normal (uses bits `2i` and `2i+1`).
    pub fn normal(&self, i: u64) -> f64 {
        let words = self.block(i / 2);
        let lane = (i % 2) as usize * 2;
        normal_from_bits(words[lane], words[lane + 1])
    }

    /// Element `i` of a Bernoulli(p) draw as 1.0 or 0.0.
    pub fn bernoulli(&self, i: u64, p: f64) -> f64 {
        if self.uniform01(i) < p { 1.0 } else { 0.0 }
    }

    /// `out[j] = uniform01(start + j)`, one Philox block per four elements.
    pub fn fill_uniform(&self, start: u64, out: &mut [f64]) {
        self.fill_words(start, 4, out, |words, lane| unit_from_bits(words[lane]));
    }

    /// `out[j] = normal(start + j)`, one Philox block per two elements.
    pub fn fill_normal(&self, start: u64, out: &mut [f64]) {
        self.fill_words(start, 2, out, |w, lane| normal_from_bits(w[2 * lane], w[2 * lane + 1]));
    }

    /// `out[j] = bernoulli(start + j, p)`.
    pub fn fill_bernoulli(&self, start: u64, out: &mut [f64], p: f64) {
        self.fill_uniform(start, out);
        for o in out {
            *o = if *o < p { 1.0 } else { 0.0 };
        }
    }

    /// Fills `out[j]` from element `start + j`, where block `b` holds elements
    /// `per_block * b ..` and `value(words, lane)` turns a block into its `lane`-th element.
    fn fill_words(&self, start: u64, per_block: u64, out: &mut [f64], value: impl Fn(&[u32; 4], usize) -> f64) {
        let mut cached: Option<(u64, [u32; 4])> = None;
        for (j, o) in out.iter_mut().enumerate() {
            let e = start.wrapping_add(j as u64);
            let block = e / per_block;
            let words = match cached {
                Some((b, w)) if b == block => w,
                _ => {
                    let w = self.block(block);
                    cached = Some((block, w));
                    w
                }
            };
            *o = value(&words, (e % per_block) as usize);
        }
    }
}

/// A sequential generator over one draw site, for host-side randomness that is not part of a
/// model (data shuffling, synthetic data): it hands out elements 0, 1, 2, ... of the site.
#[derive(Clone, Debug)]
pub struct ShuffleRng {
    site: DrawSite,
    next: u64,
}

impl ShuffleRng {
    /// The shuffle stream of one epoch.
    pub fn new(seed: u64, epoch: u64) -> ShuffleRng {
        ShuffleRng::at_site(DrawSite::new(seed, epoch, SHUFFLE_SITE))
    }

    /// A sequential stream over any draw site.
    pub fn at_site(site: DrawSite) -> ShuffleRng {
        ShuffleRng { site, next: 0 }
    }

    pub fn next_u32(&mut self) -> u32 {
        let bits = self.site.bits(self.next);
        self.next = self.next.wrapping_add(1);
        bits
    }

    pub fn next_u64(&mut self) -> u64 {
        let lo = u64::from(self.next_u32());
        (u64::from(self.next_u32()) << 32) | lo
    }

    /// Uniform in `[0, 1)` with 24 bits, like [`DrawSite::uniform01`].
    pub fn next_f64(&mut self) -> f64 {
        unit_from_bits(self.next_u32())
    }

    /// Uniform integer in `0..n` without modulo bias (Lemire's multiply-and-reject); 0 when `n`
    /// is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Shuffles in place with Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// The deterministic order of `0..n` for one epoch of a seeded run.
    pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        ShuffleRng::new(seed, epoch).shuffle(&mut order);
        order
    }
}

/// Element `counter` of Philox draw site `{seed, step, site}` in `kind`'s distribution, as f32:
/// the interpreter's `random_*` ops (`seed`, `step` and `counter` are reinterpreted as u64).
pub fn draw_f32(kind: hg_abi::plan::RandomKind, site: u32, seed: i64, step: i64, counter: i64) -> f32 {
    let draw = DrawSite::new(seed as u64, step as u64, site);
    let i = counter as u64;
    let x = match kind {
        hg_abi::plan::RandomKind::Normal => draw.normal(i),
        hg_abi::plan::RandomKind::Uniform { lo, hi } => draw.uniform(i, lo, hi),
        hg_abi::plan::RandomKind::Bernoulli { p } => draw.bernoulli(i, p),
    };
    x as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_vectors_from_random123() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn stream_layout_follows_the_documented_counter_and_key() {
        let site = DrawSite::new(0x299f31d0_a4093822, 0x7_0370_7344, 0x13198a2e);
        let block = 0x5_243f_6a88u64;
        let want = philox4x32_10([0x243f6a88, 5, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]);
        for lane in 0..4 {
            assert_eq!(site.bits(block * 4 + lane), want[lane as usize]);
        }
        // Only the low 32 bits of the step take part.
        assert_eq!(DrawSite::new(1, 5, 2).bits(9), DrawSite::new(1, 5 + (1 << 32), 2).bits(9));
    }

    /// Values from an independent implementation of the documented stream (Python, f64 math).
    #[test]
    fn stream_values_match_an_independent_implementation() {
        let s = DrawSite::new(42, 7, 3);
        let bits: Vec<u32> = (0..6).map(|i| s.bits(i)).collect();
        assert_eq!(bits, [0xf19bcae4, 0x0d898979, 0x1fc36425, 0x0b0241de, 0x92b91c8a, 0x2d8c94af]);
        let u: Vec<f64> = (0..6).map(|i| s.uniform01(i)).collect();
        assert_eq!(
            u,
            [
                0.9437834024429321,
                0.05287986993789673,
                0.12407517433166504,
                0.0430031418800354,
                0.5731370449066162,
                0.17792630195617676
            ]
        );
        let z = [0.32156791433059734, 1.9688496672051823, 0.4616453261786726];
        for (i, want) in z.iter().enumerate() {
            assert!((s.normal(i as u64) - want).abs() < 1e-13, "normal({i})");
        }
        let s2 = DrawSite::new(0x0123456789abcdef, 0xfedcba9876543210, 0xdeadbeef);
        assert_eq!(s2.uniform01(1000003), 0.6107682585716248);
        assert!((s2.normal(1000003) - -0.29292375371553186).abs() < 1e-13);
        assert!((s2.normal(5) - -1.6996494692667623).abs() < 1e-13);
    }

    #[test]
    fn bulk_fills_match_elementwise_draws() {
        let s = DrawSite::new(9, 1, 4);
        for start in [0u64, 1, 3, 6, u64::MAX / 2] {
            let mut u = vec![0.0; 11];
            let mut z = vec![0.0; 11];
            let mut b = vec![0.0; 11];
            s.fill_uniform(start, &mut u);
            s.fill_normal(start, &mut z);
            s.fill_bernoulli(start, &mut b, 0.4);
            for i in 0..11 {
                let e = start + i as u64;
                assert_eq!(u[i], s.uniform01(e));
                assert_eq!(z[i], s.normal(e));
                assert_eq!(b[i], s.bernoulli(e, 0.4));
            }
        }
        let mut u = vec![0.0; 4];
        s.fill_uniform(0, &mut u);
        assert_eq!(s.uniform(3, -2.0, 2.0), -2.0 + 4.0 * u[3]);
    }

    fn mean_var(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n)
    }

    #[test]
    fn draws_have_the_right_moments() {
        const N: usize = 100_000;
        let s = DrawSite::new(2024, 3, 17);
        let mut v = vec![0.0; N];
        // Tolerances are about five standard errors of the estimate.
        s.fill_uniform(0, &mut v);
        let (m, var) = mean_var(&v);
        assert!((m - 0.5).abs() < 0.005 && (var - 1.0 / 12.0).abs() < 0.002, "uniform {m} {var}");
        assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
        s.fill_normal(0, &mut v);
        let (m, var) = mean_var(&v);
        assert!(m.abs() < 0.016 && (var - 1.0).abs() < 0.03, "normal {m} {var}");
        assert!(v.iter().all(|x| x.is_finite()));
        let within_one = v.iter().filter(|x| x.abs() < 1.0).count() as f64 / N as f64;
        assert!((within_one - 0.6827).abs() < 0.008, "normal mass within 1 sd: {within_one}");
        s.fill_bernoulli(0, &mut v, 0.3);
        let (m, _) = mean_var(&v);
        assert!((m - 0.3).abs() < 0.0075, "bernoulli {m}");
        // Different sites and steps give unrelated streams.
        let other: Vec<u32> = (0..64).map(|i| DrawSite::new(2024, 4, 17).bits(i)).collect();
        let this: Vec<u32> = (0..64).map(|i| s.bits(i)).collect();
        assert_ne!(other, this);
    }

    #[test]
    fn permutations_are_deterministic_and_uniform() {
        let p = ShuffleRng::permutation(1000, 7, 0);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(p, ShuffleRng::permutation(1000, 7, 0));
        assert_ne!(p, ShuffleRng::permutation(1000, 7, 1));
        assert_ne!(p, ShuffleRng::permutation(1000, 8, 0));
        assert!(ShuffleRng::permutation(0, 1, 1).is_empty());
        // Each of the 6 orders of 3 items appears about equally often over many epochs.
        let mut counts = std::collections::HashMap::new();
        for epoch in 0..6000 {
            *counts.entry(ShuffleRng::permutation(3, 11, epoch)).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 6);
        assert!(counts.values().all(|&c| (850..1150).contains(&c)), "{counts:?}");
        let mut rng = ShuffleRng::new(1, 2);
        assert!((0..1000).all(|_| rng.below(7) < 7));
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn random_draws_follow_the_stream() {
        let s = DrawSite::new(42, 7, 3);
        for i in 0..20 {
            assert_eq!(draw_f32(hg_abi::plan::RandomKind::Normal, 3, 42, 7, i), s.normal(i as u64) as f32);
            assert_eq!(
                draw_f32(hg_abi::plan::RandomKind::Uniform { lo: -2.0, hi: 2.0 }, 3, 42, 7, i),
                s.uniform(i as u64, -2.0, 2.0) as f32
            );
            assert_eq!(
                draw_f32(hg_abi::plan::RandomKind::Bernoulli { p: 0.3 }, 3, 42, 7, i),
                s.bernoulli(i as u64, 0.3) as f32
            );
        }
        // Seeds use all 64 bits: a negative i64 is the same key as its u64 bit pattern.
        let big = DrawSite::new(u64::MAX - 5, 1, 2);
        assert_eq!(draw_f32(hg_abi::plan::RandomKind::Normal, 2, -6, 1, 9), big.normal(9) as f32);
    }
}

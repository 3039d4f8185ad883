//! Memory planning: temporaries placed in one arena by liveness.
//!
//! Each temporary lives from the step that first writes it to the last step that reads it.
//! Temporaries whose lifetimes do not overlap share a slot; a slot is as large as the largest of
//! its temporaries for every batch size (componentwise maximum of `q*B² + b*B + c` in bytes).
//! Offsets are sums of slot sizes, so the plan is made once and the executor sizes the arena per
//! batch size. Every offset must stay aligned for every `B`: a slot affine in `B` is rounded to
//! 64 bytes in both parts (a cache line); a slot that grows as `B²` (a `[B, B]` buffer) only to
//! 8 bytes, the largest element, because a multiple of 64 for every `B` would need `64*B²`
//! bytes, 16 times a `[B, B]` f32 buffer. Those slots come last, after every cache-line
//! aligned one.

use crate::lower::LowerError;
use hg_abi::plan::{BufDecl, BufId, BufRole, Quadratic, Step};

const ALIGN: i64 = 64;

/// Bytes of a buffer, as an aligned bound ([`aligned`]).
fn bytes(decl: &BufDecl) -> Result<Quadratic, LowerError> {
    let size = decl.dtype.size_bytes() as i64;
    let part = |x: i64| x.checked_mul(size).ok_or(LowerError::Overflow);
    aligned(Quadratic { q: part(decl.len.q)?, b: part(decl.len.b)?, c: part(decl.len.c)? })
}

/// The smallest size at least `s` in every part whose value at every `B ≥ 1` is a multiple of
/// 64 (no `B²` term) or of 8. For the second: `q*B² + b*B = q*(B² - B) + (q + b)*B`, where
/// `B² - B` is even, so `q ≡ 0 (mod 4)` and `q + b ≡ 0 (mod 8)` suffice.
fn aligned(s: Quadratic) -> Result<Quadratic, LowerError> {
    let up = |x: i64, to: i64| x.checked_add(to - 1).map(|v| v.div_euclid(to) * to).ok_or(LowerError::Overflow);
    if s.q == 0 {
        return Ok(Quadratic { q: 0, b: up(s.b, ALIGN)?, c: up(s.c, ALIGN)? });
    }
    let q = up(s.q, 4)?;
    let b = s.b.checked_add((-(q % 8 + s.b % 8)).rem_euclid(8)).ok_or(LowerError::Overflow)?;
    Ok(Quadratic { q, b, c: up(s.c, ALIGN)? })
}

/// The parts of a size, largest power of `B` first (the order slots are compared in).
fn parts(s: Quadratic) -> (i64, i64, i64) {
    (s.q, s.b, s.c)
}

struct Slot {
    size: Quadratic,
    /// Last step reading the temporary that holds it now.
    busy_until: usize,
    members: Vec<usize>,
}

/// Gives every temporary its arena offset; returns the buffers and the arena size.
pub fn place(mut buffers: Vec<BufDecl>, steps: &[Step]) -> Result<(Vec<BufDecl>, Quadratic), LowerError> {
    let n = buffers.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    // Kernels are not at hand here; a kernel step's arguments are conservatively all read and
    // written at that step, which is what liveness needs.
    for (i, step) in steps.iter().enumerate() {
        let args: Vec<BufId> = match step {
            Step::Kernel { args, .. } | Step::Lib { args, .. } => args.clone(),
        };
        for a in args {
            let k = a.0 as usize;
            first[k] = first[k].min(i);
            last[k] = last[k].max(i);
        }
    }
    let mut temps: Vec<usize> = (0..n)
        .filter(|&k| {
            matches!(buffers[k].role, BufRole::Temp { .. })
                && buffers[k].len != Quadratic::ZERO
                && first[k] != usize::MAX
        })
        .collect();
    temps.sort_by_key(|&k| (first[k], k));
    let mut slots: Vec<Slot> = Vec::new();
    for k in temps {
        let need = bytes(&buffers[k])?;
        // A free slot, preferring one already large enough, then the closest in size.
        let fits = |s: &Slot| s.size.q >= need.q && s.size.b >= need.b && s.size.c >= need.c;
        let free: Vec<usize> = (0..slots.len()).filter(|&s| slots[s].busy_until < first[k]).collect();
        let pick = free
            .iter()
            .copied()
            .filter(|&s| fits(&slots[s]))
            .min_by_key(|&s| {
                let (q, b, c) = parts(slots[s].size);
                (q - need.q, b - need.b, c - need.c)
            })
            .or_else(|| free.iter().copied().max_by_key(|&s| parts(slots[s].size)));
        match pick {
            Some(s) => {
                let slot = &mut slots[s];
                let size = slot.size;
                slot.size = aligned(Quadratic { q: size.q.max(need.q), b: size.b.max(need.b), c: size.c.max(need.c) })?;
                slot.busy_until = last[k];
                slot.members.push(k);
            }
            None => slots.push(Slot { size: need, busy_until: last[k], members: vec![k] }),
        }
    }
    // Cache-line aligned slots first: their sums stay multiples of 64.
    slots.sort_by_key(|s| s.size.q != 0);
    let mut offset = Quadratic::ZERO;
    for slot in &slots {
        for &k in &slot.members {
            buffers[k].role = BufRole::Temp { offset };
        }
        offset = offset.checked_add(slot.size).ok_or(LowerError::Overflow)?;
    }
    Ok((buffers, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;
    use hg_abi::plan::{Affine, LibCall};

    fn temp(len: impl Into<Quadratic>) -> BufDecl {
        BufDecl { dtype: DType::F32, len: len.into(), role: BufRole::Temp { offset: Quadratic::ZERO } }
    }

    fn call(args: &[u32]) -> Step {
        let g =
            hg_abi::plan::MatStrides { batch: Affine::ZERO, inner: Affine::ZERO, row: Affine::ONE, col: Affine::ONE };
        Step::Lib {
            call: LibCall::MatMul {
                batch: Affine::ONE,
                inner_batch: Affine::ONE,
                m: Affine::ONE,
                n: Affine::ONE,
                k: Affine::ONE,
                a: g,
                b: g,
                accumulate: false,
            },
            args: args.iter().map(|&a| BufId(a)).collect(),
        }
    }

    #[test]
    fn temporaries_that_do_not_overlap_share_memory() {
        // 0 -> 1 -> 2 -> 3: buffer 1 dies when 3 is written, so 3 reuses its slot.
        let bufs =
            vec![temp(Affine::batch(10)), temp(Affine::batch(10)), temp(Affine::batch(10)), temp(Affine::batch(4))];
        let steps = vec![call(&[0, 0, 1]), call(&[1, 1, 2]), call(&[2, 2, 3])];
        let (placed, arena) = place(bufs, &steps).unwrap();
        let off = |k: usize| match placed[k].role {
            BufRole::Temp { offset } => offset,
            _ => unreachable!(),
        };
        assert_ne!(off(0), off(1));
        assert_ne!(off(1), off(2));
        assert_eq!(off(3), off(1), "buffer 3 reuses the slot of buffer 1");
        // Two slots of 40*B bytes, rounded to 64*B each.
        assert_eq!(arena, Quadratic { q: 0, b: 128, c: 0 });
        for k in 0..4 {
            assert_eq!(off(k).b % 64, 0);
            assert_eq!(off(k).c % 64, 0);
        }
    }

    #[test]
    fn a_batch_by_batch_temporary_gets_a_slot_large_enough_for_every_batch() {
        // 0 -> 1 -> 2: the `[B, B]` buffer 2 reuses the slot of buffer 0 (B*10 floats), which
        // grows to hold both at every batch size, 8-byte aligned, and moves after the affine
        // slot of buffer 1, which keeps its cache-line alignment.
        let square = Quadratic { q: 1, b: 0, c: 3 };
        let bufs = vec![temp(Affine::batch(10)), temp(Affine::batch(2)), temp(square)];
        let steps = vec![call(&[0, 0, 1]), call(&[1, 1, 2])];
        let (placed, arena) = place(bufs, &steps).unwrap();
        let off = |k: usize| match placed[k].role {
            BufRole::Temp { offset } => offset,
            _ => unreachable!(),
        };
        assert_eq!(off(2), off(0));
        assert_eq!(off(1), Quadratic::ZERO);
        assert_eq!(off(0), Quadratic { q: 0, b: 64, c: 0 });
        // 4*B² + 12 bytes and 40*B bytes in one slot of 4*B² + 68*B + 64.
        assert_eq!(arena, Quadratic { q: 4, b: 132, c: 64 });
        for batch in 1..300 {
            let slot = arena.eval(batch).unwrap() - off(0).eval(batch).unwrap();
            let batch = batch as i64;
            assert!(slot >= 40 * batch && slot >= 4 * (batch * batch + 3));
            assert_eq!(arena.eval(batch as usize).unwrap() % 8, 0);
        }
    }

    #[test]
    fn aligned_sizes_are_multiples_of_their_alignment_at_every_batch_size() {
        for q in 0..20 {
            for b in -9..70 {
                let s = aligned(Quadratic { q, b, c: 5 }).unwrap();
                assert!(s.q >= q && s.b >= b && s.c >= 5 && s.b - b < 8.max(if q == 0 { 64 } else { 8 }));
                for batch in 1..40 {
                    let v = s.eval(batch).unwrap();
                    assert_eq!(v % if q == 0 { 64 } else { 8 }, 0, "{s} at {batch}");
                }
            }
        }
    }
}

//! Memory planning: temporaries placed in one arena by liveness.
//!
//! Each temporary lives from the step that first writes it to the last step that reads it.
//! Temporaries whose lifetimes do not overlap share a slot; a slot is as large as the largest of
//! its temporaries for every batch size (componentwise maximum of `b*B + c` in bytes, rounded up
//! to 64 bytes in both parts so every offset stays aligned for every `B`). Offsets are affine in
//! `B` too, so the plan is made once and the executor sizes the arena per batch size.

use crate::lower::LowerError;
use hg_abi::plan::{Affine, BufDecl, BufId, BufRole, Step};

const ALIGN: i64 = 64;

fn round_up(x: i64) -> Option<i64> {
    x.checked_add(ALIGN - 1).map(|v| v / ALIGN * ALIGN)
}

/// Bytes of a buffer, as an affine bound rounded to the alignment in both parts.
fn bytes(decl: &BufDecl) -> Result<Affine, LowerError> {
    let size = decl.dtype.size_bytes() as i64;
    let b = decl.len.b.checked_mul(size).and_then(round_up).ok_or(LowerError::Overflow)?;
    let c = decl.len.c.checked_mul(size).and_then(round_up).ok_or(LowerError::Overflow)?;
    Ok(Affine { b, c })
}

struct Slot {
    size: Affine,
    /// Last step reading the temporary that holds it now.
    busy_until: usize,
    members: Vec<usize>,
}

/// Gives every temporary its arena offset; returns the buffers and the arena size.
pub fn place(mut buffers: Vec<BufDecl>, steps: &[Step]) -> Result<(Vec<BufDecl>, Affine), LowerError> {
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
            matches!(buffers[k].role, BufRole::Temp { .. }) && buffers[k].len != Affine::ZERO && first[k] != usize::MAX
        })
        .collect();
    temps.sort_by_key(|&k| (first[k], k));
    let mut slots: Vec<Slot> = Vec::new();
    for k in temps {
        let need = bytes(&buffers[k])?;
        // A free slot, preferring one already large enough, then the closest in size.
        let fits = |s: &Slot| s.size.b >= need.b && s.size.c >= need.c;
        let free: Vec<usize> = (0..slots.len()).filter(|&s| slots[s].busy_until < first[k]).collect();
        let pick = free
            .iter()
            .copied()
            .filter(|&s| fits(&slots[s]))
            .min_by_key(|&s| (slots[s].size.b - need.b, slots[s].size.c - need.c))
            .or_else(|| free.iter().copied().max_by_key(|&s| (slots[s].size.b, slots[s].size.c)));
        match pick {
            Some(s) => {
                let slot = &mut slots[s];
                slot.size = Affine { b: slot.size.b.max(need.b), c: slot.size.c.max(need.c) };
                slot.busy_until = last[k];
                slot.members.push(k);
            }
            None => slots.push(Slot { size: need, busy_until: last[k], members: vec![k] }),
        }
    }
    let mut offset = Affine::ZERO;
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
    use hg_abi::plan::LibCall;

    fn temp(len: Affine) -> BufDecl {
        BufDecl { dtype: DType::F32, len, role: BufRole::Temp { offset: Affine::ZERO } }
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
        assert_eq!(arena, Affine { b: 128, c: 0 });
        for k in 0..4 {
            assert_eq!(off(k).b % 64, 0);
            assert_eq!(off(k).c % 64, 0);
        }
    }
}

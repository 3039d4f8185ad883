//! Top-k and arg-max/min along the middle axis of `[outer, axis, inner]`, with the
//! interpreter's order: larger first, NaN above every number, ties to the lower index;
//! arg-max/min return the first extreme, or the first NaN.

use super::{SelectGeom, parts_for, split_mut};
use crate::error::{CpuError, fits};
use std::cmp::Ordering;

/// Element types that can be ranked: f32 (with NaN) and i64.
pub trait Key: Copy + PartialOrd {
    fn is_nan(self) -> bool;
}

impl Key for f32 {
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Key for i64 {
    fn is_nan(self) -> bool {
        false
    }
}

/// Larger first, NaN above everything; equal values compare equal (a stable sort keeps the
/// lower index first).
fn descending<T: Key>(a: T, b: T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Minimum element visits before top-k splits its rows between threads.
const PAR_MIN_WORK: usize = 1 << 15;

/// `y[o, r, i]` = index along the axis of the `r`-th largest `x[o, :, i]`, for `r < k`.
///
/// Linear in the row (the sparse codes of top-k autoencoders: 32 of 4096); rows are split
/// between `threads`.
pub fn topk<T: Key + Send + Sync>(g: &SelectGeom, x: &[T], y: &mut [i64], threads: usize) -> Result<(), CpuError> {
    let [nx, ny] = g.lens(true)?;
    fits("topk operand", x.len(), nx)?;
    fits("topk result", y.len(), ny)?;
    let (n, k, inner) = (g.axis, g.k, g.inner);
    if k == 0 {
        return Ok(());
    }
    let parts = parts_for(threads, nx, PAR_MIN_WORK);
    split_mut(y, g.outer, k * inner, parts, |rows, out| {
        let mut best: Vec<(T, usize)> = Vec::with_capacity(4 * k);
        for (o, out) in rows.zip(out.chunks_mut(k * inner)) {
            for i in 0..inner {
                let at = |j: usize| x[(o * n + j) * inner + i];
                best.clear();
                // Candidates that beat the current k-th best (larger, or NaN over a number;
                // later indices never win a tie) collect in `best`; when it holds 4k, a
                // selection keeps the best k and raises the bar. Linear in the row, and most
                // elements cost one comparison.
                let cmp = |a: &(T, usize), b: &(T, usize)| descending(a.0, b.0).then(a.1.cmp(&b.1));
                best.extend((0..k).map(|j| (at(j), j)));
                let select = |best: &mut Vec<(T, usize)>| {
                    if best.len() > k {
                        best.select_nth_unstable_by(k - 1, cmp);
                        best.truncate(k);
                    }
                };
                // The bar is the worst of the first k.
                best.select_nth_unstable_by(k - 1, cmp);
                let mut bar = best[k - 1].0;
                for j in k..n {
                    let value = at(j);
                    if value > bar || (value.is_nan() && !bar.is_nan()) {
                        best.push((value, j));
                        if best.len() == 4 * k {
                            select(&mut best);
                            bar = best[k - 1].0;
                        }
                    }
                }
                select(&mut best);
                best.sort_unstable_by(cmp);
                for (r, &(_, j)) in best[..k].iter().enumerate() {
                    out[r * inner + i] = j as i64;
                }
            }
        }
        Ok(())
    })
}

/// `y[o, i]` = index of the first maximum (`max`) or minimum of `x[o, :, i]`; the first NaN
/// when there is one. Rows are split between `threads`.
pub fn arg_reduce<T: Key + Send + Sync>(
    g: &SelectGeom,
    max: bool,
    x: &[T],
    y: &mut [i64],
    threads: usize,
) -> Result<(), CpuError> {
    let g = SelectGeom { k: 1, ..*g };
    let [nx, ny] = g.lens(false)?;
    fits("arg-reduce operand", x.len(), nx)?;
    fits("arg-reduce result", y.len(), ny)?;
    let (n, inner) = (g.axis, g.inner);
    let parts = parts_for(threads, nx, PAR_MIN_WORK);
    split_mut(y, g.outer, inner, parts, |rows, out| {
        for (o, out) in rows.zip(out.chunks_mut(inner.max(1))) {
            for (i, slot) in out.iter_mut().enumerate() {
                let at = |j: usize| x[(o * n + j) * inner + i];
                let (mut best, mut value) = (0, at(0));
                if !value.is_nan() {
                    for j in 1..n {
                        let v = at(j);
                        if v.is_nan() {
                            best = j;
                            break;
                        }
                        if (max && v > value) || (!max && v < value) {
                            (best, value) = (j, v);
                        }
                    }
                }
                *slot = best as i64;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(outer: usize, axis: usize, inner: usize, k: usize) -> SelectGeom {
        SelectGeom { outer, axis, inner, k }
    }

    #[test]
    fn topk_orders_largest_first_ties_by_index() {
        let x = [1.0f32, 3.0, 3.0, 2.0, 0.0, f32::NAN, -1.0, 5.0];
        let mut y = [0i64; 6];
        topk(&sel(2, 4, 1, 3), &x, &mut y, 1).unwrap();
        assert_eq!(y, [1, 2, 3, 1, 3, 0]);
        // Along axis 0 of [2, 4]: outer 1, inner 4.
        let mut y0 = [0i64; 4];
        topk(&sel(1, 2, 4, 1), &x, &mut y0, 2).unwrap();
        assert_eq!(y0, [0, 1, 0, 1]);
        assert!(topk(&sel(2, 4, 1, 0), &x, &mut [], 1).is_ok());
        assert!(topk(&sel(2, 4, 1, 5), &x, &mut [0; 10], 1).is_err());
        let mut yi = [0i64; 2];
        topk(&sel(1, 3, 1, 2), &[4i64, 9, 9], &mut yi, 1).unwrap();
        assert_eq!(yi, [1, 2]);
    }

    /// Top-k by a stable full sort of each row: the definition.
    fn topk_by_sorting(g: &SelectGeom, x: &[f32]) -> Vec<i64> {
        let (n, k, inner) = (g.axis, g.k, g.inner);
        let mut y = vec![0i64; g.outer * k * inner];
        for o in 0..g.outer {
            for i in 0..inner {
                let at = |j: usize| x[(o * n + j) * inner + i];
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&p, &q| descending(at(p), at(q)));
                for (r, &j) in order[..k].iter().enumerate() {
                    y[(o * k + r) * inner + i] = j as i64;
                }
            }
        }
        y
    }

    #[test]
    fn topk_selection_matches_a_full_sort() {
        // Values from a small set (many ties), some NaN; both selection algorithms, one and
        // two threads, inner axes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (outer, n, inner, k) in
            [(3, 50, 1, 5), (64, 1024, 1, 32), (5, 300, 3, 64), (4, 200, 2, 65), (2, 90, 1, 90), (70, 600, 1, 7)]
        {
            let x: Vec<f32> = (0..outer * n * inner)
                .map(|_| match next() % 23 {
                    0 => f32::NAN,
                    r => (r % 9) as f32 - 4.0,
                })
                .collect();
            let g = sel(outer, n, inner, k);
            let want = topk_by_sorting(&g, &x);
            for threads in [1, 2] {
                let mut y = vec![-1i64; want.len()];
                topk(&g, &x, &mut y, threads).unwrap();
                assert_eq!(y, want, "outer {outer} n {n} inner {inner} k {k} threads {threads}");
            }
        }
    }

    #[test]
    fn arg_reduce_takes_the_first_extreme() {
        let x = [1.0f32, 3.0, 3.0, 0.0, 2.0, 2.0, 1.0, 2.0];
        let mut y = [0i64; 2];
        arg_reduce(&sel(2, 4, 1, 1), true, &x, &mut y, 1).unwrap();
        assert_eq!(y, [1, 0]);
        arg_reduce(&sel(2, 4, 1, 1), false, &x, &mut y, 2).unwrap();
        assert_eq!(y, [3, 2]);
        let mut y4 = [0i64; 4];
        arg_reduce(&sel(1, 2, 4, 1), true, &x, &mut y4, 1).unwrap();
        assert_eq!(y4, [1, 0, 0, 1]);
        let nan = [1.0f32, f32::NAN, 9.0, f32::NAN];
        let mut y1 = [0i64; 1];
        arg_reduce(&sel(1, 4, 1, 1), true, &nan, &mut y1, 1).unwrap();
        assert_eq!(y1, [1]);
        arg_reduce(&sel(1, 4, 1, 1), false, &nan, &mut y1, 1).unwrap();
        assert_eq!(y1, [1]);
        assert!(arg_reduce(&sel(2, 0, 1, 1), true, &x, &mut y, 1).is_err());
        assert!(arg_reduce(&sel(2, 4, 1, 1), true, &x[..7], &mut y, 1).is_err());
    }
}

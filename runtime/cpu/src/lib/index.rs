//! `torch.gather` and `torch.scatter_add` along the middle axis of `[outer, axis, inner]`.
//! Every index is checked: a negative or too large one is an error naming its position, never
//! a wrapped or clamped access. Scatter-add sums in f64 and rounds once, as the interpreter
//! does, so duplicate indices give its result exactly.

use super::{AxisGeom, parts_for, split_mut};
use crate::error::{CpuError, bail, fits};

fn checked(i: i64, size: usize, pos: [usize; 3]) -> Result<usize, CpuError> {
    match usize::try_from(i) {
        Ok(v) if v < size => Ok(v),
        _ => bail!("index {i} at position {pos:?} is out of range 0..{size}"),
    }
}

/// Element visits below which a gather runs on one thread.
const PAR_MIN_WORK: usize = 1 << 15;

/// `y[o, j, i] = x[o, idx[o, j, i], i]`; rows `(o, j)` are split between `threads`.
pub fn gather<T: Copy + Send + Sync>(
    g: &AxisGeom,
    x: &[T],
    idx: &[i64],
    y: &mut [T],
    threads: usize,
) -> Result<(), CpuError> {
    let [nx, ni] = g.lens()?;
    fits("gather operand", x.len(), nx)?;
    fits("gather index", idx.len(), ni)?;
    fits("gather result", y.len(), ni)?;
    let (a, j_n, inner) = (g.axis, g.idx_axis, g.inner);
    let parts = parts_for(threads, ni, PAR_MIN_WORK);
    split_mut(y, g.outer * j_n, inner, parts, |rows, out| {
        for (r, y_row) in rows.zip(out.chunks_mut(inner.max(1))) {
            let (o, j) = (r / j_n, r % j_n);
            let row = r * inner;
            for (i, slot) in y_row.iter_mut().enumerate() {
                let at = checked(idx[row + i], a, [o, j, i])?;
                *slot = x[(o * a + at) * inner + i];
            }
        }
        Ok(())
    })
}

/// `y = x; y[o, idx[o, j, i], i] += v[o, j, i]`, in index order, summed in f64.
pub fn scatter_add(g: &AxisGeom, x: &[f32], idx: &[i64], v: &[f32], y: &mut [f32]) -> Result<(), CpuError> {
    let [nx, ni] = g.lens()?;
    fits("scatter_add operand", x.len(), nx)?;
    fits("scatter_add index", idx.len(), ni)?;
    fits("scatter_add values", v.len(), ni)?;
    fits("scatter_add result", y.len(), nx)?;
    let (a, j_n, inner) = (g.axis, g.idx_axis, g.inner);
    let mut acc = vec![0.0f64; a * inner];
    for o in 0..g.outer {
        let base = o * a * inner;
        for (s, &xv) in acc.iter_mut().zip(&x[base..base + a * inner]) {
            *s = f64::from(xv);
        }
        for j in 0..j_n {
            let row = (o * j_n + j) * inner;
            for i in 0..inner {
                let at = checked(idx[row + i], a, [o, j, i])?;
                acc[at * inner + i] += f64::from(v[row + i]);
            }
        }
        for (out, &s) in y[base..base + a * inner].iter_mut().zip(&acc) {
            *out = s as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(outer: usize, axis: usize, idx_axis: usize, inner: usize) -> AxisGeom {
        AxisGeom { outer, axis, idx_axis, inner }
    }

    #[test]
    fn gather_takes_along_the_axis() {
        // x [2, 3] gathered along axis 1 (inner 1).
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = [0.0f32; 4];
        gather(&g(2, 3, 2, 1), &x, &[2, 0, 1, 1], &mut y, 2).unwrap();
        assert_eq!(y, [3.0, 1.0, 5.0, 5.0]);
        // Along axis 0 of [2, 3]: outer 1, inner 3.
        let mut y0 = [0.0f32; 3];
        gather(&g(1, 2, 1, 3), &x, &[1, 0, 1], &mut y0, 1).unwrap();
        assert_eq!(y0, [4.0, 2.0, 6.0]);
        // Integer operands, an index axis longer than the operand's.
        let mut yi = [0i64; 5];
        gather(&g(1, 2, 5, 1), &[10i64, 20], &[0, 1, 1, 0, 1], &mut yi, 1).unwrap();
        assert_eq!(yi, [10, 20, 20, 10, 20]);
    }

    #[test]
    fn scatter_add_accumulates_duplicates_in_f64() {
        let x = [0.0f32; 6];
        let v = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [9.0f32; 6];
        scatter_add(&g(2, 3, 2, 1), &x, &[0, 0, 2, 1], &v, &mut y).unwrap();
        assert_eq!(y, [3.0, 0.0, 0.0, 0.0, 4.0, 3.0]);
        // 2^24 + 1 + 1: f32 steps would lose both ones, the f64 sum keeps them.
        let mut y1 = [0.0f32; 1];
        scatter_add(&g(1, 1, 2, 1), &[16777216.0], &[0, 0], &[1.0, 1.0], &mut y1).unwrap();
        assert_eq!(y1[0], 16777218.0);
        // Odd sizes with inner > 1.
        let gg = g(3, 5, 7, 3);
        let [nx, ni] = gg.lens().unwrap();
        let xs: Vec<f32> = (0..nx).map(|i| i as f32).collect();
        let idx: Vec<i64> = (0..ni).map(|i| ((i * 31) % 5) as i64).collect();
        let vs: Vec<f32> = (0..ni).map(|i| 0.5 * i as f32).collect();
        let mut got = vec![0.0f32; nx];
        scatter_add(&gg, &xs, &idx, &vs, &mut got).unwrap();
        let mut want: Vec<f64> = xs.iter().map(|&v| f64::from(v)).collect();
        for o in 0..3 {
            for j in 0..7 {
                for i in 0..3 {
                    let p = (o * 7 + j) * 3 + i;
                    want[(o * 5 + idx[p] as usize) * 3 + i] += f64::from(vs[p]);
                }
            }
        }
        assert_eq!(got, want.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn bad_indices_are_errors() {
        let x = [0.0f32; 6];
        let mut y = [0.0f32; 1];
        let e = gather(&g(2, 3, 1, 1), &x, &[0, 3], &mut [0.0; 2], 1).unwrap_err();
        assert!(e.to_string().contains("index 3 at position [1, 0, 0] is out of range 0..3"), "{e}");
        assert!(gather(&g(1, 3, 1, 1), &x, &[-1], &mut y, 1).is_err());
        assert!(gather(&g(1, 3, 2, 1), &x, &[0], &mut y, 1).is_err());
        assert!(scatter_add(&g(1, 3, 1, 1), &x, &[7], &[1.0], &mut [0.0; 6]).is_err());
        assert!(gather(&g(usize::MAX, 3, 2, 1), &x, &[0], &mut y, 1).is_err());
    }
}

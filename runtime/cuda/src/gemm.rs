//! A plan's matrix product as cuBLAS calls: row-major products with arbitrary strides mapped
//! onto column-major `cublasSgemmStridedBatched`, one call per outer batch item.
//!
//! cuBLAS reads column-major matrices, so the row-major `C = A B` (`m x n`) is computed as
//! its transpose `Cᵀ = Bᵀ Aᵀ` (`n x m`, leading dimension `n`): a row-major operand whose
//! columns are contiguous is, read column-major, already its own transpose (`N`, leading
//! dimension its row stride); one whose rows are contiguous (a transposed view) is read with
//! `T` and its column stride. Any other layout has no cuBLAS form and is refused when the
//! session opens. TF32 is never enabled, so products are f32 as the contract says.

use hg_cpu::lib::{MatMulGeom, Strides};

/// How cuBLAS reads one operand: transposed or not, and its leading dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    pub transpose: bool,
    pub ld: usize,
}

/// One plan product as cuBLAS arguments (`m`, `n`, `k` are cuBLAS's: the row-major product's
/// `n`, `m`, `k`), applied to `batch` outer items of `inner` strided items each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmCall {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// The first cuBLAS operand: the plan's `b`.
    pub first: Operand,
    /// The second cuBLAS operand: the plan's `a`.
    pub second: Operand,
    pub ldc: usize,
    pub batch: usize,
    pub inner: usize,
    /// Element strides between items of the inner batch (plan's `a`, `b`, and `c`).
    pub inner_strides: [usize; 3],
    /// Element strides between outer items.
    pub outer_strides: [usize; 3],
    /// `C += A B` rather than `C = A B`.
    pub accumulate: bool,
}

/// How cuBLAS reads the row-major `rows x cols` matrix with these strides as its transpose,
/// if it can.
fn operand(rows: usize, cols: usize, row: usize, col: usize) -> Option<Operand> {
    if col == 1 || cols == 1 {
        let ld = if rows > 1 { row } else { cols.max(1) };
        (ld >= cols.max(1)).then_some(Operand { transpose: false, ld })
    } else if row == 1 || rows == 1 {
        let ld = if cols > 1 { col } else { rows.max(1) };
        (ld >= rows.max(1)).then_some(Operand { transpose: true, ld })
    } else {
        None
    }
}

/// The largest value cuBLAS's 32-bit sizes take.
const MAX_INT: usize = i32::MAX as usize;

/// The cuBLAS form of `g`, or why it has none.
pub fn gemm_call(g: &MatMulGeom) -> Result<GemmCall, String> {
    let layout = |what: &str, s: &Strides| {
        format!("the {what} operand's layout (row stride {}, column stride {}) has no cuBLAS form", s.row, s.col)
    };
    let first = operand(g.k, g.n, g.b.row, g.b.col).ok_or_else(|| layout("right", &g.b))?;
    let second = operand(g.m, g.k, g.a.row, g.a.col).ok_or_else(|| layout("left", &g.a))?;
    let call = GemmCall {
        m: g.n,
        n: g.m,
        k: g.k,
        first,
        second,
        ldc: g.n.max(1),
        batch: g.batch,
        inner: g.inner,
        inner_strides: [g.a.inner, g.b.inner, g.m * g.n],
        outer_strides: [g.a.batch, g.b.batch, g.inner * g.m * g.n],
        accumulate: g.accumulate,
    };
    let sizes = [call.m, call.n, call.k, call.first.ld, call.second.ld, call.ldc, call.inner];
    if sizes.iter().any(|&s| s > MAX_INT) {
        return Err(format!("a product of {} x {} x {} is too large for cuBLAS's 32-bit sizes", g.m, g.k, g.n));
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strides(batch: usize, inner: usize, row: usize, col: usize) -> Strides {
        Strides { batch, inner, row, col }
    }

    fn geom(m: usize, n: usize, k: usize, a: Strides, b: Strides) -> MatMulGeom {
        MatMulGeom { batch: 1, inner: 1, m, n, k, a, b, accumulate: false }
    }

    /// Computes the product as cuBLAS would from the call (column-major reference), to check
    /// the mapping against the row-major definition.
    fn run(call: &GemmCall, a: &[f32], b: &[f32], c: &mut [f32]) {
        let at = |x: &[f32], op: Operand, i: usize, j: usize| {
            // Element (i, j) of op(X) for a column-major X with leading dimension ld.
            if op.transpose { x[j + i * op.ld] } else { x[i + j * op.ld] }
        };
        for i in 0..call.m {
            for j in 0..call.n {
                let mut s = 0.0;
                for l in 0..call.k {
                    s += at(b, call.first, i, l) * at(a, call.second, l, j);
                }
                let slot = &mut c[i + j * call.ldc];
                *slot = if call.accumulate { *slot + s } else { s };
            }
        }
    }

    fn check(m: usize, n: usize, k: usize, a_s: Strides, b_s: Strides) {
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.71).cos()).collect();
        let g = geom(m, n, k, a_s, b_s);
        let call = gemm_call(&g).unwrap();
        let mut c = vec![0.0; m * n];
        run(&call, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|l| a[i * a_s.row + l * a_s.col] * b[l * b_s.row + j * b_s.col]).sum();
                assert!((c[i * n + j] - want).abs() < 1e-5, "({i}, {j}) of {m}x{k}x{n}: {} vs {want}", c[i * n + j]);
            }
        }
    }

    #[test]
    fn row_major_and_transposed_operands_map_onto_column_major_gemm() {
        let (m, n, k) = (3, 5, 4);
        // A row-major (k contiguous) or transposed (m contiguous); B likewise.
        for a_s in [strides(0, 0, k, 1), strides(0, 0, 1, m)] {
            for b_s in [strides(0, 0, n, 1), strides(0, 0, 1, k)] {
                check(m, n, k, a_s, b_s);
            }
        }
        // One row or one column: the stride along the size-1 axis is free.
        check(1, n, k, strides(0, 0, 999, 1), strides(0, 0, n, 1));
        check(m, 1, k, strides(0, 0, k, 1), strides(0, 0, 1, 777));
    }

    #[test]
    fn layouts_without_a_cublas_form_are_refused() {
        let err = gemm_call(&geom(3, 5, 4, strides(0, 0, 8, 2), strides(0, 0, 5, 1))).unwrap_err();
        assert!(err.contains("left operand") && err.contains("no cuBLAS form"), "{err}");
        let err = gemm_call(&geom(3, 5, 4, strides(0, 0, 4, 1), strides(0, 0, 3, 3))).unwrap_err();
        assert!(err.contains("right operand"), "{err}");
    }

    #[test]
    fn batches_carry_their_strides() {
        let mut g = geom(2, 3, 4, strides(100, 8, 4, 1), strides(0, 12, 3, 1));
        g.batch = 5;
        g.inner = 2;
        let call = gemm_call(&g).unwrap();
        assert_eq!(call.inner_strides, [8, 12, 6]);
        assert_eq!(call.outer_strides, [100, 0, 12]);
        assert_eq!((call.m, call.n, call.k, call.ldc), (3, 2, 4, 3));
    }
}

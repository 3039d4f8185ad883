//! `hgrun diff A B`: compares two tensor files tensor by tensor, to check for instance that a
//! resumed training run ended with exactly the weights of an uninterrupted one.
//!
//! Tensors are matched by name. Each pair must agree in dtype and shape; then elements `a` and
//! `b` match when `|a - b| <= atol + rtol * max(|a|, |b|)` (symmetric, so `diff A B` and
//! `diff B A` agree). The defaults `rtol = atol = 0` demand exact equality, which is what the
//! runtime promises for resumed runs. NaN matches NaN and an infinity matches the same
//! infinity; any other pairing with a non-finite value is a difference of infinite size.
//! Integer elements are compared exactly (as i128), not through f64. Safetensors metadata is
//! compared too, unless `--ignore-metadata`.
//!
//! The files differ when a tensor is missing from either side, a pair mismatches in dtype or
//! shape, any element pair is outside the tolerance, or (when compared) the metadata differs.

use crate::error::{Error, Result};
use crate::files::{self, TensorFile};
use crate::numfmt::{fmt_float, fmt_shape, plural};
use crate::stats::Extreme;
use hg_runtime::{Tensor, TensorData};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How far apart two elements may be and still match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

/// Parses a tolerance given on the command line: a finite number `>= 0`.
pub fn parse_tolerance(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite number >= 0, not `{text}`")),
    }
}

/// What to compare and how to report it.
#[derive(Clone, Debug)]
pub struct DiffRequest<'a> {
    pub a: &'a Path,
    pub b: &'a Path,
    pub tolerance: Tolerance,
    pub compare_metadata: bool,
    /// Also list the tensors that match.
    pub verbose: bool,
    pub json: bool,
}

/// The rendered report and whether the files differ.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffOutcome {
    pub report: String,
    pub differ: bool,
}

/// How the elements of two tensors of equal dtype and shape compare.
#[derive(Clone, Debug, PartialEq)]
struct ValueDiff {
    /// The shape both tensors share.
    shape: Vec<usize>,
    total: usize,
    /// Elements outside the tolerance.
    differing: usize,
    /// The largest `|a - b|`, its flat index and the two elements there (`None` if the tensors
    /// are empty or equal everywhere).
    max_abs: Option<(f64, usize, Extreme, Extreme)>,
    max_rel: f64,
}

/// The outcome for one shared tensor name.
#[derive(Clone, Debug, PartialEq)]
enum Pair {
    /// Dtype or shape disagree, so elements were not compared.
    Mismatch {
        dtype: Option<(String, String)>,
        shape: Option<(Vec<usize>, Vec<usize>)>,
    },
    Compared(ValueDiff),
}

impl Pair {
    fn differs(&self) -> bool {
        match self {
            Pair::Mismatch { .. } => true,
            Pair::Compared(v) => v.differing > 0,
        }
    }
}

/// A metadata key whose values differ (`None`: absent on that side).
type MetaDiff = (String, Option<String>, Option<String>);

struct Comparison {
    only_a: Vec<String>,
    only_b: Vec<String>,
    pairs: Vec<(String, Pair)>,
    /// `None` when metadata was not compared.
    metadata: Option<Vec<MetaDiff>>,
}

impl Comparison {
    fn differ(&self) -> bool {
        !self.only_a.is_empty()
            || !self.only_b.is_empty()
            || self.pairs.iter().any(|(_, p)| p.differs())
            || self.metadata.as_ref().is_some_and(|m| !m.is_empty())
    }
}

/// Compares two files and renders the report.
pub fn diff(req: &DiffRequest<'_>) -> Result<DiffOutcome> {
    let a = files::load(req.a)?;
    let b = files::load(req.b)?;
    let cmp = compare(&a, &b, req.tolerance, req.compare_metadata)?;
    let report = if req.json { render_json(req, &cmp) } else { render_text(req, &cmp) };
    Ok(DiffOutcome { report, differ: cmp.differ() })
}

fn compare(a: &TensorFile, b: &TensorFile, tol: Tolerance, compare_metadata: bool) -> Result<Comparison> {
    let names_a: BTreeMap<&str, &Tensor> = a.arrays.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let names_b: BTreeMap<&str, &Tensor> = b.arrays.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let only_a = a.arrays.iter().map(|(n, _)| n).filter(|n| !names_b.contains_key(n.as_str())).cloned().collect();
    let only_b = b.arrays.iter().map(|(n, _)| n).filter(|n| !names_a.contains_key(n.as_str())).cloned().collect();
    let mut pairs = Vec::new();
    for (name, ta) in &a.arrays {
        if let Some(tb) = names_b.get(name.as_str()) {
            pairs.push((name.clone(), compare_tensors(ta, tb, tol)?));
        }
    }
    let metadata = compare_metadata.then(|| {
        let keys: BTreeSet<&String> = a.metadata.keys().chain(b.metadata.keys()).collect();
        keys.into_iter()
            .filter_map(|k| {
                let (va, vb) = (a.metadata.get(k), b.metadata.get(k));
                (va != vb).then(|| (k.clone(), va.cloned(), vb.cloned()))
            })
            .collect()
    });
    Ok(Comparison { only_a, only_b, pairs, metadata })
}

fn compare_tensors(a: &Tensor, b: &Tensor, tol: Tolerance) -> Result<Pair> {
    let dtype = (a.dtype() != b.dtype()).then(|| (a.dtype().name().to_string(), b.dtype().name().to_string()));
    let shape = (a.shape() != b.shape()).then(|| (a.shape().to_vec(), b.shape().to_vec()));
    if dtype.is_some() || shape.is_some() {
        return Ok(Pair::Mismatch { dtype, shape });
    }
    let mut scan = Scan::new(tol, a.shape());
    match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.iter().zip(y).for_each(|(&p, &q)| scan.floats(f64::from(p), f64::from(q)));
        }
        (TensorData::F64(x), TensorData::F64(y)) => x.iter().zip(y).for_each(|(&p, &q)| scan.floats(p, q)),
        (TensorData::I32(x), TensorData::I32(y)) => {
            x.iter().zip(y).for_each(|(&p, &q)| scan.ints(i64::from(p), i64::from(q)));
        }
        (TensorData::I64(x), TensorData::I64(y)) => x.iter().zip(y).for_each(|(&p, &q)| scan.ints(p, q)),
        (TensorData::Bool(x), TensorData::Bool(y)) => {
            x.iter().zip(y).for_each(|(&p, &q)| scan.ints(i64::from(p), i64::from(q)));
        }
        // Equal dtypes always share a storage variant; say so rather than panic if that changes.
        _ => return Err(Error::new(format!("cannot compare the elements of {a} and {b}: their storage differs"))),
    }
    Ok(Pair::Compared(scan.finish()))
}

/// Running maxima over element pairs.
struct Scan {
    tol: Tolerance,
    index: usize,
    diff: ValueDiff,
}

impl Scan {
    fn new(tol: Tolerance, shape: &[usize]) -> Scan {
        let diff = ValueDiff { shape: shape.to_vec(), total: 0, differing: 0, max_abs: None, max_rel: 0.0 };
        Scan { tol, index: 0, diff }
    }

    fn floats(&mut self, a: f64, b: f64) {
        let equal = a == b || (a.is_nan() && b.is_nan());
        let (abs, rel, within) = if equal {
            (0.0, 0.0, true)
        } else if !a.is_finite() || !b.is_finite() {
            (f64::INFINITY, f64::INFINITY, false)
        } else {
            let abs = (a - b).abs();
            let scale = a.abs().max(b.abs());
            (abs, abs / scale, abs <= self.tol.atol + self.tol.rtol * scale)
        };
        self.record(abs, rel, within, Extreme::Float(a), Extreme::Float(b));
    }

    fn ints(&mut self, a: i64, b: i64) {
        let exact = (i128::from(a) - i128::from(b)).unsigned_abs();
        let (abs, scale) = (exact as f64, (a.unsigned_abs().max(b.unsigned_abs())) as f64);
        let rel = if exact == 0 { 0.0 } else { abs / scale };
        let within = exact == 0 || abs <= self.tol.atol + self.tol.rtol * scale;
        self.record(abs, rel, within, Extreme::Int(a), Extreme::Int(b));
    }

    fn record(&mut self, abs: f64, rel: f64, within: bool, a: Extreme, b: Extreme) {
        let d = &mut self.diff;
        d.total += 1;
        if !within {
            d.differing += 1;
        }
        // The first of equal maxima is kept, so the reported position is the earliest.
        if abs > 0.0 && d.max_abs.as_ref().is_none_or(|(m, ..)| abs > *m) {
            d.max_abs = Some((abs, self.index, a, b));
        }
        d.max_rel = d.max_rel.max(rel);
        self.index += 1;
    }

    fn finish(self) -> ValueDiff {
        self.diff
    }
}

/// The multi-index of a flat row-major position.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

fn describe_values(v: &ValueDiff) -> String {
    let mut text = if v.differing > 0 {
        format!("{} of {} differ", v.differing, plural(v.total, "value"))
    } else if v.max_abs.is_some() {
        format!("{} match within tolerance", plural(v.total, "value"))
    } else {
        format!("{} identical", plural(v.total, "value"))
    };
    if let Some((abs, at, a, b)) = v.max_abs {
        text.push_str(&format!(
            "; max abs diff {} at {} ({} vs {}), max rel diff {}",
            fmt_float(abs),
            fmt_shape(&unravel(at, &v.shape)),
            a.to_text(),
            b.to_text(),
            fmt_float(v.max_rel)
        ));
    }
    text
}

fn render_text(req: &DiffRequest<'_>, cmp: &Comparison) -> String {
    let (a, b) = (req.a.display(), req.b.display());
    let tol = format!("rtol {}, atol {}", fmt_float(req.tolerance.rtol), fmt_float(req.tolerance.atol));
    let mut out = format!("comparing {a} and {b} ({tol})\n");
    for name in &cmp.only_a {
        out.push_str(&format!("`{name}`: only in {a}\n"));
    }
    for name in &cmp.only_b {
        out.push_str(&format!("`{name}`: only in {b}\n"));
    }
    for (name, pair) in &cmp.pairs {
        match pair {
            Pair::Mismatch { dtype, shape } => {
                let mut what = Vec::new();
                if let Some((x, y)) = dtype {
                    what.push(format!("dtype {x} vs {y}"));
                }
                if let Some((x, y)) = shape {
                    what.push(format!("shape {} vs {}", fmt_shape(x), fmt_shape(y)));
                }
                out.push_str(&format!("`{name}`: {}\n", what.join(", ")));
            }
            Pair::Compared(v) if v.differing > 0 || req.verbose => {
                out.push_str(&format!("`{name}`: {}\n", describe_values(v)));
            }
            Pair::Compared(_) => {}
        }
    }
    for (key, va, vb) in cmp.metadata.iter().flatten() {
        let line = match (va, vb) {
            (Some(x), Some(y)) => format!("metadata `{key}`: `{x}` vs `{y}`"),
            (Some(_), None) => format!("metadata `{key}`: only in {a}"),
            _ => format!("metadata `{key}`: only in {b}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let shared = cmp.pairs.len();
    if cmp.differ() {
        let mut parts = Vec::new();
        let differing = cmp.pairs.iter().filter(|(_, p)| p.differs()).count();
        if differing > 0 {
            parts.push(format!("{differing} of {} differ", plural(shared, "shared tensor")));
        }
        if !cmp.only_a.is_empty() {
            parts.push(format!("{} only in {a}", plural(cmp.only_a.len(), "tensor")));
        }
        if !cmp.only_b.is_empty() {
            parts.push(format!("{} only in {b}", plural(cmp.only_b.len(), "tensor")));
        }
        if let Some(m) = cmp.metadata.as_ref().filter(|m| !m.is_empty()) {
            parts.push(format!("metadata differs in {}", plural(m.len(), "key")));
        }
        out.push_str(&format!("differ: {}\n", parts.join(", ")));
    } else {
        let metadata = if cmp.metadata.is_some() { "metadata equal" } else { "metadata not compared" };
        out.push_str(&format!("same: {} match within {tol}; {metadata}\n", plural(shared, "tensor")));
    }
    out
}

fn render_json(req: &DiffRequest<'_>, cmp: &Comparison) -> String {
    let tensors: Vec<Value> = cmp
        .pairs
        .iter()
        .map(|(name, pair)| match pair {
            Pair::Mismatch { dtype, shape } => json!({
                "name": name,
                "status": "mismatch",
                "dtype": dtype.as_ref().map(|(x, y)| json!([x, y])),
                "shape": shape.as_ref().map(|(x, y)| json!([x, y])),
            }),
            Pair::Compared(v) => json!({
                "name": name,
                "status": if v.differing > 0 { "differs" } else { "equal" },
                "values": v.total,
                "differing": v.differing,
                "max_abs_diff": v.max_abs.map_or(0.0, |(abs, ..)| abs),
                "max_abs_diff_at": v.max_abs.map(|(_, at, ..)| unravel(at, &v.shape)),
                "max_rel_diff": v.max_rel,
            }),
        })
        .collect();
    let metadata = cmp
        .metadata
        .as_ref()
        .map(|m| m.iter().map(|(key, va, vb)| json!({"key": key, "a": va, "b": vb})).collect::<Vec<_>>());
    let report = json!({
        "a": req.a.display().to_string(),
        "b": req.b.display().to_string(),
        "rtol": req.tolerance.rtol,
        "atol": req.tolerance.atol,
        "same": !cmp.differ(),
        "only_in_a": cmp.only_a,
        "only_in_b": cmp.only_b,
        "tensors": tensors,
        "metadata": metadata,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("a JSON value always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;
    use hg_runtime::checkpoint::Metadata;

    fn file(arrays: Vec<(&str, Tensor)>, metadata: &[(&str, &str)]) -> TensorFile {
        TensorFile {
            format: files::Format::Safetensors,
            file_dtypes: arrays.iter().map(|(_, t)| t.dtype().name().to_string()).collect(),
            arrays: arrays.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
            metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Metadata>(),
        }
    }

    const EXACT: Tolerance = Tolerance { rtol: 0.0, atol: 0.0 };

    fn values(pair: &Pair) -> &ValueDiff {
        match pair {
            Pair::Compared(v) => v,
            Pair::Mismatch { .. } => panic!("expected compared values, got {pair:?}"),
        }
    }

    #[test]
    fn tolerances_are_symmetric_and_default_to_exact() {
        let a = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 100.0, 0.0]).unwrap();
        let b = Tensor::from_f32(vec![2, 2], vec![1.0, 2.001, 100.01, 0.0]).unwrap();
        let exact = compare_tensors(&a, &b, EXACT).unwrap();
        let v = values(&exact);
        assert_eq!((v.total, v.differing), (4, 2));
        let (abs, at, x, y) = v.max_abs.unwrap();
        assert_eq!(unravel(at, &v.shape), vec![1, 0]);
        assert!((abs - 0.01).abs() < 1e-5 && x == Extreme::Float(100.0), "{abs} {x:?} {y:?}");
        assert!((v.max_rel - 0.001 / 2.001).abs() < 1e-6, "{}", v.max_rel);
        // rtol 1e-3 covers 0.01 at 100 and 0.001 at 2: nothing differs, either way round.
        let loose = Tolerance { rtol: 1e-3, atol: 0.0 };
        assert_eq!(values(&compare_tensors(&a, &b, loose).unwrap()).differing, 0);
        assert_eq!(values(&compare_tensors(&b, &a, loose).unwrap()).differing, 0);
        let abs_only = Tolerance { rtol: 0.0, atol: 0.002 };
        assert_eq!(values(&compare_tensors(&a, &b, abs_only).unwrap()).differing, 1);
    }

    #[test]
    fn non_finite_values_match_only_themselves() {
        let a = Tensor::from_f64(vec![4], vec![f64::NAN, f64::INFINITY, f64::INFINITY, 1.0]).unwrap();
        let b = Tensor::from_f64(vec![4], vec![f64::NAN, f64::INFINITY, 5.0, f64::NAN]).unwrap();
        let huge = Tolerance { rtol: 1e300, atol: 1e300 };
        let pair = compare_tensors(&a, &b, huge).unwrap();
        let v = values(&pair);
        assert_eq!(v.differing, 2);
        assert_eq!(v.max_abs.unwrap().0, f64::INFINITY);
        assert_eq!(unravel(v.max_abs.unwrap().1, &v.shape), vec![2]);
    }

    #[test]
    fn integers_compare_exactly() {
        let a = Tensor::from_i64(vec![2], vec![i64::MAX, i64::MIN]).unwrap();
        let b = Tensor::from_i64(vec![2], vec![i64::MAX - 1, i64::MIN]).unwrap();
        let pair = compare_tensors(&a, &b, EXACT).unwrap();
        let v = values(&pair);
        assert_eq!(v.differing, 1);
        assert_eq!(
            describe_values(v),
            "1 of 2 values differ; max abs diff 1 at [0] (9223372036854775807 vs 9223372036854775806), max rel diff 1.0842e-19"
        );
        let same = compare_tensors(&a, &a, EXACT).unwrap();
        assert_eq!(describe_values(values(&same)), "2 values identical");
    }

    #[test]
    fn dtype_and_shape_mismatches_are_reported_together() {
        let a = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
        let b = Tensor::from_f64(vec![3, 2], vec![0.0; 6]).unwrap();
        let pair = compare_tensors(&a, &b, EXACT).unwrap();
        assert_eq!(
            pair,
            Pair::Mismatch { dtype: Some(("f32".into(), "f64".into())), shape: Some((vec![2, 3], vec![3, 2])) }
        );
        let half = Tensor::new(DType::F16, vec![2, 3], TensorData::F32(vec![0.0; 6])).unwrap();
        assert!(compare_tensors(&a, &half, EXACT).unwrap().differs());
    }

    #[test]
    fn files_differ_by_names_values_and_metadata() {
        let t = |v: f32| Tensor::from_f32(vec![1], vec![v]).unwrap();
        let a = file(vec![("w", t(1.0)), ("x", t(0.0))], &[("step", "7"), ("seed", "1")]);
        let b = file(vec![("w", t(1.0)), ("y", t(0.0))], &[("step", "8")]);
        let cmp = compare(&a, &b, EXACT, true).unwrap();
        assert_eq!((cmp.only_a.clone(), cmp.only_b.clone()), (vec!["x".to_string()], vec!["y".to_string()]));
        assert_eq!(
            cmp.metadata.clone().unwrap(),
            vec![("seed".into(), Some("1".into()), None), ("step".into(), Some("7".into()), Some("8".into()))]
        );
        assert!(cmp.differ());
        let same_tensors = file(vec![("w", t(1.0))], &[("step", "7")]);
        let other_meta = file(vec![("w", t(1.0))], &[("step", "9")]);
        assert!(compare(&same_tensors, &other_meta, EXACT, true).unwrap().differ());
        assert!(!compare(&same_tensors, &other_meta, EXACT, false).unwrap().differ());
    }

    #[test]
    fn positions_unravel_row_major() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
    }

    #[test]
    fn tolerances_parse_as_finite_non_negative_numbers() {
        assert_eq!(parse_tolerance("1e-5"), Ok(1e-5));
        assert_eq!(parse_tolerance("0"), Ok(0.0));
        assert!(parse_tolerance("-1").unwrap_err().contains("`-1`"));
        assert!(parse_tolerance("nan").is_err());
        assert!(parse_tolerance("inf").is_err());
        assert!(parse_tolerance("x").is_err());
    }
}

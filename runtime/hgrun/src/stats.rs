//! Summary statistics of a tensor: min, max, mean and standard deviation, plus counts of NaN
//! and infinite elements.
//!
//! Statistics are taken over the finite elements only, so one NaN does not hide the range of
//! the rest; the NaN and infinity counts say what was left out. Integer tensors keep exact
//! integer extremes; booleans count as 0 and 1 (their mean is the fraction that is true). The
//! standard deviation is the population one (numpy's default, `ddof = 0`), computed in two
//! passes in f64 so it does not cancel catastrophically.

use hg_runtime::{Tensor, TensorData};
use serde_json::{Value, json};

/// An extreme value, exact for integer tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extreme {
    Int(i64),
    Float(f64),
}

impl Extreme {
    pub fn to_json(self) -> Value {
        match self {
            Extreme::Int(v) => json!(v),
            Extreme::Float(v) => json!(v),
        }
    }

    pub fn to_text(self) -> String {
        match self {
            Extreme::Int(v) => v.to_string(),
            Extreme::Float(v) => crate::numfmt::fmt_float(v),
        }
    }
}

/// The range and moments of the finite elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub min: Extreme,
    pub max: Extreme,
    pub mean: f64,
    pub std: f64,
}

/// What [`summarize`] finds in a tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// `None` when the tensor has no finite element (it is empty, or all NaN/infinite).
    pub moments: Option<Moments>,
    pub nan: usize,
    pub inf: usize,
}

impl Summary {
    /// `{"min", "max", "mean", "std", "nan", "inf"}`, the first four `null` without finite
    /// elements.
    pub fn to_json(&self) -> Value {
        let m = self.moments;
        json!({
            "min": m.map(|m| m.min.to_json()),
            "max": m.map(|m| m.max.to_json()),
            "mean": m.map(|m| m.mean),
            "std": m.map(|m| m.std),
            "nan": self.nan,
            "inf": self.inf,
        })
    }
}

/// Summarizes every element of a tensor.
pub fn summarize(t: &Tensor) -> Summary {
    match t.data() {
        TensorData::F32(v) => floats(|| v.iter().map(|&x| f64::from(x))),
        TensorData::F64(v) => floats(|| v.iter().copied()),
        TensorData::I32(v) => ints(|| v.iter().map(|&x| i64::from(x))),
        TensorData::I64(v) => ints(|| v.iter().copied()),
        TensorData::Bool(v) => ints(|| v.iter().map(|&x| i64::from(x))),
    }
}

fn floats<I: Iterator<Item = f64>>(values: impl Fn() -> I) -> Summary {
    let (mut nan, mut inf) = (0, 0);
    let (mut n, mut sum, mut min, mut max) = (0usize, 0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for x in values() {
        if x.is_nan() {
            nan += 1;
        } else if x.is_infinite() {
            inf += 1;
        } else {
            n += 1;
            sum += x;
            min = min.min(x);
            max = max.max(x);
        }
    }
    let moments = (n > 0).then(|| {
        let mean = sum / n as f64;
        let std = spread(values().filter(|x| x.is_finite()), mean, n);
        Moments { min: Extreme::Float(min), max: Extreme::Float(max), mean, std }
    });
    Summary { moments, nan, inf }
}

fn ints<I: Iterator<Item = i64>>(values: impl Fn() -> I) -> Summary {
    let (mut n, mut sum, mut min, mut max) = (0usize, 0.0f64, i64::MAX, i64::MIN);
    for x in values() {
        n += 1;
        sum += x as f64;
        min = min.min(x);
        max = max.max(x);
    }
    let moments = (n > 0).then(|| {
        let mean = sum / n as f64;
        let std = spread(values().map(|x| x as f64), mean, n);
        Moments { min: Extreme::Int(min), max: Extreme::Int(max), mean, std }
    });
    Summary { moments, nan: 0, inf: 0 }
}

/// Population standard deviation around a known mean.
fn spread(values: impl Iterator<Item = f64>, mean: f64, n: usize) -> f64 {
    let squares: f64 = values.map(|x| (x - mean) * (x - mean)).sum();
    (squares / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;

    #[test]
    fn float_statistics_skip_non_finite_elements() {
        let t = Tensor::from_f32(vec![6], vec![1.0, f32::NAN, 3.0, f32::INFINITY, -1.0, f32::NEG_INFINITY]).unwrap();
        let s = summarize(&t);
        assert_eq!((s.nan, s.inf), (1, 2));
        let m = s.moments.unwrap();
        assert_eq!((m.min, m.max, m.mean), (Extreme::Float(-1.0), Extreme::Float(3.0), 1.0));
        assert!((m.std - (8.0f64 / 3.0).sqrt()).abs() < 1e-15);
        let json = s.to_json();
        assert_eq!(json["min"], json!(-1.0));
        assert_eq!(json["nan"], json!(1));
    }

    #[test]
    fn integers_keep_exact_extremes_and_bools_count_as_ones() {
        let big = Tensor::from_i64(vec![2], vec![i64::MAX, i64::MAX - 1]).unwrap();
        let m = summarize(&big).moments.unwrap();
        assert_eq!((m.min, m.max), (Extreme::Int(i64::MAX - 1), Extreme::Int(i64::MAX)));
        assert_eq!(m.max.to_text(), "9223372036854775807");
        let flags = Tensor::new(DType::Bool, vec![4], TensorData::Bool(vec![true, false, true, true])).unwrap();
        let m = summarize(&flags).moments.unwrap();
        assert_eq!((m.min, m.max, m.mean), (Extreme::Int(0), Extreme::Int(1), 0.75));
    }

    #[test]
    fn empty_and_all_nan_tensors_have_no_moments() {
        let empty = Tensor::from_f32(vec![0, 3], vec![]).unwrap();
        assert_eq!(summarize(&empty), Summary { moments: None, nan: 0, inf: 0 });
        let nan = Tensor::from_f64(vec![2], vec![f64::NAN, f64::NAN]).unwrap();
        let s = summarize(&nan);
        assert_eq!((s.moments, s.nan), (None, 2));
        assert_eq!(s.to_json()["mean"], Value::Null);
        let empty_ints = Tensor::from_i64(vec![0], vec![]).unwrap();
        assert_eq!(summarize(&empty_ints).moments, None);
    }

    #[test]
    fn constant_tensors_have_zero_spread() {
        let t = Tensor::from_f32(vec![1000], vec![0.1; 1000]).unwrap();
        let m = summarize(&t).moments.unwrap();
        assert!(m.std < 1e-9, "{}", m.std);
    }
}

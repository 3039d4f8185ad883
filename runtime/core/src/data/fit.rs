//! Matching a data set's arrays to a model's data inputs.
//!
//! Steps, per input spec:
//! 1. pick the array: the one named like the input; else, for a model with a single input, the
//!    array named `image`, or else the only image-like array (floating point or bool, at least
//!    one axis per example), or else the only array;
//! 2. check the shape. An array must have the input's shape but for the leading batch axis (the
//!    number of examples is free). Only arrays of a built-in data set with a documented layout
//!    ([`Source::Documented`]) are reshaped, to any input with as many values per example
//!    (Fashion-MNIST's `[N, 28, 28]` feeds `[B, 784]` and `[B, 1, 28, 28]`), and each such
//!    adaptation is said in a note ([`fit_notes`]). Any other difference is an error that shows
//!    both shapes and names a flatten, a channels-last/-first layout or a missing batch axis
//!    with the reshape or transpose that fixes it;
//! 3. convert the element type where values keep their meaning, judged on the type the file
//!    stores (a `u8` file is named `u8`, though read into i32):
//!    - to the same type, from a narrower float (f16 or bf16 → f32 → f64), and between integer
//!      types (`u8`..`u64`, `i8`..`i64` → i32 or i64, when every value fits): silently;
//!    - from a wider float (f64 → f32, f32 → f16): rounded to the input's precision, with a note;
//!    - bool → float: 0 and 1, with a note;
//!    - never integers → floats (byte pixels would silently arrive as 0..255 where a model
//!      expects `[0, 1]`), floats → integers, or anything to or from bool but the above: these
//!      are errors saying how to convert the file.
//!
//! The results hold the whole data set, `[N, ...]` with the input's per-example shape, in the
//! order of the specs, ready for [`super::BatchIter`].

use super::{DataError, Dataset, Source};
use hg_abi::{DType, DimSpec, TensorSpec};
use hg_exec::tensor::{Tensor, TensorData};

/// The arrays that feed `specs` (the model's data inputs), reshaped and converted.
pub fn fit_to_inputs(dataset: &Dataset, specs: &[TensorSpec]) -> Result<Vec<Tensor>, DataError> {
    specs
        .iter()
        .map(|spec| {
            let array = pick(dataset, spec, specs)?;
            let plan = plan(&array, spec)?;
            let data = convert(array.tensor, spec.dtype).map_err(|why| {
                DataError::Mismatch(format!("{} but input {}: {why}", array.holds(), describe_spec(spec)))
            })?;
            let shape: Vec<usize> = std::iter::once(array.examples()).chain(plan.per_example).collect();
            Tensor::new(spec.dtype, shape, data).map_err(|e| DataError::Mismatch(format!("{}: {e}", array.subject())))
        })
        .collect()
}

/// The notes [`fit_to_inputs`] has for `specs`, one line each, without converting anything:
/// the adaptations of documented data sets and the conversions of user files that round
/// values or turn bools into numbers. Fails where [`fit_to_inputs`] would on shapes and types.
pub fn fit_notes(dataset: &Dataset, specs: &[TensorSpec]) -> Result<Vec<String>, DataError> {
    let mut notes = Vec::new();
    for spec in specs {
        let array = pick(dataset, spec, specs)?;
        notes.extend(plan(&array, spec)?.note);
    }
    Ok(notes)
}

/// An array with what the data set knows of its origin.
struct Array<'a> {
    name: &'a str,
    tensor: &'a Tensor,
    source: Option<&'a Source>,
}

impl Array<'_> {
    /// What messages call the array: `x.npy`, `array "x" of d.npz`, `the fashion-mnist array
    /// "image"`, or `data array "x"` for one built in code.
    fn subject(&self) -> String {
        match self.source {
            Some(Source::File { path, member: None, .. }) => path.clone(),
            Some(Source::File { path, member: Some(m), .. }) => format!("array \"{m}\" of {path}"),
            Some(Source::Documented { dataset, .. }) => format!("the {dataset} array \"{}\"", self.name),
            None => format!("data array \"{}\"", self.name),
        }
    }

    /// The element type as the file stores it, else the tensor's.
    fn dtype_name(&self) -> &'static str {
        match self.source {
            Some(Source::File { dtype, .. }) => dtype.name(),
            _ => self.tensor.dtype().name(),
        }
    }

    /// `x.npy is u8[16, 784]`.
    fn is(&self) -> String {
        format!("{} is {}{:?}", self.subject(), self.dtype_name(), self.tensor.shape())
    }

    /// `x.npy holds u8 values`.
    fn holds(&self) -> String {
        format!("{} holds {} values", self.subject(), self.dtype_name())
    }

    fn examples(&self) -> usize {
        self.tensor.shape()[0]
    }

    fn documented(&self) -> bool {
        matches!(self.source, Some(Source::Documented { .. }))
    }
}

/// The array that feeds input `spec` of `specs`: the one of its name; else, when it is the only
/// input no array is named after (a model's image beside a `label` condition), the `image`
/// array, the one image-like array, or the one array, among those no other input names.
fn pick<'a>(dataset: &'a Dataset, spec: &TensorSpec, specs: &[TensorSpec]) -> Result<Array<'a>, DataError> {
    let array = |(name, tensor): &'a (String, Tensor)| Array { name, tensor, source: dataset.source(name) };
    if let Some(found) = dataset.arrays.iter().find(|(n, _)| *n == spec.name) {
        return Ok(array(found));
    }
    let named = |n: &str| specs.iter().any(|s| s.name == n);
    let unnamed = specs.iter().filter(|s| !dataset.arrays.iter().any(|(n, _)| *n == s.name)).count();
    if unnamed == 1 {
        let free: Vec<&(String, Tensor)> = dataset.arrays.iter().filter(|(n, _)| !named(n)).collect();
        if let Some(found) = free.iter().find(|(n, _)| n == "image") {
            return Ok(array(found));
        }
        let image_like: Vec<_> = free
            .iter()
            .filter(|(_, t)| (t.dtype().is_float() || t.dtype() == DType::Bool) && t.shape().len() >= 2)
            .collect();
        if let [found] = image_like[..] {
            return Ok(array(found));
        }
        // A single array feeds a single input whatever its type (a `u8` file is then refused
        // for its type, which says more than "no array").
        if let [found] = free[..] {
            return Ok(array(found));
        }
    }
    let names: Vec<String> = dataset
        .arrays
        .iter()
        .map(|pair| {
            let a = array(pair);
            format!("\"{}\" ({}{:?})", a.name, a.dtype_name(), a.tensor.shape())
        })
        .collect();
    let have = if names.is_empty() { "no arrays".to_string() } else { format!("arrays {}", names.join(", ")) };
    Err(DataError::Mismatch(format!(
        "no data array for input {}: the data has {have}; name an array \"{}\"",
        describe_spec(spec),
        spec.name
    )))
}

/// `x is f32[B, 3, 32, 32]`, the spelling used in every message here.
fn describe_spec(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
    format!("{} is {}[{}]", spec.name, spec.dtype, dims.join(", "))
}

/// What fitting one array to one input does: the per-example shape it takes, and the note
/// that says how it is adapted, if it is.
struct Plan {
    per_example: Vec<usize>,
    note: Option<String>,
}

/// Checks the shape and element type of `array` against `spec` (values are checked when
/// converted) and says what fitting does.
fn plan(array: &Array<'_>, spec: &TensorSpec) -> Result<Plan, DataError> {
    let mismatch = |msg: String| Err(DataError::Mismatch(msg));
    let per_example: Vec<usize> = match spec.shape.split_first() {
        Some((DimSpec::Batch(1), rest)) if rest.iter().all(|d| matches!(d, DimSpec::Fixed(_))) => {
            rest.iter().map(|d| d.resolve(0)).collect()
        }
        _ => {
            return mismatch(format!(
                "input {} has no single leading batch axis B, so it cannot be fed examples from {}",
                describe_spec(spec),
                array.subject()
            ));
        }
    };
    let Some((_, example)) = array.tensor.shape().split_first() else {
        return mismatch(format!(
            "{} is a scalar ({}[]) without an axis of examples",
            array.subject(),
            array.dtype_name()
        ));
    };
    let have: usize = example.iter().product();
    let want: usize = per_example.iter().product();
    let reshaped = example != per_example.as_slice();
    if reshaped && !(array.documented() && have == want) {
        return mismatch(shape_mismatch(array, spec, &per_example));
    }
    let conversion = check_dtype(array, spec)?;
    let note = match array.source {
        Some(Source::Documented { dataset, noun, stored, values }) if reshaped || stored != spec.dtype.name() => {
            let mut how = format!("as {values}");
            if let Conversion::Rounded = conversion {
                how.push_str(&format!(" rounded to {}", spec.dtype));
            }
            if reshaped {
                how.push_str(&if per_example.len() == 1 {
                    ", flattened".to_string()
                } else {
                    format!(", each reshaped to {per_example:?}")
                });
            }
            Some(format!("{dataset} {noun} {:?} {stored} are fed to {spec} {how}", array.tensor.shape()))
        }
        Some(Source::Documented { .. }) => None,
        _ => match conversion {
            Conversion::Exact => None,
            Conversion::Rounded => {
                Some(format!("{}; they are rounded to {} for input {spec}", array.holds(), spec.dtype))
            }
            Conversion::BoolToFloat => Some(format!("{}; they are fed to input {spec} as 0 and 1", array.holds())),
        },
    };
    Ok(Plan { per_example, note })
}

/// The error for an array whose per-example shape differs from the input's (`per_example`).
fn shape_mismatch(array: &Array<'_>, spec: &TensorSpec, per_example: &[usize]) -> String {
    let shape = array.tensor.shape();
    let (n, example) = (shape[0], &shape[1..]);
    let have: usize = example.iter().product();
    let want: usize = per_example.iter().product();
    let head = format!("{} but input {}", array.is(), describe_spec(spec));
    let with_n = |dims: &[usize]| -> Vec<usize> { std::iter::once(n).chain(dims.iter().copied()).collect() };
    if have == want {
        let rank = shape.len();
        let letters = |last: bool| match (rank, last) {
            (4, true) => " (NHWC)",
            (4, false) => " (NCHW)",
            _ => "",
        };
        let k = example.len();
        let same_rank = k >= 2 && k == per_example.len();
        if same_rank && example[..k - 1] == per_example[1..] && example[k - 1] == per_example[0] {
            let axes: Vec<usize> = std::iter::once(0).chain(std::iter::once(rank - 1)).chain(1..rank - 1).collect();
            return format!(
                "{head}: it looks channels-last{} and the model wants channels-first{}; transpose it with axes {}",
                letters(true),
                letters(false),
                tuple(&axes)
            );
        }
        if same_rank && example[0] == per_example[k - 1] && example[1..] == per_example[..k - 1] {
            let axes: Vec<usize> = std::iter::once(0).chain(2..rank).chain(std::iter::once(1)).collect();
            return format!(
                "{head}: it looks channels-first{} and the model wants channels-last{}; transpose it with axes {}",
                letters(false),
                letters(true),
                tuple(&axes)
            );
        }
        let how = if k == 1 { "flattened".to_string() } else { format!("shaped {example:?}") };
        return format!("{head}: the same {} per example, {how}; reshape it to {:?}", count(want), with_n(per_example));
    }
    if shape.iter().product::<usize>() == want {
        return format!(
            "{head}: it looks like one example without the leading batch axis; reshape it to {:?}",
            with_n_one(per_example)
        );
    }
    format!(
        "{} ({} per example) but input {} ({} per example)",
        array.is(),
        count(have),
        describe_spec(spec),
        count(want)
    )
}

fn with_n_one(per_example: &[usize]) -> Vec<usize> {
    std::iter::once(1).chain(per_example.iter().copied()).collect()
}

/// `(0, 3, 1, 2)`, numpy's spelling of axes.
fn tuple(axes: &[usize]) -> String {
    let parts: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// `784 values`, `1 value`.
fn count(n: usize) -> String {
    if n == 1 { "1 value".into() } else { format!("{n} values") }
}

/// What a conversion the rules accept does to values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Conversion {
    /// Every value is kept exactly (same type, a wider float, integers that fit).
    Exact,
    /// Floats are rounded to a narrower float type.
    Rounded,
    /// false and true become 0 and 1.
    BoolToFloat,
}

/// Whether the element type of `array` converts to the input's, judged on the type the file
/// stores; the error says how to convert the file.
fn check_dtype(array: &Array<'_>, spec: &TensorSpec) -> Result<Conversion, DataError> {
    let (from, to) = (array.tensor.dtype(), spec.dtype);
    let refuse =
        |why: String| Err(DataError::Mismatch(format!("{} but input {}: {why}", array.holds(), describe_spec(spec))));
    let numpy = |d: DType| match d {
        DType::F64 => "np.float64",
        DType::F16 => "np.float16",
        DType::I32 => "np.int32",
        DType::I64 => "np.int64",
        DType::Bool => "np.bool_",
        DType::F32 | DType::BF16 => "np.float32",
    };
    match (from, to) {
        _ if from == to => Ok(Conversion::Exact),
        _ if from.is_float() && to.is_float() => {
            let exact = to == DType::F64 || (to == DType::F32 && matches!(from, DType::F16 | DType::BF16));
            Ok(if exact { Conversion::Exact } else { Conversion::Rounded })
        }
        (DType::Bool, _) if to.is_float() => Ok(Conversion::BoolToFloat),
        _ if from.is_int() && to.is_int() => Ok(Conversion::Exact),
        _ if from.is_int() && to.is_float() => {
            if array.dtype_name() == "u8" {
                refuse(format!(
                    "integers are not converted to floats, since u8 pixels would silently arrive as 0 to 255; convert them as the model expects, e.g. `(x / 255).astype({})` for values in [0, 1]",
                    numpy(to)
                ))
            } else {
                refuse(format!(
                    "integers are not converted to floats; convert them as the model expects, e.g. `x.astype({})`",
                    numpy(to)
                ))
            }
        }
        _ if from.is_float() && to.is_int() => refuse(format!(
            "floats are not converted to integers; convert them as the model expects, e.g. `np.rint(x).astype({})`",
            numpy(to)
        )),
        _ => refuse(format!("{} values are not converted to {to}", array.dtype_name())),
    }
}

/// Converts elements to the storage of `to` (a conversion [`check_dtype`] accepted), or says
/// which value does not fit.
fn convert(t: &Tensor, to: DType) -> Result<TensorData, String> {
    let from = t.dtype();
    // Same storage and no rounding: copy directly (the common case, and whole data sets are
    // large enough that a detour through f64 would double the memory needed).
    match (t.data(), to) {
        (TensorData::F32(v), DType::F32) if from == DType::F32 => return Ok(TensorData::F32(v.clone())),
        (TensorData::F64(v), DType::F64) => return Ok(TensorData::F64(v.clone())),
        (TensorData::F64(v), DType::F32) => return Ok(TensorData::F32(v.iter().map(|&x| x as f32).collect())),
        (TensorData::F32(v), DType::F64) => return Ok(TensorData::F64(v.iter().map(|&x| f64::from(x)).collect())),
        _ => {}
    }
    if to.is_float() {
        let values: Vec<f64> = match t.data() {
            TensorData::F32(_) | TensorData::F64(_) | TensorData::Bool(_) => t.to_f64_vec(),
            TensorData::I32(_) | TensorData::I64(_) => return Err("integers are not converted to floats".into()),
        };
        return Ok(match to {
            DType::F64 => TensorData::F64(values),
            DType::F16 => TensorData::F32(values.iter().map(|&v| half::f16::from_f64(v).to_f32()).collect()),
            DType::BF16 => TensorData::F32(values.iter().map(|&v| half::bf16::from_f64(v).to_f32()).collect()),
            _ => TensorData::F32(values.iter().map(|&v| v as f32).collect()),
        });
    }
    let ints: Vec<i64> = match t.data() {
        TensorData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
        TensorData::I64(v) => v.clone(),
        TensorData::Bool(v) if to == DType::Bool => return Ok(TensorData::Bool(v.clone())),
        _ => return Err(format!("{from} values are not converted to {to}")),
    };
    match to {
        DType::I64 => Ok(TensorData::I64(ints)),
        DType::I32 => ints
            .iter()
            .enumerate()
            .map(|(i, &v)| i32::try_from(v).map_err(|_| format!("element {i} is {v}, which does not fit i32")))
            .collect::<Result<Vec<_>, _>>()
            .map(TensorData::I32),
        _ => Err(format!("{from} values are not converted to {to}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::FileDType;

    fn spec(name: &str, dtype: DType, dims: &[usize]) -> TensorSpec {
        let shape = std::iter::once(DimSpec::Batch(1)).chain(dims.iter().map(|&d| DimSpec::Fixed(d))).collect();
        TensorSpec { name: name.into(), dtype, shape }
    }

    /// A data set of one array read from `NAME.npy`, which stores `dtype`.
    fn file(name: &str, t: Tensor, dtype: FileDType) -> Dataset {
        Dataset::new(vec![(name.into(), t)])
            .unwrap()
            .with_source(name, Source::file(format!("{name}.npy"), None, dtype))
    }

    fn f32s(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_f32(shape.to_vec(), (0..n).map(|i| i as f32 / n as f32).collect()).unwrap()
    }

    fn fit_err(ds: &Dataset, spec: &TensorSpec) -> String {
        let e = fit_to_inputs(ds, std::slice::from_ref(spec)).unwrap_err().to_string();
        assert_eq!(fit_notes(ds, std::slice::from_ref(spec)).unwrap_err().to_string(), e, "notes fail as fitting does");
        e
    }

    /// Fits and returns the tensor and the note.
    fn fit_ok(ds: &Dataset, spec: &TensorSpec) -> (Tensor, Option<String>) {
        let t = fit_to_inputs(ds, std::slice::from_ref(spec)).unwrap().remove(0);
        let mut notes = fit_notes(ds, std::slice::from_ref(spec)).unwrap();
        assert!(notes.len() <= 1);
        (t, notes.pop())
    }

    fn mnist_like(n: usize) -> Dataset {
        let image = Tensor::from_f32(vec![n, 28, 28], vec![0.5; n * 784]).unwrap();
        let label = Tensor::from_i64(vec![n], vec![1; n]).unwrap();
        let documented = Source::Documented {
            dataset: "fashion-mnist".into(),
            noun: "images".into(),
            stored: "u8".into(),
            values: "values in [0, 1]".into(),
        };
        Dataset::new(vec![("image".into(), image), ("label".into(), label)]).unwrap().with_source("image", documented)
    }

    #[test]
    fn documented_layouts_are_reshaped_with_a_note() {
        let ds = mnist_like(3);
        let (flat, note) = fit_ok(&ds, &spec("x", DType::F32, &[784]));
        assert_eq!(flat.shape(), &[3, 784]);
        assert_eq!(
            note.as_deref(),
            Some("fashion-mnist images [3, 28, 28] u8 are fed to x: f32[B, 784] as values in [0, 1], flattened")
        );
        let (nchw, note) = fit_ok(&ds, &spec("x", DType::F64, &[1, 28, 28]));
        assert_eq!((nchw.dtype(), nchw.shape()), (DType::F64, &[3usize, 1, 28, 28][..]));
        assert_eq!(nchw.to_f64_vec()[5], 0.5);
        assert_eq!(
            note.as_deref(),
            Some(
                "fashion-mnist images [3, 28, 28] u8 are fed to x: f64[B, 1, 28, 28] as values in [0, 1], each reshaped to [1, 28, 28]"
            )
        );
        // Unreshaped, the note still says the bytes became values in [0, 1].
        let (_, note) = fit_ok(&ds, &spec("x", DType::F32, &[28, 28]));
        assert_eq!(
            note.as_deref(),
            Some("fashion-mnist images [3, 28, 28] u8 are fed to x: f32[B, 28, 28] as values in [0, 1]")
        );
        // A documented layout stored as the input wants it needs no note.
        let shapes = super::super::shapes(2, 0, 8);
        assert_eq!(fit_ok(&shapes, &spec("x", DType::F32, &[3, 8, 8])).1, None);
        assert_eq!(
            fit_ok(&shapes, &spec("x", DType::F32, &[192])).1.as_deref(),
            Some("shapes images [2, 3, 8, 8] f32 are fed to x: f32[B, 192] as values in [0, 1], flattened")
        );
        // Even a documented layout keeps its number of values per example.
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[3, 32, 32])),
            "the fashion-mnist array \"image\" is f32[3, 28, 28] (784 values per example) but input x is f32[B, 3, 32, 32] (3072 values per example)"
        );
    }

    #[test]
    fn a_flattened_file_is_not_reshaped() {
        let ds = file("x", f32s(&[16, 784]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[1, 28, 28])),
            "x.npy is f32[16, 784] but input x is f32[B, 1, 28, 28]: the same 784 values per example, flattened; reshape it to [16, 1, 28, 28]"
        );
        let ds = file("x", f32s(&[16, 28, 28]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[784])),
            "x.npy is f32[16, 28, 28] but input x is f32[B, 784]: the same 784 values per example, shaped [28, 28]; reshape it to [16, 784]"
        );
        assert!(fit_err(&ds, &spec("x", DType::F32, &[1, 28, 28])).ends_with("reshape it to [16, 1, 28, 28]"));
    }

    #[test]
    fn channels_last_and_first_say_how_to_transpose() {
        let ds = file("x", f32s(&[4, 32, 32, 3]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[3, 32, 32])),
            "x.npy is f32[4, 32, 32, 3] but input x is f32[B, 3, 32, 32]: it looks channels-last (NHWC) and the model wants channels-first (NCHW); transpose it with axes (0, 3, 1, 2)"
        );
        let ds = file("x", f32s(&[4, 3, 32, 32]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[32, 32, 3])),
            "x.npy is f32[4, 3, 32, 32] but input x is f32[B, 32, 32, 3]: it looks channels-first (NCHW) and the model wants channels-last (NHWC); transpose it with axes (0, 2, 3, 1)"
        );
        // Other ranks: no letters, the axes still right.
        let ds = file("v", f32s(&[2, 4, 5, 6, 3]), FileDType::F32);
        assert!(fit_err(&ds, &spec("v", DType::F32, &[3, 4, 5, 6])).ends_with(
            "it looks channels-last and the model wants channels-first; transpose it with axes (0, 4, 1, 2, 3)"
        ));
    }

    #[test]
    fn a_wrong_size_names_both_shapes() {
        let ds = file("x", f32s(&[4, 28, 28]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[3, 32, 32])),
            "x.npy is f32[4, 28, 28] (784 values per example) but input x is f32[B, 3, 32, 32] (3072 values per example)"
        );
        // One example without its batch axis.
        let ds = file("x", f32s(&[784]), FileDType::F32);
        assert_eq!(
            fit_err(&ds, &spec("x", DType::F32, &[784])),
            "x.npy is f32[784] but input x is f32[B, 784]: it looks like one example without the leading batch axis; reshape it to [1, 784]"
        );
        let ds = file("x", f32s(&[28, 28]), FileDType::F32);
        assert!(fit_err(&ds, &spec("x", DType::F32, &[784])).ends_with("reshape it to [1, 784]"));
        let fixed = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![DimSpec::Fixed(784)] };
        assert!(fit_err(&ds, &fixed).contains("no single leading batch axis"));
        // Arrays built in code follow the rules of files.
        let mut plain = mnist_like(2);
        plain.sources.clear();
        assert_eq!(
            fit_err(&plain, &spec("x", DType::F32, &[784])),
            "data array \"image\" is f32[2, 28, 28] but input x is f32[B, 784]: the same 784 values per example, shaped [28, 28]; reshape it to [2, 784]"
        );
    }

    #[test]
    fn only_the_batch_size_may_differ() {
        for n in [1, 5, 64] {
            let ds = file("x", f32s(&[n, 1, 28, 28]), FileDType::F32);
            let (t, note) = fit_ok(&ds, &spec("x", DType::F32, &[1, 28, 28]));
            assert_eq!((t.shape(), note), (&[n, 1, 28, 28][..], None));
            assert_eq!(t, f32s(&[n, 1, 28, 28]));
        }
        let empty = file("x", f32s(&[0, 784]), FileDType::F32);
        assert_eq!(fit_ok(&empty, &spec("x", DType::F32, &[784])).0.shape(), &[0, 784]);
    }

    #[test]
    fn dtypes_convert_only_without_loss_of_meaning() {
        let bytes = Tensor::new(DType::I32, vec![2, 3], TensorData::I32(vec![0, 255, 7, 1, 2, 3])).unwrap();
        let x = spec("x", DType::F32, &[3]);
        // u8 pixels are not silently taken as 0..255 floats; the message names the file's type.
        assert_eq!(
            fit_err(&file("x", bytes.clone(), FileDType::U8), &x),
            "x.npy holds u8 values but input x is f32[B, 3]: integers are not converted to floats, since u8 pixels would silently arrive as 0 to 255; convert them as the model expects, e.g. `(x / 255).astype(np.float32)` for values in [0, 1]"
        );
        assert!(
            fit_err(&file("x", f32s(&[2, 4]), FileDType::F32), &spec("x", DType::F32, &[3]))
                .starts_with("x.npy is f32[2, 4]")
        );
        let shape_first = fit_err(&file("x", bytes.clone(), FileDType::U8), &spec("x", DType::F32, &[4]));
        assert!(shape_first.starts_with("x.npy is u8[2, 3] (3 values per example)"), "{shape_first}");
        let longs = Tensor::from_i64(vec![2, 1], vec![1, 1 << 40]).unwrap();
        assert_eq!(
            fit_err(&file("x", longs.clone(), FileDType::I64), &spec("x", DType::F64, &[1])),
            "x.npy holds i64 values but input x is f64[B, 1]: integers are not converted to floats; convert them as the model expects, e.g. `x.astype(np.float64)`"
        );
        // Integers of any width become i32 or i64 when every value fits.
        let (t, note) = fit_ok(&file("x", bytes.clone(), FileDType::U8), &spec("x", DType::I64, &[3]));
        assert_eq!((t.dtype(), t.to_f64_vec()[1], note), (DType::I64, 255.0, None));
        assert_eq!(
            fit_to_inputs(&file("x", longs, FileDType::U64), &[spec("x", DType::I32, &[1])]).unwrap_err().to_string(),
            "x.npy holds u64 values but input x is i32[B, 1]: element 1 is 1099511627776, which does not fit i32"
        );
        // Floats never become integers or bools.
        assert_eq!(
            fit_err(&file("y", f32s(&[2, 1]), FileDType::F32), &spec("y", DType::I64, &[1])),
            "y.npy holds f32 values but input y is i64[B, 1]: floats are not converted to integers; convert them as the model expects, e.g. `np.rint(x).astype(np.int64)`"
        );
        assert!(
            fit_err(&file("y", f32s(&[2, 1]), FileDType::F32), &spec("y", DType::Bool, &[1]))
                .ends_with("f32 values are not converted to bool")
        );
        assert!(
            fit_err(&file("y", bytes, FileDType::U8), &spec("y", DType::Bool, &[3]))
                .ends_with("u8 values are not converted to bool")
        );
    }

    #[test]
    fn floats_widen_silently_and_round_with_a_note() {
        let halfs = Tensor::new(DType::F16, vec![1, 2], TensorData::F32(vec![1.5, -2.0])).unwrap();
        let (t, note) = fit_ok(&file("x", halfs, FileDType::F16), &spec("x", DType::F32, &[2]));
        assert_eq!((t.dtype(), t.to_f64_vec(), note), (DType::F32, vec![1.5, -2.0], None));
        let (_, note) = fit_ok(&file("x", f32s(&[1, 2]), FileDType::F32), &spec("x", DType::F64, &[2]));
        assert_eq!(note, None);
        let doubles = Tensor::from_f64(vec![1, 1], vec![1.0 + 1e-6]).unwrap();
        let (t, note) = fit_ok(&file("x", doubles.clone(), FileDType::F64), &spec("x", DType::F32, &[1]));
        assert_eq!(t.to_f64_vec(), vec![f64::from((1.0 + 1e-6) as f32)]);
        assert_eq!(note.as_deref(), Some("x.npy holds f64 values; they are rounded to f32 for input x: f32[B, 1]"));
        let (t, note) = fit_ok(&file("x", doubles, FileDType::F64), &spec("x", DType::F16, &[1]));
        assert_eq!((t.dtype(), t.to_f64_vec()), (DType::F16, vec![1.0]));
        assert!(note.unwrap().ends_with("rounded to f16 for input x: f16[B, 1]"));
        let mask = Tensor::new(DType::Bool, vec![2, 1], TensorData::Bool(vec![true, false])).unwrap();
        let (t, note) = fit_ok(&file("m", mask, FileDType::Bool), &spec("m", DType::F32, &[1]));
        assert_eq!(t.to_f64_vec(), vec![1.0, 0.0]);
        assert_eq!(note.as_deref(), Some("m.npy holds bool values; they are fed to input m: f32[B, 1] as 0 and 1"));
    }

    #[test]
    fn arrays_are_picked_by_name_image_or_being_alone() {
        let ds = mnist_like(2);
        let specs = [spec("image", DType::F32, &[28, 28]), spec("label", DType::I32, &[])];
        let fitted = fit_to_inputs(&ds, &specs).unwrap();
        assert_eq!(fitted[1], Tensor::new(DType::I32, vec![2], TensorData::I32(vec![1, 1])).unwrap());
        let e = fit_to_inputs(&ds, &[spec("x", DType::F32, &[784]), spec("y", DType::I64, &[])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no data array for input x is f32[B, 784]: the data has arrays \"image\" (f32[2, 28, 28]), \"label\" (i64[2]); name an array \"x\""
        );
        // Beside an input named after an array (a `label` condition), the one other input takes
        // the image.
        let fitted = fit_to_inputs(&ds, &[spec("x", DType::F32, &[784]), spec("label", DType::I64, &[])]).unwrap();
        assert_eq!((fitted[0].shape(), fitted[1].shape()), (&[2usize, 784][..], &[2usize][..]));
        // Without an "image" array, the only image-like array is used; a lone array of any type too.
        let other = Dataset::new(vec![
            ("pixels".into(), Tensor::from_f32(vec![2, 4], vec![0.0; 8]).unwrap()),
            ("label".into(), Tensor::from_i64(vec![2], vec![0, 1]).unwrap()),
        ])
        .unwrap();
        assert_eq!(fit_to_inputs(&other, &[spec("x", DType::F32, &[4])]).unwrap()[0].shape(), &[2, 4]);
        let bytes = Tensor::new(DType::I32, vec![1, 2], TensorData::I32(vec![3, 4])).unwrap();
        let lone = file("train", bytes, FileDType::U8);
        assert!(fit_err(&lone, &spec("x", DType::F32, &[2])).starts_with("train.npy holds u8 values"));
        let named = Dataset::new(vec![("a".into(), f32s(&[1, 3])), ("b".into(), f32s(&[1, 2]))]).unwrap();
        let named = named.with_source("a", Source::file("d.npz", Some("a".into()), FileDType::U8));
        assert_eq!(
            fit_err(&named, &spec("x", DType::F32, &[2])),
            "no data array for input x is f32[B, 2]: the data has arrays \"a\" (u8[1, 3]), \"b\" (f32[1, 2]); name an array \"x\""
        );
        assert_eq!(
            fit_err(&named, &spec("a", DType::F32, &[2])),
            "array \"a\" of d.npz is u8[1, 3] (3 values per example) but input a is f32[B, 2] (2 values per example)"
        );
    }
}

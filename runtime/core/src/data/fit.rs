//! Matching a data set's arrays to a model's data inputs.
//!
//! Steps, per input spec:
//! 1. pick the array: the one named like the input; else, for a model with a single input, the
//!    array named `image`, or else the only image-like array (floating point or bool, at least
//!    one axis per example);
//! 2. reshape per example when the number of values per example agrees (`[N, 28, 28]` feeds
//!    `[B, 784]` or `[B, 1, 28, 28]`);
//! 3. convert the element type where the meaning is kept: between float types (f16/bf16 values
//!    are rounded to their precision), bool to float (0/1), between i32 and i64 (when values
//!    fit); integers never silently become floats, which would turn byte pixels into 0..255.
//!
//! The results hold the whole data set, `[N, ...]` with the input's per-example shape, in the
//! order of the specs, ready for [`super::BatchIter`].

use super::{DataError, Dataset};
use hg_abi::{DType, DimSpec, TensorSpec};
use hg_exec::tensor::{Tensor, TensorData};

/// The arrays that feed `specs` (the model's data inputs), reshaped and converted.
pub fn fit_to_inputs(dataset: &Dataset, specs: &[TensorSpec]) -> Result<Vec<Tensor>, DataError> {
    specs
        .iter()
        .map(|spec| {
            let (name, array) = pick(dataset, spec, specs.len())?;
            fit_one(name, array, spec)
        })
        .collect()
}

fn pick<'a>(dataset: &'a Dataset, spec: &TensorSpec, n_specs: usize) -> Result<(&'a str, &'a Tensor), DataError> {
    let find = |name: &str| dataset.arrays.iter().find(|(n, _)| n == name).map(|(n, t)| (n.as_str(), t));
    if let Some(found) = find(&spec.name) {
        return Ok(found);
    }
    if n_specs == 1 {
        if let Some(found) = find("image") {
            return Ok(found);
        }
        let image_like: Vec<_> = dataset
            .arrays
            .iter()
            .filter(|(_, t)| (t.dtype().is_float() || t.dtype() == DType::Bool) && t.shape().len() >= 2)
            .collect();
        if let [(name, t)] = image_like[..] {
            return Ok((name.as_str(), t));
        }
    }
    let names: Vec<String> = dataset.arrays.iter().map(|(n, t)| format!("\"{n}\" ({t})")).collect();
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

fn fit_one(name: &str, array: &Tensor, spec: &TensorSpec) -> Result<Tensor, DataError> {
    let mismatch = |msg: String| Err(DataError::Mismatch(msg));
    let per_example: Vec<usize> = match spec.shape.split_first() {
        Some((DimSpec::Batch(1), rest)) if rest.iter().all(|d| matches!(d, DimSpec::Fixed(_))) => {
            rest.iter().map(|d| d.resolve(0)).collect()
        }
        _ => {
            return mismatch(format!(
                "input {} has no single leading batch axis B, so it cannot be fed examples from data array \"{name}\"",
                describe_spec(spec)
            ));
        }
    };
    let Some((&n, array_example)) = array.shape().split_first() else {
        return mismatch(format!("data array \"{name}\" is a scalar ({array}) without an axis of examples"));
    };
    let have: usize = array_example.iter().product();
    let want: usize = per_example.iter().product();
    if have != want {
        return mismatch(format!(
            "data array \"{name}\" has shape {:?} ({have} values per example) but input {} ({want} values per example)",
            array.shape(),
            describe_spec(spec)
        ));
    }
    let data = convert(array, spec.dtype).map_err(|why| {
        DataError::Mismatch(format!(
            "data array \"{name}\" holds {} values but input {}: {why}",
            array.dtype(),
            describe_spec(spec)
        ))
    })?;
    let shape: Vec<usize> = std::iter::once(n).chain(per_example).collect();
    Tensor::new(spec.dtype, shape, data).map_err(|e| DataError::Mismatch(format!("data array \"{name}\": {e}")))
}

/// Converts elements to the storage of `to`, or says why the conversion would change meaning.
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
            TensorData::I32(_) | TensorData::I64(_) => {
                return Err(
                    "integer data is not converted to floating point; store it as floats (scaled as the model expects)"
                        .into(),
                );
            }
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
        _ => return Err(format!("{from} data cannot be converted to {to}")),
    };
    match to {
        DType::I64 => Ok(TensorData::I64(ints)),
        DType::I32 => ints
            .iter()
            .enumerate()
            .map(|(i, &v)| i32::try_from(v).map_err(|_| format!("element {i} is {v}, which does not fit i32")))
            .collect::<Result<Vec<_>, _>>()
            .map(TensorData::I32),
        _ => Err(format!("{from} data cannot be converted to {to}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dtype: DType, dims: &[usize]) -> TensorSpec {
        let shape = std::iter::once(DimSpec::Batch(1)).chain(dims.iter().map(|&d| DimSpec::Fixed(d))).collect();
        TensorSpec { name: name.into(), dtype, shape }
    }

    fn mnist_like(n: usize) -> Dataset {
        let image = Tensor::from_f32(vec![n, 28, 28], vec![0.5; n * 784]).unwrap();
        let label = Tensor::from_i64(vec![n], vec![1; n]).unwrap();
        Dataset::new(vec![("image".into(), image), ("label".into(), label)]).unwrap()
    }

    #[test]
    fn single_inputs_take_the_image_array_reshaped() {
        let ds = mnist_like(3);
        let flat = fit_to_inputs(&ds, &[spec("x", DType::F32, &[784])]).unwrap();
        assert_eq!(flat[0].shape(), &[3, 784]);
        let nchw = fit_to_inputs(&ds, &[spec("x", DType::F64, &[1, 28, 28])]).unwrap();
        assert_eq!((nchw[0].dtype(), nchw[0].shape()), (DType::F64, &[3usize, 1, 28, 28][..]));
        assert_eq!(nchw[0].to_f64_vec()[5], 0.5);
        // Without an "image" array, the only image-like array is used.
        let other = Dataset::new(vec![
            ("pixels".into(), Tensor::from_f32(vec![2, 4], vec![0.0; 8]).unwrap()),
            ("label".into(), Tensor::from_i64(vec![2], vec![0, 1]).unwrap()),
        ])
        .unwrap();
        assert_eq!(fit_to_inputs(&other, &[spec("x", DType::F32, &[2, 2])]).unwrap()[0].shape(), &[2, 2, 2]);
    }

    #[test]
    fn several_inputs_are_matched_by_name() {
        let ds = mnist_like(2);
        let specs = [spec("image", DType::F32, &[784]), spec("label", DType::I32, &[])];
        let fitted = fit_to_inputs(&ds, &specs).unwrap();
        assert_eq!(fitted[1], Tensor::new(DType::I32, vec![2], TensorData::I32(vec![1, 1])).unwrap());
        let e = fit_to_inputs(&ds, &[spec("x", DType::F32, &[784]), spec("y", DType::I64, &[])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no data array for input x is f32[B, 784]: the data has arrays \"image\" (f32[2, 28, 28]), \"label\" (i64[2]); name an array \"x\""
        );
    }

    #[test]
    fn mismatches_name_both_sides() {
        let ds = mnist_like(4);
        let e = fit_to_inputs(&ds, &[spec("x", DType::F32, &[3, 32, 32])]).unwrap_err().to_string();
        assert_eq!(
            e,
            "data array \"image\" has shape [4, 28, 28] (784 values per example) but input x is f32[B, 3, 32, 32] (3072 values per example)"
        );
        let e = fit_to_inputs(&ds, &[spec("label", DType::F32, &[])]).unwrap_err().to_string();
        assert!(e.starts_with("data array \"label\" holds i64 values but input label is f32[B]: integer data"), "{e}");
        let e = fit_to_inputs(&ds, &[spec("image", DType::I64, &[784])]).unwrap_err().to_string();
        assert!(e.contains("f32 data cannot be converted to i64"), "{e}");
        let fixed = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![DimSpec::Fixed(784)] };
        let e = fit_to_inputs(&ds, &[fixed]).unwrap_err().to_string();
        assert!(e.contains("no single leading batch axis"), "{e}");
        let big = Dataset::new(vec![("n".into(), Tensor::from_i64(vec![1], vec![1 << 40]).unwrap())]).unwrap();
        let e = fit_to_inputs(&big, &[spec("n", DType::I32, &[])]).unwrap_err().to_string();
        assert!(e.contains("does not fit i32"), "{e}");
    }

    #[test]
    fn half_precision_inputs_round_values() {
        let ds = Dataset::new(vec![("x".into(), Tensor::from_f64(vec![1, 1], vec![1.0 + 1e-6]).unwrap())]).unwrap();
        let t = &fit_to_inputs(&ds, &[spec("x", DType::F16, &[1])]).unwrap()[0];
        assert_eq!((t.dtype(), t.to_f64_vec()), (DType::F16, vec![1.0]));
        let b = Dataset::new(vec![(
            "x".into(),
            Tensor::new(DType::Bool, vec![2, 1], TensorData::Bool(vec![true, false])).unwrap(),
        )])
        .unwrap();
        assert_eq!(fit_to_inputs(&b, &[spec("x", DType::F32, &[1])]).unwrap()[0].to_f64_vec(), vec![1.0, 0.0]);
    }
}

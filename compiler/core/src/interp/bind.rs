//! Binding a function's inputs: the batch size, the source values, the seed and the step.
//!
//! Algorithm:
//! 1. The sources are the function's declared inputs in signature order (all required, used
//!    or not, as the runtime's signature promises), then any other live `input`/`param` node
//!    of the graph (an `input` by its name, a `param` as `param:<name>`).
//! 2. `B` is solved from the first dimension, in that order, declared as exactly `k*B`:
//!    `B = size / k` (a size that is not a multiple of `k` is an error naming the input). When
//!    no source fixes `B`, `RunContext::batch` does; when both do, they must agree.
//! 3. Every source is checked against its declared type (dtype, rank and each dimension) and
//!    converted to a [`Buf`]. In [`Precision::F64`] a float input also accepts an f64 tensor,
//!    so gradient checks can perturb inputs at full precision.
//! 4. Integer scalar sources also keep their exact 64-bit value, which random draws read for
//!    their key: a `seed` is a full `u64` (given as the i64 of the same bits), beyond the f64
//!    buffers' exact range, so `seed` alone is exempt from the ±2^53 check.

use super::buf::{Buf, fmt_shape, try_collect};
use super::error::InterpError;
use super::{Precision, RunContext};
use hg_abi::{DType, names};
use hg_exec::{NamedTensors, Tensor, TensorData};
use hg_ir::{Dim, Function, Op, TensorType, ValueId};
use std::collections::{HashMap, HashSet};

/// The largest integer magnitude f64 holds exactly (2^53).
pub const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Named tensors looked up in several maps, first match wins: a session passes the batch,
/// its resident parameters and its state without merging (copying) them into one map.
#[derive(Clone, Copy)]
pub struct Layers<'a>(pub &'a [&'a NamedTensors]);

impl<'a> Layers<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Tensor> {
        self.0.iter().find_map(|m| m.get(name))
    }
}

/// What a run starts from.
pub struct Bound {
    pub batch: Option<usize>,
    pub sources: HashMap<ValueId, Buf>,
    /// Exact values of the integer scalar sources, as the `u64` of their bits.
    pub exact_ints: HashMap<ValueId, u64>,
}

/// Concrete value of one dimension given the (possibly unknown) batch size.
pub fn concrete_dim(d: &Dim, batch: Option<usize>) -> Result<usize, String> {
    if let Some(n) = d.as_const() {
        return usize::try_from(n).map_err(|_| format!("dimension {n} is negative"));
    }
    if d.symbols() != ["B"] {
        return Err(format!("dimension `{d}` depends on symbols other than the batch size `B`"));
    }
    let b = batch.ok_or_else(|| format!("dimension `{d}` needs the batch size `B`, which no input fixes"))?;
    d.eval_batch(b)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("dimension `{d}` is negative or overflows for B = {b}"))
}

/// Concrete shape of a type given the (possibly unknown) batch size.
pub fn concrete_shape(ty: &TensorType, batch: Option<usize>) -> Result<Vec<usize>, String> {
    ty.shape.iter().map(|d| concrete_dim(d, batch)).collect()
}

/// The tensor name a source node reads when the signature does not list it.
fn source_key(op: &Op) -> Option<String> {
    match op {
        Op::Input { name } => Some(name.clone()),
        Op::Param { name } => Some(names::param(name)),
        _ => None,
    }
}

/// Sources in binding order: declared inputs first, then unlisted live input/param nodes.
pub(super) fn sources(f: &Function, live: &HashSet<ValueId>) -> Result<Vec<(String, ValueId)>, InterpError> {
    let mut out: Vec<(String, ValueId)> = Vec::new();
    for (name, v) in &f.inputs {
        let node = f.graph.node_weight(v.0);
        if node.and_then(|n| source_key(&n.op)).is_none() {
            return Err(InterpError::Graph {
                function: f.name.clone(),
                message: format!("input `{name}` refers to {v}, which is not an `input` or `param` node"),
            });
        }
        out.push((name.clone(), *v));
    }
    let listed: HashSet<ValueId> = f.inputs.iter().map(|(_, v)| *v).collect();
    for v in f.values() {
        if !live.contains(&v) || listed.contains(&v) {
            continue;
        }
        if let Some(key) = source_key(f.op(v)) {
            out.push((key, v));
        }
    }
    Ok(out)
}

fn describe(t: &Tensor) -> String {
    format!("{}{}", t.dtype(), fmt_shape(t.shape()))
}

fn expected(ty: &TensorType, batch: Option<usize>) -> String {
    let symbolic = ty.shape.iter().any(|d| !d.is_const());
    match batch {
        Some(b) if symbolic => format!("{ty} with B = {b}"),
        _ => ty.to_string(),
    }
}

/// Solves `B` from the first `k*B` dimension of the given sources.
fn solve_batch(found: &[(&str, &TensorType, &Tensor)]) -> Result<Option<usize>, InterpError> {
    for (name, ty, t) in found {
        if ty.rank() != t.shape().len() {
            continue;
        }
        for (axis, d) in ty.shape.iter().enumerate() {
            let Some(k) = d.as_batch_multiple().and_then(|k| usize::try_from(k).ok()) else { continue };
            let size = t.shape()[axis];
            if size % k != 0 {
                return Err(InterpError::BadInput {
                    name: name.to_string(),
                    expected: ty.to_string(),
                    got: describe(t),
                    reason: format!("dimension {axis} is {size}, not a multiple of {k} (declared `{d}`)"),
                });
            }
            return Ok(Some(size / k));
        }
    }
    Ok(None)
}

/// Checks one source against its declared type and converts it.
fn convert(
    name: &str,
    ty: &TensorType,
    t: &Tensor,
    batch: Option<usize>,
    precision: Precision,
) -> Result<Buf, InterpError> {
    let bad = |reason: String| InterpError::BadInput {
        name: name.to_string(),
        expected: expected(ty, batch),
        got: describe(t),
        reason,
    };
    let widened = precision == Precision::F64 && ty.dtype.is_float() && t.dtype() == DType::F64;
    if t.dtype() != ty.dtype && !widened {
        return Err(bad(format!("dtype {} is not {}", t.dtype(), ty.dtype)));
    }
    if t.shape().len() != ty.rank() {
        return Err(bad(format!("rank {} is not {}", t.shape().len(), ty.rank())));
    }
    for (axis, (d, &got)) in ty.shape.iter().zip(t.shape()).enumerate() {
        let want = concrete_dim(d, batch).map_err(&bad)?;
        if want != got {
            return Err(bad(format!("dimension {axis} is {got}, expected {want}")));
        }
    }
    if let TensorData::I64(v) = t.data()
        && name != names::SEED
        && let Some(x) = v.iter().find(|x| (**x as f64).abs() > EXACT_INT)
    {
        return Err(bad(format!("value {x} is beyond ±2^53, the interpreter's exact integer range")));
    }
    to_buf(t).map_err(bad)
}

/// A tensor's elements widened to f64 (bools as 0/1), allocated through `try_vec`.
fn to_buf(t: &Tensor) -> Result<Buf, String> {
    let n = t.len();
    let data = match t.data() {
        TensorData::F32(v) => try_collect(n, v.iter().map(|&x| f64::from(x))),
        TensorData::F64(v) => try_collect(n, v.iter().copied()),
        TensorData::I32(v) => try_collect(n, v.iter().map(|&x| f64::from(x))),
        TensorData::I64(v) => try_collect(n, v.iter().map(|&x| x as f64)),
        TensorData::Bool(v) => try_collect(n, v.iter().map(|&x| if x { 1.0 } else { 0.0 })),
    }?;
    Ok(Buf::new(t.shape().to_vec(), data))
}

/// Reads a scalar integer input (`batch`) if given: a one-element integer tensor.
fn scalar_u64(inputs: Layers<'_>, name: &str, default: u64) -> Result<u64, InterpError> {
    let Some(t) = inputs.get(name) else { return Ok(default) };
    let value = match t.data() {
        TensorData::I64(v) if v.len() == 1 => Some(v[0] as u64),
        TensorData::I32(v) if v.len() == 1 => Some(i64::from(v[0]) as u64),
        _ => None,
    };
    value.ok_or_else(|| InterpError::BadInput {
        name: name.to_string(),
        expected: "i64[]".into(),
        got: describe(t),
        reason: "it must be a one-element integer tensor".into(),
    })
}

/// Binds the inputs of `f`; `live` are the values some output needs.
pub fn bind_inputs(
    f: &Function,
    inputs: Layers<'_>,
    ctx: &RunContext,
    live: &HashSet<ValueId>,
) -> Result<Bound, InterpError> {
    let sources = sources(f, live)?;
    let mut found: Vec<(&str, &TensorType, &Tensor)> = Vec::with_capacity(sources.len());
    for (name, v) in &sources {
        let ty = f.ty(*v);
        let t = inputs
            .get(name)
            .ok_or_else(|| InterpError::MissingInput { name: name.clone(), expected: ty.to_string() })?;
        found.push((name, ty, t));
    }
    // A `batch` scalar input (the `sample` entry's) fixes `B` when no tensor input does.
    let batch_input = match inputs.get(names::BATCH) {
        Some(_) => Some(
            usize::try_from(scalar_u64(inputs, names::BATCH, 0)?)
                .map_err(|_| InterpError::Batch("`batch` is too large".into()))?,
        ),
        None => None,
    };
    let batch = match (solve_batch(&found)?, ctx.batch.or(batch_input)) {
        (Some(b), Some(c)) if b != c => {
            return Err(InterpError::Batch(format!("the inputs give B = {b} but the run context fixes B = {c}")));
        }
        (b, c) => b.or(c),
    };
    let mut values = HashMap::with_capacity(sources.len());
    let mut exact_ints = HashMap::new();
    for ((_, v), (name, ty, t)) in sources.iter().zip(&found) {
        values.insert(*v, convert(name, ty, t, batch, ctx.precision)?);
        match t.data() {
            TensorData::I64(x) if x.len() == 1 && ty.rank() == 0 => exact_ints.insert(*v, x[0] as u64),
            TensorData::I32(x) if x.len() == 1 && ty.rank() == 0 => exact_ints.insert(*v, i64::from(x[0]) as u64),
            _ => None,
        };
    }
    Ok(Bound { batch, sources: values, exact_ints })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_evaluate_with_the_batch() {
        let b = Dim::batch();
        let two_b = Dim::constant(2).checked_mul(&b).unwrap();
        assert_eq!(concrete_dim(&Dim::constant(3), None).unwrap(), 3);
        assert_eq!(concrete_dim(&two_b, Some(4)).unwrap(), 8);
        assert!(concrete_dim(&b, None).unwrap_err().contains("no input fixes"));
        assert!(concrete_dim(&Dim::sym("D"), Some(4)).unwrap_err().contains("other than"));
        assert!(concrete_dim(&Dim::constant(-1), None).is_err());
        let one_minus_b = Dim::constant(1).checked_sub(&b).unwrap();
        assert!(concrete_dim(&one_minus_b, Some(3)).unwrap_err().contains("negative"));
    }
}

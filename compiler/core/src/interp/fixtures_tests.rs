//! Checks primitives against results computed independently with numpy, stored in
//! `tests/fixtures/interp/cases.json` by `tests/fixtures/make_interp_fixtures.py` (see that
//! script for the reference implementations). Each case becomes a one-node graph run in
//! [`Precision::F32`]: f64 cases are unaffected by it, f32 cases must match numpy's float32
//! arithmetic exactly.

use super::testutil::Graph;
use super::{Precision, RunContext, erf, erfc, run_function};
use hg_exec::{NamedTensors, Tensor, TensorData};
use hg_ir::{BinaryOp, DType, Dim, Op, PoolKind, ReduceOp, TensorType, UnaryOp};
use serde_json::Value;

const CASES: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/interp/cases.json"));

/// A number of the fixture file: floats are strings (parsed exactly by `str::parse`), integers
/// and bools plain JSON.
fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

struct Fixture {
    dtype: DType,
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn fixture(v: &Value) -> Fixture {
    let dtype = DType::from_name(v["dtype"].as_str().expect("dtype")).expect("known dtype");
    let shape = v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect();
    let data = v["data"].as_array().expect("data").iter().map(number).collect();
    Fixture { dtype, shape, data }
}

fn tensor(f: &Fixture) -> Tensor {
    let data = match f.dtype {
        DType::F32 => TensorData::F32(f.data.iter().map(|&x| x as f32).collect()),
        DType::F64 => TensorData::F64(f.data.clone()),
        DType::I64 => TensorData::I64(f.data.iter().map(|&x| x as i64).collect()),
        DType::Bool => TensorData::Bool(f.data.iter().map(|&x| x != 0.0).collect()),
        other => panic!("fixtures do not use {other}"),
    };
    Tensor::new(f.dtype, f.shape.clone(), data).expect("fixture tensor")
}

fn pair(v: &Value) -> [usize; 2] {
    let a = v.as_array().expect("pair");
    [a[0].as_u64().expect("int") as usize, a[1].as_u64().expect("int") as usize]
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("non-negative integer") as usize
}

fn op_of(v: &Value) -> Op {
    let kind = v["kind"].as_str().expect("op kind");
    let axes = || v["axes"].as_array().expect("axes").iter().map(usize_of).collect::<Vec<_>>();
    let keepdims = || v["keepdims"].as_bool().expect("keepdims");
    match kind {
        "matmul" => Op::MatMul,
        "conv2d" => {
            Op::Conv2d { stride: pair(&v["stride"]), padding: pair(&v["padding"]), groups: usize_of(&v["groups"]) }
        }
        "conv_transpose2d" => Op::ConvTranspose2d {
            stride: pair(&v["stride"]),
            padding: pair(&v["padding"]),
            output_padding: pair(&v["output_padding"]),
            groups: usize_of(&v["groups"]),
        },
        "conv2d_weight_grad" => Op::Conv2dWeightGrad {
            stride: pair(&v["stride"]),
            padding: pair(&v["padding"]),
            groups: usize_of(&v["groups"]),
        },
        "avg_pool2d" | "max_pool2d" => Op::Pool2d {
            kind: if kind == "avg_pool2d" { PoolKind::Avg } else { PoolKind::Max },
            kernel: pair(&v["kernel"]),
            stride: pair(&v["stride"]),
            padding: pair(&v["padding"]),
        },
        "max_pool2d_grad" => {
            Op::MaxPool2dGrad { kernel: pair(&v["kernel"]), stride: pair(&v["stride"]), padding: pair(&v["padding"]) }
        }
        "gather" => Op::Gather { axis: usize_of(&v["axis"]) },
        "scatter_add" => Op::ScatterAdd { axis: usize_of(&v["axis"]) },
        "topk_indices" => Op::TopKIndices { k: usize_of(&v["k"]), axis: usize_of(&v["axis"]) },
        "one_hot" => Op::OneHot { n: usize_of(&v["n"]) },
        "sum" => Op::Reduce { op: ReduceOp::Sum, axes: axes(), keepdims: keepdims() },
        "mean" => Op::Reduce { op: ReduceOp::Mean, axes: axes(), keepdims: keepdims() },
        "max" => Op::Reduce { op: ReduceOp::Max, axes: axes(), keepdims: keepdims() },
        "min" => Op::Reduce { op: ReduceOp::Min, axes: axes(), keepdims: keepdims() },
        "argmax" | "argmin" => {
            Op::ArgReduce { max: kind == "argmax", axis: usize_of(&v["axis"]), keepdims: keepdims() }
        }
        "where" => Op::Where,
        "pad" => Op::Pad {
            pads: v["pads"].as_array().expect("pads").iter().map(|p| pair(p).into()).collect(),
            value: number(&v["value"]),
        },
        "slice" => Op::Slice {
            axis: usize_of(&v["axis"]),
            start: usize_of(&v["start"]),
            end: usize_of(&v["end"]),
            step: usize_of(&v["step"]),
        },
        "transpose" => Op::Transpose { perm: v["perm"].as_array().expect("perm").iter().map(usize_of).collect() },
        "concat" => Op::Concat { axis: usize_of(&v["axis"]) },
        "broadcast_to" => Op::BroadcastTo,
        other => match (UnaryOp::from_name(other), BinaryOp::from_name(other)) {
            (Some(u), _) => Op::Unary(u),
            (_, Some(b)) => Op::Binary(b),
            _ => panic!("fixture op `{other}` is not mapped"),
        },
    }
}

fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= atol + rtol * want.abs()
}

fn concrete(f: &Fixture) -> TensorType {
    TensorType::new(f.dtype, f.shape.iter().map(|&d| Dim::constant(d as i64)).collect())
}

fn run_case(case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().expect("name");
    let inputs: Vec<Fixture> = case["inputs"].as_array().expect("inputs").iter().map(fixture).collect();
    let want = fixture(&case["output"]);
    let (rtol, atol) = (number(&case["rtol"]), number(&case["atol"]));
    if case["op"]["kind"] == "erf_erfc" {
        for (i, &x) in inputs[0].data.iter().enumerate() {
            let (e, c) = (want.data[2 * i], want.data[2 * i + 1]);
            if !close(erf(x), e, rtol, atol) || !close(erfc(x), c, rtol, atol) {
                return Err(format!("{name}: erf/erfc({x}) = {}/{}, numpy {e}/{c}", erf(x), erfc(x)));
            }
        }
        return Ok(());
    }
    let mut g = Graph::new();
    let mut given = NamedTensors::new();
    let mut operands = Vec::new();
    for (i, fx) in inputs.iter().enumerate() {
        let input_name = format!("x{i}");
        operands.push(g.f.add_input(&input_name, concrete(fx), Default::default()));
        given.insert(input_name, tensor(fx));
    }
    let v = g.f.add_typed(op_of(&case["op"]), &operands, concrete(&want), Default::default());
    g.output("y", v);
    let out = run_function(&g.f, &given, &RunContext::new(Precision::F32)).map_err(|e| format!("{name}: {e}"))?;
    let got = &out["y"];
    if got.shape() != want.shape || got.dtype() != want.dtype {
        return Err(format!("{name}: got {got}, numpy {}{:?}", want.dtype, want.shape));
    }
    for (i, (&g, &w)) in got.to_f64_vec().iter().zip(&want.data).enumerate() {
        if !close(g, w, rtol, atol) {
            return Err(format!("{name}: element {i} is {g}, numpy gives {w}"));
        }
    }
    Ok(())
}

#[test]
fn primitives_match_numpy() {
    let cases: Value = serde_json::from_str(CASES).expect("fixture json");
    let cases = cases.as_array().expect("a list of cases");
    assert!(cases.len() >= 25, "the fixture file lost cases");
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

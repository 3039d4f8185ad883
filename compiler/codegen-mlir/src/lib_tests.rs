//! The GPU kernels of library calls (`kernel::lib`), run on the CPU through MLIR's lowering and
//! held to the CPU library (`hg_cpu::lib`) on the same inputs: bit for bit where the library's
//! result does not depend on a blocking (indexing, selection, scatter-add, pooling, gathered
//! sparse rows), to f32 rounding for convolutions and dense dot products. Out-of-range indices
//! must raise the status word, naming the first bad position.

use hg_abi::DType;
use hg_abi::plan::{Affine, Conv2dGeom, DeviceLib, KernelFn, LibCall, MatStrides, SparseForm};
use hg_cpu::lib::{self, ArgType, Resolved, resolve};
use hg_cpu::loader::LoadedObject;

use crate::cpu::compile_library;

/// An argument's elements.
#[derive(Clone, Debug, PartialEq)]
enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Data {
    fn ptr(&mut self) -> *mut u8 {
        match self {
            Data::F32(v) => v.as_mut_ptr().cast(),
            Data::I64(v) => v.as_mut_ptr().cast(),
        }
    }

    fn f32(&self) -> &[f32] {
        match self {
            Data::F32(v) => v,
            Data::I64(_) => panic!("not f32"),
        }
    }

    fn i64(&self) -> &[i64] {
        match self {
            Data::I64(v) => v,
            Data::F32(_) => panic!("not i64"),
        }
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Values in [-2, 2) on a grid of 1/8, so ties and exact sums occur.
    fn value(&mut self) -> f32 {
        (self.next() % 32) as f32 / 8.0 - 2.0
    }

    fn below(&mut self, n: usize) -> i64 {
        (self.next() % n.max(1) as u64) as i64
    }
}

/// The library kernels of `libs` compiled for this CPU and loaded.
struct Compiled {
    functions: Vec<KernelFn>,
    _code: LoadedObject,
}

fn compile(libs: &[DeviceLib]) -> Compiled {
    let (functions, code) = compile_library(libs).unwrap_or_else(|e| panic!("{e}"));
    Compiled { functions, _code: code }
}

/// Inputs for `call` at batch `batch` (indices in range), and the result buffer zeroed.
fn inputs(r: &Resolved, dtype: DType, index_bound: usize, rng: &mut Rng) -> Vec<Data> {
    let reqs = r.args().unwrap();
    reqs.iter()
        .map(|q| {
            let ty = match q.ty {
                ArgType::Exactly(t) => t,
                ArgType::Data => dtype,
            };
            match (ty, q.written) {
                (DType::F32, true) => Data::F32(vec![0.0; q.len]),
                (DType::F32, false) => Data::F32((0..q.len).map(|_| rng.value()).collect()),
                (_, true) => Data::I64(vec![0; q.len]),
                (_, false) if matches!(q.ty, ArgType::Data) => {
                    Data::I64((0..q.len).map(|_| rng.below(7) - 3).collect())
                }
                (_, false) => Data::I64((0..q.len).map(|_| rng.below(index_bound)).collect()),
            }
        })
        .collect()
}

/// The CPU library's result of `r` on `args` (the last is written).
fn reference(r: &Resolved, args: &mut [Data]) -> Result<(), String> {
    let (out, ins) = args.split_last_mut().unwrap();
    let f = |i: usize| ins[i].f32();
    let result = match (r, out) {
        (Resolved::Conv2d(g), Data::F32(y)) => lib::conv::conv2d(g, f(0), f(1), y, 1),
        (Resolved::ConvTranspose2d(g), Data::F32(y)) => lib::conv::conv_transpose2d(g, f(0), f(1), y, 1),
        (Resolved::Conv2dWeightGrad(g), Data::F32(y)) => lib::conv::conv2d_weight_grad(g, f(0), f(1), y, 1),
        (Resolved::Pool2d { geom, max }, Data::F32(y)) => lib::pool::pool2d(geom, *max, f(0), y, 1),
        (Resolved::MaxPool2dGrad(g), Data::F32(y)) => lib::pool::max_pool2d_grad(g, f(0), f(1), y, 1),
        (Resolved::Gather(g), Data::F32(y)) => lib::index::gather(g, f(0), ins[1].i64(), y, 1),
        (Resolved::Gather(g), Data::I64(y)) => lib::index::gather(g, ins[0].i64(), ins[1].i64(), y, 1),
        (Resolved::ScatterAdd(g), Data::F32(y)) => lib::index::scatter_add(g, f(0), ins[1].i64(), f(2), y),
        (Resolved::TopK(g), Data::I64(y)) => match &ins[0] {
            Data::F32(x) => lib::reduce::topk(g, x, y, 1),
            Data::I64(x) => lib::reduce::topk(g, x, y, 1),
        },
        (Resolved::ArgReduce { geom, max }, Data::I64(y)) => match &ins[0] {
            Data::F32(x) => lib::reduce::arg_reduce(geom, *max, x, y, 1),
            Data::I64(x) => lib::reduce::arg_reduce(geom, *max, x, y, 1),
        },
        (Resolved::SparseMatMul(g), Data::F32(y)) => lib::sparse::sparse_matmul(g, ins[0].i64(), f(1), f(2), y, 1),
        (Resolved::SampledMatMul(g), Data::F32(y)) => lib::sparse::sampled_matmul(g, ins[0].i64(), f(1), f(2), y, 1),
        (Resolved::CheckIndices { n, .. }, Data::I64(idx)) => lib::check_indices("index", idx, *n),
        (r, _) => panic!("no reference for {r:?}"),
    };
    result.map_err(|e| e.to_string())
}

/// Runs kernel `k` of `compiled` for `call` at `batch` on `args`; returns the status word.
fn run(compiled: &Compiled, k: usize, call: &LibCall, batch: usize, args: &mut [Data]) -> i64 {
    let mut status = [0i64];
    let mut table: Vec<*mut u8> = args.iter_mut().map(Data::ptr).collect();
    table.push(status.as_mut_ptr().cast());
    let extent = call.device_extent(batch).unwrap();
    // SAFETY: the buffers hold the elements `Resolved::args` asks for at this batch size, which
    // is what the kernel's body reads and writes; the status word is one i64.
    unsafe { (compiled.functions[k])(table.as_ptr(), batch as i64, 0, extent as i64) };
    status[0]
}

/// Whether two results agree: exactly, or within `tol` relative to the larger magnitude.
fn agree(got: &Data, want: &Data, tol: f32) -> Result<(), String> {
    match (got, want) {
        (Data::F32(g), Data::F32(w)) => {
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                let close = (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0);
                if !(same || (tol > 0.0 && close)) {
                    return Err(format!("element {i}: {a} against {b}"));
                }
            }
            Ok(())
        }
        (g, w) if g == w => Ok(()),
        (g, w) => Err(format!("{g:?} against {w:?}")),
    }
}

/// One case: a call, its data type, the tolerance, and the range of its index inputs.
struct Case {
    call: LibCall,
    dtype: DType,
    tol: f32,
    bound: usize,
}

fn c(x: i64) -> Affine {
    Affine::constant(x)
}

fn strides(row: i64, col: i64) -> MatStrides {
    MatStrides { batch: c(0), inner: c(0), row: c(row), col: c(col) }
}

#[allow(clippy::too_many_arguments)]
fn conv_geom(n: i64, c_in: usize, hw: usize, o: usize, k: usize, s: usize, p: usize, groups: usize) -> Conv2dGeom {
    let out = (hw + 2 * p - k) / s + 1;
    Conv2dGeom {
        n: Affine { b: n, c: 0 },
        c: c_in,
        h: hw,
        w: hw + 1,
        o,
        oh: out,
        ow: (hw + 1 + 2 * p - k) / s + 1,
        kh: k,
        kw: k,
        stride: [s, s],
        padding: [p, p],
        groups,
    }
}

fn cases() -> Vec<Case> {
    let b = Affine::batch(1);
    let case = |call, dtype, tol, bound| Case { call, dtype, tol, bound };
    let pool = |max| LibCall::Pool2d { geom: conv_geom(1, 3, 7, 3, 3, 2, 1, 3), max };
    vec![
        case(LibCall::Gather { outer: b, axis: c(5), idx_axis: c(4), inner: c(3) }, DType::F32, 0.0, 5),
        case(LibCall::Gather { outer: c(2), axis: c(6), idx_axis: b, inner: c(1) }, DType::I64, 0.0, 6),
        case(LibCall::ScatterAdd { outer: b, axis: c(5), idx_axis: c(7), inner: c(3) }, DType::F32, 0.0, 5),
        case(LibCall::TopK { outer: b, axis: c(40), inner: c(2), k: 7 }, DType::F32, 0.0, 1),
        case(LibCall::TopK { outer: c(3), axis: c(9), inner: b, k: 9 }, DType::I64, 0.0, 1),
        case(LibCall::ArgReduce { outer: b, axis: c(11), inner: c(3), max: true }, DType::F32, 0.0, 1),
        case(LibCall::ArgReduce { outer: c(2), axis: c(5), inner: b, max: false }, DType::I64, 0.0, 1),
        case(LibCall::CheckIndices { len: Affine { b: 3, c: 1 }, n: 4 }, DType::I64, 0.0, 4),
        case(
            LibCall::SparseMatMul {
                form: SparseForm::GatherRows,
                rows: b,
                nnz: 3,
                n: c(9),
                cols: c(5),
                d: strides(5, 1),
            },
            DType::F32,
            0.0,
            9,
        ),
        case(
            LibCall::SparseMatMul {
                form: SparseForm::GatherRows,
                rows: b,
                nnz: 3,
                n: c(9),
                cols: c(5),
                d: strides(1, 9),
            },
            DType::F32,
            1e-6,
            9,
        ),
        case(
            LibCall::SparseMatMul {
                form: SparseForm::ScatterRows,
                rows: b,
                nnz: 4,
                n: c(8),
                cols: c(6),
                d: strides(6, 1),
            },
            DType::F32,
            1e-6,
            8,
        ),
        case(
            LibCall::SparseMatMul {
                form: SparseForm::ScatterCols,
                rows: b,
                nnz: 2,
                n: c(7),
                cols: c(5),
                d: strides(1, 5),
            },
            DType::F32,
            1e-6,
            7,
        ),
        case(
            LibCall::SampledMatMul { rows: b, nnz: 3, n: c(10), inner: c(19), a: strides(19, 1), b: strides(1, 19) },
            DType::F32,
            1e-6,
            10,
        ),
        case(LibCall::Conv2d(conv_geom(1, 4, 6, 6, 3, 2, 1, 2)), DType::F32, 1e-5, 1),
        case(LibCall::ConvTranspose2d(conv_geom(1, 4, 6, 6, 3, 2, 1, 2)), DType::F32, 1e-5, 1),
        case(LibCall::Conv2dWeightGrad(conv_geom(1, 4, 6, 6, 3, 2, 1, 2)), DType::F32, 1e-5, 1),
        case(LibCall::Conv2d(conv_geom(1, 3, 5, 2, 4, 1, 0, 1)), DType::F32, 1e-5, 1),
        case(LibCall::ConvTranspose2d(conv_geom(1, 2, 8, 3, 4, 2, 1, 1)), DType::F32, 1e-5, 1),
        case(pool(true), DType::F32, 0.0, 1),
        case(pool(false), DType::F32, 0.0, 1),
        case(LibCall::MaxPool2dGrad(conv_geom(1, 3, 7, 3, 3, 2, 1, 3)), DType::F32, 0.0, 1),
        case(LibCall::MaxPool2dGrad(conv_geom(1, 2, 6, 2, 2, 2, 0, 2)), DType::F32, 0.0, 1),
    ]
}

fn libs_of(cases: &[Case]) -> Vec<DeviceLib> {
    cases
        .iter()
        .map(|case| {
            let r = resolve(&case.call, 1).unwrap();
            let dtypes = r
                .args()
                .unwrap()
                .iter()
                .map(|q| match q.ty {
                    ArgType::Exactly(t) => t,
                    ArgType::Data => case.dtype,
                })
                .collect();
            DeviceLib { call: case.call.clone(), dtypes }
        })
        .collect()
}

#[test]
fn library_kernels_match_the_cpu_library() {
    let cases = cases();
    let compiled = compile(&libs_of(&cases));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (k, case) in cases.iter().enumerate() {
        for batch in [1usize, 3, 6] {
            let r = resolve(&case.call, batch).unwrap();
            let mut want = inputs(&r, case.dtype, case.bound, &mut rng);
            // Ties and NaNs for the selections and pooling.
            if let Data::F32(x) = &mut want[0]
                && matches!(r, Resolved::TopK(_) | Resolved::ArgReduce { .. } | Resolved::Pool2d { .. })
                && x.len() > 5
            {
                x[5] = f32::NAN;
            }
            let mut got = want.clone();
            reference(&r, &mut want).unwrap_or_else(|e| panic!("case {k} ({:?}): {e}", case.call));
            let status = run(&compiled, k, &case.call, batch, &mut got);
            assert_eq!(status, 0, "case {k} ({:?}) at B = {batch}", case.call);
            let last = got.len() - 1;
            agree(&got[last], &want[last], case.tol)
                .unwrap_or_else(|e| panic!("case {k} ({:?}) at B = {batch}: {e}", case.call));
        }
    }
}

#[test]
fn out_of_range_indices_raise_the_status() {
    let cases: Vec<Case> = cases().into_iter().filter(|c| c.bound > 1).collect();
    let compiled = compile(&libs_of(&cases));
    let mut rng = Rng(7);
    for (k, case) in cases.iter().enumerate() {
        let r = resolve(&case.call, 2).unwrap();
        let mut args = inputs(&r, case.dtype, case.bound, &mut rng);
        let at = if matches!(case.call, LibCall::Gather { .. } | LibCall::ScatterAdd { .. }) { 1 } else { 0 };
        let Data::I64(idx) = &mut args[at] else { panic!("case {k}: argument {at} is not an index") };
        let bad = idx.len() - 2;
        idx[bad] = if k % 2 == 0 { case.bound as i64 } else { -1 };
        assert!(reference(&r, &mut args.clone()).is_err(), "case {k}: the CPU library accepts it");
        let status = run(&compiled, k, &case.call, 2, &mut args);
        assert_eq!(status, bad as i64 + 1, "case {k} ({:?})", case.call);
    }
}

/// Every library kernel above lowers to PTX for both chips, and `ptxas` assembles it.
#[test]
fn library_kernels_assemble_with_ptxas() {
    use crate::Chip;
    let libs = libs_of(&cases());
    let ptxas = crate::ptxas::find_ptxas().unwrap_or_else(|message| panic!("{message}"));
    let dir = tempfile::tempdir().unwrap();
    for chip in Chip::ALL {
        let (ptx, refused) = crate::gpu::program_ptx(&[], &libs, chip, None).unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(ptx.matches(".visible .entry hg_lib_").count(), libs.len());
        let path = dir.path().join(format!("library_{chip}.ptx"));
        std::fs::write(&path, &ptx).unwrap();
        crate::ptxas::assemble(&ptxas, chip.arch(), &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The GPU form of a library kernel, kept stable: a gather's grid-stride loop over its items,
/// the checked index and the status word's atomic maximum.
#[test]
fn a_gather_kernel_on_the_gpu() {
    let call = LibCall::Gather { outer: Affine::batch(1), axis: c(5), idx_axis: c(2), inner: c(3) };
    let lib = DeviceLib { call, dtypes: vec![DType::F32, DType::I64, DType::F32] };
    insta::assert_snapshot!(crate::kernel::gpu_program(&[], &[lib], false).unwrap().text);
}

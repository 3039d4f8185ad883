//! Library kernels: the operations a plan calls by name ([`LibCall`]) instead of generating
//! code for them, because a good implementation is a blocked algorithm (matrix products through
//! `faer`, convolutions as im2col/col2im around them) or data-dependent control flow (indexing,
//! top-k, random streams).
//!
//! Every kernel is a safe function over slices with its geometry in concrete sizes
//! ([`resolve`] turns a [`LibCall`] at a batch size into one). It checks the geometry and the
//! slice lengths first and returns an error instead of panicking; an index out of range is an
//! error naming its position. Results follow the reference interpreter: the same tie-breaking
//! (first maximum, lower index first, NaN ranked highest), the same padding rules, the same
//! random numbers bit for bit, and f64 accumulation where the interpreter's result does not
//! depend on a summation order (pooling, scatter-add, max-pool gradients). Matrix products and
//! convolutions accumulate in f32 (blocked), so they differ from the interpreter's f64 sums by
//! rounding only.
//!
//! `threads` arguments bound the parallelism of one call: work is split (on the executor's
//! [`crate::workers`]) only above a size where it pays.

pub mod conv;
pub mod gemm;
pub mod index;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod sparse;

use crate::error::{CpuError, bail, product};
use hg_abi::DType;
use hg_abi::plan::{Conv2dGeom, LibCall, MatStrides, Quadratic, RandomKind};
use sparse::{SampledGeom, SparseGeom};
use std::cell::Cell;

/// Element strides of one operand of a matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Strides {
    pub batch: usize,
    /// Stride of the inner batch axis (see [`MatMulGeom::inner`]).
    pub inner: usize,
    pub row: usize,
    pub col: usize,
}

/// `c[i, j] (+)= a[i, j] @ b[i, j]` for `i < batch`, `j < inner`: `a` is `m x k`, `b` `k x n`,
/// `c` contiguous `m x n` per item, items row-major in `(i, j)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulGeom {
    pub batch: usize,
    pub inner: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Strides,
    pub b: Strides,
    pub accumulate: bool,
}

/// A convolution or pooling window over NCHW images in concrete sizes (see
/// `hg_abi::plan::Conv2dGeom`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub groups: usize,
}

/// `[outer, axis, inner]` views of gather and scatter-add operands; the index (and the
/// gathered or scattered values) are `[outer, idx_axis, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisGeom {
    pub outer: usize,
    pub axis: usize,
    pub idx_axis: usize,
    pub inner: usize,
}

/// Top-k or arg-max/min along the middle axis of `[outer, axis, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectGeom {
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
    /// Indices per `(outer, inner)` pair (`k` for top-k, 1 for arg-reduce).
    pub k: usize,
}

/// A library call at one batch size, its geometry checked for consistency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved {
    MatMul(MatMulGeom),
    Conv2d(ConvGeom),
    ConvTranspose2d(ConvGeom),
    Conv2dWeightGrad(ConvGeom),
    Pool2d { geom: ConvGeom, max: bool },
    MaxPool2dGrad(ConvGeom),
    Gather(AxisGeom),
    ScatterAdd(AxisGeom),
    TopK(SelectGeom),
    ArgReduce { geom: SelectGeom, max: bool },
    SparseMatMul(SparseGeom),
    SampledMatMul(SampledGeom),
    CheckIndices { len: usize, n: usize },
    Random { kind: RandomKind, site: u32, len: usize },
}

/// The element type an argument of a library call must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    Exactly(DType),
    /// f32 or i64 (or bool where [`ArgReq::written`] data is copied), the same for every
    /// `Data` argument of the call.
    Data,
}

/// What a library call needs from one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgReq {
    pub ty: ArgType,
    /// Elements read or written from the start of the buffer.
    pub len: usize,
    pub written: bool,
}

fn req(ty: DType, len: usize, written: bool) -> ArgReq {
    ArgReq { ty: ArgType::Exactly(ty), len, written }
}

fn data(len: usize, written: bool) -> ArgReq {
    ArgReq { ty: ArgType::Data, len, written }
}

/// Every index in `0..n`, or an error naming the first that is not, as the interpreter does
/// (`what`: "class" for a one-hot, "... index" for the sparse products).
pub fn check_indices(what: &str, idx: &[i64], n: usize) -> Result<(), CpuError> {
    if let Some(p) = idx.iter().position(|&i| usize::try_from(i).map_or(true, |i| i >= n)) {
        bail!("{what} {} at flat position {p} is out of range 0..{n}", idx[p]);
    }
    Ok(())
}

/// A size, stride or count (affine or quadratic in `B`) at batch size `batch`, as a
/// non-negative `usize`.
pub fn eval_size(a: impl Into<Quadratic>, batch: usize, what: &str) -> Result<usize, CpuError> {
    let a: Quadratic = a.into();
    match a.eval(batch) {
        Some(v) if v >= 0 => usize::try_from(v).map_err(|_| CpuError::new(format!("{what} = {v} is too large"))),
        Some(v) => bail!("{what} = {a} is {v} at B = {batch}, which is negative"),
        None => bail!("{what} = {a} overflows at B = {batch}"),
    }
}

fn strides(s: MatStrides, batch: usize, what: &str) -> Result<Strides, CpuError> {
    Ok(Strides {
        batch: eval_size(s.batch, batch, &format!("{what} batch stride"))?,
        inner: eval_size(s.inner, batch, &format!("{what} inner batch stride"))?,
        row: eval_size(s.row, batch, &format!("{what} row stride"))?,
        col: eval_size(s.col, batch, &format!("{what} column stride"))?,
    })
}

fn conv_geom(g: &Conv2dGeom, batch: usize) -> Result<ConvGeom, CpuError> {
    Ok(ConvGeom {
        n: eval_size(g.n, batch, "image count")?,
        c: g.c,
        h: g.h,
        w: g.w,
        o: g.o,
        oh: g.oh,
        ow: g.ow,
        kh: g.kh,
        kw: g.kw,
        stride: g.stride,
        padding: g.padding,
        groups: g.groups,
    })
}

/// Evaluates a call's geometry at batch size `batch` and checks that it is consistent.
pub fn resolve(call: &LibCall, batch: usize) -> Result<Resolved, CpuError> {
    let r = match call {
        LibCall::MatMul { batch: nb, inner_batch, m, n, k, a, b, accumulate } => Resolved::MatMul(MatMulGeom {
            batch: eval_size(*nb, batch, "matmul batch")?,
            inner: eval_size(*inner_batch, batch, "matmul inner batch")?,
            m: eval_size(*m, batch, "matmul m")?,
            n: eval_size(*n, batch, "matmul n")?,
            k: eval_size(*k, batch, "matmul k")?,
            a: strides(*a, batch, "matmul a")?,
            b: strides(*b, batch, "matmul b")?,
            accumulate: *accumulate,
        }),
        LibCall::Conv2d(g) => Resolved::Conv2d(conv_geom(g, batch)?),
        LibCall::ConvTranspose2d(g) => Resolved::ConvTranspose2d(conv_geom(g, batch)?),
        LibCall::Conv2dWeightGrad(g) => Resolved::Conv2dWeightGrad(conv_geom(g, batch)?),
        LibCall::Pool2d { geom, max } => Resolved::Pool2d { geom: conv_geom(geom, batch)?, max: *max },
        LibCall::MaxPool2dGrad(g) => Resolved::MaxPool2dGrad(conv_geom(g, batch)?),
        LibCall::Gather { outer, axis, idx_axis, inner } | LibCall::ScatterAdd { outer, axis, idx_axis, inner } => {
            let g = AxisGeom {
                outer: eval_size(*outer, batch, "outer size")?,
                axis: eval_size(*axis, batch, "axis size")?,
                idx_axis: eval_size(*idx_axis, batch, "index axis size")?,
                inner: eval_size(*inner, batch, "inner size")?,
            };
            if matches!(call, LibCall::Gather { .. }) { Resolved::Gather(g) } else { Resolved::ScatterAdd(g) }
        }
        LibCall::TopK { outer, axis, inner, k } => Resolved::TopK(SelectGeom {
            outer: eval_size(*outer, batch, "outer size")?,
            axis: eval_size(*axis, batch, "axis size")?,
            inner: eval_size(*inner, batch, "inner size")?,
            k: *k,
        }),
        LibCall::ArgReduce { outer, axis, inner, max } => Resolved::ArgReduce {
            geom: SelectGeom {
                outer: eval_size(*outer, batch, "outer size")?,
                axis: eval_size(*axis, batch, "axis size")?,
                inner: eval_size(*inner, batch, "inner size")?,
                k: 1,
            },
            max: *max,
        },
        LibCall::SparseMatMul { form, rows, nnz, n, cols, d } => Resolved::SparseMatMul(SparseGeom {
            form: *form,
            rows: eval_size(*rows, batch, "sparse matmul rows")?,
            nnz: *nnz,
            n: eval_size(*n, batch, "sparse matmul n")?,
            cols: eval_size(*cols, batch, "sparse matmul columns")?,
            d: strides(*d, batch, "sparse matmul d")?,
        }),
        LibCall::SampledMatMul { rows, nnz, n, inner, a, b } => Resolved::SampledMatMul(SampledGeom {
            rows: eval_size(*rows, batch, "sampled matmul rows")?,
            nnz: *nnz,
            n: eval_size(*n, batch, "sampled matmul n")?,
            inner: eval_size(*inner, batch, "sampled matmul inner size")?,
            a: strides(*a, batch, "sampled matmul a")?,
            b: strides(*b, batch, "sampled matmul b")?,
        }),
        LibCall::CheckIndices { len, n } => {
            Resolved::CheckIndices { len: eval_size(*len, batch, "index count")?, n: *n }
        }
        LibCall::Random { kind, site, len } => {
            Resolved::Random { kind: *kind, site: *site, len: eval_size(*len, batch, "random length")? }
        }
    };
    r.args()?;
    Ok(r)
}

impl Resolved {
    /// The name of the call in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Resolved::MatMul(_) => "matmul",
            Resolved::Conv2d(_) => "conv2d",
            Resolved::ConvTranspose2d(_) => "conv_transpose2d",
            Resolved::Conv2dWeightGrad(_) => "conv2d_weight_grad",
            Resolved::Pool2d { max: true, .. } => "max_pool2d",
            Resolved::Pool2d { max: false, .. } => "avg_pool2d",
            Resolved::MaxPool2dGrad(_) => "max_pool2d_grad",
            Resolved::Gather(_) => "gather",
            Resolved::ScatterAdd(_) => "scatter_add",
            Resolved::TopK(_) => "topk",
            Resolved::ArgReduce { max: true, .. } => "argmax",
            Resolved::ArgReduce { max: false, .. } => "argmin",
            Resolved::SparseMatMul(_) => "sparse_matmul",
            Resolved::SampledMatMul(_) => "sampled_matmul",
            Resolved::CheckIndices { .. } => "one_hot index check",
            Resolved::Random { .. } => "random",
        }
    }

    /// What each argument must be, in the order of `Step::Lib::args` (checks the geometry).
    pub fn args(&self) -> Result<Vec<ArgReq>, CpuError> {
        use DType::{F32, I64};
        Ok(match *self {
            Resolved::MatMul(g) => {
                let [a, b, c] = g.lens()?;
                vec![req(F32, a, false), req(F32, b, false), req(F32, c, true)]
            }
            Resolved::Conv2d(g) | Resolved::ConvTranspose2d(g) | Resolved::Conv2dWeightGrad(g) => {
                let [x, w, y] = g.conv_lens()?;
                match self {
                    Resolved::Conv2d(_) => vec![req(F32, x, false), req(F32, w, false), req(F32, y, true)],
                    // x is the forward output, y the forward input.
                    Resolved::ConvTranspose2d(_) => vec![req(F32, y, false), req(F32, w, false), req(F32, x, true)],
                    _ => vec![req(F32, x, false), req(F32, y, false), req(F32, w, true)],
                }
            }
            Resolved::Pool2d { geom, .. } => {
                let [x, y] = geom.pool_lens()?;
                vec![req(F32, x, false), req(F32, y, true)]
            }
            Resolved::MaxPool2dGrad(g) => {
                let [x, y] = g.pool_lens()?;
                vec![req(F32, x, false), req(F32, y, false), req(F32, x, true)]
            }
            Resolved::Gather(g) => {
                let [x, i] = g.lens()?;
                vec![data(x, false), req(I64, i, false), data(i, true)]
            }
            Resolved::ScatterAdd(g) => {
                let [x, i] = g.lens()?;
                vec![req(F32, x, false), req(I64, i, false), req(F32, i, false), req(F32, x, true)]
            }
            Resolved::TopK(g) | Resolved::ArgReduce { geom: g, .. } => {
                let [x, y] = g.lens(matches!(self, Resolved::TopK(_)))?;
                vec![data(x, false), req(I64, y, true)]
            }
            Resolved::SparseMatMul(g) => {
                let [i, v, d, y] = g.lens()?;
                vec![req(I64, i, false), req(F32, v, false), req(F32, d, false), req(F32, y, true)]
            }
            Resolved::SampledMatMul(g) => {
                let [i, a, b, y] = g.lens()?;
                vec![req(I64, i, false), req(F32, a, false), req(F32, b, false), req(F32, y, true)]
            }
            Resolved::CheckIndices { len, .. } => vec![req(I64, len, false)],
            Resolved::Random { kind, len, .. } => {
                random::check_kind(kind)?;
                vec![req(I64, 1, false), req(I64, 1, false), req(I64, 1, false), req(F32, len, true)]
            }
        })
    }
}

/// Elements an operand of `rows x cols` (per batch item) spans with these strides: one more
/// than its largest offset, 0 when it is empty.
fn span(batch: usize, rows: usize, cols: usize, s: Strides) -> Option<usize> {
    if batch == 0 || rows == 0 || cols == 0 {
        return Some(0);
    }
    let last = (batch - 1)
        .checked_mul(s.batch)?
        .checked_add((rows - 1).checked_mul(s.row)?)?
        .checked_add((cols - 1).checked_mul(s.col)?)?;
    last.checked_add(1)
}

/// [`span`] with an inner batch axis of `inner` items.
fn span2(batch: usize, inner: usize, rows: usize, cols: usize, s: Strides) -> Option<usize> {
    if inner == 0 {
        return Some(0);
    }
    let last_inner = (inner - 1).checked_mul(s.inner)?;
    match span(batch, rows, cols, s)? {
        0 => Some(0),
        e => e.checked_add(last_inner),
    }
}

impl MatMulGeom {
    /// Elements of `a`, `b` and `c` the product touches.
    pub fn lens(&self) -> Result<[usize; 3], CpuError> {
        let overflow = || CpuError::new(format!("matmul: the geometry {self:?} overflows"));
        let a = span2(self.batch, self.inner, self.m, self.k, self.a).ok_or_else(overflow)?;
        let b = span2(self.batch, self.inner, self.k, self.n, self.b).ok_or_else(overflow)?;
        let c = product(&[self.batch, self.inner, self.m, self.n], "matmul c")?;
        // faer takes strides and sizes as isize.
        if [a, b, c].iter().any(|&v| isize::try_from(v).is_err()) {
            return Err(overflow());
        }
        Ok([a, b, c])
    }
}

/// Output size of a window sliding over `size` positions padded by `pad` on both sides.
fn out_size(size: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = pad.checked_mul(2)?.checked_add(size)?;
    Some(padded.checked_sub(kernel)? / stride + 1)
}

impl ConvGeom {
    fn check_window(&self, what: &str) -> Result<(), CpuError> {
        if self.stride.contains(&0) {
            bail!("{what}: stride {:?} must be at least 1", self.stride);
        }
        let oh = out_size(self.h, self.kh, self.stride[0], self.padding[0]);
        let ow = out_size(self.w, self.kw, self.stride[1], self.padding[1]);
        if oh != Some(self.oh) || ow != Some(self.ow) {
            let size = |v: Option<usize>| v.map_or("nothing".to_string(), |v| v.to_string());
            bail!(
                "{what}: a {}x{} window with stride {:?} and padding {:?} over {}x{} gives {}x{}, not {}x{}",
                self.kh,
                self.kw,
                self.stride,
                self.padding,
                self.h,
                self.w,
                size(oh),
                size(ow),
                self.oh,
                self.ow
            );
        }
        Ok(())
    }

    /// Elements of the input `[n, c, h, w]`, the weight `[o, c/groups, kh, kw]` and the output
    /// `[n, o, oh, ow]` of the forward convolution.
    pub fn conv_lens(&self) -> Result<[usize; 3], CpuError> {
        self.check_window("conv2d")?;
        let g = self.groups;
        if g == 0 || !self.c.is_multiple_of(g) || !self.o.is_multiple_of(g) {
            bail!("conv2d: channels {} -> {} are not divisible by groups {g}", self.c, self.o);
        }
        Ok([
            product(&[self.n, self.c, self.h, self.w], "conv2d input")?,
            product(&[self.o, self.c / g, self.kh, self.kw], "conv2d weight")?,
            product(&[self.n, self.o, self.oh, self.ow], "conv2d output")?,
        ])
    }

    /// Elements of the input `[n, c, h, w]` and output `[n, c, oh, ow]` of pooling (the
    /// interpreter's rules: no empty image, padding at most half the window).
    pub fn pool_lens(&self) -> Result<[usize; 2], CpuError> {
        if self.h == 0 || self.w == 0 || self.kh == 0 || self.kw == 0 {
            bail!("pool2d: the image {}x{} and the window {}x{} must not be empty", self.h, self.w, self.kh, self.kw);
        }
        if 2 * self.padding[0] > self.kh || 2 * self.padding[1] > self.kw {
            bail!("pool2d: padding {:?} must be at most half of the kernel [{}, {}]", self.padding, self.kh, self.kw);
        }
        if self.o != self.c {
            bail!("pool2d: output channels {} differ from input channels {}", self.o, self.c);
        }
        self.check_window("pool2d")?;
        Ok([
            product(&[self.n, self.c, self.h, self.w], "pool2d input")?,
            product(&[self.n, self.c, self.oh, self.ow], "pool2d output")?,
        ])
    }
}

impl AxisGeom {
    /// Elements of the operand `[outer, axis, inner]` and of the index `[outer, idx_axis, inner]`.
    pub fn lens(&self) -> Result<[usize; 2], CpuError> {
        Ok([
            product(&[self.outer, self.axis, self.inner], "operand")?,
            product(&[self.outer, self.idx_axis, self.inner], "index")?,
        ])
    }
}

impl SelectGeom {
    /// Elements of the operand and of the indices.
    pub fn lens(&self, topk: bool) -> Result<[usize; 2], CpuError> {
        if topk && self.k > self.axis {
            bail!("topk: k = {} is larger than the axis ({})", self.k, self.axis);
        }
        if !topk && self.axis == 0 && self.outer * self.inner > 0 {
            bail!("arg-reduce over an empty axis");
        }
        Ok([
            product(&[self.outer, self.axis, self.inner], "operand")?,
            product(&[self.outer, self.k, self.inner], "indices")?,
        ])
    }
}

/// Per-thread scratch memory of the kernels, taken out while in use (so a kernel that runs
/// another kernel's job while it waits on a parallel split finds none and allocates).
#[derive(Default)]
pub(crate) struct Scratch {
    pub f32s: Vec<f32>,
    pub more: Vec<f32>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch memory.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut s = SCRATCH.with(|c| c.take());
    let r = f(&mut s);
    SCRATCH.with(|c| c.set(s));
    r
}

/// The first `n` elements of a scratch vector (grown, contents unspecified).
pub(crate) fn scratch<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> Result<&mut [T], CpuError> {
    if v.len() < n {
        v.clear();
        if v.try_reserve_exact(n).is_err() {
            bail!("out of memory: cannot allocate {} bytes of scratch", n.saturating_mul(size_of::<T>()));
        }
        v.resize(n, T::default());
    }
    Ok(&mut v[..n])
}

/// Splits the first `items * item_len` elements of `out` into `parts` runs of whole items and
/// calls `f(items range, run)` for each, on the executor's pool when there is more than one
/// part; the first error wins.
pub(crate) fn split_mut<T, F>(out: &mut [T], items: usize, item_len: usize, parts: usize, f: F) -> Result<(), CpuError>
where
    T: Send,
    F: Fn(std::ops::Range<usize>, &mut [T]) -> Result<(), CpuError> + Sync,
{
    let parts = parts.clamp(1, items.max(1));
    if parts == 1 {
        return f(0..items, &mut out[..items * item_len]);
    }
    let mut runs = Vec::with_capacity(parts);
    let mut rest = &mut out[..items * item_len];
    for p in 0..parts {
        let range = items * p / parts..items * (p + 1) / parts;
        let (run, tail) = rest.split_at_mut(range.len() * item_len);
        runs.push((range, run));
        rest = tail;
    }
    crate::workers::try_for_each_owned(runs, |(range, run)| f(range, run))
}

/// Number of parts to split `work` (multiply-adds or element visits) into.
pub(crate) fn parts_for(threads: usize, work: usize, min_work: usize) -> usize {
    if threads <= 1 || work < min_work { 1 } else { threads }
}

//! The execution plan of one compiled entry point: what a CPU (and later GPU) executor runs.
//!
//! A plan is data, so a standalone executable or an artifact can carry it without the compiler:
//! the buffers an entry uses (inputs, outputs, resident parameters and state, temporaries with
//! their offsets in one arena), and the steps in order: calls of generated kernels, by index into
//! the code a backend produced, and calls of library kernels ([`LibCall`]: matrix products,
//! convolutions, pooling, indexing, random fills) with their geometry.
//!
//! Sizes are functions of the batch `B` of the call ([`Affine`]; buffer lengths and arena
//! offsets [`Quadratic`]), so one plan serves every batch size: the executor evaluates them when
//! it opens an arena for a batch size, and never recompiles.
//!
//! **Invariant**: every buffer a step touches is named by [`BufId`]; a library call's geometry
//! says exactly how many elements it reads and writes from each, and the executor checks that
//! against the buffers' lengths before it runs a plan (generated code and library kernels then
//! trust it).

use crate::DType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `b * B + c`: a size, stride or offset as a function of the batch size `B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Affine {
    pub b: i64,
    pub c: i64,
}

impl Affine {
    pub const ZERO: Affine = Affine { b: 0, c: 0 };
    pub const ONE: Affine = Affine { b: 0, c: 1 };

    pub const fn constant(c: i64) -> Affine {
        Affine { b: 0, c }
    }

    pub const fn batch(b: i64) -> Affine {
        Affine { b, c: 0 }
    }

    /// The value for batch size `batch`; `None` on overflow.
    pub fn eval(self, batch: usize) -> Option<i64> {
        self.b.checked_mul(i64::try_from(batch).ok()?)?.checked_add(self.c)
    }

    pub fn as_const(self) -> Option<i64> {
        (self.b == 0).then_some(self.c)
    }

    pub fn checked_add(self, o: Affine) -> Option<Affine> {
        Some(Affine { b: self.b.checked_add(o.b)?, c: self.c.checked_add(o.c)? })
    }

    /// The product, when one side is constant (an affine result).
    pub fn checked_mul(self, o: Affine) -> Option<Affine> {
        match (self.as_const(), o.as_const()) {
            (Some(k), _) => Some(Affine { b: o.b.checked_mul(k)?, c: o.c.checked_mul(k)? }),
            (_, Some(k)) => Some(Affine { b: self.b.checked_mul(k)?, c: self.c.checked_mul(k)? }),
            _ => None,
        }
    }
}

impl fmt::Display for Affine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.b, self.c) {
            (0, c) => write!(f, "{c}"),
            (1, 0) => f.write_str("B"),
            (b, 0) => write!(f, "{b}*B"),
            (1, c) if c < 0 => write!(f, "B-{}", -c),
            (1, c) => write!(f, "B+{c}"),
            (b, c) if c < 0 => write!(f, "{b}*B-{}", -c),
            (b, c) => write!(f, "{b}*B+{c}"),
        }
    }
}

/// `q * B² + b * B + c`: the element count of a buffer, an arena offset or the arena's size.
/// Buffers grow with the square of the batch where a model compares every example with every
/// other (the `[B, B]` kernel matrix of an MMD); strides, extents and indices stay [`Affine`].
/// Serialised as `{q, b, c}`; a plan written before `q` existed reads as `q = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Quadratic {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub q: i64,
    pub b: i64,
    pub c: i64,
}

fn is_zero(x: &i64) -> bool {
    *x == 0
}

impl From<Affine> for Quadratic {
    fn from(a: Affine) -> Quadratic {
        Quadratic { q: 0, b: a.b, c: a.c }
    }
}

impl Quadratic {
    pub const ZERO: Quadratic = Quadratic { q: 0, b: 0, c: 0 };

    pub const fn constant(c: i64) -> Quadratic {
        Quadratic { q: 0, b: 0, c }
    }

    /// The value for batch size `batch`; `None` on overflow.
    pub fn eval(self, batch: usize) -> Option<i64> {
        let n = i64::try_from(batch).ok()?;
        self.q.checked_mul(n)?.checked_add(self.b)?.checked_mul(n)?.checked_add(self.c)
    }

    /// The same size when it has no `B²` term.
    pub fn as_affine(self) -> Option<Affine> {
        (self.q == 0).then_some(Affine { b: self.b, c: self.c })
    }

    pub fn checked_add(self, o: Quadratic) -> Option<Quadratic> {
        Some(Quadratic { q: self.q.checked_add(o.q)?, b: self.b.checked_add(o.b)?, c: self.c.checked_add(o.c)? })
    }

    /// The product of two affine sizes.
    pub fn product(a: Affine, b: Affine) -> Option<Quadratic> {
        Some(Quadratic {
            q: a.b.checked_mul(b.b)?,
            b: a.b.checked_mul(b.c)?.checked_add(a.c.checked_mul(b.b)?)?,
            c: a.c.checked_mul(b.c)?,
        })
    }

    /// The product with an affine size, when the result has degree at most 2.
    pub fn checked_mul(self, o: Affine) -> Option<Quadratic> {
        match (self.as_affine(), o.as_const()) {
            (Some(a), _) => Quadratic::product(a, o),
            (None, Some(k)) => {
                Some(Quadratic { q: self.q.checked_mul(k)?, b: self.b.checked_mul(k)?, c: self.c.checked_mul(k)? })
            }
            (None, None) => None,
        }
    }

    /// Whether `self(B) ≥ other(B)` for every batch size `B ≥ 1`.
    pub fn covers(self, other: Quadratic) -> bool {
        let d = |x: i64, y: i64| i128::from(x) - i128::from(y);
        nonneg_for_every_batch([d(self.c, other.c), d(self.b, other.b), d(self.q, other.q)])
    }
}

/// Whether `p[0] + p[1]·B + p[2]·B² ≥ 0` for every integer `B ≥ 1`: exact, and `false` when
/// the arithmetic would overflow (only absurd sizes reach that).
pub fn nonneg_for_every_batch(p: [i128; 3]) -> bool {
    let [c0, c1, c2] = p;
    // In t = B - 1 ≥ 0: q(t) = c2·t² + (2·c2 + c1)·t + (c2 + c1 + c0).
    let check = || -> Option<bool> {
        let a = c2;
        let b = c2.checked_mul(2)?.checked_add(c1)?;
        let c = c2.checked_add(c1)?.checked_add(c0)?;
        let q = |t: i128| -> Option<i128> {
            a.checked_mul(t)?.checked_mul(t)?.checked_add(b.checked_mul(t)?)?.checked_add(c)
        };
        Some(match a.signum() {
            0 => b >= 0 && c >= 0,
            -1 => false,
            _ if b >= 0 => c >= 0,
            _ => {
                // The real minimum is at t* = -b / 2a > 0; the integer minimum at ⌊t*⌋ or ⌈t*⌉.
                let lo = (-b).div_euclid(2 * a);
                q(lo)? >= 0 && q(lo + 1)? >= 0
            }
        })
    };
    check().unwrap_or(false)
}

impl fmt::Display for Quadratic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let linear = Affine { b: self.b, c: self.c };
        match (self.q, linear == Affine::ZERO) {
            (0, _) => write!(f, "{linear}"),
            (q, true) => write_square(f, q),
            (q, false) => {
                write_square(f, q)?;
                let text = linear.to_string();
                if text.starts_with('-') { f.write_str(&text) } else { write!(f, "+{text}") }
            }
        }
    }
}

fn write_square(f: &mut fmt::Formatter<'_>, q: i64) -> fmt::Result {
    match q {
        1 => f.write_str("B^2"),
        -1 => f.write_str("-B^2"),
        q => write!(f, "{q}*B^2"),
    }
}

/// Index of a buffer in a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BufId(pub u32);

impl fmt::Display for BufId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Where a buffer's memory comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BufRole {
    /// An entry input passed by the caller (`x`, `seed`, ...), read only.
    Input(String),
    /// An entry output returned to the caller.
    Output(String),
    /// A parameter or optimizer-state tensor resident in the session (`param:encoder.h.w`);
    /// the train step updates it in place after its commit point.
    Resident(String),
    /// A temporary placed in the arena at `offset` bytes (planned liveness; temporaries whose
    /// lifetimes do not overlap share memory).
    Temp { offset: Quadratic },
}

/// One buffer: element type, element count, and where it lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BufDecl {
    pub dtype: DType,
    pub len: Quadratic,
    pub role: BufRole,
}

/// A matrix operand of [`LibCall::MatMul`]: element strides of its batch, inner batch, row and
/// column axes (a transposed operand has swapped strides; a broadcast batch has stride 0). The
/// inner batch lets a product read `[B, N, heads, d]` as `[B, heads, N, d]` in place.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatStrides {
    pub batch: Affine,
    pub inner: Affine,
    pub row: Affine,
    pub col: Affine,
}

/// Geometry of a 2-D convolution or pooling window, all sizes in elements (NCHW).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2dGeom {
    /// Batch size (images).
    pub n: Affine,
    /// Input channels, height, width.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels, height, width.
    pub o: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub groups: usize,
}

/// Which distribution a random fill draws (the Philox stream of `hg_exec::philox`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RandomKind {
    Normal,
    Uniform { lo: f64, hi: f64 },
    Bernoulli { p: f64 },
}

/// A library kernel: implemented once in the runtime (tuned, dispatched on CPU features), called
/// by generated code's plans with explicit geometry. Arguments are listed per variant in the
/// order of [`Step::Lib::args`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LibCall {
    /// `c[i, j] = a[i, j] @ b[i, j]` for `i < batch`, `j < inner_batch` (`+ c[i, j]` when
    /// `accumulate`): args (a, b, c); `a` is `m x k`, `b` is `k x n`, `c` is contiguous
    /// `m x n` per item, items in `(i, j)` row-major order.
    MatMul {
        batch: Affine,
        inner_batch: Affine,
        m: Affine,
        n: Affine,
        k: Affine,
        a: MatStrides,
        b: MatStrides,
        accumulate: bool,
    },
    /// args (x, w, y): `y = conv2d(x, w)`, w `[o, c/groups, kh, kw]`.
    Conv2d(Conv2dGeom),
    /// args (x, w, y): the transposed convolution, w `[c, o/groups, kh, kw]`; `geom` describes
    /// the forward convolution from `y` to `x` (so `c`/`h`/`w` are `y`'s, `o`/`oh`/`ow` are
    /// `x`'s).
    ConvTranspose2d(Conv2dGeom),
    /// args (x, dy, dw): gradient of `conv2d` with respect to its weight.
    Conv2dWeightGrad(Conv2dGeom),
    /// args (x, y): average or max pooling; `o == c`.
    Pool2d { geom: Conv2dGeom, max: bool },
    /// args (x, dy, dx): gradient of max pooling, routed to the first maximum of each window.
    MaxPool2dGrad(Conv2dGeom),
    /// args (x, idx, y): `y[o, j, i] = x[o, idx[o, j, i], i]` over `x` viewed as
    /// `[outer, axis, inner]` and `idx`/`y` as `[outer, idx_axis, inner]` (torch.gather).
    Gather { outer: Affine, axis: Affine, idx_axis: Affine, inner: Affine },
    /// args (x, idx, v, y): `y = x; y[o, idx[o, j, i], i] += v[o, j, i]`.
    ScatterAdd { outer: Affine, axis: Affine, idx_axis: Affine, inner: Affine },
    /// args (x, y): indices (i64) of the `k` largest along the middle axis of `[outer, axis,
    /// inner]`, largest first, ties to the lower index.
    TopK { outer: Affine, axis: Affine, inner: Affine, k: usize },
    /// args (x, y): index (i64) of the first maximum (or minimum) along the middle axis.
    ArgReduce { outer: Affine, axis: Affine, inner: Affine, max: bool },
    /// args (idx, v, d, y): a matrix product with a row-sparse operand `S` of `rows x n`
    /// whose row `r` holds `v[r, j]` at column `idx[r, j]` for `j < nnz` (zero elsewhere;
    /// repeated columns add), `idx` (i64) and `v` contiguous `rows x nnz`, `d` a strided
    /// matrix (its batch stride unused), `y` contiguous; see [`SparseForm`] for the three
    /// products. The compiled form of a top-k code's products: `nnz` of `n` columns are read.
    SparseMatMul { form: SparseForm, rows: Affine, nnz: usize, n: Affine, cols: Affine, d: MatStrides },
    /// args (idx, a, b, y): `y[r, j] = (a @ b)[r, idx[r, j]]` for `j < nnz`: only the entries of
    /// a product that a gather reads. `a` is `rows x inner`, `b` `inner x n` (strided, batch
    /// strides unused), `idx` (i64) and `y` contiguous `rows x nnz`.
    SampledMatMul { rows: Affine, nnz: usize, n: Affine, inner: Affine, a: MatStrides, b: MatStrides },
    /// args (idx): fails the step when an index (i64) of the first `len` is outside `0..n`;
    /// writes nothing. Guards a one-hot of indices that may be out of range (a label read
    /// from data), which the interpreter rejects and a fused kernel would turn into a zero row.
    CheckIndices { len: Affine, n: usize },
    /// args (seed, step, offset, y): `y[i]` is element `offset + i` of Philox site
    /// `{seed, step, site}` in the given distribution (f32).
    Random { kind: RandomKind, site: u32, len: Affine },
}

impl LibCall {
    /// Whether a GPU runs this call as a generated kernel (a [`DeviceLib`]); matrix products
    /// go to the vendor's BLAS instead, and random fills have no GPU form.
    pub fn is_device_kernel(&self) -> bool {
        !matches!(self, LibCall::MatMul { .. } | LibCall::Random { .. })
    }

    /// How many independent work items the GPU kernel of this call has at batch size `batch`
    /// (its threads' range `0..extent`): one per output element, except top-k and arg-reduce
    /// (one per `(outer, inner)` row), the scattering sparse products (one per column `cols`:
    /// each owns its column of the result, so no two threads add into one element) and
    /// index checks (one per index). `None` on overflow or for calls without a GPU kernel.
    pub fn device_extent(&self, batch: usize) -> Option<usize> {
        let at = |a: Affine| a.eval(batch).and_then(|v| usize::try_from(v).ok());
        let product = |xs: &[usize]| xs.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x));
        match self {
            LibCall::Gather { outer, idx_axis, inner, .. } => product(&[at(*outer)?, at(*idx_axis)?, at(*inner)?]),
            LibCall::ScatterAdd { outer, axis, inner, .. } => product(&[at(*outer)?, at(*axis)?, at(*inner)?]),
            LibCall::TopK { outer, inner, .. } | LibCall::ArgReduce { outer, inner, .. } => {
                product(&[at(*outer)?, at(*inner)?])
            }
            LibCall::SparseMatMul { form: SparseForm::GatherRows, rows, cols, .. } => {
                product(&[at(*rows)?, at(*cols)?])
            }
            LibCall::SparseMatMul { cols, .. } => at(*cols),
            LibCall::SampledMatMul { rows, nnz, .. } => product(&[at(*rows)?, *nnz]),
            LibCall::CheckIndices { len, .. } => at(*len),
            LibCall::Conv2d(g) | LibCall::Pool2d { geom: g, .. } => product(&[at(g.n)?, g.o, g.oh, g.ow]),
            LibCall::ConvTranspose2d(g) | LibCall::MaxPool2dGrad(g) => product(&[at(g.n)?, g.c, g.h, g.w]),
            LibCall::Conv2dWeightGrad(g) => product(&[g.o, g.c / g.groups.max(1), g.kh, g.kw]),
            LibCall::MatMul { .. } | LibCall::Random { .. } => None,
        }
    }
}

/// A library call as a GPU runs it: a kernel generated for the call's geometry and the element
/// types of its arguments, with the arguments of the plan step followed by a status word
/// (`i64`) that the kernel raises to `1 + position` of an index out of range (it skips that
/// element and the executor fails the step).
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceLib {
    pub call: LibCall,
    pub dtypes: Vec<DType>,
}

impl DeviceLib {
    /// The kernel symbol of device library call `i` of a program.
    pub fn symbol(i: usize) -> String {
        format!("hg_lib_{i}")
    }

    /// The distinct library calls of `plans` that a GPU runs as generated kernels, in the order
    /// they first appear: kernel `i` of this list is [`DeviceLib::symbol`]`(i)`, for the code
    /// generator and the executor alike. Steps naming a buffer the plan lacks are skipped (the
    /// executor refuses such plans).
    pub fn of_plans<'p>(plans: impl IntoIterator<Item = &'p Plan>) -> Vec<DeviceLib> {
        let mut libs: Vec<DeviceLib> = Vec::new();
        for plan in plans {
            for step in &plan.steps {
                let Step::Lib { call, args } = step else { continue };
                if !call.is_device_kernel() {
                    continue;
                }
                let dtypes: Option<Vec<DType>> =
                    args.iter().map(|a| plan.buffers.get(a.0 as usize).map(|b| b.dtype)).collect();
                let Some(dtypes) = dtypes else { continue };
                let lib = DeviceLib { call: call.clone(), dtypes };
                if !libs.contains(&lib) {
                    libs.push(lib);
                }
            }
        }
        libs
    }

    /// The index of the kernel of `call` with arguments `args` of `plan` in `libs`.
    pub fn find(libs: &[DeviceLib], plan: &Plan, call: &LibCall, args: &[BufId]) -> Option<usize> {
        let dtypes: Option<Vec<DType>> = args.iter().map(|a| plan.buffers.get(a.0 as usize).map(|b| b.dtype)).collect();
        let dtypes = dtypes?;
        libs.iter().position(|l| l.call == *call && l.dtypes == dtypes)
    }
}

/// Which product [`LibCall::SparseMatMul`] computes with its row-sparse `S` (`rows x n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SparseForm {
    /// `y = S @ d`: `d` is `n x cols`, `y` `rows x cols` (rows of `d` gathered and scaled).
    GatherRows,
    /// `y = Sᵀ @ d`: `d` is `rows x cols`, `y` `n x cols` (rows of `d` scattered into `y`).
    ScatterRows,
    /// `y = d @ S`: `d` is `cols x rows`, `y` `cols x n` (columns of `d` scattered into `y`).
    ScatterCols,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Generated kernel `kernel` of the backend's code, called with these buffers. With
    /// `parallel`, its outermost loop runs over `0..parallel` and may be split between threads.
    Kernel { kernel: u32, args: Vec<BufId>, parallel: Option<Affine> },
    /// A library kernel.
    Lib { call: LibCall, args: Vec<BufId> },
}

/// What a generated kernel needs of the buffers a plan step passes it: the element type and
/// length (quadratic in `B`) of each argument, and the extent of its parallel outer loop. An
/// executor checks every kernel step of a plan against it before running anything, so a plan
/// read from a file cannot make generated code (which has no bounds checks) reach past a buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelSignature {
    pub args: Vec<(DType, Quadratic)>,
    pub parallel: Option<Affine>,
    /// How much one element of the kernel costs against a plain arithmetic kernel's (1): an
    /// executor weighs a kernel's elements by it when it decides whether splitting it between
    /// threads pays (a random draw is a call of the runtime, dozens of times an add).
    #[serde(default)]
    pub cost: u32,
}

impl KernelSignature {
    /// Checks a step of `plan` that calls this kernel with `args` (split over `parallel`): one
    /// buffer per argument, of its type and at least its length at every batch size, and a
    /// parallel range only where the kernel's outer loop is that range.
    pub fn check_step(&self, plan: &Plan, args: &[BufId], parallel: Option<Affine>) -> Result<(), String> {
        if args.len() != self.args.len() {
            return Err(format!("passes {} buffers to a kernel of {} arguments", args.len(), self.args.len()));
        }
        for (n, (id, (dtype, need))) in args.iter().zip(&self.args).enumerate() {
            let decl = plan.buffers.get(id.0 as usize).ok_or_else(|| format!("uses {id}, which the plan lacks"))?;
            if decl.dtype != *dtype || !decl.len.covers(*need) {
                return Err(format!(
                    "passes {id} ({}[{}]) as argument {n}, which is {}[{need}]",
                    decl.dtype.name(),
                    decl.len,
                    dtype.name()
                ));
            }
        }
        if parallel.is_some() && parallel != self.parallel {
            return Err("splits a kernel over a range that is not its parallel loop".into());
        }
        Ok(())
    }
}

/// The compiled form of one entry point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub entry: String,
    pub buffers: Vec<BufDecl>,
    pub steps: Vec<Step>,
    /// Steps from this index on write resident buffers (the train step's in-place updates):
    /// the executor runs them only when the loss is finite, so a NaN step changes nothing.
    pub commit: usize,
    /// Bytes of the arena for batch size `B` (temporaries; 64-byte aligned offsets).
    pub arena_bytes: Quadratic,
}

/// The signature every generated CPU kernel has, whatever backend produced it:
/// `kernel(args, batch, lo, hi)`, where `args[i]` points at the first element of the kernel's
/// argument `i`, `batch` is `B`, and a parallel kernel runs iterations `lo..hi` of its
/// outermost loop (a kernel that is not parallel ignores them and runs everything).
pub type KernelFn = unsafe extern "C" fn(args: *const *mut u8, batch: i64, lo: i64, hi: i64);

#[cfg(test)]
mod signature_tests {
    use super::*;

    fn plan(buffers: &[(DType, Quadratic)]) -> Plan {
        Plan {
            entry: "e".into(),
            buffers: buffers
                .iter()
                .map(|&(dtype, len)| BufDecl { dtype, len, role: BufRole::Temp { offset: Quadratic::ZERO } })
                .collect(),
            steps: Vec::new(),
            commit: 0,
            arena_bytes: Quadratic::ZERO,
        }
    }

    #[test]
    fn kernel_steps_must_fit_the_kernels_signature() {
        let sig = KernelSignature {
            args: vec![(DType::F32, Quadratic { q: 0, b: 784, c: 0 }), (DType::I64, Quadratic::constant(1))],
            parallel: Some(Affine::batch(1)),
            cost: 1,
        };
        let fits = plan(&[(DType::F32, Quadratic { q: 0, b: 784, c: 16 }), (DType::I64, Quadratic::constant(1))]);
        let ids = [BufId(0), BufId(1)];
        assert_eq!(sig.check_step(&fits, &ids, Some(Affine::batch(1))), Ok(()));
        assert_eq!(sig.check_step(&fits, &ids, None), Ok(()));
        // Shorter at large batch sizes even though longer at B = 1.
        let short = plan(&[(DType::F32, Quadratic { q: 0, b: 783, c: 1000 }), (DType::I64, Quadratic::constant(1))]);
        let e = sig.check_step(&short, &ids, None).unwrap_err();
        assert_eq!(e, "passes %0 (f32[783*B+1000]) as argument 0, which is f32[784*B]");
        let typed = plan(&[(DType::F32, Quadratic { q: 0, b: 784, c: 0 }), (DType::F32, Quadratic::constant(1))]);
        assert!(sig.check_step(&typed, &ids, None).unwrap_err().contains("argument 1, which is i64[1]"));
        assert!(sig.check_step(&fits, &ids[..1], None).unwrap_err().contains("passes 1 buffers to a kernel of 2"));
        assert!(sig.check_step(&fits, &[BufId(0), BufId(7)], None).unwrap_err().contains("%7"));
        let e = sig.check_step(&fits, &ids, Some(Affine::batch(784))).unwrap_err();
        assert!(e.contains("not its parallel loop"), "{e}");
        // A `[B, B]` buffer covers `B² - 1` elements but not `B² + B`, even where it is larger
        // at B = 1 only.
        let square = |b, c| plan(&[(DType::F32, Quadratic { q: 1, b, c }), (DType::I64, Quadratic::constant(1))]);
        let sig = |need: Quadratic| KernelSignature { args: vec![(DType::F32, need), sig.args[1]], ..sig.clone() };
        let need = Quadratic { q: 1, b: 0, c: -1 };
        assert_eq!(sig(need).check_step(&square(0, 0), &ids, None), Ok(()));
        let e = sig(Quadratic { q: 1, b: 1, c: 0 }).check_step(&square(0, 5), &ids, None).unwrap_err();
        assert_eq!(e, "passes %0 (f32[B^2+5]) as argument 0, which is f32[B^2+B]");
    }
}

#[cfg(test)]
mod quadratic_tests {
    use super::*;

    #[test]
    fn quadratic_sizes_evaluate_print_and_compare_exactly() {
        let b = Affine::batch(1);
        let square = Quadratic::product(b, Affine { b: 2, c: 1 }).unwrap();
        assert_eq!(square, Quadratic { q: 2, b: 1, c: 0 });
        assert_eq!(square.eval(3), Some(21));
        assert_eq!(square.to_string(), "2*B^2+B");
        assert_eq!(Quadratic { q: -1, b: 0, c: -4 }.to_string(), "-B^2-4");
        assert_eq!(Quadratic { q: 1, b: 0, c: 0 }.to_string(), "B^2");
        assert_eq!(Quadratic::from(Affine { b: 3, c: -1 }).to_string(), "3*B-1");
        assert_eq!(square.as_affine(), None);
        assert_eq!(Quadratic::from(b).as_affine(), Some(b));
        assert_eq!(Quadratic::from(b).checked_mul(b), Some(Quadratic { q: 1, b: 0, c: 0 }));
        assert_eq!(square.checked_mul(b), None, "degree 3");
        assert_eq!(square.checked_mul(Affine::constant(3)), Some(Quadratic { q: 6, b: 3, c: 0 }));
        assert_eq!(Quadratic::product(Affine::batch(i64::MAX), b), Some(Quadratic { q: i64::MAX, b: 0, c: 0 }));
        assert_eq!(Quadratic { q: i64::MAX, b: 0, c: 0 }.eval(2), None);
        // B² - 3B + 2 = (B - 1)(B - 2) is zero at 1 and 2 and never negative on integers,
        // although its real minimum (at 1.5) is.
        assert!(Quadratic { q: 1, b: -3, c: 2 }.covers(Quadratic::ZERO));
        assert!(!Quadratic { q: 1, b: -3, c: 1 }.covers(Quadratic::ZERO));
        assert!(!Quadratic::from(Affine::batch(1000)).covers(Quadratic { q: 1, b: 0, c: 0 }));
    }

    #[test]
    fn plans_written_before_the_square_term_still_read() {
        let old: Quadratic = serde_json::from_str(r#"{"b": 4, "c": 3}"#).unwrap();
        assert_eq!(old, Quadratic { q: 0, b: 4, c: 3 });
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"b":4,"c":3}"#);
        let new = Quadratic { q: 2, b: 0, c: 1 };
        assert_eq!(serde_json::from_str::<Quadratic>(&serde_json::to_string(&new).unwrap()).unwrap(), new);
    }
}

#[cfg(test)]
mod device_lib_tests {
    use super::*;

    fn temp(dtype: DType, len: i64) -> BufDecl {
        BufDecl { dtype, len: Quadratic::constant(len), role: BufRole::Temp { offset: Quadratic::ZERO } }
    }

    #[test]
    fn device_library_calls_are_listed_once_per_call_and_types() {
        let gather = LibCall::Gather {
            outer: Affine::batch(1),
            axis: Affine::constant(5),
            idx_axis: Affine::constant(2),
            inner: Affine::constant(3),
        };
        let matmul = LibCall::MatMul {
            batch: Affine::ONE,
            inner_batch: Affine::ONE,
            m: Affine::ONE,
            n: Affine::ONE,
            k: Affine::ONE,
            a: MatStrides { batch: Affine::ZERO, inner: Affine::ZERO, row: Affine::ONE, col: Affine::ONE },
            b: MatStrides { batch: Affine::ZERO, inner: Affine::ZERO, row: Affine::ONE, col: Affine::ONE },
            accumulate: false,
        };
        let buffers = vec![temp(DType::F32, 60), temp(DType::I64, 30), temp(DType::F32, 30), temp(DType::I64, 60)];
        let step = |call: &LibCall, args: &[u32]| Step::Lib {
            call: call.clone(),
            args: args.iter().map(|&a| BufId(a)).collect(),
        };
        let plan = |steps| Plan {
            entry: "e".into(),
            buffers: buffers.clone(),
            steps,
            commit: 0,
            arena_bytes: Quadratic::ZERO,
        };
        // The same gather twice on f32 data, once on i64 data; products are not kernels.
        let a = plan(vec![step(&gather, &[0, 1, 2]), step(&matmul, &[0, 0, 2]), step(&gather, &[0, 1, 2])]);
        let b = plan(vec![step(&gather, &[3, 1, 3]), step(&gather, &[0, 1, 9])]);
        let libs = DeviceLib::of_plans([&a, &b]);
        assert_eq!(libs.len(), 2);
        assert_eq!(libs[0].dtypes, [DType::F32, DType::I64, DType::F32]);
        assert_eq!(libs[1].dtypes, [DType::I64, DType::I64, DType::I64]);
        assert_eq!(DeviceLib::find(&libs, &b, &gather, &[BufId(3), BufId(1), BufId(3)]), Some(1));
        assert_eq!(DeviceLib::find(&libs, &b, &gather, &[BufId(0), BufId(1), BufId(9)]), None);
        assert_eq!(DeviceLib::symbol(1), "hg_lib_1");
        // One work item per element of the result.
        assert_eq!(gather.device_extent(4), Some(4 * 2 * 3));
        assert_eq!(matmul.device_extent(4), None);
        assert!(!matmul.is_device_kernel());
        let huge = LibCall::CheckIndices { len: Affine { b: i64::MAX, c: 0 }, n: 3 };
        assert_eq!(huge.device_extent(3), None);
    }
}

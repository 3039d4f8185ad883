//! Graph IR → kernel IR: fusion decisions (`classify`), one kernel per stored value (`kernels`),
//! library calls with their geometry (`lib`), and the order of steps with in-place updates of
//! resident parameters and state (`schedule`). Memory planning of the temporaries follows in
//! `crate::plan`.

mod builder;
mod classify;
mod expr;
mod kernels;
mod legalize;
mod lib;
mod schedule;
pub mod shape;
pub mod sparse;

use crate::ir::{Kernel, Scalar};
use crate::{Program, plan};
use hg_abi::names;
use hg_abi::plan::{Affine, BufDecl, BufId, BufRole, LibCall, Plan, Quadratic, Step};
use hg_ir::{Function, NodeSpan, Op, ValueId};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LowerError {
    #[error(
        "size `{0}` is out of the compiled backends' reach: they index with sizes affine in the batch \
         (`k*B + c`) and hold buffers of up to `B²` elements (a `[B, B]` kernel matrix); this one runs on \
         `--backend interp` only"
    )]
    NotAffine(String),
    #[error("a size overflows 64-bit integers")]
    Overflow,
    #[error("compiled backends compute in f32, i64 and bool (f64 only for scalars); `{0}` has dtype {1}")]
    DType(String, hg_abi::DType),
    #[error("`{op}` ({value}): {message}")]
    Unsupported { op: String, value: String, message: String },
    #[error("the graph is malformed: {0}")]
    Malformed(String),
}

/// How a graph value is read by the kernels that use it.
#[derive(Clone, Debug, PartialEq)]
pub enum Repr {
    /// Computed inside each reader's loops.
    Inline,
    /// In a buffer: element at multi-index `i` is `buf[offset + Σ i_k·strides_k]`.
    Strided { buf: BufId, strides: Vec<Affine>, offset: Affine },
    /// Computed inside its consumer's kernel, which also stores it to `buf` (contiguous).
    InlineStored { buf: BufId },
}

/// A step under construction, with the graph values it came from (for `--stage fused`).
pub struct Built {
    pub step: Step,
    pub kernel: Option<Kernel>,
    pub sources: Vec<NodeSpan>,
    pub label: String,
}

/// Lowering state of one function.
pub struct Lowering<'f> {
    pub f: &'f Function,
    pub buffers: Vec<BufDecl>,
    pub reprs: HashMap<ValueId, Repr>,
    pub steps: Vec<Built>,
    /// Values that get a buffer (the fusion decision).
    pub stored: HashSet<ValueId>,
    pub side_stored: HashSet<ValueId>,
    /// The stored value each buffer holds, where one does.
    pub producer: HashMap<BufId, ValueId>,
    /// Products that read a top-k code sparsely, and the values they make unnecessary.
    pub sparse: sparse::SparsePlan,
}

impl<'f> Lowering<'f> {
    pub fn scalar(&self, v: ValueId) -> Result<Scalar, LowerError> {
        let ty = self.f.ty(v);
        match Scalar::of(ty.dtype) {
            Some(Scalar::F64) if ty.rank() > 0 => Err(LowerError::DType(format!("{v}"), ty.dtype)),
            Some(s) => Ok(s),
            None => Err(LowerError::DType(format!("{v}"), ty.dtype)),
        }
    }

    pub fn shape(&self, v: ValueId) -> Result<Vec<Affine>, LowerError> {
        shape::shape(&self.f.ty(v).shape)
    }

    pub fn new_buffer(&mut self, ty: Scalar, len: Quadratic, role: BufRole) -> BufId {
        self.buffers.push(BufDecl { dtype: ty.dtype(), len, role });
        BufId((self.buffers.len() - 1) as u32)
    }

    /// A new contiguous temporary holding `v`.
    pub fn temp_for(&mut self, v: ValueId) -> Result<BufId, LowerError> {
        let shape = self.shape(v)?;
        let len = shape::numel(&shape)?;
        let buf = self.new_buffer(self.scalar(v)?, len, BufRole::Temp { offset: Quadratic::ZERO });
        self.producer.insert(buf, v);
        self.reprs.insert(v, Repr::Strided { buf, strides: shape::row_major(&shape)?, offset: Affine::ZERO });
        Ok(buf)
    }

    pub fn unsupported(&self, v: ValueId, message: impl Into<String>) -> LowerError {
        LowerError::Unsupported { op: op_name(self.f.op(v)), value: v.to_string(), message: message.into() }
    }
}

pub fn op_name(op: &Op) -> String {
    let s = format!("{op:?}");
    s.split([' ', '{', '(']).next().unwrap_or("op").to_string()
}

/// Compiles one entry function. `carried` lists the train step's `(input, output)` pairs whose
/// outputs replace resident inputs (empty for inference entries).
pub fn lower_function(f: &Function, carried: &[(String, String)]) -> Result<Program, LowerError> {
    let legal = legalize::rewrite(f);
    let f = legal.as_ref().unwrap_or(f);
    let rewritten = sparse::rewrite(f);
    let f = rewritten.as_ref().unwrap_or(f);
    let sparse = sparse::find(f);
    let order = f.topo_order();
    let decisions = classify::decide(f, &order, &sparse);
    let mut lw = Lowering {
        f,
        buffers: Vec::new(),
        reprs: HashMap::new(),
        steps: Vec::new(),
        stored: decisions.stored,
        side_stored: decisions.side_stored,
        producer: HashMap::new(),
        sparse,
    };
    // Inputs: resident tensors live in the session, everything else comes with the call.
    for (name, v) in &f.inputs {
        let shape = lw.shape(*v)?;
        let len = shape::numel(&shape)?;
        let role = if name.starts_with(names::PARAM) || name.starts_with(names::STATE) {
            BufRole::Resident(name.clone())
        } else {
            BufRole::Input(name.clone())
        };
        let buf = lw.new_buffer(lw.scalar(*v)?, len, role);
        lw.reprs.insert(*v, Repr::Strided { buf, strides: shape::row_major(&shape)?, offset: Affine::ZERO });
    }
    let carried_out: HashMap<&str, &str> = carried.iter().map(|(i, o)| (o.as_str(), i.as_str())).collect();
    for &v in &order {
        if lw.reprs.contains_key(&v) || lw.sparse.absorbed.contains(&v) {
            continue;
        }
        match f.op(v) {
            Op::Input { name } | Op::Param { name } => {
                return Err(LowerError::Malformed(format!("source `{name}` ({v}) is not an input of `{}`", f.name)));
            }
            _ => {}
        }
        kernels::lower_value(&mut lw, v)?;
    }
    // Outputs: a stored value becomes the output buffer itself when nothing else claims it;
    // anything else is copied.
    let mut claimed: HashSet<BufId> = HashSet::new();
    for (name, v) in &f.outputs {
        if carried_out.contains_key(name.as_str()) {
            continue;
        }
        let repr =
            lw.reprs.get(v).cloned().ok_or_else(|| LowerError::Malformed(format!("output `{name}` has no value")))?;
        let claim = match &repr {
            Repr::InlineStored { buf } if lw.producer.get(buf) == Some(v) && !claimed.contains(buf) => Some(*buf),
            Repr::Strided { buf, offset, .. }
                if *offset == Affine::ZERO
                    && matches!(lw.buffers[buf.0 as usize].role, BufRole::Temp { .. })
                    && lw.producer.get(buf) == Some(v)
                    && !claimed.contains(buf) =>
            {
                Some(*buf)
            }
            _ => None,
        };
        match claim {
            Some(buf) => {
                lw.buffers[buf.0 as usize].role = BufRole::Output(name.clone());
                claimed.insert(buf);
            }
            None => {
                let shape = lw.shape(*v)?;
                let len = shape::numel(&shape)?;
                let buf = lw.new_buffer(lw.scalar(*v)?, len, BufRole::Output(name.clone()));
                kernels::copy_into(&mut lw, *v, buf, &format!("out_{}", sanitize(name)))?;
            }
        }
    }
    let carried_values: Vec<(String, ValueId)> = carried
        .iter()
        .map(|(input, output)| {
            f.output(output)
                .map(|v| (input.clone(), v))
                .ok_or_else(|| LowerError::Malformed(format!("the train step does not return `{output}`")))
        })
        .collect::<Result<_, _>>()?;
    let (steps, kernels, labels, commit) = schedule::finish(&mut lw, &carried_values)?;
    let (buffers, arena_bytes) = plan::place(lw.buffers, &steps)?;
    Ok(Program { plan: Plan { entry: f.name.clone(), buffers, steps, commit, arena_bytes }, kernels, labels })
}

/// Whether an entry returns `v`.
pub fn is_output(f: &Function, v: ValueId) -> bool {
    f.outputs.iter().any(|(_, o)| *o == v)
}

/// A kernel name fragment from a tensor name.
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// What a kernel called with `args` reads and writes. A written argument may also be read (an
/// accumulation), so it counts as read too.
pub fn kernel_io(k: &Kernel, args: &[BufId]) -> (Vec<BufId>, Vec<BufId>) {
    let writes: Vec<BufId> = k.args.iter().zip(args).filter(|(a, _)| a.written).map(|(_, b)| *b).collect();
    (args.to_vec(), writes)
}

/// What a library call reads and writes: its last argument is the result (read too when a
/// matrix product accumulates into it).
pub fn lib_io(call: &LibCall, args: &[BufId]) -> (Vec<BufId>, Vec<BufId>) {
    if matches!(call, LibCall::CheckIndices { .. }) {
        return (args.to_vec(), Vec::new());
    }
    let Some((out, inputs)) = args.split_last() else { return (Vec::new(), Vec::new()) };
    let reads = if matches!(call, LibCall::MatMul { accumulate: true, .. }) { args.to_vec() } else { inputs.to_vec() };
    (reads, vec![*out])
}

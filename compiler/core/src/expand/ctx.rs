//! The expansion context: the function being built, the scopes of names, parameter
//! bookkeeping and error collection.

use super::error::{ExpandError, codes};
use super::rank::RankNote;
use super::value::{Bound, Value};
use hg_dsl::ast::{self, FileId, Span};
use hg_ir::{DType, Function, InferError, NodeSpan, Op, ParamDecl, TensorType, ValueId};
use std::collections::{HashMap, HashSet};

/// Where the expander finds `fn` definitions: implemented over the front end's resolved program.
pub trait ProgramView {
    fn file(&self, id: FileId) -> &ast::File;
    /// The `fn` that `name` refers to in `file` (defined there or imported): (file, item index).
    fn lookup_fn(&self, file: FileId, name: &str) -> Option<(FileId, usize)>;
}

/// Marker: an error was already reported; unwind the current statement.
#[derive(Debug, Clone, Copy)]
pub struct Stop;

pub type EResult<T> = Result<T, Stop>;

#[derive(Default)]
pub struct Scope {
    pub names: HashMap<String, Bound>,
    /// Names whose definition failed: reading them stops silently (no cascade of errors).
    pub poisoned: HashSet<String>,
}

/// One activation of a `fn` body or of a model section.
pub struct Frame {
    pub file: FileId,
    /// Parameter path of this activation (`encoder.mu`).
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// Name of the statement being evaluated: the path segment of the calls it makes.
    pub stmt_name: String,
    /// How many `fn` calls the current statement has started (for unique path segments).
    pub stmt_calls: usize,
    /// Names visible only as "bound in the encoder" (for the decoder's error).
    pub hidden: HashMap<String, (Span, &'static str)>,
    /// The `for` loops being unrolled in this activation, outermost first.
    pub loops: Vec<LoopLevel>,
}

/// One iteration of a `for` loop: which one, and the scopes that hold its carried state.
#[derive(Clone, Copy, Debug)]
pub struct LoopLevel {
    /// The iteration index, from 0.
    pub index: usize,
    /// How many scopes of the frame enclose the loop: names bound there are its carried state.
    pub outer_scopes: usize,
}

impl Frame {
    pub fn new(file: FileId, prefix: String) -> Frame {
        Frame {
            file,
            prefix,
            scopes: vec![Scope::default()],
            stmt_name: String::new(),
            stmt_calls: 0,
            hidden: HashMap::new(),
            loops: Vec::new(),
        }
    }

    /// Names the statement about to be evaluated: the path segment of its first `fn` call.
    /// Outside a `for` loop that is `target`, the name it binds. In iteration `i` of a `for`
    /// loop, a statement that updates the loop's carried state (a name bound before the loop)
    /// is named `i` and any other `i.target`; nested loops join their indices (`i.j`).
    pub fn name_statement(&mut self, target: &str) {
        self.stmt_name = match self.loops.last() {
            None => target.to_string(),
            Some(innermost) => {
                let indices: Vec<String> = self.loops.iter().map(|l| l.index.to_string()).collect();
                let path = indices.join(".");
                let carried = self.scopes[..innermost.outer_scopes].iter().any(|s| s.names.contains_key(target));
                if carried { path } else { format!("{path}.{target}") }
            }
        };
        self.stmt_calls = 0;
    }
}

/// Parameters of the whole model, shared by all entry points (declared once, by path).
#[derive(Default, Clone)]
pub struct ParamTable {
    pub decls: Vec<ParamDecl>,
    pub index: HashMap<String, usize>,
    /// Where each path was first declared: the `fn` call sites that led to its `param`
    /// statement, outermost first, then that statement. The same site declaring its path again
    /// (every iteration of `repeat`, every entry point) re-uses the parameter; another site on
    /// the same path is an error, never silent sharing.
    pub sites: HashMap<String, Vec<Span>>,
}

pub struct Ctx<'p> {
    pub program: &'p dyn ProgramView,
    pub f: Function,
    pub training: bool,
    /// The value of `sampling`: stochastic bottlenecks draw (true in `train` and `eval`).
    pub sampling: bool,
    pub params: &'p mut ParamTable,
    /// Param nodes of this function, by path (repeat bodies share them).
    pub param_nodes: HashMap<String, ValueId>,
    pub next_site: u32,
    pub frames: Vec<Frame>,
    pub errors: Vec<ExpandError>,
    pub call_depth: usize,
    /// The `fn` calls being expanded: (name, definition span, call span).
    pub call_stack: Vec<(String, Span, Span)>,
    /// While a `prior` is evaluated: what it may not read (see [`PriorReads`]).
    pub prior: Option<PriorReads>,
    /// Products over the last axis of a tensor of rank 3 or more, by result (see
    /// [`super::rank`]): where a later shape error's surprising rank came from.
    pub rank_notes: HashMap<ValueId, RankNote>,
    /// The buffers' new values in this entry (`train` only): path, value, `update` statement.
    pub updates: Vec<(String, ValueId, Span)>,
}

/// A `prior` being evaluated (in `sample`, without inputs or encoder): its latent, the latent's
/// shape as written in an example, and the model's names it cannot read, with where each is
/// bound (`encoder`, `bottleneck`, `model inputs`).
pub struct PriorReads {
    pub latent: String,
    pub shape: Option<String>,
    pub hidden: HashMap<String, (Span, &'static str)>,
    /// Bottleneck values that depend on an input or the encoder, with the value each depends on.
    pub blocked: HashMap<String, super::ancestral::Blocker>,
}

pub const MAX_CALL_DEPTH: usize = 64;

pub fn node_span(span: Span) -> NodeSpan {
    NodeSpan { file: span.file.0, start: span.start, end: span.end }
}

pub fn ast_span(span: NodeSpan) -> Span {
    Span { file: FileId(span.file), start: span.start, end: span.end }
}

impl<'p> Ctx<'p> {
    pub fn new(
        program: &'p dyn ProgramView,
        name: &str,
        (training, sampling): (bool, bool),
        params: &'p mut ParamTable,
    ) -> Ctx<'p> {
        Ctx {
            program,
            f: Function::new(name),
            training,
            sampling,
            params,
            param_nodes: HashMap::new(),
            next_site: 0,
            frames: Vec::new(),
            errors: Vec::new(),
            call_depth: 0,
            call_stack: Vec::new(),
            prior: None,
            rank_notes: HashMap::new(),
            updates: Vec::new(),
        }
    }

    pub fn error(&mut self, e: ExpandError) -> Stop {
        self.errors.push(e);
        Stop
    }

    pub fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("expansion always runs inside a frame")
    }

    pub fn frame_ref(&self) -> &Frame {
        self.frames.last().expect("expansion always runs inside a frame")
    }

    pub fn lookup(&self, name: &str) -> Option<&Bound> {
        self.frame_ref().scopes.iter().rev().find_map(|s| s.names.get(name))
    }

    pub fn is_poisoned(&self, name: &str) -> bool {
        self.frame_ref().scopes.iter().rev().any(|s| s.poisoned.contains(name))
    }

    /// Binds a name in the innermost scope; a name that already exists in an enclosing scope
    /// of this frame is updated in place when `carried` (the loop state of `repeat`).
    pub fn bind(&mut self, name: &str, value: Value, span: Span) {
        let frame = self.frame();
        frame.scopes.last_mut().expect("frame has a scope").names.insert(name.to_string(), Bound { value, span });
    }

    /// Updates the innermost existing binding of `name` (repeat's carried state).
    pub fn assign_carried(&mut self, name: &str, value: Value, span: Span) -> bool {
        let frame = self.frame();
        for scope in frame.scopes.iter_mut().rev() {
            if let Some(b) = scope.names.get_mut(name) {
                *b = Bound { value, span };
                return true;
            }
        }
        false
    }

    pub fn poison(&mut self, name: &str) {
        self.frame().scopes.last_mut().expect("frame has a scope").poisoned.insert(name.to_string());
    }

    pub fn ty(&self, v: ValueId) -> &TensorType {
        self.f.ty(v)
    }

    /// Span of the expression that produced a value (for "defined here" labels).
    pub fn def_span(&self, v: ValueId) -> Span {
        ast_span(self.f.node(v).span)
    }

    /// Adds a node, turning a type error into a diagnostic at `span` with labels on operands.
    pub fn add(&mut self, op: Op, operands: &[ValueId], span: Span) -> EResult<ValueId> {
        let product = matches!(op, Op::MatMul);
        match self.f.add(op, operands, node_span(span)) {
            Ok(v) => {
                if product {
                    self.note_product(v, operands, span);
                }
                Ok(v)
            }
            Err(e) => Err(self.type_error(e, operands, span)),
        }
    }

    pub fn add_with_type(&mut self, op: Op, operands: &[ValueId], ty: TensorType, span: Span) -> EResult<ValueId> {
        match self.f.add_with_type(op, operands, ty, node_span(span)) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.type_error(e, operands, span)),
        }
    }

    pub fn type_error(&mut self, e: InferError, operands: &[ValueId], span: Span) -> Stop {
        // Decompositions use internal op names; say what the user wrote.
        let message = e.message.replacen("topk_indices:", "topk:", 1);
        let mut err = ExpandError::new(codes::TYPE_MISMATCH, span, message).label_primary("in this operation");
        for &o in operands {
            let ty = self.ty(o).to_string();
            err = err.with_label(self.def_span(o), format!("this is {ty}"));
        }
        err.help = self.type_error_help(operands, &err.message);
        // A shape error (not a dtype one) may come from a product that kept surprising axes.
        if err.help.is_none() {
            err = self.explain_rank(err, operands);
        }
        self.error(err)
    }

    /// The likely fix of a type error, from what the operands are.
    fn type_error_help(&self, operands: &[ValueId], message: &str) -> Option<String> {
        let dtypes: Vec<DType> = operands.iter().map(|&o| self.ty(o).dtype).collect();
        if let Some(float) = dtypes.iter().find(|d| d.is_float())
            && dtypes.iter().any(|d| !d.is_float())
        {
            return Some(format!("convert the integer or bool operand with `cast(..., {float})`"));
        }
        if let [o] = operands
            && !self.ty(*o).dtype.is_float()
            && message.contains("float")
        {
            return Some("this operation needs floats: convert with `cast(..., f32)`".into());
        }
        let reduced = operands.iter().any(|&o| matches!(self.f.op(o), Op::Reduce { keepdims: false, .. }));
        if operands.len() == 2 && reduced && self.ty(operands[0]).rank() != self.ty(operands[1]).rank() {
            return Some(
                "keep the reduced axis with `keepdims = true` so the result broadcasts against the original".into(),
            );
        }
        None
    }

    /// The entry's runtime scalar input `name` (an i64 scalar such as `seed`), declared on first
    /// use. A model input of the same name is refused where the model's inputs are declared.
    pub fn runtime_scalar(&mut self, name: &str) -> ValueId {
        match self.f.input(name) {
            Some(v) => v,
            None => self.f.add_input(name, TensorType::scalar(DType::I64), NodeSpan::default()),
        }
    }

    /// The `(seed, step, offset)` operands of a random draw of type `ty` (see `hg_ir::Op`'s
    /// random ops): the entry's `seed` and `step` inputs, and the draw's first stream element.
    /// A draw whose first dimension is `k*B` (all others fixed) starts at `first_example * k *
    /// (elements per row)`, so element `i` of example `e` is the same number however the run
    /// splits its examples into calls; a draw of fixed shape starts at 0.
    pub fn random_operands(&mut self, ty: &TensorType, span: Span) -> EResult<[ValueId; 3]> {
        let seed = self.runtime_scalar(hg_abi::names::SEED);
        let step = self.runtime_scalar(hg_abi::names::STEP);
        let i64_scalar = TensorType::scalar(DType::I64);
        let per_example = match ty.shape.split_first() {
            Some((first, rest)) => first
                .as_batch_multiple()
                .and_then(|k| rest.iter().try_fold(k, |acc, d| d.as_const().and_then(|n| acc.checked_mul(n)))),
            None => None,
        };
        let offset = match per_example {
            Some(n) => {
                let first = self.runtime_scalar(hg_abi::names::FIRST_EXAMPLE);
                let n = self.add_with_type(Op::Const { value: n as f64 }, &[], i64_scalar, span)?;
                self.add(Op::Binary(hg_ir::BinaryOp::Mul), &[first, n], span)?
            }
            None => self.add_with_type(Op::Const { value: 0.0 }, &[], i64_scalar, span)?,
        };
        Ok([seed, step, offset])
    }

    pub fn fresh_site(&mut self) -> u32 {
        let s = self.next_site;
        self.next_site += 1;
        s
    }

    /// The parameter path for a `param` declared in the current frame.
    pub fn param_path(&self, name: &str) -> String {
        let prefix = &self.frame_ref().prefix;
        if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
    }
}

//! Where a surprising rank came from. `Linear` (any `x @ w` with a matrix `w`) multiplies the
//! last axis only, so an image `f32[B, 1, 28, 28]` given to it keeps the axes `[B, 1, 28]`, and
//! the mistake (a forgotten `flatten`) surfaces far away: a reshape in the decoder, a prior of
//! another shape. The expander notes each such product; when a later shape error involves a
//! value that still carries those leading axes, the error points back at the product and
//! suggests `flatten`.
//!
//! A product is noted when the matrix is 2-D and the multiplied tensor has rank 4 or more (an
//! image or feature map) or rank 3 straight from a model input; a sequence of tokens `[B, N,
//! D]` computed by the model (attention, patch embeddings) is multiplied per token on purpose.

use super::ctx::Ctx;
use super::error::ExpandError;
use super::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{Dim, Op, TensorType, ValueId};
use std::collections::{HashSet, VecDeque};

/// A product over the last axis of a tensor of rank 3 or more (see the module docs). Holds
/// spans and types only, so a latent's note can travel from `encode` to the other entries.
#[derive(Clone, Debug, PartialEq)]
pub struct RankNote {
    /// The call in the model that led to the product (`Mlp`, `Linear`), or `@`/`matmul`
    /// written in the model itself; and where it is.
    pub call: String,
    pub call_span: Span,
    /// The `fn` holding the product (`Linear`), or the call itself.
    pub inner: String,
    /// The multiplied tensor's type, and its name when it is a named value of the model.
    pub input: TensorType,
    pub input_name: Option<String>,
    /// Whether the multiplied tensor is a model input (pixels), not computed features.
    pub from_input: bool,
}

impl RankNote {
    /// The axes the product kept: all but the last of its input.
    fn kept(&self) -> &[Dim] {
        &self.input.shape[..self.input.rank() - 1]
    }

    /// Whether a value of type `ty` still carries the kept axes (as its leading axes).
    pub fn carried_by(&self, ty: &TensorType) -> bool {
        ty.rank() >= 3 && ty.shape.starts_with(self.kept())
    }

    /// The type `flatten` gives the input: the first axis, then the product of the others.
    fn flattened(&self) -> Option<TensorType> {
        let (first, rest) = self.input.shape.split_first()?;
        let merged = rest.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d))?;
        Some(TensorType::new(self.input.dtype, vec![first.clone(), merged]))
    }

    /// Adds the label at the call and the help that suggests `flatten`.
    pub fn explain(&self, e: ExpandError) -> ExpandError {
        let last = self.input.shape.last().map_or_else(String::new, |d| format!(" ({d})"));
        let inner = if self.inner == self.call { String::new() } else { format!(" (in `{}`)", self.call) };
        let label = format!("here `{}`{inner} multiplies only the last axis{last} of {}", self.inner, self.input);
        let what = if self.from_input { "pixel" } else { "feature" };
        let name = self.input_name.as_deref().unwrap_or("...");
        let call = match self.call.as_str() {
            "@" | "matmul" => format!("`flatten({name}) @ ...`"),
            call => format!("`{call}(flatten({name}), ...)`"),
        };
        let flat = self.flattened().map_or_else(String::new, |t| format!(", which gives it {t}"));
        let kept: Vec<String> = self.kept().iter().map(Dim::to_string).collect();
        let help = format!(
            "`{}` got {}; it multiplies the last axis and carries [{}] along; to use every {what}, flatten first: {call}{flat}",
            self.inner,
            self.input,
            kept.join(", ")
        );
        let e = e.with_label(self.call_span, label);
        // A help the error already has (a dtype conversion, `keepdims`) stays.
        if e.help.is_some() { e } else { e.with_help(help) }
    }
}

impl Ctx<'_> {
    /// Notes a product `operands[0] @ operands[1]` made at `span` (see the module docs).
    pub fn note_product(&mut self, v: ValueId, operands: &[ValueId], span: Span) {
        let [x, w] = operands else { return };
        let (tx, tw) = (self.ty(*x), self.ty(*w));
        if tw.rank() != 2 || tx.rank() < 3 {
            return;
        }
        let from_input = self.is_model_input(*x);
        if tx.rank() == 3 && !from_input {
            return;
        }
        let (call, call_span) = match self.call_stack.first() {
            Some((name, _, call_span)) => (name.clone(), *call_span),
            None => ("@".to_string(), span),
        };
        let inner = self.call_stack.last().map_or_else(|| call.clone(), |(name, _, _)| name.clone());
        // The model's name for the tensor; of several (`y = x`), the one bound first.
        let input_name = self.frames.first().and_then(|f| {
            f.scopes
                .iter()
                .flat_map(|s| s.names.iter())
                .filter(|(_, b)| matches!(b.value, Value::Tensor(t) if t == *x))
                .min_by_key(|(n, b)| (b.span.start, n.as_str()))
                .map(|(n, _)| n.clone())
        });
        let note = RankNote { call, call_span, inner, input: tx.clone(), input_name, from_input };
        self.rank_notes.insert(v, note);
    }

    /// Whether `v` is a model input, possibly through elementwise operations of one operand
    /// (`x * 2.0 - 1.0`, `cast`) that keep its shape.
    fn is_model_input(&self, mut v: ValueId) -> bool {
        for _ in 0..16 {
            match self.f.op(v) {
                Op::Input { .. } => return true,
                Op::Unary(_) | Op::Cast { .. } | Op::Binary(_) => {
                    let ty = self.ty(v).clone();
                    let same: Vec<ValueId> =
                        self.f.operands(v).into_iter().filter(|&o| self.ty(o).shape == ty.shape).collect();
                    match same.as_slice() {
                        [one] => v = *one,
                        _ => return false,
                    }
                }
                _ => return false,
            }
        }
        false
    }

    /// The earliest noted product that one of `values` comes from and still carries the
    /// leading axes of.
    pub fn rank_note(&self, values: &[ValueId]) -> Option<&RankNote> {
        if self.rank_notes.is_empty() {
            return None;
        }
        let mut best: Option<ValueId> = None;
        for &start in values {
            let ty = self.ty(start).clone();
            if ty.rank() < 3 {
                continue;
            }
            let mut seen = HashSet::new();
            let mut queue = VecDeque::from([start]);
            while let Some(v) = queue.pop_front() {
                if !seen.insert(v) {
                    continue;
                }
                if let Some(note) = self.rank_notes.get(&v)
                    && note.carried_by(&ty)
                    && best.is_none_or(|b| v < b)
                {
                    best = Some(v);
                }
                queue.extend(self.f.operands(v));
            }
        }
        best.and_then(|v| self.rank_notes.get(&v))
    }

    /// `e`, explained by the noted product that one of `values` comes from, if any.
    pub fn explain_rank(&self, e: ExpandError, values: &[ValueId]) -> ExpandError {
        match self.rank_note(values) {
            Some(note) => note.explain(e),
            None => e,
        }
    }
}

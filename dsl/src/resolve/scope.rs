//! Local scopes: the bindings of a `fn` or model body, and the rebinding rules.
//!
//! Every name is bound once. The one exception is a loop body's (`repeat` or `for`) *carried
//! state*: a name bound before the loop may be assigned (once per iteration) inside it. Names
//! first bound inside a loop body or an `if` branch are local to it; a name bound in both
//! branches of an `if` is bound after it. A `for` loop's variables are bound in its body's
//! frame and, like compile-time constants, cannot be assigned.

use std::collections::HashMap;

use crate::ast::{SectionKind, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BindingKind {
    /// A `fn` parameter.
    Param,
    /// A dimension name bound in a `fn` signature.
    DimVar,
    Hparam,
    /// The batch dimension `B` of a model.
    Batch,
    Input,
    /// A `condition`: an input the decoder and the priors may read too.
    Condition,
    Let,
    /// A trainable parameter (`param w: ... = init`).
    TrainParam,
    /// A buffer (`buffer m: ... = init`): state the train step sets with `update`.
    Buffer,
    Latent,
    Output,
    Metric,
    /// An assignment to a carried name inside a `repeat` or `for` body.
    Carried,
    /// A `for` loop's variable: a new compile-time value each iteration.
    LoopVar,
}

impl BindingKind {
    /// Compile-time constants cannot be carried state.
    pub(crate) fn is_constant(self) -> bool {
        matches!(self, BindingKind::DimVar | BindingKind::Hparam | BindingKind::Batch | BindingKind::LoopVar)
    }

    /// Values a `repeat` body may update.
    fn is_carryable(self) -> bool {
        matches!(self, BindingKind::Param | BindingKind::Input | BindingKind::Let | BindingKind::Carried)
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            BindingKind::Param => "a parameter",
            BindingKind::DimVar => "a dimension name",
            BindingKind::Hparam => "a hyperparameter",
            BindingKind::Batch => "the batch dimension",
            BindingKind::Input => "an input",
            BindingKind::Condition => "a condition",
            BindingKind::Let | BindingKind::Carried => "a binding",
            BindingKind::TrainParam => "a trainable parameter",
            BindingKind::Buffer => "a buffer",
            BindingKind::Latent => "a latent",
            BindingKind::Output => "an output",
            BindingKind::Metric => "a metric",
            BindingKind::LoopVar => "a loop variable",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Binding {
    pub span: Span,
    pub kind: BindingKind,
    /// The model section it was bound in, if any.
    pub section: Option<SectionKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// A `fn` or model body: parameters and top-level bindings.
    Body,
    Repeat,
    /// A `for` body (its loop variables included).
    For,
    Branch,
}

impl FrameKind {
    fn is_loop(self) -> bool {
        matches!(self, FrameKind::Repeat | FrameKind::For)
    }
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    bindings: HashMap<String, Binding>,
    /// Binding order, so merged `if` bindings are deterministic.
    order: Vec<String>,
}

/// Why a binding was refused.
#[derive(Debug)]
pub(crate) enum BindError {
    /// Already bound where it cannot be rebound; the earlier binding.
    Rebound(Binding),
    /// An attempt to assign a compile-time constant inside a `repeat` body.
    Constant(Binding),
}

#[derive(Debug, Default)]
pub(crate) struct Scopes {
    frames: Vec<Frame>,
}

impl Scopes {
    pub(crate) fn new() -> Scopes {
        Scopes { frames: vec![Frame { kind: FrameKind::Body, bindings: HashMap::new(), order: Vec::new() }] }
    }

    pub(crate) fn push(&mut self, kind: FrameKind) {
        self.frames.push(Frame { kind, bindings: HashMap::new(), order: Vec::new() });
    }

    /// Pops the innermost frame and returns its bindings in order.
    pub(crate) fn pop(&mut self) -> Vec<(String, Binding)> {
        let Some(mut frame) = self.frames.pop() else { return Vec::new() };
        frame.order.into_iter().filter_map(|n| frame.bindings.remove(&n).map(|b| (n, b))).collect()
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<&Binding> {
        self.frames.iter().rev().find_map(|f| f.bindings.get(name))
    }

    /// The innermost loop (`Repeat` or `For`) around the current point, if any.
    pub(crate) fn innermost_loop(&self) -> Option<FrameKind> {
        self.frames.iter().rev().map(|f| f.kind).find(|k| k.is_loop())
    }

    /// Every bound name (for suggestions).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.frames.iter().flat_map(|f| f.bindings.keys().map(String::as_str))
    }

    /// Binds `name` in the innermost frame, applying the rebinding rules (module docs).
    pub(crate) fn bind(&mut self, name: &str, binding: Binding) -> Result<(), BindError> {
        let repeat = self.frames.iter().rposition(|f| f.kind.is_loop());
        let found =
            self.frames.iter().enumerate().rev().find_map(|(i, f)| f.bindings.get(name).map(|b| (i, b.clone())));
        let kind = match found {
            None => binding.kind,
            Some((i, earlier)) => match repeat {
                // Bound outside the innermost loop: the loop's carried state.
                Some(r) if i < r && binding.kind == BindingKind::Let && earlier.kind.is_carryable() => {
                    BindingKind::Carried
                }
                Some(r) if i < r && binding.kind == BindingKind::Let && earlier.kind.is_constant() => {
                    return Err(BindError::Constant(earlier));
                }
                _ => return Err(BindError::Rebound(earlier)),
            },
        };
        let frame = self.frames.last_mut().expect("scopes always have a body frame");
        frame.order.push(name.to_string());
        frame.bindings.insert(name.to_string(), Binding { kind, ..binding });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::FileId;

    fn b(kind: BindingKind) -> Binding {
        Binding { span: Span::new(FileId(0), 0, 1), kind, section: None }
    }

    #[test]
    fn rebinding_is_refused_except_for_carried_state() {
        let mut s = Scopes::new();
        s.bind("x", b(BindingKind::Let)).unwrap();
        assert!(matches!(s.bind("x", b(BindingKind::Let)), Err(BindError::Rebound(_))));
        s.push(FrameKind::Repeat);
        s.bind("x", b(BindingKind::Let)).unwrap();
        assert_eq!(s.lookup("x").map(|b| b.kind), Some(BindingKind::Carried));
        // Once per iteration.
        assert!(matches!(s.bind("x", b(BindingKind::Let)), Err(BindError::Rebound(_))));
        s.bind("local", b(BindingKind::Let)).unwrap();
        s.pop();
        assert!(s.lookup("local").is_none());
    }

    #[test]
    fn constants_cannot_be_carried() {
        let mut s = Scopes::new();
        s.bind("n", b(BindingKind::Hparam)).unwrap();
        s.push(FrameKind::Repeat);
        assert!(matches!(s.bind("n", b(BindingKind::Let)), Err(BindError::Constant(_))));
    }

    #[test]
    fn loop_variables_are_neither_rebound_nor_assigned() {
        let mut s = Scopes::new();
        s.bind("h", b(BindingKind::Let)).unwrap();
        s.push(FrameKind::For);
        s.bind("i", b(BindingKind::LoopVar)).unwrap();
        // The body updates carried state as in `repeat`.
        s.bind("h", b(BindingKind::Let)).unwrap();
        assert_eq!(s.lookup("h").map(|b| b.kind), Some(BindingKind::Carried));
        assert!(matches!(s.bind("i", b(BindingKind::Let)), Err(BindError::Rebound(_))));
        // A nested loop cannot assign the outer loop's variable.
        s.push(FrameKind::Repeat);
        assert!(matches!(s.bind("i", b(BindingKind::Let)), Err(BindError::Constant(_))));
        s.pop();
        s.pop();
        assert!(s.lookup("i").is_none());
        // A loop variable cannot shadow a name bound before the loop.
        s.push(FrameKind::For);
        assert!(matches!(s.bind("h", b(BindingKind::LoopVar)), Err(BindError::Rebound(_))));
    }

    #[test]
    fn branches_are_separate_frames() {
        let mut s = Scopes::new();
        s.bind("x", b(BindingKind::Let)).unwrap();
        s.push(FrameKind::Repeat);
        s.push(FrameKind::Branch);
        s.bind("x", b(BindingKind::Let)).unwrap();
        s.pop();
        s.push(FrameKind::Branch);
        s.bind("x", b(BindingKind::Let)).unwrap();
        s.pop();
        // Outside a loop, assigning in a branch is a rebinding.
        s.pop();
        s.push(FrameKind::Branch);
        assert!(s.bind("x", b(BindingKind::Let)).is_err());
    }
}

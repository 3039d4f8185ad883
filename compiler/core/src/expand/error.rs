//! Errors found while expanding a model into IR: type and shape errors (E03xx) and model-level
//! structure errors (E02xx that need evaluation to detect). Converted to the front end's
//! diagnostics by the driver, so all stages report the same way.

use hg_dsl::ast::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct ExpandError {
    pub code: &'static str,
    pub message: String,
    pub primary: Span,
    pub primary_label: String,
    /// Second places involved: the definitions of operands, the earlier binding.
    pub labels: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl ExpandError {
    pub fn new(code: &'static str, span: Span, message: impl Into<String>) -> ExpandError {
        ExpandError {
            code,
            message: message.into(),
            primary: span,
            primary_label: String::new(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn label_primary(mut self, text: impl Into<String>) -> Self {
        self.primary_label = text.into();
        self
    }

    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        if span != self.primary && !span.is_empty() {
            self.labels.push((span, text.into()));
        }
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Error codes of this stage. Documented in docs/errors.md.
pub mod codes {
    /// An operation's operands have incompatible dtypes or shapes.
    pub const TYPE_MISMATCH: &str = "E0301";
    /// A value of the wrong kind (tensor where an int is needed, ...).
    pub const WRONG_KIND: &str = "E0302";
    /// A call's argument does not match the `fn` signature's tensor type.
    pub const SIGNATURE_MISMATCH: &str = "E0303";
    /// A `fn` returned a value that does not match its declared return type.
    pub const RETURN_MISMATCH: &str = "E0304";
    /// A dimension expression is not an exact, non-negative integer.
    pub const BAD_DIMENSION: &str = "E0305";
    /// Reshape to a different number of elements.
    pub const RESHAPE_SIZE: &str = "E0306";
    /// An axis is out of range.
    pub const BAD_AXIS: &str = "E0307";
    /// The loss is not a scalar.
    pub const LOSS_NOT_SCALAR: &str = "E0308";
    /// A metric is not a scalar.
    pub const METRIC_NOT_SCALAR: &str = "E0309";
    /// The decoder reads a value of the encoder.
    pub const DECODER_READS_ENCODER: &str = "E0310";
    /// A prior's shape differs from its latent's.
    pub const PRIOR_SHAPE: &str = "E0311";
    /// A record has no such field / a value is not a record.
    pub const NO_FIELD: &str = "E0312";
    /// A `fn` body ends without `return`.
    pub const NO_RETURN: &str = "E0313";
    /// A compile-time condition is a run-time tensor.
    pub const NOT_COMPILE_TIME: &str = "E0314";
    /// Recursion too deep while expanding `fn` calls.
    pub const RECURSION_LIMIT: &str = "E0315";
    /// An index or slice is out of range.
    pub const INDEX_RANGE: &str = "E0316";
    /// A compile-time argument has an invalid value (negative size, k > n, ...).
    pub const BAD_ARGUMENT: &str = "E0317";
    /// A parameter is declared twice with different types.
    pub const PARAM_CONFLICT: &str = "E0318";
    /// A model has no latent, no loss, or another missing part an entry point needs.
    pub const MODEL_INCOMPLETE: &str = "E0319";
    /// Unknown name during expansion (normally caught by the resolver).
    pub const UNKNOWN_NAME: &str = "E0320";
    /// Wrong number of values to unpack.
    pub const UNPACK: &str = "E0321";
    /// A model input or latent named like a runtime scalar (`seed`, `step`, ...).
    pub const RESERVED_NAME: &str = "E0322";
    /// Two different places (a `param` statement reached through different calls) declare the
    /// same parameter path.
    pub const PARAM_PATH_TAKEN: &str = "E0323";
    /// Priors that read each other's latents in a circle, so `sample` has no order to draw them.
    pub const PRIOR_CYCLE: &str = "E0324";
    /// An `update` that cannot replace its buffer: wrong type, or a second update in one step.
    pub const BAD_UPDATE: &str = "E0325";
    /// A `picture` that is not a batch of f32 images (`[B, ...]`, one image per example).
    pub const BAD_PICTURE: &str = "E0326";
    /// `grad(y, x)` of a `y` that is not a float scalar, or through an operation without a
    /// gradient.
    pub const BAD_GRADIENT: &str = "E0327";
}

impl ExpandError {
    /// The front end's diagnostic form, so every stage renders the same way.
    pub fn to_diagnostic(&self) -> hg_dsl::diagnostic::Diagnostic {
        let mut d = hg_dsl::diagnostic::Diagnostic::error(self.code, self.message.clone())
            .primary(self.primary, self.primary_label.clone());
        for (span, text) in &self.labels {
            d = d.secondary(*span, text.clone());
        }
        d.maybe_help(self.help.clone())
    }
}

//! Typed diagnostics: a stable code, a message, labelled spans and an optional help line.
//!
//! Front-end stages never fail: they return their result together with a `Vec<Diagnostic>`,
//! and the driver decides whether to go on. A [`Diagnostic`] is plain data; [`Diagnostic::report`]
//! pairs it with the [`SourceDb`] to get a [`miette::Diagnostic`] that any miette handler can
//! render with `file:line:col` and underlined spans. Labels that lie in another file than the
//! primary label are rendered as related notes, each with its own source snippet.
//!
//! Wording follows the project style: messages are lowercase without a final period, name
//! identifiers in backticks, and say what is wrong; only the help says how to fix it.

use std::fmt;

use crate::ast::{FileId, Span};
use crate::source::SourceDb;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a message; the primary label is where the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, e.g. `E0101`; see [`crate::codes`] and docs/errors.md.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: Severity::Error, message: message.into(), labels: Vec::new(), help: None }
    }

    /// Adds the primary label.
    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// Adds a secondary label (another place involved, e.g. the earlier binding).
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line if `help` is `Some`.
    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The span of the primary label (or of the first label).
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).or(self.labels.first()).map(|l| l.span)
    }

    /// A renderable view of this diagnostic over the files of `db`.
    pub fn report<'a>(&'a self, db: &'a SourceDb) -> Report<'a> {
        Report::new(self, db)
    }

    /// Order for output: by file, then position, then code (diagnostics without a location first).
    pub fn sort_key(&self) -> (Option<(FileId, u32, u32)>, &'static str) {
        (self.primary_span().map(|s| (s.file, s.start, s.end)), self.code)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Sorts diagnostics into output order and drops exact duplicates.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup();
}

/// One file's text with its display name, as miette wants it.
struct FileSource<'a> {
    name: &'a str,
    text: &'a str,
}

impl miette::SourceCode for FileSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let contents = self.text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

/// A [`Diagnostic`] together with the sources it points into; implements [`miette::Diagnostic`].
pub struct Report<'a> {
    diag: &'a Diagnostic,
    message: &'a str,
    severity: miette::Severity,
    source: Option<FileSource<'a>>,
    labels: Vec<(Span, &'a str, bool)>,
    related: Vec<Report<'a>>,
}

impl<'a> Report<'a> {
    fn new(diag: &'a Diagnostic, db: &'a SourceDb) -> Report<'a> {
        let severity = match diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let home = diag.primary_span().map(|s| s.file);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for label in &diag.labels {
            if db.get(label.span.file).is_none() {
                continue;
            }
            if Some(label.span.file) == home {
                labels.push((label.span, label.message.as_str(), label.primary));
            } else {
                let file = db.file(label.span.file);
                related.push(Report {
                    diag,
                    message: label.message.as_str(),
                    severity: miette::Severity::Advice,
                    source: Some(FileSource { name: &file.name, text: &file.text }),
                    labels: vec![(label.span, "", true)],
                    related: Vec::new(),
                });
            }
        }
        let source = home.and_then(|id| db.get(id)).map(|f| FileSource { name: &f.name, text: &f.text });
        Report { diag, message: &diag.message, severity, source, labels, related }
    }

    fn is_main(&self) -> bool {
        self.severity != miette::Severity::Advice
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report").field("diag", self.diag).finish()
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.is_main().then(|| Box::new(self.diag.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if !self.is_main() {
            return None;
        }
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        let text_len = self.source.as_ref().map_or(0, |s| s.text.len());
        Some(Box::new(self.labels.iter().map(move |(span, message, primary)| {
            // Clamp so that a span can never make rendering fail.
            let start = (span.start as usize).min(text_len);
            let end = (span.end as usize).clamp(start, text_len);
            let label = (!message.is_empty()).then(|| message.to_string());
            let source_span = miette::SourceSpan::new(start.into(), end - start);
            if *primary {
                miette::LabeledSpan::new_primary_with_span(label, source_span)
            } else {
                miette::LabeledSpan::new_with_span(label, source_span)
            }
        })))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miette::Diagnostic as _;

    #[test]
    fn report_splits_labels_by_file() {
        let mut db = SourceDb::new();
        let a = db.add_text("a", "a.hgl", "x = y\n");
        let b = db.add_text("b", "b.hgl", "fn y() { return 1 }\n");
        let d = Diagnostic::error("E0101", "unknown name `y`")
            .primary(Span::new(a, 4, 5), "not found")
            .secondary(Span::new(b, 3, 4), "defined here");
        let r = d.report(&db);
        assert_eq!(r.labels().map(|l| l.count()), Some(1));
        assert_eq!(r.related().map(|r| r.count()), Some(1));
        assert_eq!(r.code().map(|c| c.to_string()), Some("E0101".to_string()));
    }

    #[test]
    fn sort_orders_by_position_and_dedups() {
        let f = FileId(0);
        let mut ds = vec![
            Diagnostic::error("E0101", "b").primary(Span::new(f, 9, 10), ""),
            Diagnostic::error("E0101", "a").primary(Span::new(f, 1, 2), ""),
            Diagnostic::error("E0101", "a").primary(Span::new(f, 1, 2), ""),
        ];
        sort_diagnostics(&mut ds);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].message, "a");
    }
}

//! Rendering diagnostics as text with miette: `file:line:col`, the source line, underlined
//! labels and the help line.
//!
//! [`Style::Plain`] (ASCII, no colour, fixed width) is stable across terminals and is what the
//! golden tests compare; [`Style::Terminal`] uses Unicode and colours when stderr is a terminal.

use std::fmt::Write as _;

use hg_dsl::{Diagnostic, SourceDb};
use miette::{GraphicalReportHandler, GraphicalTheme};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// ASCII art, no colours, 100 columns.
    Plain,
    /// Unicode and colours.
    Terminal,
}

/// Renders every diagnostic, in order, each followed by a blank line.
pub fn render(db: &SourceDb, diagnostics: &[Diagnostic], style: Style) -> String {
    let handler = match style {
        Style::Plain => GraphicalReportHandler::new_themed(GraphicalTheme::none()).with_width(100),
        Style::Terminal => GraphicalReportHandler::new_themed(GraphicalTheme::unicode()),
    };
    // Labels in another file than the main one are related reports; show them inside it.
    let handler = handler.with_links(false).with_show_related_as_nested(true);
    let mut out = String::new();
    for d in diagnostics {
        let report = d.report(db);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering only fails on a bad span; never lose the message.
            let _ = writeln!(out, "error[{}]: {}", d.code, d.message);
        }
        out.push('\n');
    }
    out
}

/// "1 error", "3 errors".
pub fn count_errors(diagnostics: &[Diagnostic]) -> String {
    let n = diagnostics.iter().filter(|d| d.is_error()).count();
    format!("{n} error{}", if n == 1 { "" } else { "s" })
}

//! From a spec on disk to a checked, expanded model: the front end (parse, resolve), then the
//! middle end (expansion with type and shape checking, IR passes). Diagnostics of every stage
//! are rendered the same way.

use crate::cli::SpecArgs;
use crate::driver::{self, CheckOutput};
use crate::render::{self, Style};
use hg_core::expand::program::selected_model;
use hg_core::pipeline::{CompiledModel, compile_model};
use hg_dsl::Diagnostic;
use std::io::IsTerminal as _;

pub fn style() -> Style {
    if std::io::stderr().is_terminal() { Style::Terminal } else { Style::Plain }
}

/// The result of checking a spec through type checking.
pub struct Checked {
    pub front: CheckOutput,
    /// `None` when the front end or type checking failed (see `diagnostics`).
    pub model: Option<CompiledModel>,
    /// Every diagnostic, front end first.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Runs the front end and, when it found no errors and a model is selected, expansion and
/// type checking. `Err` only when the root file cannot be read.
pub fn check_spec(spec: &SpecArgs) -> Result<Checked, driver::ReadError> {
    let front = driver::check_path(&spec.file, None, &spec.check_options())?;
    let mut diagnostics = front.diagnostics.clone();
    let mut model = None;
    if !front.has_errors() {
        match selected_model(&front.program) {
            None => {}
            Some((file, def, overrides)) => match overrides {
                Err(errors) => diagnostics.extend(errors.iter().map(|e| e.to_diagnostic())),
                Ok(values) => match compile_model(&front.program, file, def, &values) {
                    Ok(m) => model = Some(m),
                    Err(diags) => diagnostics.extend(diags),
                },
            },
        }
    }
    Ok(Checked { front, model, diagnostics })
}

/// Checks and compiles a spec for commands that need a model (`ir`, `run`), printing every
/// diagnostic. `None` when there is nothing to run (diagnostics were printed).
pub fn compile_spec(spec: &SpecArgs) -> Option<CompiledSpec> {
    let checked = match check_spec(spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    eprint!("{}", render::render(&checked.front.db, &checked.diagnostics, style()));
    if checked.has_errors() {
        eprintln!("error: `{}` has {}", spec.file.display(), render::count_errors(&checked.diagnostics));
        return None;
    }
    match checked.model {
        Some(model) => Some(CompiledSpec { db: checked.front.db, model }),
        None => {
            eprintln!("error: `{}` defines no model", spec.file.display());
            None
        }
    }
}

/// A compiled model with the sources its spans point into, so later stages (the train step)
/// can report located diagnostics too.
pub struct CompiledSpec {
    pub db: hg_dsl::source::SourceDb,
    pub model: CompiledModel,
}

impl CompiledSpec {
    /// Prints a diagnostic of a later stage, rendered like the front end's.
    pub fn report(&self, d: &Diagnostic) {
        eprint!("{}", render::render(&self.db, std::slice::from_ref(d), style()));
    }

    /// `file:line` of a graph node's span, when it points into a known file.
    pub fn line_of(&self, span: hg_ir::NodeSpan) -> Option<String> {
        if span == hg_ir::NodeSpan::default() {
            return None;
        }
        let file = self.db.get(hg_dsl::ast::FileId(span.file))?;
        let (line, _) = file.line_col(span.start as usize);
        Some(format!("{}:{line}", file.name))
    }
}

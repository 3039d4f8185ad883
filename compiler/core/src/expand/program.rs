//! The front end's resolved [`Program`] as the expander's view of the source.

use super::ctx::{Ctx, Frame, ParamTable, ProgramView};
use super::error::ExpandError;
use super::eval::eval_expr;
use super::value::Value;
use hg_dsl::ast::{self, FileId};
use hg_dsl::resolve::{Program, Symbol};

/// An empty file, for ids the program does not know (never produced by its own lookups).
static EMPTY: ast::File = ast::File { id: FileId(u32::MAX), items: Vec::new() };

impl ProgramView for Program {
    fn file(&self, id: FileId) -> &ast::File {
        Program::file(self, id).map(|f| &f.ast).unwrap_or(&EMPTY)
    }

    fn lookup_fn(&self, file: FileId, name: &str) -> Option<(FileId, usize)> {
        match self.lookup(file, name)? {
            Symbol::Fn { file, index } => Some((file, index)),
            Symbol::Builtin(_) => None,
        }
    }
}

/// `--set` overrides as compile-time values, or the errors evaluating them.
pub type Overrides = Result<Vec<(String, Value)>, Vec<ExpandError>>;

/// The selected model with its `--set` overrides evaluated to compile-time values.
pub fn selected_model(program: &Program) -> Option<(FileId, &ast::ModelDef, Overrides)> {
    let (model, sel) = program.selected_model()?;
    let mut params = ParamTable::default();
    let mut ctx = Ctx::new(program, "overrides", (false, false), &mut params);
    ctx.frames.push(Frame::new(sel.file, String::new()));
    let mut values = Vec::new();
    for h in sel.hparams.iter().filter(|h| h.overridden) {
        if let Ok(v) = eval_expr(&mut ctx, &h.value) {
            values.push((h.name.name.clone(), v));
        }
    }
    let errors = std::mem::take(&mut ctx.errors);
    let result = if errors.is_empty() { Ok(values) } else { Err(errors) };
    Some((sel.file, model, result))
}

//! The parser: source text to [`crate::ast::File`], recovering from errors.
//!
//! Stages: the layout pass (`layout.rs`) decides statement boundaries and bounds nesting; the
//! pest grammar (`hgl.pest`) parses the prepared text; lowering (`lower.rs`, `expr.rs`) builds
//! the AST with byte spans and validates literals.
//!
//! Recovery: when pest fails, the error is reported and the innermost statement containing it
//! is blanked out (replaced by spaces), then the file is parsed again, up to
//! [`MAX_SYNTAX_ERRORS`] reports. Names the dropped statements would have bound are returned as
//! `poisoned`, so that the resolver does not report follow-on "unknown name" errors. When the
//! brackets of the file do not balance, statement boundaries cannot be trusted: only the first
//! syntax error is reported, and whole top-level items are dropped instead.
//!
//! Parsing never panics and never recurses deeper than the nesting bound of the layout pass.

pub(crate) mod errors;
mod expr;
pub(crate) mod grammar;
pub(crate) mod layout;
mod literal;
mod lower;

use pest::Parser as _;

use crate::ast::{Expr, File, FileId};
use crate::diagnostic::Diagnostic;
use grammar::{HglParser, Rule};
use layout::Chunk;

pub use expr::MAX_EXPR_DEPTH;
pub use layout::MAX_NESTING;

/// At most this many syntax errors are reported per file.
pub const MAX_SYNTAX_ERRORS: usize = 20;

/// Stack for the parsing thread. Parsing recurses a bounded number of times per nesting level
/// (at most [`MAX_NESTING`] levels), which needs up to about 2 MiB in an unoptimized build;
/// running it on a thread of known stack size makes the bound hold on any caller's thread.
const PARSE_STACK: usize = 16 << 20;

/// The result of parsing one file.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// Every item that parsed; statements and items with errors are left out.
    pub file: File,
    pub diagnostics: Vec<Diagnostic>,
    /// Names that statements or items with errors would have bound.
    pub poisoned: Vec<String>,
    /// Whether the whole file parsed without syntax errors.
    pub complete: bool,
}

/// Parses one file. `src` is the file's whole text; spans in the result point into it.
pub fn parse_file(file: FileId, src: &str) -> Parsed {
    on_parse_stack(|| parse_file_here(file, src))
}

/// Runs `f` on a thread with [`PARSE_STACK`] bytes of stack (on this thread if none can be
/// started).
fn on_parse_stack<T: Send>(f: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|scope| {
        let builder = std::thread::Builder::new().name("hgl-parse".to_string()).stack_size(PARSE_STACK);
        match builder.spawn_scoped(scope, &f) {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => f(),
        }
    })
}

fn parse_file_here(file: FileId, src: &str) -> Parsed {
    pest::set_error_detail(true);
    let layout = layout::layout(file, src);
    let mut diagnostics = layout.diagnostics.clone();
    let mut poisoned: Vec<String> = Vec::new();
    let mut blanked: Vec<Chunk> = layout.blanked.clone();
    for chunk in &blanked {
        poisoned.extend(layout::bound_names(src, &layout.tokens, *chunk));
    }
    let mut text = layout.text.clone();
    let mut complete = diagnostics.is_empty();
    let mut reported = 0;
    loop {
        let err = match HglParser::parse(Rule::file, &text) {
            Ok(mut pairs) => {
                let mut lowerer = lower::Lowerer::new(file);
                let ast = match pairs.next() {
                    Some(pair) => lowerer.file(pair),
                    None => File { id: file, items: Vec::new() },
                };
                complete &= lowerer.diags.is_empty();
                diagnostics.append(&mut lowerer.diags);
                poisoned.append(&mut lowerer.poisoned);
                return Parsed { file: ast, diagnostics, poisoned, complete };
            }
            Err(err) => err,
        };
        complete = false;
        let se = errors::syntax_error(file, src, &text, &layout.tokens, &layout.unclosed, &err);
        if reported < MAX_SYNTAX_ERRORS && (layout.balanced || reported == 0) {
            diagnostics.push(se.diagnostic);
            reported += 1;
        }
        let chunk = if layout.balanced {
            layout::innermost_chunk(&layout.chunks, se.offset)
        } else {
            layout.chunks.iter().filter(|c| c.depth == 0 && c.start <= se.offset).max_by_key(|c| c.start).copied()
        };
        let chunk = chunk.or_else(|| {
            layout.chunks.iter().filter(|c| c.depth == 0 && c.start <= se.offset).max_by_key(|c| c.start).copied()
        });
        match chunk {
            Some(c) if !blanked.contains(&c) && !text[c.start..c.end].trim().is_empty() => {
                poisoned.extend(layout::bound_names(src, &layout.tokens, c));
                text = blank(&text, c);
                blanked.push(c);
            }
            _ => return Parsed { file: File { id: file, items: Vec::new() }, diagnostics, poisoned, complete },
        }
    }
}

/// `text` with the bytes of `chunk` replaced by spaces (same length, still valid UTF-8).
fn blank(text: &str, chunk: Chunk) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for b in &mut bytes[chunk.start..chunk.end] {
        *b = b' ';
    }
    String::from_utf8(bytes).unwrap_or_else(|_| " ".repeat(text.len()))
}

/// Parses a standalone expression, e.g. the value of `--set name=value`.
pub fn parse_expr(file: FileId, src: &str) -> Result<Expr, Vec<Diagnostic>> {
    on_parse_stack(|| parse_expr_here(file, src))
}

fn parse_expr_here(file: FileId, src: &str) -> Result<Expr, Vec<Diagnostic>> {
    pest::set_error_detail(true);
    let layout = layout::layout(file, src);
    if !layout.diagnostics.is_empty() {
        return Err(layout.diagnostics);
    }
    match HglParser::parse(Rule::value, &layout.text) {
        Ok(mut pairs) => {
            let mut lowerer = lower::Lowerer::new(file);
            let expr = pairs
                .next()
                .and_then(|value| value.into_inner().find(|p| p.as_rule() == Rule::expr))
                .and_then(|e| lowerer.expr(e).ok());
            match expr {
                Some(e) if lowerer.diags.is_empty() => Ok(e),
                _ => Err(lowerer.diags),
            }
        }
        Err(err) => {
            Err(vec![errors::syntax_error(file, src, &layout.text, &layout.tokens, &layout.unclosed, &err).diagnostic])
        }
    }
}

#[cfg(test)]
mod tests;

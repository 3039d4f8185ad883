//! Hourglass front end: the `.hgl` grammar, the AST with spans, the parser, name resolution
//! and typed diagnostics.
//!
//! Pipeline: [`source::SourceDb`] holds the text; [`parse`] turns one file into an
//! [`ast::File`] (recovering from errors); [`resolve::check`] loads imports through a
//! [`source::Loader`], resolves names and checks the model structure, and returns a
//! [`resolve::Program`] with every [`diagnostic::Diagnostic`]. The crate does no file IO and
//! never panics on any input. [`print`] writes an AST back as text.

pub mod ast;
pub mod builtins;
pub mod codes;
pub mod diagnostic;
pub mod parse;
pub mod print;
pub mod resolve;
pub mod source;
pub mod spans;
pub mod suggest;

pub use ast::{FileId, Span};
pub use diagnostic::{Diagnostic, Label, Report, Severity};
pub use resolve::{CheckOptions, Program, Symbol, check};
pub use source::{LoadedFile, Loader, MemoryLoader, SourceDb, SourceFile};

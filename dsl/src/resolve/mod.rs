//! Name resolution and structural checks: the last front-end stage before expansion.
//!
//! [`check`] loads the root file and everything it imports (through the [`Loader`]), parses
//! each file once, builds each file's scope (its own `fn`s and `model`s plus imported `fn`s),
//! then checks every body: names, scopes and rebinding, keyword arguments against builtins and
//! user `fn`s, types and dimension names, model structure (section order, latents, priors,
//! outputs, the decoder's isolation from the encoder), the `train` block, recursion between
//! `fn`s, and finally the model selection (`--model`) and hyperparameter overrides (`--set`).
//!
//! **API boundary**: the result is a [`Program`], which a later stage queries: the parsed files,
//! what a file-level name refers to ([`Program::lookup`] gives a [`Symbol`]), and the selected
//! model with its hyperparameter values after overrides ([`Program::selected_model`]). Local
//! names (parameters, bindings, dimension variables) are not recorded: an expander keeps its
//! own environment and falls back to [`Program::lookup`] for names it does not bind.
//!
//! Like every front-end stage, [`check`] does not fail: it returns the program it could build
//! and every diagnostic, sorted by file and position. Statements dropped by the parser leave
//! their names *poisoned*, which silences follow-on "unknown name" errors.

mod args;
mod body;
mod items;
mod load;
mod model;
mod recursion;
mod scope;
mod select;
mod types;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::{self, FileId, FnDef, Ident, Item, ModelDef, Span};
use crate::builtins::{self, BuiltinDef};
use crate::diagnostic::{Diagnostic, sort_diagnostics};
use crate::source::{Loader, SourceDb};

/// What a `prior` may read (docs/language.md): `sample` evaluates the priors without inputs
/// (conditions aside) or encoder, so compile-time values, conditions, latents and the
/// bottleneck values computed from them are visible. `shape` is the latent's
/// shape (`[B, 16]`) where it is known, for the example. The front end and the expander both
/// state the rule with this text.
pub fn prior_rule(latent: &str, shape: Option<&str>) -> String {
    let example = match shape {
        Some(shape) => format!("`prior {latent} = normal({shape})`"),
        None => format!("`prior {latent} = normal([B, 16])` for a latent of shape [B, 16]"),
    };
    format!(
        "`sample` draws `{latent}` from its prior without inputs and without running the encoder, so a prior may \
         read hyperparameters, conditions, the batch `B`, constants, functions, other latents (drawn first, from \
         their priors) and bottleneck values computed from these and parameters, but nothing computed from an \
         input or the encoder, as in {example}"
    )
}

/// Choices from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// `--model NAME`: which model of the root file to select.
    pub model: Option<String>,
    /// `--set name=value`, as written (one string per flag).
    pub overrides: Vec<String>,
}

/// What a file-level name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// A `fn`: `index` is its position in `Program::file(file).ast.items`.
    Fn { file: FileId, index: usize },
    /// A built-in operation or element type (see [`crate::builtins`]).
    Builtin(&'static BuiltinDef),
}

/// A name defined in or imported into a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    Fn { file: FileId, index: usize },
    Model { file: FileId, index: usize },
}

#[derive(Clone, Debug)]
pub struct GlobalEntry {
    pub target: Global,
    /// The definition's name, or the imported name in the `use`.
    pub span: Span,
    pub imported: bool,
}

/// The names visible at the top level of one file (builtins aside).
#[derive(Clone, Debug, Default)]
pub struct FileScope {
    names: HashMap<String, GlobalEntry>,
}

impl FileScope {
    pub fn get(&self, name: &str) -> Option<&GlobalEntry> {
        self.names.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = (&str, &GlobalEntry)> {
        self.names.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// One parsed file with its scope.
#[derive(Clone, Debug)]
pub struct ParsedFile {
    pub id: FileId,
    pub ast: ast::File,
    pub scope: FileScope,
    /// Names that statements dropped because of errors would have bound.
    pub poisoned: HashSet<String>,
    /// Whether the file parsed without errors (all its items are present).
    pub complete: bool,
    /// For each item that is a `use`, the file it imports (if it could be loaded).
    pub use_targets: HashMap<usize, FileId>,
}

/// A hyperparameter of the selected model and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct HparamValue {
    pub name: Ident,
    /// The `--set` value (its spans point into a source file named `--set ...`) or the default.
    pub value: ast::Expr,
    pub overridden: bool,
}

/// The model chosen with `--model` (or the only one in the root file).
#[derive(Clone, Debug, PartialEq)]
pub struct SelectedModel {
    pub file: FileId,
    /// Position in the file's `items`.
    pub index: usize,
    /// Every hyperparameter that has a value, in declaration order.
    pub hparams: Vec<HparamValue>,
}

/// The checked program: every parsed file and the selected model.
#[derive(Clone, Debug)]
pub struct Program {
    pub root: FileId,
    files: BTreeMap<FileId, ParsedFile>,
    pub model: Option<SelectedModel>,
}

impl Program {
    pub fn file(&self, id: FileId) -> Option<&ParsedFile> {
        self.files.get(&id)
    }

    /// All parsed files: the root, then its imports in load order.
    pub fn files(&self) -> impl Iterator<Item = &ParsedFile> {
        self.files.values()
    }

    /// What the file-level name `name` means in `file`: a `fn` defined or imported there,
    /// else a builtin operation or element type. Models are not values and give `None`.
    pub fn lookup(&self, file: FileId, name: &str) -> Option<Symbol> {
        match self.files.get(&file).and_then(|f| f.scope.get(name)) {
            Some(GlobalEntry { target: Global::Fn { file, index }, .. }) => {
                Some(Symbol::Fn { file: *file, index: *index })
            }
            Some(GlobalEntry { target: Global::Model { .. }, .. }) => None,
            None => builtins::lookup(name).map(Symbol::Builtin),
        }
    }

    pub fn fn_def(&self, file: FileId, index: usize) -> Option<&FnDef> {
        match self.files.get(&file)?.ast.items.get(index)? {
            Item::Fn(f) => Some(f),
            _ => None,
        }
    }

    pub fn model_def(&self, file: FileId, index: usize) -> Option<&ModelDef> {
        match self.files.get(&file)?.ast.items.get(index)? {
            Item::Model(m) => Some(m),
            _ => None,
        }
    }

    /// The selected model's definition and hyperparameter values.
    pub fn selected_model(&self) -> Option<(&ModelDef, &SelectedModel)> {
        let sel = self.model.as_ref()?;
        Some((self.model_def(sel.file, sel.index)?, sel))
    }
}

/// Checks the file `root` (already in `db`) and everything it imports.
pub fn check(
    db: &mut SourceDb,
    loader: &dyn Loader,
    root: FileId,
    options: &CheckOptions,
) -> (Program, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut files = load::load_all(db, loader, root, &mut diags);
    items::build_scopes(&mut files, &mut diags);
    let std_index = load::StdIndex::new(loader);
    let mut calls = Vec::new();
    let ids: Vec<FileId> = files.keys().copied().collect();
    for id in ids {
        body::check_file(&files, id, &std_index, &mut calls, &mut diags);
    }
    recursion::check(&files, &calls, &mut diags);
    let model = select::select(db, &files, root, options, &mut diags);
    sort_diagnostics(&mut diags);
    (Program { root, files, model }, diags)
}

#[cfg(test)]
mod tests;

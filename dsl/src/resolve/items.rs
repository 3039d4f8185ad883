//! File scopes: each file's own `fn`s and `model`s, then the `fn`s it imports.
//!
//! Only names *defined* in a module can be imported from it (no re-exports), so building one
//! file's scope never needs another file's scope, and import cycles need no special care.

use std::collections::BTreeMap;

use super::load::source_name;
use super::{Global, GlobalEntry, ParsedFile};
use crate::ast::{FileId, Ident, Item};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::suggest;

fn item_name(item: &Item) -> Option<&Ident> {
    match item {
        Item::Fn(f) => Some(&f.name),
        Item::Model(m) => Some(&m.name),
        Item::Use(_) => None,
    }
}

fn duplicate(name: &Ident, first: &GlobalEntry, what: &str) -> Diagnostic {
    let earlier = if first.imported { "first imported here" } else { "first defined here" };
    Diagnostic::error(codes::E0107, format!("`{}` is {what} twice", name.name))
        .primary(name.span, format!("`{}` {what} again", name.name))
        .secondary(first.span, earlier)
        .help("rename one of them")
}

/// What an imported name resolves to in its module.
enum Import {
    Found(GlobalEntry),
    /// The module defines no such name; the message is ready.
    Missing(Diagnostic),
    /// The module is broken or the import failed: stay silent, poison the name.
    Silent,
}

pub(crate) fn build_scopes(files: &mut BTreeMap<FileId, ParsedFile>, diags: &mut Vec<Diagnostic>) {
    // Definitions first, so imports can see every file's items.
    for file in files.values_mut() {
        for (index, item) in file.ast.items.iter().enumerate() {
            let Some(name) = item_name(item) else { continue };
            let target = match item {
                Item::Model(_) => Global::Model { file: file.id, index },
                _ => Global::Fn { file: file.id, index },
            };
            match file.scope.names.get(&name.name) {
                Some(first) => diags.push(duplicate(name, first, "defined")),
                None => {
                    let entry = GlobalEntry { target, span: name.span, imported: false };
                    file.scope.names.insert(name.name.clone(), entry);
                }
            }
        }
    }
    // Imports: read every file, then write.
    let mut imports: Vec<(FileId, Ident, Import)> = Vec::new();
    for file in files.values() {
        for (index, item) in file.ast.items.iter().enumerate() {
            let Item::Use(u) = item else { continue };
            let target = file.use_targets.get(&index).and_then(|t| files.get(t));
            for name in &u.names {
                let import = match target {
                    None => Import::Silent,
                    Some(module) => lookup_import(module, name, &source_name(u)),
                };
                imports.push((file.id, name.clone(), import));
            }
        }
    }
    for (id, name, import) in imports {
        let Some(file) = files.get_mut(&id) else { continue };
        match import {
            Import::Found(entry) => match file.scope.names.get(&name.name) {
                Some(existing) if existing.target == entry.target => {}
                Some(existing) if existing.imported => diags.push(duplicate(&name, existing, "imported")),
                Some(existing) => diags.push(
                    Diagnostic::error(
                        codes::E0107,
                        format!("`{}` is imported, but this file also defines it", name.name),
                    )
                    .primary(name.span, "imported here")
                    .secondary(existing.span, "defined here")
                    .help("rename the definition, or drop the import"),
                ),
                None => {
                    file.scope.names.insert(name.name.clone(), entry);
                }
            },
            Import::Missing(d) => {
                diags.push(d);
                file.poisoned.insert(name.name);
            }
            Import::Silent => {
                file.poisoned.insert(name.name);
            }
        }
    }
}

fn lookup_import(module: &ParsedFile, name: &Ident, module_name: &str) -> Import {
    let found =
        module.ast.items.iter().enumerate().find(|(_, item)| item_name(item).is_some_and(|n| n.name == name.name));
    match found {
        Some((index, Item::Fn(_))) => Import::Found(GlobalEntry {
            target: Global::Fn { file: module.id, index },
            span: name.span,
            imported: true,
        }),
        Some((_, _)) => Import::Missing(
            Diagnostic::error(
                codes::E0105,
                format!("`{}` in `{module_name}` is a model and cannot be imported", name.name),
            )
            .primary(name.span, "not a function")
            .help("only functions can be imported; a model is compiled from its own file"),
        ),
        None if module.poisoned.contains(&name.name) || !module.complete => Import::Silent,
        None => {
            let fns = module.ast.items.iter().filter_map(|i| match i {
                Item::Fn(f) => Some(f.name.name.as_str()),
                _ => None,
            });
            let help = suggest::did_you_mean(&name.name, fns);
            Import::Missing(
                Diagnostic::error(codes::E0105, format!("`{}` is not defined in `{module_name}`", name.name))
                    .primary(name.span, "not found in the module")
                    .maybe_help(help),
            )
        }
    }
}

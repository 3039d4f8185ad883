//! Loading: parses the root file, follows its `use`s through the [`Loader`], and parses every
//! file reached, each exactly once (files are identified by the loader's key, so import
//! cycles end). Also the index of standard-library names used to suggest a missing `use`.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::{FileScope, ParsedFile};
use crate::ast::{FileId, Item, Span, Use, UseSource};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::parse::parse_file;
use crate::source::{LoadedFile, Loader, SourceDb};
use crate::suggest;

pub(crate) fn load_all(
    db: &mut SourceDb,
    loader: &dyn Loader,
    root: FileId,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<FileId, ParsedFile> {
    let mut files = BTreeMap::new();
    let mut queue = VecDeque::from([root]);
    let mut seen = HashSet::from([root]);
    while let Some(id) = queue.pop_front() {
        let mut parsed = parse_one(db, id, diags);
        for (index, item) in parsed.ast.items.iter().enumerate() {
            let Item::Use(u) = item else { continue };
            if let Some(target) = load_use(db, loader, id, u, diags) {
                parsed.use_targets.insert(index, target);
                if seen.insert(target) {
                    queue.push_back(target);
                }
            }
        }
        files.insert(id, parsed);
    }
    files
}

fn parse_one(db: &SourceDb, id: FileId, diags: &mut Vec<Diagnostic>) -> ParsedFile {
    let file = db.file(id);
    let empty = |complete| ParsedFile {
        id,
        ast: crate::ast::File { id, items: Vec::new() },
        scope: FileScope::default(),
        poisoned: HashSet::new(),
        complete,
        use_targets: Default::default(),
    };
    if let Some(bad) = file.invalid_utf8_at {
        // The lossy text has U+FFFD (3 bytes) where the bad byte was.
        let end = (bad + 3).min(file.text.len());
        diags.push(
            Diagnostic::error(codes::E0009, format!("`{}` is not valid UTF-8", file.name))
                .primary(Span::new(id, bad, end), "the first invalid byte is here")
                .help("save the file as UTF-8"),
        );
        return empty(false);
    }
    let parsed = parse_file(id, &file.text);
    diags.extend(parsed.diagnostics);
    ParsedFile {
        ast: parsed.file,
        poisoned: parsed.poisoned.into_iter().collect(),
        complete: parsed.complete,
        ..empty(true)
    }
}

/// The display name of a `use` source, e.g. `std.nn` or `./blocks.hgl`.
pub(crate) fn source_name(u: &Use) -> String {
    match &u.source {
        UseSource::Std(path) => path.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("."),
        UseSource::File { path, .. } => path.clone(),
    }
}

fn source_span(u: &Use) -> Span {
    match &u.source {
        UseSource::Std(path) => match (path.first(), path.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => u.span,
        },
        UseSource::File { span, .. } => *span,
    }
}

fn add(db: &mut SourceDb, loaded: LoadedFile) -> FileId {
    match db.find_key(&loaded.key) {
        Some(id) => id,
        None => db.add_bytes(loaded.key, loaded.name, loaded.bytes),
    }
}

fn load_use(
    db: &mut SourceDb,
    loader: &dyn Loader,
    importer: FileId,
    u: &Use,
    diags: &mut Vec<Diagnostic>,
) -> Option<FileId> {
    let name = source_name(u);
    let span = source_span(u);
    match &u.source {
        UseSource::Std(path) => {
            let segs: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
            if let Some(loaded) = loader.load_std(&segs) {
                return Some(add(db, loaded));
            }
            let modules = loader.std_modules();
            let help = if segs.first() != Some(&"std") {
                "standard-library modules start with `std.`; import a file with `use ./file.hgl.{Name}`".to_string()
            } else if let Some(m) = suggest::nearest(&name, modules.iter().map(String::as_str)) {
                format!("did you mean `{m}`?")
            } else {
                let list: Vec<String> = modules.iter().map(|m| format!("`{m}`")).collect();
                format!("the standard library has {}", list.join(", "))
            };
            diags.push(
                Diagnostic::error(codes::E0103, format!("unknown module `{name}`"))
                    .primary(span, "no such module")
                    .help(help),
            );
            None
        }
        UseSource::File { path, .. } => match loader.load_relative(db.file(importer), path) {
            Ok(loaded) => Some(add(db, loaded)),
            Err(reason) => {
                diags.push(
                    Diagnostic::error(codes::E0104, format!("cannot import `{path}`: {reason}"))
                        .primary(span, "this file cannot be read")
                        .help("paths are relative to the importing file"),
                );
                None
            }
        },
    }
}

/// Which standard-library module defines each `fn`, built on first use.
pub(crate) struct StdIndex<'a> {
    loader: &'a dyn Loader,
    map: OnceCell<HashMap<String, String>>,
}

impl<'a> StdIndex<'a> {
    pub(crate) fn new(loader: &'a dyn Loader) -> StdIndex<'a> {
        StdIndex { loader, map: OnceCell::new() }
    }

    /// The dotted path of the standard-library module that defines the `fn` `name`.
    pub(crate) fn module_of(&self, name: &str) -> Option<&str> {
        let map = self.map.get_or_init(|| {
            let mut map = HashMap::new();
            let mut modules = self.loader.std_modules();
            modules.sort();
            for module in modules {
                let segs: Vec<&str> = module.split('.').collect();
                let Some(loaded) = self.loader.load_std(&segs) else { continue };
                let Ok(text) = String::from_utf8(loaded.bytes) else { continue };
                for item in parse_file(FileId(u32::MAX), &text).file.items {
                    if let Item::Fn(f) = item {
                        map.entry(f.name.name).or_insert_with(|| module.clone());
                    }
                }
            }
            map
        });
        map.get(name).map(String::as_str)
    }
}

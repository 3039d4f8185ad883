//! The Hourglass standard library, written in Hourglass and embedded in the compiler.
//!
//! Each module `std.<name>` is the file `std/<name>.hgl` next to this crate, included as text at
//! build time, so the compiler needs no files on disk to resolve `use std.nn.{Linear}`.
//! **Invariant**: [`modules`] lists every module exactly once, sorted by path, and
//! [`module_source`] answers for exactly those paths.

/// Every standard-library module as `(dotted path, source text)`, sorted by path.
static MODULES: &[(&str, &str)] = &[
    ("std.bottleneck", include_str!("../std/bottleneck.hgl")),
    ("std.loss", include_str!("../std/loss.hgl")),
    ("std.nn", include_str!("../std/nn.hgl")),
];

/// All modules as `(dotted path, source text)`, e.g. `("std.nn", "...")`, sorted by path.
pub fn modules() -> &'static [(&'static str, &'static str)] {
    MODULES
}

/// The source of the module at `path`, e.g. `["std", "nn"]` gives the text of `std/nn.hgl`;
/// `None` for a path that names no module.
pub fn module_source(path: &[&str]) -> Option<&'static str> {
    MODULES.iter().find(|(name, _)| dotted_eq(name, path)).map(|(_, text)| *text)
}

/// Whether the dotted module name `name` has exactly the segments `path`.
fn dotted_eq(name: &str, path: &[&str]) -> bool {
    let mut segments = name.split('.');
    path.iter().all(|seg| segments.next() == Some(*seg)) && segments.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_module_by_path() {
        for (name, text) in modules() {
            let path: Vec<&str> = name.split('.').collect();
            assert_eq!(module_source(&path), Some(*text), "{name}");
        }
    }

    #[test]
    fn rejects_prefixes_and_extensions_of_module_paths() {
        assert_eq!(module_source(&["std"]), None);
        assert_eq!(module_source(&["std", "nn", "Linear"]), None);
        assert_eq!(module_source(&["nn"]), None);
        assert_eq!(module_source(&[]), None);
        assert_eq!(module_source(&["std", "n"]), None);
    }

    #[test]
    fn modules_are_sorted_and_unique() {
        let names: Vec<&str> = modules().iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}

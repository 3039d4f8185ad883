//! Creation of MLIR contexts that can build, verify and lower our kernels, and capture of the
//! diagnostics MLIR reports while doing so.
//!
//! Every dialect, pass and LLVM translation is registered: the NVVM pipeline needs the `gpu`,
//! `nvvm` and `llvm` dialects, their translations to LLVM IR, and passes by name. Pass
//! registration is process-global and is done once (melior guards it). Contexts are created
//! without MLIR's thread pool: our modules are small, and tests create many contexts at once.

use std::sync::{Arc, Mutex};

use melior::Context;
use melior::dialect::DialectRegistry;
use melior::utility::{register_all_dialects, register_all_llvm_translations, register_all_passes};

/// A context with every dialect loaded and every pass and LLVM translation registered.
pub fn new_context() -> Context {
    let registry = DialectRegistry::new();
    register_all_dialects(&registry);
    let context = Context::new_with_threading(false);
    context.append_dialect_registry(&registry);
    context.load_all_available_dialects();
    register_all_llvm_translations(&context);
    register_all_passes();
    context
}

/// Runs `f` while collecting every diagnostic `context` emits (instead of printing them), and
/// returns its result with the diagnostics, one per line, each followed by its notes.
pub fn with_diagnostics<T>(context: &Context, f: impl FnOnce() -> T) -> (T, String) {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    let id = context.attach_diagnostic_handler(move |diagnostic| {
        let mut text = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{}: {diagnostic}", diagnostic.location()));
        for note in (0..diagnostic.note_count()).filter_map(|i| diagnostic.note(i).ok()) {
            text.push_str(&format!("\n  note: {note}"));
        }
        true
    });
    let result = f();
    context.detach_diagnostic_handler(id);
    let text = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    (result, text)
}

//! The backend registry: every backend `hgc run` can execute a model on, by name. A backend
//! turns a compiled module (and the layout of its train step) into an `hg_exec::Session`; the
//! rest of the driver and the whole runtime only see the session.

use hg_core::interp::{InterpSession, Precision};
use hg_core::optim::TrainStepInfo;
use hg_exec::Session;
use hg_ir::Module;

/// Settings that apply to every backend.
#[derive(Clone, Copy, Debug)]
pub struct BackendOptions {
    /// Float arithmetic (the interpreter can also compute in f64).
    pub precision: Precision,
}

/// How a backend compiles a module and opens a session on it.
type Open = fn(Module, Option<&TrainStepInfo>, &BackendOptions) -> Result<Box<dyn Session>, String>;

/// One entry of the registry.
pub struct Backend {
    pub name: &'static str,
    pub about: &'static str,
    open: Open,
}

impl Backend {
    /// Compiles `module` for this backend and opens a session on it (parameters not loaded).
    pub fn open(
        &self,
        module: Module,
        train: Option<&TrainStepInfo>,
        opts: &BackendOptions,
    ) -> Result<Box<dyn Session>, String> {
        (self.open)(module, train, opts)
    }
}

fn open_interp(
    module: Module,
    train: Option<&TrainStepInfo>,
    opts: &BackendOptions,
) -> Result<Box<dyn Session>, String> {
    Ok(Box::new(InterpSession::new(module, train, opts.precision).map_err(|e| e.to_string())?))
}

/// Every backend, in the order `--help` lists them.
pub const BACKENDS: &[Backend] = &[Backend {
    name: "interp",
    about: "the reference interpreter (exact, slow; the oracle every backend is checked against)",
    open: open_interp,
}];

/// Adds the names of the backends, in registry order, to the help of `hgc run --backend`
/// (`..., one of: interp`), which is where scripts read them from.
pub fn with_backends_in_help(cli: clap::Command) -> clap::Command {
    let names: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
    cli.mut_subcommand("run", |run| {
        run.mut_arg("backend", |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help}, one of: {}", names.join(", ")))
        })
    })
}

/// The backend called `name`; the error lists the ones that exist.
pub fn backend(name: &str) -> Result<&'static Backend, String> {
    BACKENDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let known: Vec<String> = BACKENDS.iter().map(|b| format!("`{}` ({})", b.name, b.about)).collect();
        format!("unknown backend `{name}`; the backends are: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backends_list_the_known_ones() {
        assert_eq!(backend("interp").unwrap().name, "interp");
        let e = backend("llvm-jit").err().unwrap();
        assert!(e.starts_with("unknown backend `llvm-jit`; the backends are: `interp` (the reference"), "{e}");
    }
}

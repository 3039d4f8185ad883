//! The `hgc` command line. Each subcommand parses its arguments here and calls the driver;
//! new subcommands (`ir`, `run`, `build`) add a variant to [`Command`] and a function below.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use hg_dsl::resolve::CheckOptions;

use crate::render::{self, Style};

/// The Hourglass compiler.
#[derive(Debug, Parser)]
#[command(name = "hgc", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a spec (names, types, shapes); print every diagnostic.
    Check(CheckArgs),
    /// Print a model's IR at a stage (`typed`, `grad`, `train`).
    Ir(crate::ir::IrArgs),
    /// Compile a spec in memory and run an entry point: info, encode, decode, reconstruct,
    /// sample, train, eval; or time one of them (`time --entry ENTRY`).
    Run(Box<crate::run::RunArgs>),
    /// Compile a spec ahead of time into a standalone executable (-o NAME) or a portable
    /// artifact (--artifact NAME.hgx), with kernels for the CPU levels it may run on.
    Build(Box<crate::build::BuildArgs>),
    /// Time the CPU backends' matrix product (the GEMM library calls run) on `M,K,N`: prints
    /// JSON with the median time and GFLOP/s, for `bench/run`'s comparison with PyTorch.
    Gemm(crate::timing::GemmArgs),
}

/// Options shared by every command that compiles a spec.
#[derive(Clone, Debug, Args)]
pub struct SpecArgs {
    /// The `.hgl` file.
    pub file: PathBuf,
    /// Which model of the file to use (needed when it defines several).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Override a hyperparameter, e.g. `--set latent=64` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

impl SpecArgs {
    pub fn check_options(&self) -> CheckOptions {
        CheckOptions { model: self.model.clone(), overrides: self.set.clone() }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
}

/// Parses a command line (the program name first), with `hgc run`'s help saying where each
/// option applies and its arguments knowing which options were given.
pub fn parse_from<I, T>(line: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = crate::backends::with_backends_in_help(Cli::command())
        .mut_subcommand("run", hg_cli::options::with_entries_in_help);
    let matches = cli.try_get_matches_from(line)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Run(args), Some(("run", m))) = (&mut cli.command, matches.subcommand()) {
        args.model.given = hg_cli::options::given_options(m);
    }
    Ok(cli)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Ir(args) => exit(crate::ir::ir(&args)),
        Command::Run(args) => exit(crate::run::run(&args)),
        Command::Build(args) => exit(crate::build::build(&args)),
        Command::Gemm(args) => exit(crate::timing::gemm(&args)),
    }
}

fn exit(result: Result<(), i32>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code.clamp(1, 255) as u8),
    }
}

fn style() -> Style {
    if std::io::stderr().is_terminal() { Style::Terminal } else { Style::Plain }
}

/// `hgc check FILE`: exit status 1 if there is any error, 0 otherwise. Type and shape checking
/// (expansion) runs when the front end found no errors.
pub fn check(args: &CheckArgs) -> ExitCode {
    let out = match crate::compile::check_spec(&args.spec) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprint!("{}", render::render(&out.front.db, &out.diagnostics, style()));
    if out.has_errors() {
        eprintln!("error: `{}` has {}", args.spec.file.display(), render::count_errors(&out.diagnostics));
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

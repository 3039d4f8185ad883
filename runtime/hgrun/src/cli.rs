//! The `hgrun` command line: parses arguments with clap, runs one command, prints its output on
//! stdout and turns failures into `error: <message>` on stderr.
//!
//! Exit status: 0 on success; 1 when a command fails (a missing or corrupt file, an unknown
//! array or data set) and when `diff` finds the files different; 2 for a malformed command line
//! (clap's convention, as in `hgc`). Each command lives in its own module and returns its
//! output as a string, so this module is the only one that prints.

use crate::diff::{self, DiffRequest, Tolerance};
use crate::error::Result;
use crate::export::{self, ExportRequest};
use crate::inspect;
use crate::show::{self, ShowRequest};
use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  hgrun vae.hgx train --epochs 1 (a model built with hgc build --artifact vae.hgx)
  hgrun inspect runs/vae/checkpoint.safetensors
  hgrun show samples.npz --array image --png samples.png --cols 8
  hgrun data fashion-mnist:test --limit 1000 --out fmnist-test.npz
  hgrun diff resumed/weights.safetensors uninterrupted/weights.safetensors";

/// The Hourglass runtime: inspects, draws, exports and compares the tensor files that
/// Hourglass models read and write (weights, checkpoints, .npy/.npz data).
#[derive(Debug, Parser)]
#[command(name = "hgrun", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tensors of a .safetensors, .npy or .npz file with their statistics.
    ///
    /// Shows each tensor's name, dtype, shape, number of values, and min/max/mean/std over its
    /// finite values (with counts of NaN and infinite ones), plus the metadata of safetensors
    /// files. Checkpoints and final weights written by training are recognised and their
    /// counters (step, epoch, seed, ...) shown.
    Inspect(InspectArgs),
    /// Draw the images of an array as a PNG grid.
    ///
    /// Image-shaped arrays are [N, H, W], [N, 1|3, H, W], or flat [N, H*W] with square images
    /// ([N, 784] draws 28x28). Values are clamped to [0, 1].
    Show(ShowArgs),
    /// Export a built-in data set to an .npz archive.
    ///
    /// Data sets: fashion-mnist (train split), fashion-mnist:test, shapes (10000 seeded scenes)
    /// and shapes:N. The archive holds the arrays training sees (fashion-mnist: image f32
    /// [N, 28, 28] in [0, 1] and label i64 [N]; shapes: image f32 [N, 3, 32, 32] and
    /// n_objects i64 [N]).
    Data(DataArgs),
    /// Compare two tensor files tensor by tensor; exit status 1 when they differ.
    ///
    /// Tensors are matched by name and must agree in dtype and shape; elements a and b match
    /// when |a - b| <= atol + rtol * max(|a|, |b|). The default tolerances are 0: the files must
    /// be equal bit for bit, as a resumed run is to an uninterrupted one. NaN matches NaN.
    /// Safetensors metadata is compared too.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .safetensors, .npy or .npz file.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The .npy, .npz or .safetensors file.
    pub file: PathBuf,
    /// The PNG file to write.
    #[arg(long, value_name = "OUT.png")]
    pub png: PathBuf,
    /// Which array to draw (default: the first image-shaped one).
    #[arg(long, value_name = "NAME")]
    pub array: Option<String>,
    /// Images per row (default: as square a grid as possible).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cols: Option<u32>,
    /// Draw at most this many images, the first ones.
    #[arg(long, value_name = "N", default_value_t = show::DEFAULT_LIMIT as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// fashion-mnist, fashion-mnist:test, shapes or shapes:N.
    pub name: String,
    /// The .npz file to write.
    #[arg(long, value_name = "FILE.npz")]
    pub out: PathBuf,
    /// Export at most this many examples, the first ones.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed of the shapes generator (default 0).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Deflate the archive's members (numpy.savez_compressed) instead of storing them.
    #[arg(long)]
    pub compress: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first file (.safetensors, .npy or .npz).
    pub a: PathBuf,
    /// The second file.
    pub b: PathBuf,
    /// Relative tolerance.
    #[arg(long, value_name = "R", default_value = "0", value_parser = diff::parse_tolerance)]
    pub rtol: f64,
    /// Absolute tolerance.
    #[arg(long, value_name = "A", default_value = "0", value_parser = diff::parse_tolerance)]
    pub atol: f64,
    /// Compare tensors only, not safetensors metadata.
    #[arg(long)]
    pub ignore_metadata: bool,
    /// Also list the tensors that match.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // `hgrun NAME.hgx ENTRY ...` runs an artifact with the model command line.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = argv.get(1).filter(|a| std::path::Path::new(a).extension().is_some_and(|e| e == "hgx")) {
        let path = std::path::PathBuf::from(path);
        return match std::fs::read(&path) {
            Ok(bytes) => {
                let mut rest = vec![path.as_os_str().to_owned()];
                rest.extend(argv.into_iter().skip(2));
                crate::standalone::main(&bytes, &path.display().to_string(), rest)
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match run(&cli.command) {
        Ok((output, status)) => match std::io::stdout().lock().write_all(output.as_bytes()) {
            Ok(()) => status,
            // A closed pipe (`hgrun inspect big.npz | head`) means the reader has seen enough.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => status,
            Err(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command: its output and exit status, or the error that stopped it.
pub fn run(command: &Command) -> Result<(String, ExitCode)> {
    match command {
        Command::Inspect(args) => Ok((inspect::inspect(&args.file, args.json)?, ExitCode::SUCCESS)),
        Command::Show(args) => {
            let req = ShowRequest {
                file: &args.file,
                array: args.array.as_deref(),
                png: &args.png,
                cols: args.cols.map(|c| c as usize),
                limit: args.limit as usize,
            };
            Ok((show::show(&req)?, ExitCode::SUCCESS))
        }
        Command::Data(args) => {
            let req = ExportRequest {
                spec: &args.name,
                out: &args.out,
                limit: args.limit,
                seed: args.seed,
                compress: args.compress,
            };
            Ok((export::export(&req)?, ExitCode::SUCCESS))
        }
        Command::Diff(args) => {
            let req = DiffRequest {
                a: &args.a,
                b: &args.b,
                tolerance: Tolerance { rtol: args.rtol, atol: args.atol },
                compare_metadata: !args.ignore_metadata,
                verbose: args.verbose,
                json: args.json,
            };
            let outcome = diff::diff(&req)?;
            Ok((outcome.report, if outcome.differ { ExitCode::FAILURE } else { ExitCode::SUCCESS }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments_parse_into_commands() {
        let cli = Cli::try_parse_from(["hgrun", "diff", "a.safetensors", "b.safetensors", "--rtol", "1e-5"]).unwrap();
        let Command::Diff(args) = cli.command else { panic!("expected diff") };
        assert_eq!((args.rtol, args.atol, args.verbose), (1e-5, 0.0, false));
        let e = Cli::try_parse_from(["hgrun", "diff", "a", "b", "--atol=-1"]).unwrap_err().to_string();
        assert!(e.contains("expected a finite number >= 0, not `-1`"), "{e}");
        assert!(Cli::try_parse_from(["hgrun", "show", "x.npz", "--png", "o.png", "--cols", "0"]).is_err());
        let cli = Cli::try_parse_from(["hgrun", "show", "x.npz", "--png", "o.png"]).unwrap();
        let Command::Show(args) = cli.command else { panic!("expected show") };
        assert_eq!((args.limit as usize, args.cols), (show::DEFAULT_LIMIT, None));
    }
}

//! Running a built model: a standalone executable (`NAME ENTRY ...`, the runner with an
//! artifact appended) or an artifact file (`hgrun NAME.hgx ENTRY ...`). The command line is
//! the model command line of `hgc run` (`hg_cli`), so the entries, options, data sets,
//! checkpoints, resume, progress and pictures are the same; what a build fixes (the spec, its
//! `--set` overrides, the backend) is not an option here.

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Arg, Args, Command, FromArgMatches};
use hg_abi::artifact::{TRAILER_LEN, TRAILER_MAGIC, find_appended};
use hg_cli::artifact::{ArtifactModel, Device};
use hg_cli::run::{check_recorded_spec, recorded_run, restore_recorded_data};
use hg_cli::{Model, ModelArgs, RunError};

/// The artifact appended to the running executable, if it carries one. Reads only the trailer
/// and the artifact, not the runner before them.
pub fn appended_artifact() -> Result<Option<Vec<u8>>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut file = std::fs::File::open(&exe).map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
    let read_error = |e: std::io::Error| format!("cannot read {}: {e}", exe.display());
    let size = file.metadata().map_err(read_error)?.len();
    if size < TRAILER_LEN as u64 {
        return Ok(None);
    }
    let mut trailer = [0u8; TRAILER_LEN];
    file.seek(SeekFrom::End(-(TRAILER_LEN as i64))).map_err(read_error)?;
    file.read_exact(&mut trailer).map_err(read_error)?;
    if trailer[8..] != TRAILER_MAGIC {
        return Ok(None);
    }
    let declared = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
    let tail = declared.checked_add(TRAILER_LEN as u64).filter(|&t| t <= size).ok_or_else(|| {
        format!("{}: the appended model is truncated ({declared} bytes declared, the file has {size})", exe.display())
    })?;
    let mut bytes = vec![0u8; tail as usize];
    file.seek(SeekFrom::End(-(tail as i64))).map_err(read_error)?;
    file.read_exact(&mut bytes).map_err(read_error)?;
    let artifact = find_appended(&bytes).map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(artifact.map(<[u8]>::to_vec))
}

/// The command line of a built model named `program`: the model command line, and where to
/// run it (`--device`, which only a built model has: `hgc run` chooses with `--backend`).
fn command(program: &str, about: String) -> Command {
    // The about after the arguments: `augment_args` sets the doc comment of `ModelArgs`.
    let cmd = ModelArgs::augment_args(Command::new(program.to_string()))
        .arg(
            Arg::new("device")
                .long("device")
                .value_name("DEVICE")
                .value_parser(["cpu", "cuda"])
                .default_value("cpu")
                .help("Where to run: this CPU, or an NVIDIA GPU with the PTX the build carries (see `info`)"),
        )
        .about(about)
        .version(env!("CARGO_PKG_VERSION"));
    hg_cli::options::with_entries_in_help(cmd)
}

/// Runs the model in `artifact` (`origin` names it in messages) with the command line `argv`
/// (the program name first).
pub fn main(artifact: &[u8], origin: &str, argv: Vec<OsString>) -> ExitCode {
    let started = Instant::now();
    let program = argv
        .first()
        .and_then(|p| Path::new(p).file_name())
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned());
    let about = format!(
        "A model built by Hourglass: train it, evaluate it, encode, decode, reconstruct, sample, or time an entry ({program} info describes it)"
    );
    let matches = match command(&program, about).try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let mut args = match ModelArgs::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    args.given = hg_cli::options::given_options(&matches);
    let device = match matches.get_one::<String>("device").map(String::as_str) {
        Some("cuda") => Device::Cuda,
        _ => Device::Cpu,
    };
    let model = match ArtifactModel::from_bytes(artifact, origin).and_then(|mut m| m.set_device(device).map(|()| m)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match resume_checks(&mut args, &model).and_then(|()| hg_cli::run(&args, &model, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// For `train --resume`: the checkpoint's run must have been trained from this build's spec
/// and `--set` overrides (which a build fixes); its data and limit apply where none are given.
fn resume_checks(args: &mut ModelArgs, model: &ArtifactModel) -> Result<(), RunError> {
    let Some(record) = recorded_run(args)? else { return Ok(()) };
    let spec = &model.card().spec;
    check_recorded_spec(args, &record, &spec.file, &spec.text)?;
    let (mut built, mut recorded) = (spec.set.clone(), record.hyperparameters.clone());
    built.sort();
    recorded.sort();
    if built != recorded {
        let show = |s: &[String]| if s.is_empty() { "(none)".to_string() } else { s.join(" --set ") };
        return Err(RunError(format!(
            "{} was trained with --set {}, but this model was built with --set {}",
            args.resume.as_deref().unwrap_or(Path::new("")).display(),
            show(&record.hyperparameters),
            show(&spec.set)
        )));
    }
    restore_recorded_data(args, &record);
    Ok(())
}

//! The `hgrun` binary: a standalone executable's runner when an artifact is appended to it
//! ([`hgrun::standalone`]), otherwise the runtime command line ([`hgrun::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Printing into a closed pipe (`NAME info | head`) ends the program quietly, as for `hgc`.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match hgrun::standalone::appended_artifact() {
        Ok(Some(artifact)) => {
            let origin = std::env::args().next().unwrap_or_else(|| "the model".into());
            hgrun::standalone::main(&artifact, &origin, std::env::args_os().collect())
        }
        Ok(None) => hgrun::cli::main(),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

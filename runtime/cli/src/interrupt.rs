//! Ctrl-C during training: the first SIGINT asks the run to stop after the step under way (it
//! then writes a checkpoint and prints how to resume, exit status 130); a second one exits at
//! once, as a user pressing it twice expects.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap and `_exit`.
    if STOP.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Installs the handler and returns the flag the training loop polls.
pub fn install() -> &'static AtomicBool {
    // SAFETY: `on_sigint` only touches an atomic and calls `_exit`, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    &STOP
}

/// This process's command line with `--resume CHECKPOINT` in place of what starts a fresh run
/// (`--init`, `--weights`, `--overwrite`, an earlier `--resume`).
pub fn resume_command(checkpoint: &Path) -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut kept = Vec::with_capacity(args.len() + 2);
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let takes_value = |next: Option<&String>| next.is_some_and(|n| !n.starts_with("--"));
        match a.as_str() {
            "--weights" | "--resume" => i += 2,
            "--init" => i += if takes_value(args.get(i + 1)) { 2 } else { 1 },
            "--overwrite" => i += 1,
            _ if a.starts_with("--init=") || a.starts_with("--weights=") || a.starts_with("--resume=") => i += 1,
            _ => {
                kept.push(quote(a));
                i += 1;
            }
        }
    }
    kept.push("--resume".into());
    kept.push(quote(&checkpoint.to_string_lossy()));
    kept.join(" ")
}

/// Shell quoting for words that need it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

//! The `hgc` command: parses the command line and hands it to the driver.

fn main() -> std::process::ExitCode {
    // Like other command-line tools, end quietly when the reader of stdout goes away
    // (`hgc ir spec.hgl | head`) instead of panicking on a failed write.
    // SAFETY: called once at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    hgc::cli::main()
}

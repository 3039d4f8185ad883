//! The `hgc` command: parses the command line and hands it to the driver.

fn main() -> std::process::ExitCode {
    hgc::cli::main()
}

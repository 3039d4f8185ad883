//! The `hgrun` binary: hands the command line to [`hgrun::cli`].

fn main() -> std::process::ExitCode {
    hgrun::cli::main()
}

//! The `spfsleuth` binary: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = spfsleuth::cli::Cli::parse();
    match spfsleuth::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("spfsleuth: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

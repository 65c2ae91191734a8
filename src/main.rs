//! The `spfsleuth` binary: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: observations are built on the worker threads and freed
/// on the thread that writes them out, and glibc serialises such cross-thread frees on its
/// arena locks (with 2 threads, thousands of futex waits per GB and ~25% more CPU than with
/// 1). Measured on a generated 1 GB mbox (`benches/extract.sh`): 2 threads 0.38 -> 0.27 s,
/// 1 thread 0.70 -> 0.50 s.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = spfsleuth::cli::Cli::parse();
    spfsleuth::cli::stop_cleanly_on_signals();
    match spfsleuth::cli::run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`spfsleuth scan ... | head`): nothing to say.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("spfsleuth: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

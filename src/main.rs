//! `sitewarden`: parse the command line, set up logging, run the command, report errors once.

use clap::Parser;
use sitewarden::cli::{self, Cli, Cmd, Reported};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo logs to a file of its own, so its terminal shows only the live view.
    if !matches!(cli.command, Cmd::Demo { .. }) {
        init_logging();
    }
    let result = match cli.command {
        Cmd::Run { config } => cli::run::main(&config),
        Cmd::Check { config } => cli::check::main(&config),
        Cmd::Outbox { config } => cli::outbox::main(&config),
        Cmd::Demo { run_for, plain } => cli::demo::main(run_for, plain),
        Cmd::Probe(args) => cli::probe::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Reported(code)) = e.downcast_ref::<Reported>() {
                return ExitCode::from(*code as u8);
            }
            // The whole chain, once: "top: cause: cause".
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Under systemd (JOURNAL_STREAM set) log to the journal with structured fields; otherwise
/// to stderr. `RUST_LOG` filters (default `info`).
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = std::env::var_os("JOURNAL_STREAM")
        .is_some()
        .then(|| tracing_journald::layer().ok())
        .flatten();
    let registry = tracing_subscriber::registry().with(filter);
    match journal {
        Some(layer) => registry.with(layer).init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colour only for a person at a terminal, never into files or pipes.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .init(),
    }
}

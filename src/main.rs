//! `sitewarden`: parse the command line, set up logging, run the command, report errors once.

use clap::Parser;
use sitewarden::cli::{self, Cli, Cmd, Reported};
use std::process::ExitCode;

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    // The demo logs to a file of its own, so its terminal shows only the live view.
    if !matches!(cli.command, Cmd::Demo { .. }) {
        init_logging();
    }
    let result = match cli.command {
        Cmd::Run { config } => cli::run::main(&config),
        Cmd::Check { config } => cli::check::main(&config),
        Cmd::Outbox { config } => cli::outbox::main(&config),
        #[cfg(feature = "demo")]
        Cmd::Demo { run_for, plain } => cli::demo::main(run_for, plain),
        #[cfg(not(feature = "demo"))]
        Cmd::Demo { .. } => Err(anyhow::anyhow!(
            "this build of sitewarden has no demo (the gateway package leaves it out); \
             from the source tree run `cargo run --release -- demo`"
        )),
        Cmd::Probe(args) => cli::probe::main(&args),
        Cmd::Status(args) => cli::status::main(&args),
        Cmd::History(args) => cli::history::main(&args),
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

/// glibc's allocator set for a small daemon that runs for years (the site bench,
/// benches/site: 0.6 MB less RSS): one arena for every thread, since the ingest and ack
/// threads allocate little and an arena of their own kept each one's peak; blocks from
/// 64 KiB up (a window's records, the store's commit buffers) mapped on their own and
/// returned when freed; free memory at the top of the heap returned beyond 64 KiB. Fixed
/// values also stop glibc from raising both thresholds after each large free.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 10);
    }
}

/// Under systemd (JOURNAL_STREAM set) log to the journal with structured fields; otherwise
/// to stderr. `RUST_LOG` filters by target, e.g. `sitewarden=debug,info` (default `info`).
/// A `Targets` filter rather than an `EnvFilter`: the regex engine behind the latter's
/// span and field directives was 150 KB of binary, resident for nothing.
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
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

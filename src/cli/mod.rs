//! The command line (spec "Command line"): one module per command.
//!
//! Commands return `anyhow::Result`; `main` prints the error chain once and picks the exit
//! code. `check` and a refused config exit 1.

pub mod check;
#[cfg(feature = "demo")]
pub mod demo;
pub mod files;
pub mod history;
pub mod outbox;
pub mod probe;
pub mod run;
pub mod status;
mod table;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "/etc/sitewarden/sitewarden.toml";

#[derive(Debug, Parser)]
#[command(
    name = "sitewarden",
    version,
    about = "Edge gateway: field devices in, summaries and alarms out, nothing lost"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the daemon until SIGTERM or SIGINT.
    Run {
        /// Configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate the configuration and list devices, points and rules; exit 1 on error.
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Read one Modbus device once and print its points; exit 1 if any failed.
    Probe(probe::ProbeArgs),
    /// Ask the running daemon what it knows now: devices, alarms, zones, uplink.
    /// Exit 0 ok, 1 degraded, 2 down or not running.
    Status(status::StatusArgs),
    /// Print the raw readings of a device (or one point) over a time window, from the
    /// local store; safe while the daemon runs.
    History(history::HistoryArgs),
    /// Show the outbox: backlog per kind, oldest pending, disk use, dropped counts.
    Outbox {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// A whole simulated site on this machine: devices, cameras, broker, the daemon and a
    /// live view of what it publishes. No hardware, no setup; state in a temp dir.
    Demo {
        /// End after this long (e.g. `20s`, `5m`); without it, run until Ctrl-C.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        run_for: Option<std::time::Duration>,
        /// One line per received message instead of the live table (the default when
        /// stdout is not a terminal).
        #[arg(long)]
        plain: bool,
    },
}

/// An error that has already been reported to the user in full (e.g. every config
/// problem); `main` only sets the exit code.
#[derive(Debug)]
pub struct Reported(pub i32);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Reported {}

/// Loads the config, printing every problem to stderr on failure.
pub fn load_site(path: &std::path::Path) -> anyhow::Result<crate::site::Site> {
    match crate::config::load(path) {
        Ok(site) => Ok(site),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: configuration refused", path.display());
            Err(Reported(1).into())
        }
    }
}

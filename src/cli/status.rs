//! `sitewarden status`: asks the running daemon over its status socket and prints what
//! it knows now. Exit 0 ok, 1 degraded, 2 down (or no daemon), so it serves as a check.

use crate::status::{Snapshot, text};
use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(short, long, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The JSON document, for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: &StatusArgs) -> anyhow::Result<()> {
    let site = super::load_site(&args.config)?;
    let path = crate::status::socket_path(&site.gateway.data_dir);
    let snapshot = match ask(&path, "status") {
        Ok(body) => parse(&body)?,
        Err(e) => {
            eprintln!("sitewarden is not running here: {e:#}");
            return Err(super::Reported(2).into());
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
    } else {
        print!("{}", text::render(&snapshot));
    }
    match snapshot.exit_code() {
        0 => Ok(()),
        code => Err(super::Reported(code).into()),
    }
}

/// Sends one request line to the daemon's socket and returns its answer.
pub fn ask(path: &Path, request: &str) -> anyhow::Result<String> {
    let mut s = UnixStream::connect(path)
        .with_context(|| format!("cannot connect to {}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .with_context(|| format!("reading the answer from {}", path.display()))?;
    Ok(body)
}

fn parse(body: &str) -> anyhow::Result<Snapshot> {
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(e) = m.get("error")
    {
        bail!("the daemon answered: {e}");
    }
    serde_json::from_str(body).context("the daemon's answer is not a status snapshot")
}

//! `sitewarden outbox`: what awaits the platform broker, read-only, while the daemon runs.

use crate::clock;
use crate::store::{Kind, Outbox, StoreError};
use anyhow::Context;
use std::path::Path;

/// Prints the report; exit 1 (after printing why) when the outbox file is damaged.
pub fn main(config: &Path) -> anyhow::Result<()> {
    let site = super::load_site(config)?;
    let path = site.gateway.data_dir.join("outbox");
    let quarantined = quarantined_files(&path);
    let opened = Outbox::open_read_only(&path).and_then(|ob| {
        ob.verify()?;
        Ok(ob)
    });
    let outbox = match opened {
        Ok(ob) => ob,
        Err(e @ (StoreError::Corrupt(_) | StoreError::Io(_) | StoreError::Engine(_))) => {
            println!("outbox       {}", path.display());
            println!("state        CORRUPT: {e}");
            print_quarantined(&quarantined);
            eprintln!(
                "error: the outbox {} is damaged; the daemon keeps what is intact at its next start",
                path.display()
            );
            return Err(super::Reported(1).into());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading the outbox {}", path.display()));
        }
    };
    let stats = outbox
        .stats()
        .with_context(|| format!("reading the outbox {}", path.display()))?;
    print!("{}", render(&path, &stats, clock::now_ms()));
    print_quarantined(&quarantined);
    Ok(())
}

/// Files the daemon moved aside as damaged (`<name>.corrupt-<unix ts>`), in the outbox
/// directory and beside it (an earlier version's `outbox.redb`).
fn quarantined_files(path: &Path) -> Vec<std::path::PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<_> = [path, dir]
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.contains(".corrupt-") && (n.starts_with("out")))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

fn print_quarantined(files: &[std::path::PathBuf]) {
    for f in files {
        println!("quarantined  {} (kept for inspection)", f.display());
    }
}

pub fn render(path: &Path, s: &crate::store::OutboxStats, now: crate::reading::Ms) -> String {
    let mut out = String::new();
    out += &format!("outbox       {}\n", path.display());
    out += &format!(
        "pending      {} ({})\n",
        s.pending.total(),
        Kind::ALL
            .iter()
            .map(|k| format!("{} {}", k.name(), s.pending.get(*k)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let oldest = match s.oldest_pending_ms {
        Some(t) => format!(
            "{} ({} ago)",
            clock::rfc3339(t),
            humantime::format_duration(std::time::Duration::from_secs(
                ((now - t).max(0) / 1000) as u64
            ))
        ),
        None => "-".to_string(),
    };
    out += &format!("oldest       {oldest}\n");
    out += &format!(
        "disk         {} in segments, {} payload pending\n",
        bytesize::ByteSize(s.bytes_on_disk),
        bytesize::ByteSize(s.payload_bytes)
    );
    out += &format!(
        "dropped      {} ({})\n",
        s.dropped.total(),
        Kind::ALL
            .iter()
            .map(|k| format!("{} {}", k.name(), s.dropped.get(*k)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out += &format!("next seq     {}\n", s.next_seq);
    out
}

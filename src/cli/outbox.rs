//! `sitewarden outbox`: what awaits the platform broker, read-only, while the daemon runs.

use crate::clock;
use crate::store::{Kind, Outbox};
use anyhow::Context;
use std::path::Path;

pub fn main(config: &Path) -> anyhow::Result<()> {
    let site = super::load_site(config)?;
    let path = site.gateway.data_dir.join("outbox.redb");
    let outbox = Outbox::open_read_only(&path)
        .with_context(|| format!("reading the outbox {}", path.display()))?;
    let stats = outbox
        .stats()
        .with_context(|| format!("reading the outbox {}", path.display()))?;
    print!("{}", render(&path, &stats, clock::now_ms()));
    Ok(())
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
        "disk         {} file, {} payload pending\n",
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

//! The seq floor: every seq ever used is below it, written durably to two files
//! (`outbox.seq` and `raw/seq.floor`) before any seq above it is handed out. `anchor`
//! decides what to do when neither copy can be trusted.

use super::disk;
use std::path::{Path, PathBuf};

/// Why and how far the seq counter was moved at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reanchor {
    /// Where the counter stood after the open, before the jump.
    pub from: u64,
    /// Where the counter now starts.
    pub to: u64,
    pub reason: String,
}

/// The two copies of the seq floor beside an outbox at `path`.
pub(crate) fn floor_paths(path: &Path) -> [PathBuf; 2] {
    let dir = path.parent().unwrap_or(Path::new("."));
    [
        PathBuf::from(format!("{}.seq", path.display())),
        dir.join("raw").join("seq.floor"),
    ]
}

/// The highest valid floor among the copies (0: none valid).
pub(crate) fn read_floors(paths: &[PathBuf]) -> u64 {
    paths.iter().map(|p| disk::read_floor(p)).max().unwrap_or(0)
}

/// Writes every copy; the first must land, a failed second copy is only logged.
pub(crate) fn write_floors(paths: &[PathBuf], floor: u64) -> std::io::Result<()> {
    let (first, rest) = paths.split_first().expect("at least one floor copy");
    disk::write_floor(first, floor)?;
    for p in rest {
        let made = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| disk::write_floor(p, floor));
        if let Err(e) = made {
            tracing::warn!(path = %p.display(), error = %e, "outbox: second seq floor copy not written");
        }
    }
    Ok(())
}

/// Whether the data directory of the outbox at `path` was used before: the file (or a
/// quarantined one) exists, or the raw ring holds segments.
pub(crate) fn prior_life(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let quarantined = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{name}.corrupt-")))
        });
    let raw = std::fs::read_dir(dir.join("raw"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".seg")));
    path.exists() || quarantined || raw || super::legacy::present(dir)
}

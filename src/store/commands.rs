//! The command log: every `P/cmd` id carried out, remembered past its expiry, so a
//! command is executed at most once even across restarts.
//!
//! An append-only file, `commands.log` in the data dir, of CRC-framed entries:
//! `len: u32 LE | crc32(body): u32 LE | body`, body = `tag u8 | keep_until_ms i64 LE |
//! id len u8 | id | outcome` where tag 1 = taken (written and fdatasynced *before* the
//! device is touched; no outcome) and tag 2 = outcome (the first answer's fields as JSON,
//! written lazily with the next sync). An id whose `taken` entry survived a crash but
//! whose outcome did not is still never executed again: its outcome is unknown.
//!
//! Why not the outbox's redb: a redb commit writes ~29 KB however little it carries; one
//! taken entry here costs ~60 bytes and one fdatasync, and all the commands that arrive
//! together share one. The file is rewritten (temp file, fsync, rename, directory fsync)
//! at open and whenever dead entries make up most of it; a torn tail is cut off at open.
//! In memory it is one map of at most `MAX_ENTRIES` ids.

use super::StoreError;
use crate::reading::Ms;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Ids remembered at once; a command beyond this is refused rather than forgotten.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest id stored (the command parser allows 64).
const MAX_ID: usize = 255;
/// Compact when the file is larger than this and dead entries are most of it.
const COMPACT_BYTES: u64 = 64 * 1024;
const TAKEN: u8 = 1;
const OUTCOME: u8 = 2;

/// What is remembered of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// Unix ms after which the id may be forgotten.
    pub keep_until: Ms,
    /// The first answer (the caller's JSON), None while it runs or if a crash lost it.
    pub outcome: Option<Vec<u8>>,
}

pub struct CommandLog {
    path: PathBuf,
    file: File,
    entries: HashMap<String, Remembered>,
    /// Frames appended but not yet written (outcomes wait for the next sync).
    pending: Vec<u8>,
    /// Bytes in the file.
    bytes: u64,
}

impl CommandLog {
    /// Opens (or creates) the log at `path`, forgetting ids whose time is up at `now`.
    pub fn open(path: &Path, now: Ms) -> Result<CommandLog, StoreError> {
        let mut raw = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut raw)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let (entries, good) = replay(&raw);
        if good < raw.len() {
            tracing::warn!(
                file = %path.display(),
                cut = raw.len() - good,
                "command log: torn or damaged tail cut off"
            );
            let f = OpenOptions::new().write(true).open(path)?;
            f.set_len(good as u64)?;
            f.sync_all()?;
        }
        let mut log = CommandLog {
            path: path.to_path_buf(),
            file: open_append(path)?,
            entries,
            pending: Vec::new(),
            bytes: good as u64,
        };
        log.entries.retain(|_, r| r.keep_until >= now);
        log.compact()?;
        Ok(log)
    }

    pub fn get(&self, id: &str) -> Option<&Remembered> {
        self.entries.get(id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Remembers `ids` (id, keep until) as taken, durably: returns once they are on disk.
    /// Outcomes recorded since the last sync are written in the same sync. Refused
    /// whole if the ids would exceed `MAX_ENTRIES` or one is already known.
    pub fn take(&mut self, ids: &[(String, Ms)]) -> Result<(), StoreError> {
        if self.entries.len() + ids.len() > MAX_ENTRIES {
            return Err(StoreError::Invalid(format!(
                "{MAX_ENTRIES} command ids are remembered already"
            )));
        }
        if let Some((id, _)) = ids.iter().find(|(id, _)| self.entries.contains_key(id)) {
            return Err(StoreError::Invalid(format!("id {id:?} is known already")));
        }
        for (id, keep_until) in ids {
            frame(&mut self.pending, TAKEN, *keep_until, id, &[])?;
        }
        self.sync()?;
        for (id, keep_until) in ids {
            self.entries.insert(
                id.clone(),
                Remembered {
                    keep_until: *keep_until,
                    outcome: None,
                },
            );
        }
        Ok(())
    }

    /// Records the first outcome of a taken id (in memory now, on disk at the next sync).
    pub fn record(&mut self, id: &str, outcome: Vec<u8>) -> Result<(), StoreError> {
        let Some(entry) = self.entries.get_mut(id) else {
            return Err(StoreError::Invalid(format!("id {id:?} was never taken")));
        };
        if entry.outcome.is_some() {
            return Ok(());
        }
        frame(&mut self.pending, OUTCOME, entry.keep_until, id, &outcome)?;
        entry.outcome = Some(outcome);
        Ok(())
    }

    /// Writes and syncs whatever was recorded since the last sync (nothing if nothing).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.file.sync_data()?;
        self.bytes += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Forgets ids whose time is up, and rewrites the file when it is mostly dead.
    pub fn prune(&mut self, now: Ms) -> Result<(), StoreError> {
        self.entries.retain(|_, r| r.keep_until >= now);
        self.sync()?;
        self.compact()
    }

    /// Rewrites the file with the live entries only, if it is worth it.
    fn compact(&mut self) -> Result<(), StoreError> {
        let mut live = Vec::new();
        for (id, r) in &self.entries {
            frame(&mut live, TAKEN, r.keep_until, id, &[])?;
            if let Some(o) = &r.outcome {
                frame(&mut live, OUTCOME, r.keep_until, id, o)?;
            }
        }
        live.extend_from_slice(&self.pending);
        let worth = self.bytes > COMPACT_BYTES && (live.len() as u64) < self.bytes / 2;
        let emptied = self.entries.is_empty() && self.bytes > 0;
        if !worth && !emptied {
            return Ok(());
        }
        let tmp = self.path.with_extension("log.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&live)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = open_append(&self.path)?;
        self.bytes = live.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    let existed = path.exists();
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    if !existed && let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(f)
}

/// Appends one frame to `out`.
fn frame(
    out: &mut Vec<u8>,
    tag: u8,
    keep_until: Ms,
    id: &str,
    outcome: &[u8],
) -> Result<(), StoreError> {
    if id.len() > MAX_ID {
        return Err(StoreError::Invalid(format!(
            "command id of {} bytes is too long",
            id.len()
        )));
    }
    let mut body = Vec::with_capacity(10 + id.len() + outcome.len());
    body.push(tag);
    body.extend_from_slice(&keep_until.to_le_bytes());
    body.push(id.len() as u8);
    body.extend_from_slice(id.as_bytes());
    body.extend_from_slice(outcome);
    let len = u32::try_from(body.len())
        .map_err(|_| StoreError::Invalid("command outcome too large".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// The entries of a log's bytes, and how many bytes of it were whole frames.
fn replay(raw: &[u8]) -> (HashMap<String, Remembered>, usize) {
    let mut entries: HashMap<String, Remembered> = HashMap::new();
    let mut at = 0;
    while let Some((tag, keep_until, id, outcome, next)) = parse(raw, at) {
        match tag {
            TAKEN => {
                entries.entry(id).or_insert(Remembered {
                    keep_until,
                    outcome: None,
                });
            }
            _ => {
                let e = entries.entry(id).or_insert(Remembered {
                    keep_until,
                    outcome: None,
                });
                e.outcome.get_or_insert(outcome);
            }
        }
        at = next;
    }
    (entries, at)
}

type Frame = (u8, Ms, String, Vec<u8>, usize);

fn parse(raw: &[u8], at: usize) -> Option<Frame> {
    let head = raw.get(at..at + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let body = raw.get(at + 8..(at + 8).checked_add(len)?)?;
    if crc32fast::hash(body) != crc || body.len() < 10 {
        return None;
    }
    let tag = body[0];
    let keep_until = Ms::from_le_bytes(body[1..9].try_into().ok()?);
    let id_len = usize::from(body[9]);
    let id = std::str::from_utf8(body.get(10..10 + id_len)?).ok()?;
    if tag != TAKEN && tag != OUTCOME {
        return None;
    }
    let outcome = body[10 + id_len..].to_vec();
    Some((tag, keep_until, id.to_string(), outcome, at + 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(&str, Ms)]) -> Vec<(String, Ms)> {
        list.iter().map(|(i, k)| (i.to_string(), *k)).collect()
    }

    #[test]
    fn taken_ids_and_outcomes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands.log");
        let mut log = CommandLog::open(&path, 0).unwrap();
        log.take(&ids(&[("a", 1000), ("b", 1000)])).unwrap();
        log.record("a", br#"{"ok":true}"#.to_vec()).unwrap();
        log.sync().unwrap();
        drop(log);
        let log = CommandLog::open(&path, 500).unwrap();
        assert_eq!(
            log.get("a").unwrap().outcome.as_deref(),
            Some(&br#"{"ok":true}"#[..])
        );
        assert_eq!(log.get("b").unwrap().outcome, None);
        assert!(log.get("c").is_none());
    }

    #[test]
    fn a_known_id_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands.log");
        let mut log = CommandLog::open(&path, 0).unwrap();
        log.take(&ids(&[("a", 1000)])).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(log.take(&ids(&[("z", 1000), ("a", 1000)])).is_err());
        assert!(log.get("z").is_none());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    }

    #[test]
    fn expired_ids_are_forgotten_and_the_file_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands.log");
        let mut log = CommandLog::open(&path, 0).unwrap();
        let many: Vec<(String, Ms)> = (0..3000).map(|i| (format!("id-{i}"), 100)).collect();
        log.take(&many).unwrap();
        log.take(&ids(&[("late", 10_000)])).unwrap();
        let big = std::fs::metadata(&path).unwrap().len();
        assert!(big > COMPACT_BYTES, "{big}");
        log.prune(5_000).unwrap();
        assert_eq!(log.len(), 1);
        let small = std::fs::metadata(&path).unwrap().len();
        assert!(small < 100, "{small}");
        drop(log);
        let log = CommandLog::open(&path, 5_000).unwrap();
        assert!(log.get("late").is_some());
        assert!(log.get("id-7").is_none());
    }

    #[test]
    fn a_torn_tail_is_cut_and_what_precedes_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commands.log");
        let mut log = CommandLog::open(&path, 0).unwrap();
        log.take(&ids(&[("a", 1000)])).unwrap();
        log.take(&ids(&[("b", 1000)])).unwrap();
        drop(log);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let mut log = CommandLog::open(&path, 0).unwrap();
        assert!(log.get("a").is_some());
        assert!(log.get("b").is_none());
        // New entries go after the good part, so they are read back too.
        log.take(&ids(&[("c", 1000)])).unwrap();
        drop(log);
        let log = CommandLog::open(&path, 0).unwrap();
        assert!(log.get("a").is_some() && log.get("c").is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CommandLog::open(&dir.path().join("commands.log"), 0).unwrap();
        let many: Vec<(String, Ms)> = (0..MAX_ENTRIES).map(|i| (format!("{i}"), 9)).collect();
        log.take(&many).unwrap();
        assert!(log.take(&ids(&[("one-more", 9)])).is_err());
    }
}

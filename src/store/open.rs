//! Opening the outbox: engine settings, schema check, quarantine of a corrupt file, the
//! crash-loop breaker and the read-only view for `sitewarden outbox`.
//!
//! The daemon must start whatever it finds on disk. A file redb cannot open, or whose
//! open crashed the process three times running, is renamed aside
//! (`outbox.redb.corrupt-<unix ts>`) and a fresh outbox created; the open reports it
//! (`Outbox::quarantined`). A file another process holds, or an error of the disk
//! itself (permissions), is not corruption and is returned as an error instead.

use super::outbox::{ALARMS, META, OTHERS, Outbox, STATE};
use super::recovery::LOW_WATER;
use super::{StoreError, disk};
use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableTable,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// redb's page cache. The daemon's RSS budget is small and the outbox is written and read
/// mostly sequentially, so 256 KiB is enough (redb's default, 1 GiB, lets RSS follow the
/// file size; 1 MiB still cost 0.3 MB of RSS on the 300-device site bench). A smaller
/// cache costs no extra flash writes: pages it evicts early are still dirty in the OS
/// page cache and reach the disk once, at the commit's sync.
const CACHE_BYTES: usize = 256 << 10;
/// Opens that may die in a row before the file is taken for the cause and quarantined.
const MAX_OPEN_ATTEMPTS: u32 = 3;
/// Schema version stored in `META` under "format".
const FORMAT: u64 = 1;

/// What was found wrong at open and moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// Where the bad file now is.
    pub path: PathBuf,
    pub reason: String,
}

pub(crate) enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

impl Db {
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Db::Rw(d) => d.begin_read(),
            Db::Ro(d) => d.begin_read(),
        }
    }
}

pub(crate) struct State {
    /// None after a failed reopen; the next call tries again.
    pub(crate) db: Option<Db>,
    pub(crate) quarantined: Option<Quarantine>,
    pub(crate) reanchored: Option<super::anchor::Reanchor>,
}

type Factory = Box<dyn Fn(&Builder) -> Result<Database, DatabaseError> + Send + Sync>;

pub(crate) enum Location {
    File {
        path: PathBuf,
        read_only: bool,
    },
    /// Tests: a database over a simulated disk; `durable: false` commits without sync.
    #[cfg_attr(not(test), allow(dead_code))]
    Factory {
        make: Factory,
        durable: bool,
    },
}

impl Location {
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Location::File { path, .. } => Some(path),
            Location::Factory { .. } => None,
        }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.path().map(|p| p.parent().unwrap_or(Path::new(".")))
    }

    /// Both copies of the seq floor (see `anchor.rs`).
    pub(crate) fn floor_paths(&self) -> Option<[PathBuf; 2]> {
        self.path().map(super::anchor::floor_paths)
    }

    pub(crate) fn ballast_path(&self) -> Option<PathBuf> {
        self.dir().map(|d| d.join("outbox.ballast"))
    }

    pub(crate) fn durable(&self) -> bool {
        match self {
            Location::File { .. } => true,
            Location::Factory { durable, .. } => *durable,
        }
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }
}

/// Why an open failed: corruption is quarantined, anything else is reported.
enum Failure {
    Corrupt(String),
    Other(StoreError),
}

impl Outbox {
    /// Opens (or creates) the outbox file at `path`, bounded to `max_bytes`.
    ///
    /// Never fails on a corrupt or truncated file: it is quarantined and a fresh outbox
    /// created (see `quarantined`). Nor on a full disk: the outbox then starts closed,
    /// every call tries to open it again and fails until there is room. Fails when the
    /// file is held by another process or the disk refuses us otherwise.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Outbox, StoreError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let location = Location::File {
            path: path.to_path_buf(),
            read_only: false,
        };
        let lease = location
            .floor_paths()
            .map_or(0, |p| super::anchor::read_floors(&p));
        let prior_life = super::anchor::prior_life(path);
        let ob = Outbox::with_location(location, max_bytes, lease);
        let opened = ob.open_db(&mut ob.write_state());
        match opened {
            Err(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "outbox: disk full; starting closed, will retry on each use");
            }
            Err(e) => return Err(e),
            Ok(()) => ob.anchor_at_open(lease, prior_life)?,
        }
        if let Some(b) = ob.location.ballast_path()
            && let Err(e) = disk::ensure_ballast(&b, LOW_WATER)
        {
            tracing::warn!(error = %e, "outbox: no ballast file; a full disk will be harder to survive");
        }
        Ok(ob)
    }

    /// Opens the outbox of a running (or stopped) daemon for reading only. Fails with a
    /// clear reason when that is impossible.
    pub fn open_read_only(path: &Path) -> Result<Outbox, StoreError> {
        if !path.exists() {
            return Err(StoreError::Unavailable(format!(
                "no outbox at {}",
                path.display()
            )));
        }
        let location = Location::File {
            path: path.to_path_buf(),
            read_only: true,
        };
        let ob = Outbox::with_location(location, 0, 0);
        ob.open_db(&mut ob.write_state())?;
        Ok(ob)
    }

    /// Tests: an outbox over a database `make` builds (e.g. on a simulated disk).
    #[cfg(test)]
    pub(crate) fn open_with(
        make: Factory,
        max_bytes: u64,
        durable: bool,
    ) -> Result<Outbox, StoreError> {
        let ob = Outbox::with_location(Location::Factory { make, durable }, max_bytes, 0);
        ob.open_db(&mut ob.write_state())?;
        Ok(ob)
    }

    fn with_location(location: Location, max_bytes: u64, lease: u64) -> Outbox {
        Outbox {
            state: RwLock::new(State {
                db: None,
                quarantined: None,
                reanchored: None,
            }),
            location,
            max_bytes,
            lease: AtomicU64::new(lease),
            recoveries: AtomicU64::new(0),
            squeezed: AtomicBool::new(false),
            episodes: Default::default(),
        }
    }

    /// Set when this open (or a reopen after an error) found the file corrupt and moved
    /// it aside. The daemon logs it and reports it in `P/health`.
    pub fn quarantined(&self) -> Option<Quarantine> {
        self.read_state().quarantined.clone()
    }

    /// Set when this open moved the seq counter forward because nothing could vouch for
    /// it (see `anchor.rs`); the daemon reports it in `P/status`.
    pub fn reanchored(&self) -> Option<super::anchor::Reanchor> {
        self.read_state().reanchored.clone()
    }

    pub(crate) fn set_reanchor(&self, r: super::anchor::Reanchor) {
        self.write_state().reanchored = Some(r);
    }

    /// Opens the database into `st`, quarantining a corrupt file.
    pub(crate) fn open_db(&self, st: &mut State) -> Result<(), StoreError> {
        let (path, read_only) = match &self.location {
            Location::Factory { make, .. } => {
                let mut b = builder();
                // A simulated disk has no locks, and non-durable commits are refused
                // where other processes could read: one exclusive writer.
                b.set_concurrency_mode(ConcurrencyMode::ExclusiveWriter);
                let db = make(&b)?;
                init(&db, self.lease_floor())?;
                st.db = Some(Db::Rw(db));
                return Ok(());
            }
            Location::File { path, read_only } => (path.clone(), *read_only),
        };
        if read_only {
            st.db = Some(Db::Ro(open_read_only(&path)?));
            return Ok(());
        }
        let marker = PathBuf::from(format!("{}.opening", path.display()));
        let attempts = disk::read_attempts(&marker);
        let reason = if attempts >= MAX_OPEN_ATTEMPTS {
            format!("the last {attempts} opens did not finish")
        } else {
            // Best effort: on a full disk the count may not land, and the open goes on.
            if let Err(e) = disk::write_attempts(&marker, attempts + 1) {
                tracing::warn!(error = %e, "outbox: open-attempt marker not written");
            }
            match self.try_open(&path) {
                Ok(db) => {
                    disk::clear_attempts(&marker);
                    st.db = Some(Db::Rw(db));
                    return Ok(());
                }
                Err(Failure::Other(e)) => {
                    disk::clear_attempts(&marker);
                    return Err(e);
                }
                Err(Failure::Corrupt(reason)) => reason,
            }
        };
        let moved = disk::quarantine(&path, crate::clock::now_ms() / 1000)?;
        tracing::error!(path = %moved.display(), %reason, "outbox: corrupt file quarantined; starting a fresh outbox");
        disk::clear_attempts(&marker);
        let db = match self.try_open(&path) {
            Ok(db) => db,
            Err(Failure::Corrupt(r)) => return Err(StoreError::Corrupt(r)),
            Err(Failure::Other(e)) => return Err(e),
        };
        st.db = Some(Db::Rw(db));
        st.quarantined = Some(Quarantine {
            path: moved,
            reason,
        });
        Ok(())
    }

    fn lease_floor(&self) -> u64 {
        self.lease.load(std::sync::atomic::Ordering::Acquire)
    }

    /// One open of the file: engine open (with the integrity check, which turns what
    /// could be a panic into an error) plus the schema check. A panic is caught where
    /// unwinding exists; with `panic = "abort"` the attempt marker catches it instead.
    fn try_open(&self, path: &Path) -> Result<Database, Failure> {
        let mut retried = false;
        loop {
            let opened = catch_unwind(AssertUnwindSafe(|| {
                let db = builder().create(path)?;
                init(&db, self.lease_floor())?;
                Ok::<_, StoreError>(db)
            }));
            let err = match opened {
                Ok(Ok(db)) => return Ok(db),
                Ok(Err(e)) => e,
                Err(_) => {
                    return Err(Failure::Corrupt(
                        "the storage engine panicked while opening".into(),
                    ));
                }
            };
            match err {
                StoreError::Corrupt(r) => return Err(Failure::Corrupt(r)),
                StoreError::Io(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                    ) =>
                {
                    return Err(Failure::Corrupt(e.to_string()));
                }
                StoreError::Io(e) if disk::is_disk_full(&e) && !retried => {
                    // The repair at open needs room: give it the ballast, once.
                    retried = true;
                    if let Some(b) = self.location.ballast_path() {
                        disk::release_ballast(&b);
                    }
                }
                e => return Err(Failure::Other(e)),
            }
        }
    }
}

fn builder() -> Builder {
    let mut b = Builder::new();
    b.set_cache_size(CACHE_BYTES);
    // One writer (the daemon); `sitewarden outbox` may read alongside it.
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    // Verify every page checksum at open: a damaged file then fails to open with an
    // error we can quarantine on, where a plain open may panic. Costs one read of the
    // live data per start.
    b.set_check_integrity_on_open(true);
    b
}

fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, StoreError> {
    let mut b = Builder::new();
    b.set_cache_size(CACHE_BYTES);
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b.open_read_only(path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => StoreError::Unavailable(
            "the outbox is held exclusively by another process (a sitewarden of another version?)".into(),
        ),
        DatabaseError::RepairAborted => StoreError::Unavailable(
            "the outbox was not closed cleanly and needs the repair the daemon runs at start; start the daemon"
                .into(),
        ),
        e => e.into(),
    })
}

/// Creates the tables, checks the schema version and, in a fresh file, starts the seq
/// counter at the floor left by any earlier outbox, so seqs never repeat even after a
/// quarantine.
fn init(db: &Database, floor: u64) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        txn.open_table(ALARMS)?;
        txn.open_table(OTHERS)?;
        txn.open_table(STATE)?;
        let format = meta.get("format")?.map(|v| v.value());
        match format {
            None => {
                meta.insert("format", FORMAT)?;
                if meta.get("next_seq")?.is_none() {
                    meta.insert("next_seq", floor.max(1))?;
                }
            }
            Some(FORMAT) => {}
            Some(other) if other > FORMAT => {
                // A newer build wrote it: not ours to quarantine.
                return Err(StoreError::Unavailable(format!(
                    "outbox format {other} is newer than this build reads ({FORMAT})"
                )));
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "unknown outbox format {other}"
                )));
            }
        }
    }
    txn.commit()?;
    Ok(())
}

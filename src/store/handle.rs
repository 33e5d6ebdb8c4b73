//! The outbox's database handle: opening (engine settings, quarantine of a corrupt file,
//! the crash-loop breaker, the read-only view for `sitewarden outbox`), and keeping it
//! usable when the disk is not (free-space pressure, the seq floor lease, close-reopen
//! and retry after an I/O error). `outbox` is the table layer above it.
//!
//! The daemon must start whatever it finds on disk. A file redb cannot open, or whose
//! open crashed the process three times running, is renamed aside
//! (`outbox.redb.corrupt-<unix ts>`) and a fresh outbox created; the open reports it
//! (`Handle::quarantined`). A file another process holds, or an error of the disk
//! itself (permissions), is not corruption and is returned as an error instead.

use super::floor::{self, Reanchor};
use super::tables::init;
use super::{StoreError, disk};
use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, WriteTransaction,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// redb's page cache. The daemon's RSS budget is small and the outbox is written and read
/// mostly sequentially, so 256 KiB is enough (redb's default, 1 GiB, lets RSS follow the
/// file size; 1 MiB still cost 0.3 MB of RSS on the 300-device site bench). A smaller
/// cache costs no extra flash writes: pages it evicts early are still dirty in the OS
/// page cache and reach the disk once, at the commit's sync.
const CACHE_BYTES: usize = 256 << 10;
/// Opens that may die in a row before the file is taken for the cause and quarantined.
const MAX_OPEN_ATTEMPTS: u32 = 3;
/// What was found wrong at open and moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// Where the bad file now is.
    pub path: PathBuf,
    pub reason: String,
}

pub(super) enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

impl Db {
    pub(super) fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Db::Rw(d) => d.begin_read(),
            Db::Ro(d) => d.begin_read(),
        }
    }
}

pub(super) struct State {
    /// None after a failed reopen; the next call tries again.
    pub(super) db: Option<Db>,
    pub(super) quarantined: Option<Quarantine>,
    pub(super) reanchored: Option<Reanchor>,
}

pub(super) type Factory = Box<dyn Fn(&Builder) -> Result<Database, DatabaseError> + Send + Sync>;

pub(super) enum Location {
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
    pub(super) fn path(&self) -> Option<&Path> {
        match self {
            Location::File { path, .. } => Some(path),
            Location::Factory { .. } => None,
        }
    }

    pub(super) fn dir(&self) -> Option<&Path> {
        self.path().map(|p| p.parent().unwrap_or(Path::new(".")))
    }

    /// Both copies of the seq floor (see `anchor.rs`).
    pub(super) fn floor_paths(&self) -> Option<[PathBuf; 2]> {
        self.path().map(floor::floor_paths)
    }

    pub(super) fn ballast_path(&self) -> Option<PathBuf> {
        self.dir().map(|d| d.join("outbox.ballast"))
    }

    pub(super) fn durable(&self) -> bool {
        match self {
            Location::File { .. } => true,
            Location::Factory { durable, .. } => *durable,
        }
    }

    pub(super) fn file_len(&self) -> u64 {
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

/// Free space below which the outbox stops growing: each new record then displaces old
/// ones (oldest summaries first), so a filling disk sheds instead of failing. A quarter
/// of the filesystem where that is less (`disk::low_water`).
pub(super) const LOW_WATER: u64 = 16 << 20;
/// Under pressure the outbox may still grow to this, so a nearly empty outbox on a
/// nearly full disk keeps new alarms instead of dropping them on arrival.
pub(super) const TIGHT_FLOOR: u64 = 256 << 10;
/// After a write failed for lack of space the outbox may still grow to this, so alarms
/// arriving on a full disk displace old summaries instead of being dropped on arrival.
pub(super) const FULL_FLOOR: u64 = 64 << 10;
/// Reopen-and-retry rounds after an I/O error before an append gives up.
pub(super) const RETRIES: usize = 2;
/// Seqs reserved in the floor file at a time: one small durable write per million seqs.
const SEQ_LEASE: u64 = 1 << 20;

/// How hard an append must squeeze to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pressure {
    Normal,
    /// Little free space: grow no further than `TIGHT_FLOOR`; past it each new record
    /// displaces old ones.
    Tight,
    /// A write failed for lack of space: grow no further than `FULL_FLOOR`.
    Full,
}

/// The open database and what keeps it usable. Owned by `Outbox`.
pub(super) struct Handle {
    state: RwLock<State>,
    location: Location,
    /// Seqs below this are covered by the floor files.
    lease: AtomicU64,
    recoveries: AtomicU64,
    /// A write failed for lack of space and the disk has not recovered since.
    squeezed: AtomicBool,
}

impl Handle {
    /// A closed handle on `location`; `open_db` opens it.
    pub(super) fn new(location: Location, lease: u64) -> Handle {
        Handle {
            state: RwLock::new(State {
                db: None,
                quarantined: None,
                reanchored: None,
            }),
            location,
            lease: AtomicU64::new(lease),
            recoveries: AtomicU64::new(0),
            squeezed: AtomicBool::new(false),
        }
    }

    pub(super) fn location(&self) -> &Location {
        &self.location
    }

    /// Reopens after an I/O error since the open.
    pub(super) fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// A write failed for lack of space: squeeze until the disk has room again.
    pub(super) fn mark_squeezed(&self) {
        self.squeezed.store(true, Ordering::Relaxed);
    }

    /// Opens the database now (at start); a later call reopens it if needed.
    pub(super) fn open_now(&self) -> Result<(), StoreError> {
        self.open_db(&mut self.write_state())
    }

    /// A write transaction on the read-write database, durable unless a test's simulated
    /// disk says otherwise.
    pub(super) fn write_txn(&self, db: &Db) -> Result<WriteTransaction, StoreError> {
        let Db::Rw(db) = db else {
            return Err(StoreError::ReadOnly);
        };
        let mut txn = db.begin_write()?;
        // No quick repair: it saves the allocator state with every commit and makes the
        // commit two-phase (site bench: 0.93 -> 0.78 MB/min written, one fsync per commit
        // instead of two). What it saves is a walk of the live pages at the open after a
        // crash, and every open already verifies every page (`set_check_integrity_on_open`).
        if !self.location.durable() {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| StoreError::Engine(e.to_string()))?;
        }
        Ok(txn)
    }

    /// Set when this open (or a reopen after an error) found the file corrupt and moved
    /// it aside. The daemon logs it and reports it in `P/health`.
    pub(super) fn quarantined(&self) -> Option<Quarantine> {
        self.read_state().quarantined.clone()
    }

    /// Set when this open moved the seq counter forward because nothing could vouch for
    /// it (see `anchor.rs`); the daemon reports it in `P/status`.
    pub(super) fn reanchored(&self) -> Option<Reanchor> {
        self.read_state().reanchored.clone()
    }

    pub(super) fn set_reanchor(&self, r: Reanchor) {
        self.write_state().reanchored = Some(r);
    }

    /// Opens the database into `st`, quarantining a corrupt file.
    pub(super) fn open_db(&self, st: &mut State) -> Result<(), StoreError> {
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

    /// Makes sure the floor file covers every seq below `end` before they are committed.
    pub(super) fn reserve_seqs(&self, end: u64) -> Result<(), StoreError> {
        let Some(floor_paths) = self.location.floor_paths() else {
            return Ok(());
        };
        if end <= self.lease.load(Ordering::Acquire) {
            return Ok(());
        }
        let lease = end + SEQ_LEASE;
        floor::write_floors(&floor_paths, lease)?;
        self.lease.store(lease, Ordering::Release);
        Ok(())
    }

    /// How full the disk under the outbox is; also puts the ballast back once there is
    /// room for it again.
    pub(super) fn pressure(&self) -> Pressure {
        let squeezed = self.squeezed.load(Ordering::Relaxed);
        let Some(dir) = self.location.dir() else {
            return if squeezed {
                Pressure::Full
            } else {
                Pressure::Normal
            };
        };
        let space = disk::space(dir);
        let low = space
            .as_ref()
            .map_or(LOW_WATER, |&(_, total)| disk::low_water(total, LOW_WATER));
        let ballast = space
            .as_ref()
            .map_or(disk::BALLAST_MAX, |&(_, total)| disk::ballast_bytes(total));
        match space.map(|(free, _)| free) {
            Ok(free) if free > low + 2 * ballast => {
                if let Some(b) = self.location.ballast_path()
                    && let Err(e) = disk::ensure_ballast(&b, LOW_WATER)
                {
                    tracing::debug!(error = %e, "outbox: ballast not restored");
                }
                self.squeezed.store(false, Ordering::Relaxed);
                Pressure::Normal
            }
            _ if squeezed => Pressure::Full,
            Ok(free) if free < low => Pressure::Tight,
            _ => Pressure::Normal,
        }
    }

    pub(super) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f`, and after an I/O error reopens the database and runs it again, up to
    /// `RETRIES` times. A last failure still reopens, so the next call finds a usable
    /// handle instead of redb's "previous i/o error" state.
    pub(super) fn run<T>(&self, f: impl Fn(&Db) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match self.with_db(&f) {
                Err(e) if e.needs_reopen() => {
                    self.recover(&e);
                    if attempt == RETRIES {
                        return Err(e);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `f` on the open database, reopening it first if an earlier recovery failed.
    pub(super) fn with_db<T>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        {
            let st = self.read_state();
            if let Some(db) = &st.db {
                return f(db);
            }
        }
        let mut st = self.write_state();
        if st.db.is_none() {
            self.open_db(&mut st)?;
        }
        match &st.db {
            Some(db) => f(db),
            None => Err(StoreError::Unavailable("outbox is closed".into())),
        }
    }

    /// After an I/O error: give back the ballast on a full disk, close and reopen. A
    /// failed reopen leaves the outbox closed; the next call tries again.
    pub(super) fn recover(&self, e: &StoreError) {
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "outbox: i/o error; reopening the database");
        if let Some(b) = self.location.ballast_path()
            && disk::release_ballast(&b)
        {
            tracing::warn!("outbox: ballast released to make room");
        }
        let mut st = self.write_state();
        st.db = None;
        if let Err(e) = self.open_db(&mut st) {
            tracing::warn!(error = %e, "outbox: reopen failed; will retry");
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

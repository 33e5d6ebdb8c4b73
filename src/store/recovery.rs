//! Keeping the outbox usable when the disk is not: free-space pressure, the seq floor,
//! and close-reopen after an I/O error.

use super::open::{Db, State};
use super::{Outbox, StoreError, disk};
use std::sync::atomic::Ordering;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

/// Free space below which the outbox stops growing: each new record then displaces old
/// ones (oldest summaries first), so a filling disk sheds instead of failing. A quarter
/// of the filesystem where that is less (`disk::low_water`).
pub(crate) const LOW_WATER: u64 = 16 << 20;
/// Under pressure the outbox may still grow to this, so a nearly empty outbox on a
/// nearly full disk keeps new alarms instead of dropping them on arrival.
pub(crate) const TIGHT_FLOOR: u64 = 256 << 10;
/// After a write failed for lack of space the outbox may still grow to this, so alarms
/// arriving on a full disk displace old summaries instead of being dropped on arrival.
pub(crate) const FULL_FLOOR: u64 = 64 << 10;
/// Reopen-and-retry rounds after an I/O error before an append gives up.
pub(crate) const RETRIES: usize = 2;
/// Seqs reserved in the floor file at a time: one small durable write per million seqs.
const SEQ_LEASE: u64 = 1 << 20;

/// How hard an append must squeeze to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pressure {
    Normal,
    /// Little free space: grow no further than `TIGHT_FLOOR`; past it each new record
    /// displaces old ones.
    Tight,
    /// A write failed for lack of space: grow no further than `FULL_FLOOR`.
    Full,
}

impl Outbox {
    /// Makes sure the floor file covers every seq below `end` before they are committed.
    pub(crate) fn reserve_seqs(&self, end: u64) -> Result<(), StoreError> {
        let Some(floor_paths) = self.location.floor_paths() else {
            return Ok(());
        };
        if end <= self.lease.load(Ordering::Acquire) {
            return Ok(());
        }
        let lease = end + SEQ_LEASE;
        super::anchor::write_floors(&floor_paths, lease)?;
        self.lease.store(lease, Ordering::Release);
        Ok(())
    }

    /// How full the disk under the outbox is; also puts the ballast back once there is
    /// room for it again.
    pub(crate) fn pressure(&self) -> Pressure {
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

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f`, and after an I/O error reopens the database and runs it again, up to
    /// `RETRIES` times. A last failure still reopens, so the next call finds a usable
    /// handle instead of redb's "previous i/o error" state.
    pub(crate) fn run<T>(&self, f: impl Fn(&Db) -> Result<T, StoreError>) -> Result<T, StoreError> {
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
    pub(crate) fn with_db<T>(
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
    pub(crate) fn recover(&self, e: &StoreError) {
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

//! seq continuity across crashes and a lost or damaged outbox: where the counter starts
//! at open, and the re-anchoring jump when nothing can vouch for it.
//!
//! The platform dedups on `seq`, so a seq that goes back makes it discard new messages as
//! repeats. Every seq ever handed out is below the floor, written (durably, 65 536 seqs
//! at a time) to `outbox.seq` and to `raw/seq.floor` before any seq above it is used. At
//! open:
//! * a fresh log starts at the floor (the outbox was lost, the floor says how far it got);
//! * a log closed cleanly carries its own counter (its last frame says so);
//! * after a crash on the same boot (the daemon killed, the machine up): every frame
//!   written, synced or not, is in the page cache, reserved seqs included, so the log's
//!   counter stands; the log records which boot wrote it (`run.boot`, the kernel's boot
//!   id);
//! * after a reboot without a clean close (a power cut), or when the log is damaged,
//!   seqs reserved for unstored messages (status, health) may be lost with the unsynced
//!   tail, so the counter starts at the floor, skipping at most one lease;
//! * when the log was damaged, lost or not closed cleanly and no floor copy is valid,
//!   nothing left can be trusted: the counter jumps forward to the wall clock in microseconds (above any seq
//!   a gateway handing out fewer than a million seqs a second since its first start
//!   could have used), logged loudly and reported in `P/status` (`reanchored`).

use super::floor::Reanchor;
use super::outlog::Log;

/// The wall clock in microseconds: the seq to jump to when no anchor survived.
fn clock_anchor() -> u64 {
    u64::try_from(crate::clock::now_ms())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// The state key holding the boot id of the run that wrote the log.
pub(super) const BOOT_KEY: &str = "run.boot";

/// The kernel's id of this boot (None where there is none to read).
pub(super) fn boot_id() -> Option<Vec<u8>> {
    #[cfg(test)]
    if let Some(b) = TEST_BOOT.with(|b| b.borrow().clone()) {
        return Some(b.into_bytes());
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().as_bytes().to_vec())
}

#[cfg(test)]
thread_local! {
    /// Tests: pretend to be on another boot (a power cut's image opened "after reboot").
    pub(crate) static TEST_BOOT: std::cell::RefCell<Option<String>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets the log's counter for this run, from the log, the floor (`floor`, 0 when no copy
/// is valid), whether the data directory was used before, whether the log is damaged and
/// whether this boot wrote it.
pub(super) fn at_open(
    log: &mut Log,
    floor: u64,
    prior_life: bool,
    damaged: bool,
    same_boot: bool,
) -> Option<Reanchor> {
    // A torn tail on the same boot means the page cache did not keep everything either.
    let crashed = log.existed && !log.closed_cleanly && (!same_boot || log.torn);
    if !log.existed || crashed || damaged || log.torn {
        log.c.next_seq = log.c.next_seq.max(floor);
    }
    let next = log.c.next_seq.max(1);
    log.c.next_seq = next;
    if floor == 0 && prior_life && (damaged || crashed || next <= 1) {
        let to = clock_anchor().max(next);
        let reason = if damaged {
            "outbox damaged, seq floor lost"
        } else if crashed {
            "outbox not closed cleanly, seq floor lost"
        } else {
            "outbox and seq floor lost"
        }
        .to_string();
        tracing::error!(
            from = next,
            to,
            reason = %reason,
            "outbox: SEQ RE-ANCHORED: nothing left vouches for the seq counter; it jumps \
             forward to the clock so it never goes back"
        );
        log.c.next_seq = to;
        return Some(Reanchor {
            from: next,
            to,
            reason,
        });
    }
    if floor == 0 && next > 1 {
        tracing::warn!(
            next_seq = next,
            "outbox: seq floor files missing or damaged; the outbox's own counter is used and the floor rewritten"
        );
    }
    None
}

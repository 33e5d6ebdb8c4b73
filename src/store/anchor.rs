//! seq continuity across crashes and a lost or damaged outbox: where the counter starts
//! at open, and the re-anchoring jump when nothing can vouch for it.
//!
//! The platform dedups on `seq`, so a seq that goes back makes it discard new messages as
//! repeats. Every seq ever handed out is below the floor, written (durably, 65 536 seqs
//! at a time) to `outbox.seq` and to `raw/seq.floor` before any seq above it is used. At
//! open:
//! * a fresh log starts at the floor (the outbox was lost, the floor says how far it got);
//! * a log closed cleanly carries its own counter (its last frame says so);
//! * after a crash, seqs reserved for unstored messages (status, health) may not be in the
//!   log, so the counter starts at the floor, skipping at most one lease; so it does when
//!   the log is damaged;
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

/// Sets the log's counter for this run, from the log, the floor (`floor`, 0 when no copy
/// is valid), whether the data directory was used before and whether the log is damaged.
pub(super) fn at_open(
    log: &mut Log,
    floor: u64,
    prior_life: bool,
    damaged: bool,
) -> Option<Reanchor> {
    if !log.existed || !log.closed_cleanly || damaged {
        log.c.next_seq = log.c.next_seq.max(floor);
    }
    let next = log.c.next_seq.max(1);
    log.c.next_seq = next;
    let crashed = log.existed && !log.closed_cleanly;
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

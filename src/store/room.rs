//! Room on the disk under the outbox: how hard an append must squeeze to fit, and the
//! ballast kept in reserve for the moment the disk fills up.

use super::disk;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

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

impl Pressure {
    /// The budget an append may fill, given `cost` pending before it.
    pub(crate) fn budget(self, budget: u64, cost: u64) -> u64 {
        match self {
            Pressure::Normal => budget,
            Pressure::Tight => budget.min(cost.max(TIGHT_FLOOR)),
            Pressure::Full => budget.min(cost.max(FULL_FLOOR)),
        }
    }
}

/// The data directory's room, shared by the outbox's calls.
pub(crate) struct Room {
    /// The data directory (None: tests without a disk of their own).
    dir: Option<PathBuf>,
    /// A write failed for lack of space and the disk has not recovered since.
    squeezed: AtomicBool,
}

impl Room {
    pub(crate) fn new(dir: Option<PathBuf>) -> Room {
        Room {
            dir,
            squeezed: AtomicBool::new(false),
        }
    }

    pub(crate) fn ballast(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("outbox.ballast"))
    }

    /// Creates the ballast if it is missing and the disk can spare it.
    pub(crate) fn keep_ballast(&self) {
        if let Some(b) = self.ballast()
            && let Err(e) = disk::ensure_ballast(&b, LOW_WATER)
        {
            tracing::warn!(error = %e, "outbox: no ballast file; a full disk will be harder to survive");
        }
    }

    /// Gives the ballast back to the disk; true if there was one.
    pub(crate) fn release_ballast(&self) -> bool {
        self.ballast().is_some_and(|b| disk::release_ballast(&b))
    }

    /// A write failed for lack of space: squeeze until the disk has room again.
    pub(crate) fn mark_squeezed(&self) {
        self.squeezed.store(true, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn squeezed(&self) -> bool {
        self.squeezed.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn unsqueeze(&self) {
        self.squeezed.store(false, Ordering::Relaxed);
    }

    /// How full the disk is; also puts the ballast back once there is room for it again.
    pub(crate) fn pressure(&self) -> Pressure {
        let squeezed = self.squeezed.load(Ordering::Relaxed);
        let Some(dir) = &self.dir else {
            return if squeezed {
                Pressure::Full
            } else {
                Pressure::Normal
            };
        };
        let p = decide(disk::space(dir).ok(), squeezed);
        if p == Verdict::Roomy {
            if let Some(b) = self.ballast()
                && let Err(e) = disk::ensure_ballast(&b, LOW_WATER)
            {
                tracing::debug!(error = %e, "outbox: ballast not restored");
            }
            self.squeezed.store(false, Ordering::Relaxed);
        }
        p.pressure()
    }
}

/// What the free space says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Room for the ballast and more: the squeeze is over.
    Roomy,
    Is(Pressure),
}

impl Verdict {
    pub(crate) fn pressure(self) -> Pressure {
        match self {
            Verdict::Roomy => Pressure::Normal,
            Verdict::Is(p) => p,
        }
    }
}

/// The pressure on a filesystem with `space` = (free, total) (None: unknown).
pub(crate) fn decide(space: Option<(u64, u64)>, squeezed: bool) -> Verdict {
    let low = space.map_or(LOW_WATER, |(_, total)| disk::low_water(total, LOW_WATER));
    let ballast = space.map_or(disk::BALLAST_MAX, |(_, total)| disk::ballast_bytes(total));
    match space.map(|(free, _)| free) {
        Some(free) if free > low + 2 * ballast => Verdict::Roomy,
        _ if squeezed => Verdict::Is(Pressure::Full),
        Some(free) if free < low => Verdict::Is(Pressure::Tight),
        _ => Verdict::Is(Pressure::Normal),
    }
}

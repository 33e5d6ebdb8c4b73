//! Alarm changes the outbox could not take (a full disk, an I/O error): kept in memory,
//! in order, and committed ahead of the next changes as soon as the outbox takes them.
//!
//! An alarm is the one thing the daemon must not lose to a full disk. The outbox sheds
//! summaries and gives back its ballast to make room; if even that fails, the change
//! waits here (bounded) instead of being logged and forgotten. Only past the bound is a
//! change lost, the oldest first, and counted (`P/health` `dropped.alarms`).

use crate::health::{self, Health};
use crate::reading::Ms;
use crate::rules::AlarmChange;
use std::collections::VecDeque;

/// Changes held at most; each is a few hundred bytes.
const MAX_HELD: usize = 4096;
/// How often a held change is retried when nothing new arrives.
const RETRY_MS: Ms = 1000;

#[derive(Debug, Default)]
pub(crate) struct Unsaved {
    held: VecDeque<AlarmChange>,
    last_try: Ms,
}

impl Unsaved {
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Held changes are due for another try (with or without new changes).
    pub(crate) fn due(&self, now: Ms) -> bool {
        !self.held.is_empty() && now - self.last_try >= RETRY_MS
    }

    /// The held changes, oldest first, followed by `new`; the caller commits them all.
    pub(crate) fn take_with(&mut self, new: Vec<AlarmChange>, now: Ms) -> Vec<AlarmChange> {
        self.last_try = now;
        let mut all: Vec<AlarmChange> = self.held.drain(..).collect();
        all.extend(new);
        all
    }

    /// The commit of `changes` failed: hold them (in order) for the next try.
    pub(crate) fn keep(&mut self, changes: Vec<AlarmChange>, health: &Health) {
        if self.held.is_empty() {
            tracing::error!(
                changes = changes.len(),
                "outbox refused alarm changes; holding them in memory until it takes them"
            );
        }
        self.held.extend(changes);
        while self.held.len() > MAX_HELD {
            if let Some(lost) = self.held.pop_front() {
                health::bump(&health.alarms_lost);
                tracing::error!(id = %lost.alarm.id, "alarm change lost: too many held while the outbox refuses writes");
            }
        }
    }

    /// The held changes made it to the outbox.
    pub(crate) fn saved(&self, count: usize) {
        tracing::warn!(
            changes = count,
            "held alarm changes committed to the outbox"
        );
    }
}

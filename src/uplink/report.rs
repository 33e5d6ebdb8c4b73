//! The `P/health` payload, built from the health counters and the outbox statistics.

use crate::health::{Health, get};
use crate::reading::Ms;
use crate::store::{Kind, Outbox};
use crate::wire::payload::{
    Backlog, DeviceCounts, Disk, Dropped, Errors, Head, HealthReport, Reconnects,
};

/// Polls per second between two reports.
#[derive(Debug, Default)]
pub struct PollRate {
    last: Option<(u64, Ms)>,
}

impl PollRate {
    pub fn per_second(&mut self, polls: u64, now: Ms) -> f64 {
        let rate = match self.last {
            Some((p, t)) if now > t => (polls.saturating_sub(p)) as f64 * 1000.0 / (now - t) as f64,
            _ => 0.0,
        };
        self.last = Some((polls, now));
        (rate * 100.0).round() / 100.0
    }
}

pub fn health(
    h: &Health,
    outbox: &Outbox,
    rate: &mut PollRate,
    seq: u64,
    started_ms: Ms,
    now: Ms,
) -> HealthReport {
    let (ok, failing) = h.device_counts();
    let stats = outbox.stats().unwrap_or_default();
    HealthReport {
        head: Head::new(seq, now),
        uptime_s: ((now - started_ms).max(0) / 1000) as u64,
        devices: DeviceCounts { ok, failing },
        backlog: Backlog {
            alarms: stats.pending.get(Kind::Alarm),
            messages: stats.pending.total() - stats.pending.get(Kind::Alarm),
            oldest_s: stats
                .oldest_pending_ms
                .map(|t| ((now - t).max(0) / 1000) as u64),
        },
        disk: Disk {
            outbox_bytes: stats.bytes_on_disk,
            raw_bytes: get(&h.raw_bytes),
        },
        polls_per_s: rate.per_second(get(&h.polls), now),
        errors: Errors {
            polls: get(&h.poll_errors),
            timeouts: get(&h.timeouts),
            exceptions: get(&h.exceptions),
            malformed: get(&h.malformed),
            camera_rejected: get(&h.camera_rejected),
            commands_rejected: get(&h.commands_rejected),
            store: get(&h.store_errors),
        },
        dropped: Dropped {
            summaries: stats.dropped.get(Kind::Summary)
                + stats.dropped.get(Kind::Zone)
                + get(&h.summaries_lost),
            snapshots: stats.dropped.get(Kind::Snapshot),
            cmd_results: stats.dropped.get(Kind::CmdResult),
            alarms: stats.dropped.get(Kind::Alarm) + get(&h.alarms_lost),
            raw_readings: get(&h.raw_dropped),
            samples: get(&h.samples_dropped),
            live: get(&h.live_dropped),
        },
        reconnects: Reconnects {
            uplink: get(&h.uplink_reconnects),
            field: get(&h.field_reconnects),
        },
        commands: crate::wire::payload::Commands {
            executed: get(&h.commands_executed),
            rejected: get(&h.commands_rejected),
            retained: get(&h.commands_retained),
            rate_limited: get(&h.commands_rate_limited),
            duplicate: get(&h.commands_duplicate),
            unanswered: get(&h.commands_unanswered),
        },
        uplink_problem: h.uplink_problem(),
    }
}

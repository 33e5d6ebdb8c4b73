//! Process-wide counters: the one piece of shared state, because every stage counts.
//!
//! Plain relaxed atomics: each counter is independent and read only for reports
//! (`P/health`, `sitewarden outbox`, the systemd STATUS line), so no ordering between
//! them is needed.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    /// Device polls attempted (one per device per poll interval).
    pub polls: AtomicU64,
    /// Polls that failed wholly or in part.
    pub poll_errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub exceptions: AtomicU64,
    /// CRC, length, header or JSON errors.
    pub malformed: AtomicU64,
    /// Requests lost to the connection itself (refused, reset, closed).
    pub transport_errors: AtomicU64,
    /// How long each Modbus poll took (all its reads), for `/metrics`.
    pub poll_latency: Latency,
    /// Field connections (Modbus, site MQTT) re-opened after a failure.
    pub field_reconnects: AtomicU64,
    /// Camera messages refused (bad JSON, wrong type, oversized).
    pub camera_rejected: AtomicU64,
    /// Readings dropped from the raw ring to keep it within `raw_max_bytes`.
    pub raw_dropped: AtomicU64,
    /// Samples lost because ingest could not keep up (should stay 0).
    pub samples_dropped: AtomicU64,
    /// Platform broker connections made after the first.
    pub uplink_reconnects: AtomicU64,
    /// Messages published and acknowledged by the platform broker.
    pub published: AtomicU64,
    /// Publishes written to the platform broker connection (re-sends included).
    pub sent: AtomicU64,
    /// Platform commands refused (bad JSON, unknown device, not writable, expired).
    pub commands_rejected: AtomicU64,
    /// Platform commands carried out.
    pub commands_executed: AtomicU64,
    /// Commands that arrived retained (ignored: a retained command would run at every start).
    pub commands_retained: AtomicU64,
    /// Commands refused by the per-gateway rate limit.
    pub commands_rate_limited: AtomicU64,
    /// Commands whose id was carried out before (answered again, not executed again).
    pub commands_duplicate: AtomicU64,
    /// Refusals left unanswered because a flood filled the answer queue.
    pub commands_unanswered: AtomicU64,
    /// Bytes the raw ring holds on disk (set by ingest).
    pub raw_bytes: AtomicU64,
    /// Alarm changes lost because the outbox refused them longer than ingest could hold
    /// them (see `ingest::unsaved`).
    pub alarms_lost: AtomicU64,
    /// Summary and zone records lost because the outbox refused their append.
    pub summaries_lost: AtomicU64,
    /// Store I/O errors survived (ENOSPC and the like).
    pub store_errors: AtomicU64,
    /// Live reports (`P/live`, QoS 0, not stored) dropped: the channel to the uplink was
    /// full or the uplink offline.
    pub live_dropped: AtomicU64,
    /// Wall-clock ms of the last sample ingest took in (watchdog: polling is alive).
    pub last_sample_ms: AtomicI64,
    /// Wall-clock ms of ingest's last housekeeping tick (watchdog: ingest is alive).
    pub ingest_tick_ms: AtomicI64,
    /// Is the platform broker connected right now?
    pub uplink_online: AtomicBool,
    /// Why the uplink's last connection attempt or connection failed (empty before the
    /// first failure; kept after a reconnect, so `P/health` can tell what kept it away).
    pub uplink_problem: std::sync::Mutex<String>,
    /// Per device detail, active alarms and occupancy for `status` (see `live`).
    pub live: crate::live::Live,
    /// Per device (index into `Site::devices`): did its last poll succeed?
    devices_ok: std::sync::RwLock<Vec<AtomicBool>>,
}

impl Health {
    pub fn new(devices: usize) -> Self {
        let h = Health::default();
        h.resize(devices);
        h
    }

    /// Re-size the per-device table (after a reload); every device starts as ok.
    pub fn resize(&self, devices: usize) {
        let mut v = self.devices_ok.write().unwrap_or_else(|e| e.into_inner());
        *v = (0..devices).map(|_| AtomicBool::new(true)).collect();
        self.live.resize(devices);
    }

    pub fn set_device_ok(&self, device: usize, ok: bool) {
        let v = self.devices_ok.read().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = v.get(device) {
            slot.store(ok, Ordering::Relaxed);
        }
    }

    /// (ok, failing) device counts.
    pub fn device_counts(&self) -> (usize, usize) {
        let v = self.devices_ok.read().unwrap_or_else(|e| e.into_inner());
        let ok = v.iter().filter(|b| b.load(Ordering::Relaxed)).count();
        (ok, v.len() - ok)
    }
}

impl Health {
    /// The uplink's current problem, if any (see `uplink::reason`).
    pub fn uplink_problem(&self) -> Option<String> {
        let p = self
            .uplink_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (!p.is_empty()).then(|| p.clone())
    }

    pub fn set_uplink_problem(&self, problem: &str) {
        let mut p = self
            .uplink_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        problem.clone_into(&mut p);
    }
}

/// Upper bounds of the poll latency buckets, in milliseconds (Prometheus `le`, seconds).
pub const LATENCY_BOUNDS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// A latency histogram in atomics: two relaxed increments per poll, nothing allocated.
/// Buckets are kept non-cumulative (the last is over the largest bound); `/metrics`
/// adds them up.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    pub fn record(&self, took: std::time::Duration) {
        let us = took.as_micros() as u64;
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|&b| us <= b * 1000)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        bump(&self.buckets[i]);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// (count per bucket, non-cumulative; sum of latencies in microseconds).
    pub fn read(&self) -> ([u64; LATENCY_BOUNDS_MS.len() + 1], u64) {
        (
            std::array::from_fn(|i| get(&self.buckets[i])),
            self.sum_us.load(Ordering::Relaxed),
        )
    }
}

/// Shorthand for a relaxed increment.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Shorthand for a relaxed read.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Shorthand for a relaxed read of a timestamp.
pub fn get_ms(t: &AtomicI64) -> i64 {
    t.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latencies_land_in_the_first_bucket_that_holds_them() {
        let l = Latency::default();
        for ms in [0, 5, 6, 1000, 1001, 60_000] {
            l.record(Duration::from_millis(ms));
        }
        l.record(Duration::from_micros(5_001));
        let (b, sum) = l.read();
        // ≤5 ms: 0, 5; ≤10: 6, 5.001; ≤1 s: 1000; ≤2.5 s: 1001; over 5 s: 60 000.
        assert_eq!(b, [2, 2, 0, 0, 0, 0, 0, 1, 1, 0, 1]);
        assert_eq!(sum, (5 + 6 + 1000 + 1001 + 60_000) * 1000 + 5_001);
    }
}

//! The one consumer of samples. For each sample, in order:
//!
//! 1. append it to the raw ring (flushed, with an fdatasync, at least every second);
//! 2. fold it into the open summary window and the zone occupancy;
//! 3. run the rules and the patrol tracker; alarm changes are committed to the outbox at
//!    once, with each finished patrol round and the tracker's state.
//!
//! When a window closes (its end plus a grace), every device summary and zone summary of
//! that window is committed in ONE durable outbox append (one frame) together with the window's
//! end and the state the next window continues from (counter carries, zone occupancy). So
//! after a crash the store says exactly which windows are out: the open one is rebuilt
//! from the raw ring, and no window is ever built twice.
//!
//! Ingest runs on its own thread with a tiny current-thread runtime of its own (for the
//! channel and its timer); the store calls block, and only this thread waits on them.

mod carries;
pub mod exception;
pub mod live;
mod records;
mod unsaved;
mod windows;

use crate::clock;
use crate::health::{self, Health};
use crate::loggate::LogGate;
use crate::patrol::Tracker;
use crate::reading::{Ms, Sample};
use crate::rules::{Alarm, AlarmChange, Engine};
use crate::site::Site;
use crate::store::RawRing;
use crate::store::{NewRecord, Outbox};
use crate::summary::Carry;
use crate::summary::cell;
use crate::summary::window::start_of;
use crate::summary::zone::ZoneTracker;
use crate::wire::topics::Topics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use windows::Windows;

/// The raw ring is made durable at least this often (spec: "flushed at least every second").
const RAW_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Housekeeping cadence: window closes, rule timers (hold, flatline), raw flushes.
const TICK: Duration = Duration::from_millis(100);

const STATE_LAST_CLOSED: &str = "window.last_closed";
const STATE_CARRY: &str = "window.carry";
const STATE_ZONES: &str = "zones";
const STATE_ALARMS: &str = "alarms.active";
const STATE_PATROL: &str = "patrol";

/// A validated new site for ingest to switch to (SIGHUP). Sent only once the old sources
/// have stopped; `done` answers when ingest runs on the new site.
pub struct Reload {
    pub site: Arc<Site>,
    pub done: tokio::sync::oneshot::Sender<()>,
}

pub struct Params {
    pub site: Arc<Site>,
    pub raw: RawRing,
    pub outbox: Arc<Outbox>,
    /// Notified after every commit, so the uplink publishes at once.
    pub wake: Arc<Notify>,
    pub health: Arc<Health>,
    /// Live reports to the uplink (None: nobody listens, e.g. a tool's ingest).
    pub live: Option<mpsc::Sender<live::LiveReport>>,
}

struct Ingest {
    site: Arc<Site>,
    topics: Topics,
    raw: RawRing,
    outbox: Arc<Outbox>,
    wake: Arc<Notify>,
    health: Arc<Health>,
    windows: Windows,
    zones: ZoneTracker,
    rules: Engine,
    patrol: Tracker,
    /// How long after its end a window waits for late replies before closing.
    grace: Ms,
    last_flush: Ms,
    changes: Vec<AlarmChange>,
    /// Per device: whether its latest sample carried an error (for the cell rollups).
    failing: Vec<bool>,
    unsaved: unsaved::Unsaved,
    lives: live::Lives,
    /// Tag readers sending tags that are no tag id: logged at most once a minute.
    bad_tags: LogGate,
}

/// Runs until every sample sender is dropped, then flushes the raw ring and returns.
pub fn run(p: Params, mut samples: mpsc::Receiver<Sample>, mut reloads: mpsc::Receiver<Reload>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "ingest cannot start its runtime");
            return;
        }
    };
    let now = clock::now_ms();
    let mut ingest = Ingest::recover(p, now);
    rt.block_on(async {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                s = samples.recv() => match s {
                    Some(s) => ingest.sample(s),
                    None => break,
                },
                _ = tick.tick() => ingest.housekeeping(clock::now_ms()),
                Some(r) = reloads.recv() => {
                    // The old sources are stopped: take in what they sent first, so no
                    // sample is read against the wrong site.
                    while let Ok(s) = samples.try_recv() {
                        ingest.sample(s);
                    }
                    ingest.reload(r.site);
                    r.done.send(()).ok();
                }
            }
        }
    });
    ingest.flush_raw(clock::now_ms());
}

impl Ingest {
    /// Restores the state the last run committed, then rebuilds the windows it had open
    /// from the raw ring, closing (and committing) those that ended meanwhile.
    fn recover(p: Params, now: Ms) -> Ingest {
        let site = p.site;
        let state = |key: &str| match p.outbox.state(key) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(key, error = %e, "cannot read saved state; starting without it");
                None
            }
        };
        let last_closed = state(STATE_LAST_CLOSED)
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(i64::from_be_bytes);
        let carries = state(STATE_CARRY)
            .map(|b| carries::decode(&site, &b))
            .unwrap_or_default();
        let zones = state(STATE_ZONES)
            .and_then(|b| match ZoneTracker::from_bytes(&site, &b) {
                Ok(z) => Some(z),
                Err(e) => {
                    tracing::warn!(error = %e, "saved zone occupancy unreadable; zones restart at 0");
                    None
                }
            })
            .unwrap_or_else(|| ZoneTracker::new(&site));
        let mut rules = Engine::new(&site);
        if let Some(b) = state(STATE_ALARMS)
            && let Err(e) = rules.import_state(&b)
        {
            tracing::warn!(error = %e, "saved alarm state unreadable; active alarms forgotten");
        }
        let mut patrol = Tracker::new(&site);
        if let Some(b) = state(STATE_PATROL)
            && let Err(e) = patrol.import_state(&b)
        {
            tracing::warn!(error = %e, "saved patrol state unreadable; rounds start afresh");
        }
        let grace = grace_of(&site);
        let interval = site.uplink.summary_interval;
        let mut ingest = Ingest {
            topics: Topics::new(&site),
            windows: Windows::new(&site, start_of(now, interval), carries.clone()),
            zones,
            rules,
            patrol,
            grace,
            last_flush: now,
            changes: Vec::new(),
            failing: vec![false; site.devices.len()],
            unsaved: unsaved::Unsaved::default(),
            lives: live::Lives::new(&site, p.live),
            bad_tags: LogGate::new(60_000, 1),
            raw: p.raw,
            outbox: p.outbox,
            wake: p.wake,
            health: p.health,
            site,
        };
        match last_closed {
            Some(from) => ingest.rebuild(from, now, carries),
            None => ingest.mark_first_window(),
        }
        ingest.health.live.set_alarms(ingest.active());
        ingest
    }

    /// Every alarm now raised, by rules and patrols, oldest first.
    fn active(&self) -> Vec<Alarm> {
        let mut all = self.rules.active();
        if !self.patrol.is_empty() {
            all.extend(self.patrol.active());
            all.sort_by(|a, b| a.raised_at.cmp(&b.raised_at).then_with(|| a.id.cmp(&b.id)));
        }
        all
    }

    /// No window has ever closed here (a fresh store, or one whose state was lost): record the
    /// start of the open window as where the next run rebuilds from, so a crash before
    /// the first close costs readings, not the window. Readings older than it (left by a
    /// lost outbox's era) are not replayed: their windows may be out already.
    fn mark_first_window(&mut self) {
        let start = self.windows.start.to_be_bytes().to_vec();
        if let Err(e) = self
            .outbox
            .append(Vec::new(), &[(STATE_LAST_CLOSED, start)])
        {
            health::bump(&self.health.store_errors);
            tracing::warn!(error = %e, "cannot record the first window; a crash in it loses it");
        }
    }

    /// Replays the raw ring from the end of the last committed window.
    fn rebuild(&mut self, from: Ms, now: Ms, carries: Vec<Carry>) {
        let samples = match self.raw.replay_since(&self.site, from) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot replay the raw ring; the open window restarts empty");
                return;
            }
        };
        let Some(first) = samples.first() else {
            return;
        };
        let interval = self.site.uplink.summary_interval;
        self.windows = Windows::new(&self.site, start_of(first.ts, interval), carries);
        let count = samples.len();
        for s in samples {
            if s.ts >= self.windows.end {
                self.close_window(s.ts);
            }
            self.zones.add(&self.site, &s);
            self.windows.add(&self.site, &s);
        }
        if now >= self.windows.end + self.grace {
            self.close_window(now);
        }
        tracing::info!(samples = count, since = %clock::rfc3339(from), "open window rebuilt from the raw ring");
    }

    /// Switches to a reloaded site, keeping open windows, occupancy and active alarms.
    fn reload(&mut self, site: Arc<Site>) {
        self.windows.reconfigure(&self.site, &site);
        self.zones = ZoneTracker::from_bytes(&site, &self.zones.to_bytes())
            .unwrap_or_else(|_| ZoneTracker::new(&site));
        let alarms = self.rules.export_state();
        self.rules = Engine::new(&site);
        if let Err(e) = self.rules.import_state(&alarms) {
            tracing::warn!(error = %e, "active alarms could not follow the reload");
        }
        let rounds = self.patrol.export_state();
        self.patrol = Tracker::new(&site);
        if let Err(e) = self.patrol.import_state(&rounds) {
            tracing::warn!(error = %e, "patrol rounds could not follow the reload");
        }
        self.grace = grace_of(&site);
        self.lives =
            std::mem::replace(&mut self.lives, live::Lives::new(&site, None)).reload(&site);
        // A device keeps its health across the reload, whichever cell it moved to.
        let old = &self.site;
        self.failing = (site.devices.iter())
            .map(|d| old.device_index(&d.id).is_some_and(|i| self.failing[i]))
            .collect();
        self.site = site;
        self.health.live.set_alarms(self.active());
        tracing::info!(
            devices = self.site.devices.len(),
            rules = self.site.rules.len(),
            "ingest follows the new configuration"
        );
    }

    fn sample(&mut self, s: Sample) {
        self.health
            .last_sample_ms
            .store(clock::now_ms(), std::sync::atomic::Ordering::Relaxed);
        let site = Arc::clone(&self.site);
        let Some(device) = site.devices.get(s.device) else {
            return;
        };
        self.raw.append(&site, &s);
        if let Some(f) = self.failing.get_mut(s.device) {
            *f = s.error.is_some();
        }
        self.zones.add(&site, &s);
        self.windows.add(&site, &s);
        let values: Vec<Option<f64>> = s
            .values
            .iter()
            .zip(&device.points)
            .map(|(v, p)| v.map(|raw| p.engineering(raw)))
            .collect();
        self.health
            .live
            .on_sample(s.device, s.ts, &values, s.error.as_ref());
        if !s.texts.is_empty() {
            self.health.live.on_texts(s.device, &s.texts);
        }
        (self.lives).on_sample(&site, s.device, s.ts, &values, &self.health);
        self.rules.on_sample(
            &site,
            s.device,
            s.ts,
            &values,
            s.error.as_ref(),
            &mut self.changes,
        );
        if let Err(tag) = self
            .patrol
            .on_sample(s.device, s.ts, &values, &mut self.changes)
        {
            health::bump(&self.health.camera_rejected);
            if let Some(suppressed) = self.bad_tags.admit(s.ts) {
                tracing::warn!(device = %device.id, tag, suppressed, "tag reader sent a tag that is not a tag id (a whole number, 0..=4294967295); tap skipped");
            }
        }
        if let Some(zone) = &device.zone
            && let Some(z) = site.zones.iter().find(|z| &z.name == zone)
        {
            let occupancy = self.zones.occupancy(zone).unwrap_or(0);
            let rate = self.zones.entries_per_min(zone, s.ts).unwrap_or(0);
            self.rules.on_zone(
                zone,
                s.ts,
                occupancy as f64,
                z.capacity,
                rate as f64,
                &mut self.changes,
            );
        }
        self.commit_alarms(s.ts);
    }

    fn housekeeping(&mut self, now: Ms) {
        self.health
            .ingest_tick_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
        self.rules.tick(now, &mut self.changes);
        self.patrol.tick(now, &mut self.changes);
        self.commit_alarms(now);
        self.lives.tick(&self.site, now, &self.health);
        self.zones.roll(now);
        if now >= self.windows.end + self.grace {
            self.close_window(now);
        }
        if now - self.last_flush >= RAW_FLUSH_EVERY.as_millis() as Ms {
            self.flush_raw(now);
        }
    }

    fn flush_raw(&mut self, now: Ms) {
        self.last_flush = now;
        if let Err(e) = self.raw.flush() {
            health::bump(&self.health.store_errors);
            tracing::error!(error = %e, "raw ring flush failed; readings of the last second may be lost");
        }
        self.health.raw_bytes.store(
            self.raw.bytes_on_disk(),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.health
            .raw_dropped
            .store(self.raw.dropped(), std::sync::atomic::Ordering::Relaxed);
        self.publish_live();
    }

    /// Once a second (with the flush): active alarms and occupancy for `status`.
    fn publish_live(&self) {
        let zones = self
            .site
            .zones
            .iter()
            .map(|z| (z.name.clone(), self.zones.occupancy(&z.name).unwrap_or(0)))
            .collect();
        self.health.live.set_zones(zones);
    }

    /// Commits pending alarm changes (after any the outbox refused before), the new
    /// active snapshot, finished patrol rounds, and the rule and patrol state in one
    /// durable append. Changes it refuses are held and retried (`unsaved.rs`).
    fn commit_alarms(&mut self, now: Ms) {
        let patrol = self.patrol.take_dirty();
        if self.changes.is_empty() && !self.unsaved.due(now) && !patrol {
            return;
        }
        let retried = !self.unsaved.is_empty();
        let fresh = std::mem::take(&mut self.changes);
        for c in &fresh {
            tracing::info!(
                rule = %c.alarm.rule,
                device = %c.alarm.device,
                point = c.alarm.point.as_deref().unwrap_or(""),
                severity = c.alarm.severity.name(),
                state = c.state.name(),
                value = c.alarm.value,
                "{}",
                c.alarm.message
            );
        }
        let all = self.unsaved.take_with(fresh, now);
        let mut recs: Vec<NewRecord> = Vec::with_capacity(all.len() + 1);
        recs.extend(
            all.iter()
                .cloned()
                .map(|c| records::alarm(&self.topics, &self.site, c)),
        );
        if !all.is_empty() {
            let active = self.active();
            self.health.live.set_alarms(active.clone());
            recs.push(records::active(&self.topics, &self.site, active, now));
        }
        for r in self.patrol.take_rounds() {
            tracing::info!(patrol = %r.patrol, status = r.status.name(), tapped = r.visits.len(), skipped = r.skipped.len(), "patrol round ended");
            recs.push(records::patrol(&self.topics, &self.site, r, now));
        }
        let mut state = vec![(STATE_ALARMS, self.rules.export_state())];
        if patrol {
            state.push((STATE_PATROL, self.patrol.export_state()));
        }
        if self.append(recs, &state, "alarm") {
            if retried {
                self.unsaved.saved(all.len());
            }
        } else {
            self.unsaved.keep(all, &self.health);
            self.patrol.mark_dirty();
        }
    }

    fn close_window(&mut self, next_ts: Ms) {
        let live = self.windows.seen > 0;
        let start = self.windows.start;
        let closed = self.windows.close(&self.site, next_ts);
        let zone_summaries = self.zones.close(start, closed.end);
        if !live {
            // Nothing arrived for this window (the daemon was down): publish nothing.
            return;
        }
        let now = clock::now_ms();
        let mut recs = Vec::with_capacity(closed.summaries.len() + zone_summaries.len());
        for (i, s) in closed.summaries {
            recs.push(records::summary(&self.topics, &self.site, i, s, now));
        }
        for z in zone_summaries {
            recs.push(records::zone(&self.topics, z, now));
        }
        if !self.site.cells.is_empty() {
            let active = self.active();
            let zones = &self.zones;
            let rollups = cell::rollups(&self.site, &self.failing, &active, |z| zones.occupancy(z));
            let window = (start, closed.end);
            recs.extend(records::cells(
                &self.topics,
                &self.site,
                rollups,
                window,
                now,
            ));
        }
        let state = [
            (STATE_LAST_CLOSED, closed.end.to_be_bytes().to_vec()),
            (STATE_CARRY, carries::encode(&self.site, &closed.carries)),
            (STATE_ZONES, self.zones.to_bytes()),
        ];
        self.append(recs, &state, "window");
    }

    /// Appends to the outbox; false (logged and counted) if it refused.
    fn append(&mut self, recs: Vec<NewRecord>, state: &[(&str, Vec<u8>)], what: &str) -> bool {
        let n = recs.len();
        match self.outbox.append(recs, state) {
            Ok(seqs) => {
                // The fault tests read this line: the seqs of one append are consecutive,
                // so `first_seq..=last_seq` names every record made durable here.
                tracing::debug!(
                    what,
                    records = n,
                    first_seq = seqs.first().copied().unwrap_or(0),
                    last_seq = seqs.last().copied().unwrap_or(0),
                    "accepted"
                );
                self.wake.notify_one();
                true
            }
            Err(e) => {
                health::bump(&self.health.store_errors);
                if what == "alarm" {
                    tracing::error!(what, records = n, error = %e, "outbox append failed; alarm changes held for a retry");
                } else {
                    self.health
                        .summaries_lost
                        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(what, records = n, error = %e, "outbox append failed; records lost");
                }
                false
            }
        }
    }
}

/// How long after its end a window waits for late replies: the longest request timeout of
/// any connection, plus a margin.
fn grace_of(site: &Site) -> Ms {
    site.connections
        .iter()
        .map(|c| c.kind.timeout().map_or(0, |t| t.as_millis() as Ms))
        .max()
        .unwrap_or(0)
        + 250
}

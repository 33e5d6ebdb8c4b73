//! The anomaly engine: engineering values in, alarm changes out.
//!
//! Owns the seven rule types of the spec's "Anomaly rules" and the alarm lifecycle. It
//! never does I/O, never reads a clock (`ts` / `now` are parameters), never formats
//! payloads or topics (`ingest` turns `AlarmChange`s into outbox records) and never
//! computes occupancy (`ingest` hands it in through `Engine::on_zone`).
//!
//! Stages:
//! 1. `Engine::new` compiles the site's rules (`compile.rs`): device globs are expanded
//!    and point names resolved to indices, giving one *instance* per (rule, device,
//!    point), each holding its evaluator's state and its alarm `Slot`s (`alarm.rs`).
//!    Instances are stored grouped by device, so a sample visits only its own.
//! 2. `on_sample` / `on_zone` / `tick` run the evaluators (`threshold.rs`, `spike.rs`,
//!    `flatline.rs`, `offline.rs`, `counter.rs`, `capacity.rs`, `event.rs`), which push
//!    a change only when a slot moves; the common no-change path allocates nothing.
//! 3. `export_state` / `import_state` (`state.rs`) carry the active alarms across a
//!    restart or a reload, so each is still cleared exactly once afterwards.

mod alarm;
mod capacity;
mod compile;
mod counter;
mod event;
mod flatline;
mod offline;
mod spike;
mod state;
#[cfg(test)]
mod tests;
mod threshold;

pub use alarm::{Alarm, AlarmChange, AlarmState};

use crate::localtime::{Active, Local, LocalZone};
use crate::reading::{Ms, PollError};
use crate::site::{Severity, Site};
use alarm::{Labels, Slot};
use capacity::{Capacity, ZoneReading};

/// The value of point `i` in a sample, if present and a number.
#[inline]
pub(crate) fn value_at(values: &[Option<f64>], i: usize) -> Option<f64> {
    values.get(i).copied().flatten().filter(|v| !v.is_nan())
}

/// The compiled rules of one site and the state of every alarm.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<RuleMeta>,
    devices: Vec<DeviceMeta>,
    /// Grouped by device, in rule order within a device.
    insts: Vec<Instance>,
    /// `insts[by_device[d].0 .. by_device[d].1]` belong to device `d`.
    by_device: Vec<(u32, u32)>,
    /// Instances that need `tick` (holds, camera quiet periods).
    tickers: Vec<u32>,
    zones: Vec<ZoneInst>,
    /// Alarms restored from a state whose rule no longer exists: cleared on next tick.
    orphans: Vec<Alarm>,
    /// The site's time zone, in which `active` windows are read.
    tz: LocalZone,
    /// Instances whose rule has `active` windows: checked on every tick.
    timed: Vec<u32>,
}

#[derive(Debug, Clone)]
struct RuleMeta {
    name: String,
    severity: Severity,
    active: Option<Active>,
}

#[derive(Debug, Clone)]
struct DeviceMeta {
    id: String,
    points: Vec<String>,
}

#[derive(Debug, Clone)]
struct Instance {
    rule: u32,
    device: u32,
    /// The judged point, for alarm labels (None for `offline`).
    point: Option<u32>,
    eval: Eval,
    /// Rules with `active` windows: the evaluator as compiled, put back when a window
    /// closes so the next one starts afresh (a flatline does not span the night).
    fresh: Option<Box<Eval>>,
    /// Outside the rule's active window: not judged, no alarm raised.
    dormant: bool,
}

#[derive(Debug, Clone)]
struct ZoneInst {
    rule: u32,
    cap: Capacity,
    fresh: Option<Box<Capacity>>,
    dormant: bool,
}

/// Whether rule `rule` judges at `ts`; `local` caches the local time of `ts`.
fn judges(rule: &RuleMeta, tz: &LocalZone, ts: Ms, local: &mut Option<Local>) -> bool {
    match &rule.active {
        None => true,
        Some(a) => a.contains(*local.get_or_insert_with(|| tz.local(ts))),
    }
}

/// Clears the alarm in `slot`, if raised, because its rule's active window closed.
fn clear_dormant(slot: Option<&mut Slot>, rule: &str, ts: Ms, out: &mut Vec<AlarmChange>) {
    let Some(slot) = slot else { return };
    if let Some(value) = slot.raised().map(|a| a.value) {
        slot.clear(
            value,
            format!("rule {rule} is outside its active hours"),
            ts,
            out,
        );
    }
}

impl Instance {
    /// Follows the rule's window: going dormant clears the instance's alarms and puts
    /// the evaluator back as compiled. Returns whether the instance judges.
    fn follow(&mut self, judges: bool, rule: &str, ts: Ms, out: &mut Vec<AlarmChange>) -> bool {
        if judges {
            self.dormant = false;
        } else if !self.dormant {
            self.dormant = true;
            let tags: Vec<&'static str> = self.eval.slots().iter().map(|(t, _)| *t).collect();
            for tag in tags {
                clear_dormant(self.eval.slot_mut(tag), rule, ts, out);
            }
            if let Some(f) = &self.fresh {
                self.eval = (**f).clone();
            }
        }
        judges
    }
}

impl ZoneInst {
    fn follow(&mut self, judges: bool, rule: &str, ts: Ms, out: &mut Vec<AlarmChange>) -> bool {
        if judges {
            self.dormant = false;
        } else if !self.dormant {
            self.dormant = true;
            let tags: Vec<&'static str> = self.cap.slots().iter().map(|(t, _)| *t).collect();
            for tag in tags {
                clear_dormant(self.cap.slot_mut(tag), rule, ts, out);
            }
            if let Some(f) = &self.fresh {
                self.cap = (**f).clone();
            }
        }
        judges
    }
}

/// One evaluator, dispatched by `match`.
#[derive(Debug, Clone)]
enum Eval {
    Threshold(threshold::Threshold),
    Spike(spike::Spike),
    Flatline(flatline::Flatline),
    Offline(offline::Offline),
    Counter(counter::Counter),
    Event(event::Event),
}

impl Eval {
    fn sample(
        &mut self,
        l: &Labels<'_>,
        values: &[Option<f64>],
        error: Option<&PollError>,
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) {
        match self {
            Eval::Threshold(e) => e.sample(l, values, ts, out),
            Eval::Spike(e) => e.sample(l, values, ts, out),
            Eval::Flatline(e) => e.sample(l, values, ts, out),
            Eval::Offline(e) => e.sample(l, values, error, ts, out),
            Eval::Counter(e) => e.sample(l, values, ts, out),
            Eval::Event(e) => e.sample(l, values, ts, out),
        }
    }

    fn tick(&mut self, l: &Labels<'_>, now: Ms, out: &mut Vec<AlarmChange>) {
        match self {
            Eval::Threshold(e) => e.tick(l, now, out),
            Eval::Event(e) => e.tick(l, now, out),
            _ => {}
        }
    }

    /// Every alarm slot with its tag (not on the hot path: allocates).
    fn slots(&self) -> Vec<(&'static str, &Slot)> {
        match self {
            Eval::Threshold(e) => e.slots(),
            Eval::Spike(e) => vec![("", e.slot())],
            Eval::Flatline(e) => vec![("", e.slot())],
            Eval::Offline(e) => vec![("", e.slot())],
            Eval::Counter(e) => e.slots(),
            Eval::Event(e) => vec![("", e.slot())],
        }
    }

    fn slot_mut(&mut self, tag: &str) -> Option<&mut Slot> {
        match self {
            Eval::Threshold(e) => e.slot_mut(tag),
            Eval::Counter(e) => e.slot_mut(tag),
            Eval::Spike(e) => tag.is_empty().then(|| e.slot_mut()),
            Eval::Flatline(e) => tag.is_empty().then(|| e.slot_mut()),
            Eval::Offline(e) => tag.is_empty().then(|| e.slot_mut()),
            Eval::Event(e) => tag.is_empty().then(|| e.slot_mut()),
        }
    }
}

impl Engine {
    /// Compiles the site's rules: globs expanded, points resolved, every alarm idle.
    pub fn new(site: &Site) -> Engine {
        compile::compile(site)
    }

    /// Rule instances compiled (one per rule, device and point; one per capacity rule).
    pub fn instances(&self) -> usize {
        self.insts.len() + self.zones.len()
    }

    /// Judges one sample of device `device` (index into `site.devices`). `values` are
    /// engineering values, one slot per point; `site` must be the one the engine was
    /// built from. Changes are appended to `out`.
    pub fn on_sample(
        &mut self,
        site: &Site,
        device: usize,
        ts: Ms,
        values: &[Option<f64>],
        error: Option<&PollError>,
        out: &mut Vec<AlarmChange>,
    ) {
        debug_assert_eq!(
            site.devices.len(),
            self.devices.len(),
            "engine built from another site"
        );
        let Some(&(start, end)) = self.by_device.get(device) else {
            return;
        };
        let Engine {
            rules,
            devices,
            insts,
            tz,
            ..
        } = self;
        let mut local = None;
        for inst in &mut insts[start as usize..end as usize] {
            let rule = &rules[inst.rule as usize];
            if rule.active.is_some()
                && !inst.follow(judges(rule, tz, ts, &mut local), &rule.name, ts, out)
            {
                continue;
            }
            let l = labels(rules, devices, inst);
            inst.eval.sample(&l, values, error, ts, out);
        }
    }

    /// Judges one zone reading: occupancy (entries − exits since the daily reset), the
    /// zone's capacity and the entry rate.
    pub fn on_zone(
        &mut self,
        zone: &str,
        ts: Ms,
        occupancy: f64,
        capacity: u64,
        entries_per_min: f64,
        out: &mut Vec<AlarmChange>,
    ) {
        let reading = ZoneReading {
            ts,
            occupancy,
            capacity,
            entries_per_min,
        };
        let mut local = None;
        for z in self.zones.iter_mut().filter(|z| z.cap.zone == zone) {
            let rule = &self.rules[z.rule as usize];
            if rule.active.is_some()
                && !z.follow(judges(rule, &self.tz, ts, &mut local), &rule.name, ts, out)
            {
                continue;
            }
            let l = Labels {
                rule: &rule.name,
                severity: rule.severity,
                device: zone,
                point: None,
                tag: "",
            };
            z.cap.zone(&l, reading, out);
        }
    }

    /// Advances time to `now`: raises trips whose hold ran out, clears camera events
    /// that went quiet, and clears restored alarms whose rule no longer exists.
    pub fn tick(&mut self, now: Ms, out: &mut Vec<AlarmChange>) {
        let Engine {
            rules,
            devices,
            insts,
            tickers,
            orphans,
            tz,
            timed,
            zones,
            ..
        } = self;
        let mut local = None;
        for &i in timed.iter() {
            let inst = &mut insts[i as usize];
            let rule = &rules[inst.rule as usize];
            inst.follow(judges(rule, tz, now, &mut local), &rule.name, now, out);
        }
        for z in zones.iter_mut() {
            let rule = &rules[z.rule as usize];
            if rule.active.is_some() {
                z.follow(judges(rule, tz, now, &mut local), &rule.name, now, out);
            }
        }
        for &i in tickers.iter() {
            let inst = &mut insts[i as usize];
            if inst.dormant {
                continue;
            }
            let l = labels(rules, devices, inst);
            inst.eval.tick(&l, now, out);
        }
        for mut alarm in orphans.drain(..) {
            alarm.message = format!("rule {} no longer applies to {}", alarm.rule, alarm.device);
            out.push(AlarmChange {
                alarm,
                state: AlarmState::Cleared,
                ts: now,
            });
        }
    }

    /// Every alarm now raised, oldest first (ties by id).
    pub fn active(&self) -> Vec<Alarm> {
        let mut v: Vec<Alarm> = self
            .insts
            .iter()
            .flat_map(|i| i.eval.slots())
            .chain(self.zones.iter().flat_map(|z| z.cap.slots()))
            .filter_map(|(_, s)| s.raised().cloned())
            .chain(self.orphans.iter().cloned())
            .collect();
        v.sort_by(|a, b| a.raised_at.cmp(&b.raised_at).then_with(|| a.id.cmp(&b.id)));
        v
    }
}

fn labels<'a>(rules: &'a [RuleMeta], devices: &'a [DeviceMeta], inst: &Instance) -> Labels<'a> {
    let rule = &rules[inst.rule as usize];
    let device = &devices[inst.device as usize];
    Labels {
        rule: &rule.name,
        severity: rule.severity,
        device: &device.id,
        point: inst
            .point
            .and_then(|p| device.points.get(p as usize))
            .map(String::as_str),
        tag: "",
    }
}

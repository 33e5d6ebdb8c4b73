//! Active alarms across a restart or a reload: `Engine::export_state` writes them as
//! JSON, `Engine::import_state` puts each back into the slot of the same rule, device,
//! point and level, so it is cleared exactly once later, by the usual condition.
//!
//! An alarm whose slot no longer exists (the rule was removed or no longer matches the
//! device) is kept as an orphan and cleared on the next `tick`, so the platform never
//! keeps an alarm nobody will clear. Only alarm state travels: windows, runs and
//! previous counter values restart empty, except the scan count a raised per-scan alarm
//! was judged at, which the alarm needs to know its own scan. This is local state, not an
//! upstream payload.

use super::alarm::{Alarm, Slot};
use super::{Engine, Eval};
use crate::reading::Ms;
use crate::site::Severity;
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    v: u32,
    alarms: Vec<StoredAlarm>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAlarm {
    id: String,
    rule: String,
    device: String,
    point: Option<String>,
    /// The slot within the instance ("", "low", "reset", "critical", …).
    tag: String,
    severity: String,
    /// Optional because JSON has no NaN.
    value: Option<f64>,
    limit: Option<f64>,
    message: String,
    raised_at: Ms,
    /// Camera events: the last occurrence, for the quiet-period clear.
    #[serde(default)]
    seen: Option<Ms>,
    /// Per-scan thresholds: the trigger value (scan count) of the scan that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger: Option<f64>,
}

fn severity(name: &str) -> Result<Severity, String> {
    match name {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(format!("unknown severity {other:?}")),
    }
}

fn stored(a: &Alarm, tag: &str, seen: Option<Ms>, trigger: Option<f64>) -> StoredAlarm {
    StoredAlarm {
        id: a.id.clone(),
        rule: a.rule.clone(),
        device: a.device.clone(),
        point: a.point.clone(),
        tag: tag.to_owned(),
        severity: a.severity.name().to_owned(),
        value: Some(a.value).filter(|v| v.is_finite()),
        limit: Some(a.limit).filter(|v| v.is_finite()),
        message: a.message.clone(),
        raised_at: a.raised_at,
        seen,
        trigger: trigger.filter(|t| t.is_finite()),
    }
}

impl Engine {
    /// The active alarms, as bytes for `import_state`.
    pub fn export_state(&self) -> Vec<u8> {
        let mut alarms = Vec::new();
        for inst in &self.insts {
            let (seen, trigger) = match &inst.eval {
                Eval::Event(e) => (e.last_seen(), None),
                Eval::Threshold(t) => (None, t.last_trigger()),
                _ => (None, None),
            };
            for (tag, slot) in inst.eval.slots() {
                if let Some(a) = slot.raised() {
                    alarms.push(stored(a, tag, seen, trigger));
                }
            }
        }
        for z in &self.zones {
            for (tag, slot) in z.cap.slots() {
                if let Some(a) = slot.raised() {
                    alarms.push(stored(a, tag, None, None));
                }
            }
        }
        // An orphan's tag no longer matters: it will not find a slot again.
        alarms.extend(self.orphans.iter().map(|a| stored(a, "", None, None)));
        let state = Stored { v: VERSION, alarms };
        // Plain structs of strings and numbers always serialise.
        serde_json::to_vec(&state).unwrap_or_default()
    }

    /// Restores alarms exported by `export_state` (of this engine or of one built from
    /// an earlier config). Empty input is an empty state. On error nothing is changed.
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let state: Stored =
            serde_json::from_slice(bytes).map_err(|e| format!("bad alarm state: {e}"))?;
        if state.v != VERSION {
            return Err(format!("unsupported alarm state version {}", state.v));
        }
        let mut restored = Vec::with_capacity(state.alarms.len());
        for s in state.alarms {
            let alarm = Alarm {
                severity: severity(&s.severity)?,
                id: s.id,
                rule: s.rule,
                device: s.device,
                point: s.point,
                value: s.value.unwrap_or(f64::NAN),
                limit: s.limit.unwrap_or(f64::NAN),
                message: s.message,
                raised_at: s.raised_at,
            };
            restored.push((alarm, s.tag, s.seen, s.trigger));
        }
        for (alarm, tag, seen, trigger) in restored {
            self.restore(alarm, &tag, seen, trigger);
        }
        Ok(())
    }

    fn restore(&mut self, alarm: Alarm, tag: &str, seen: Option<Ms>, trigger: Option<f64>) {
        let rule = self.rules.iter().position(|r| r.name == alarm.rule);
        let devices = &self.devices;
        let zone = rule.and_then(|r| {
            self.zones
                .iter()
                .position(|z| z.rule as usize == r && z.cap.zone == alarm.device)
        });
        let inst = rule.and_then(|r| {
            self.insts.iter().position(|i| {
                let device = &devices[i.device as usize];
                let point = i.point.and_then(|p| device.points.get(p as usize));
                i.rule as usize == r
                    && device.id == alarm.device
                    && point.map(String::as_str) == alarm.point.as_deref()
            })
        });
        let slot: Option<&mut Slot> = match (zone, inst) {
            (Some(z), _) => self.zones[z].cap.slot_mut(tag),
            (None, Some(i)) => self.insts[i].eval.slot_mut(tag),
            (None, None) => None,
        };
        match slot {
            Some(slot) if !slot.is_raised() => {
                let raised_at = alarm.raised_at;
                slot.restore(alarm);
                match inst.map(|i| &mut self.insts[i].eval) {
                    Some(Eval::Event(e)) => e.set_last_seen(seen.unwrap_or(raised_at)),
                    Some(Eval::Threshold(t)) => {
                        if let Some(v) = trigger {
                            t.set_last_trigger(v);
                        }
                    }
                    _ => {}
                }
            }
            // Imported twice: the alarm is already there.
            Some(slot) if slot.raised().is_some_and(|a| a.id == alarm.id) => {}
            // The slot holds another raise, or is gone: clear this one on the next tick.
            _ => self.orphans.push(alarm),
        }
    }
}

//! `capacity`: a zone's occupancy against `warn` and `critical` shares of its capacity,
//! and the entry rate against `surge_per_min`.
//!
//! Three independent alarms per zone, tagged `warn`, `critical` and `surge`; at full
//! capacity both levels are raised. A level trips at or above its share and clears below
//! its share minus `HYSTERESIS` of capacity; a surge clears below `SURGE_CLEAR` of its
//! limit. The levels carry their own severity (warning, critical); the surge carries
//! the rule's. Occupancy itself (entries − exits since the daily reset) is computed by
//! `ingest` and handed in: this module only judges it.

use super::AlarmChange;
use super::alarm::{Labels, Slot, Step, Verdict, num};
use crate::reading::Ms;
use crate::site::Severity;

/// Share of capacity between a level and where it clears.
pub(crate) const HYSTERESIS: f64 = 0.05;
/// A surge clears below this share of `surge_per_min`.
pub(crate) const SURGE_CLEAR: f64 = 0.9;

#[derive(Debug, Clone)]
pub(crate) struct Capacity {
    pub(crate) zone: String,
    warn: f64,
    critical: f64,
    surge: Option<f64>,
    warn_slot: Slot,
    critical_slot: Slot,
    surge_slot: Slot,
}

/// One zone reading handed to `Capacity::zone`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZoneReading {
    pub(crate) ts: Ms,
    pub(crate) occupancy: f64,
    pub(crate) capacity: u64,
    pub(crate) entries_per_min: f64,
}

impl Capacity {
    pub(crate) fn new(zone: &str, warn: f64, critical: f64, surge: Option<f64>) -> Self {
        Capacity {
            zone: zone.to_owned(),
            warn,
            critical,
            surge,
            warn_slot: Slot::Idle,
            critical_slot: Slot::Idle,
            surge_slot: Slot::Idle,
        }
    }

    pub(crate) fn slots(&self) -> Vec<(&'static str, &Slot)> {
        vec![
            ("warn", &self.warn_slot),
            ("critical", &self.critical_slot),
            ("surge", &self.surge_slot),
        ]
    }

    pub(crate) fn slot_mut(&mut self, tag: &str) -> Option<&mut Slot> {
        match tag {
            "warn" => Some(&mut self.warn_slot),
            "critical" => Some(&mut self.critical_slot),
            "surge" => Some(&mut self.surge_slot),
            _ => None,
        }
    }

    /// Judges one zone reading; `l` names the rule (its device is the zone).
    pub(crate) fn zone(&mut self, l: &Labels<'_>, r: ZoneReading, out: &mut Vec<AlarmChange>) {
        if r.capacity > 0 {
            let levels = [
                (
                    &mut self.warn_slot,
                    self.warn,
                    "warn",
                    Severity::Warning,
                    "warning",
                ),
                (
                    &mut self.critical_slot,
                    self.critical,
                    "critical",
                    Severity::Critical,
                    "critical",
                ),
            ];
            for (slot, share, tag, severity, word) in levels {
                let l = Labels {
                    tag,
                    severity,
                    point: Some("occupancy"),
                    ..*l
                };
                level(slot, share, word, &l, r, out);
            }
        }
        if let Some(surge) = self.surge {
            let l = Labels {
                tag: "surge",
                point: Some("entries_per_min"),
                ..*l
            };
            let epm = r.entries_per_min;
            let verdict = if epm > surge {
                Verdict::Trip {
                    value: epm,
                    limit: surge,
                }
            } else if epm < surge * SURGE_CLEAR {
                Verdict::Clear
            } else {
                Verdict::Band
            };
            match self.surge_slot.judge(verdict, r.ts, 0) {
                Step::Stay => {}
                Step::Raise { value, limit } => {
                    let msg = format!(
                        "{} entries {}/min above {}/min",
                        l.device,
                        num(value),
                        num(limit)
                    );
                    self.surge_slot.raise(l.alarm(value, limit, msg, r.ts), out);
                }
                Step::Clear => {
                    let msg = format!("{} entries {}/min back to normal", l.device, num(epm));
                    self.surge_slot.clear(epm, msg, r.ts, out);
                }
            }
        }
    }
}

fn level(
    slot: &mut Slot,
    share: f64,
    word: &str,
    l: &Labels<'_>,
    r: ZoneReading,
    out: &mut Vec<AlarmChange>,
) {
    let cap = r.capacity as f64;
    let occ = r.occupancy;
    let verdict = if occ >= share * cap {
        Verdict::Trip {
            value: occ,
            limit: share * cap,
        }
    } else if occ < (share - HYSTERESIS) * cap {
        Verdict::Clear
    } else {
        Verdict::Band
    };
    match slot.judge(verdict, r.ts, 0) {
        Step::Stay => {}
        Step::Raise { value, limit } => {
            let msg = format!(
                "{} occupancy {} at {}% of capacity {} ({word} level {}%)",
                l.device,
                num(value),
                num(value / cap * 100.0),
                r.capacity,
                num(share * 100.0)
            );
            slot.raise(l.alarm(value, limit, msg, r.ts), out);
        }
        Step::Clear => {
            let msg = format!(
                "{} occupancy {} back below {}% of capacity {}",
                l.device,
                num(occ),
                num((share - HYSTERESIS) * 100.0),
                r.capacity
            );
            slot.clear(occ, msg, r.ts, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlarmState;

    const L: Labels<'static> = Labels {
        rule: "crowding",
        severity: Severity::Warning,
        device: "north-entrance",
        point: None,
        tag: "",
    };

    /// Feeds (occupancy, entries per minute) at ts 0, 1, 2… into a zone of capacity 1000
    /// (warn 80 %, critical 100 %, surge 100/min) and returns (ts, state, tag, severity).
    fn check(script: &[(f64, f64)], expected: &[(Ms, AlarmState, &str, Severity)]) {
        let mut c = Capacity::new("north-entrance", 0.8, 1.0, Some(100.0));
        let mut out = Vec::new();
        for (i, &(occupancy, entries_per_min)) in script.iter().enumerate() {
            let r = ZoneReading {
                ts: i as Ms,
                occupancy,
                capacity: 1000,
                entries_per_min,
            };
            c.zone(&L, r, &mut out);
        }
        let got: Vec<_> = out
            .iter()
            .map(|c| {
                let tag = c.alarm.id.split(':').nth(3).unwrap_or("");
                (c.ts, c.state, tag, c.alarm.severity)
            })
            .collect();
        assert_eq!(got, expected);
    }

    use AlarmState::{Cleared as C, Raised as R};
    use Severity::{Critical, Warning};

    #[test]
    fn capacity_levels_escalate_and_clear_with_hysteresis() {
        check(&[(500.0, 0.0), (799.0, 0.0)], &[]);
        // Warn at 800, hovering just below does not clear; below 750 does.
        check(
            &[
                (800.0, 0.0),
                (790.0, 0.0),
                (801.0, 0.0),
                (760.0, 0.0),
                (749.0, 0.0),
            ],
            &[(0, R, "warn", Warning), (4, C, "warn", Warning)],
        );
        // Critical at 1000 on top of warn; each clears at its own level.
        check(
            &[
                (850.0, 0.0),
                (1000.0, 0.0),
                (960.0, 0.0),
                (940.0, 0.0),
                (700.0, 0.0),
            ],
            &[
                (0, R, "warn", Warning),
                (1, R, "critical", Critical),
                (3, C, "critical", Critical),
                (4, C, "warn", Warning),
            ],
        );
    }

    #[test]
    fn flow_surge_raises_above_the_limit_and_clears_below_ninety_percent() {
        check(
            &[
                (0.0, 100.0),
                (0.0, 130.0),
                (0.0, 95.0),
                (0.0, 120.0),
                (0.0, 80.0),
            ],
            &[(1, R, "surge", Warning), (4, C, "surge", Warning)],
        );
    }

    #[test]
    fn messages_give_occupancy_share_and_level() {
        let mut c = Capacity::new("north-entrance", 0.8, 1.0, None);
        let mut out = Vec::new();
        for (ts, occupancy) in [(0, 4750.0), (1, 3000.0)] {
            let r = ZoneReading {
                ts,
                occupancy,
                capacity: 5000,
                entries_per_min: 0.0,
            };
            c.zone(&L, r, &mut out);
        }
        assert_eq!(
            out[0].alarm.message,
            "north-entrance occupancy 4750 at 95% of capacity 5000 (warning level 80%)"
        );
        assert_eq!(out[0].alarm.id, "crowding:north-entrance:occupancy:warn:0");
        assert_eq!(out[0].alarm.limit, 4000.0);
        assert_eq!(
            out[1].alarm.message,
            "north-entrance occupancy 3000 back below 75% of capacity 5000"
        );
    }

    #[test]
    fn a_zone_without_capacity_judges_only_the_surge() {
        let mut c = Capacity::new("bridge", 0.8, 1.0, None);
        let mut out = Vec::new();
        let r = ZoneReading {
            ts: 0,
            occupancy: 10.0,
            capacity: 0,
            entries_per_min: 0.0,
        };
        c.zone(&L, r, &mut out);
        assert!(out.is_empty());
    }
}

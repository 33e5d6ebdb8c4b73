//! What the tracker keeps across a restart or a reload, as JSON: per patrol (by name)
//! the next start, the open round with its taps and the raised alarms; per reader (by
//! device id) where its tap counter stood. Checkpoints are named by device id, so a
//! reordered or edited config keeps what still applies. An alarm whose patrol or
//! checkpoint is gone is cleared on the next tick. Local state, not an upstream payload.

use super::round::{Raised, Round, Visit};
use super::{Kind, Tracker};
use crate::reading::Ms;
use crate::rules::Alarm;
use crate::site::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    v: u32,
    patrols: BTreeMap<String, StoredPatrol>,
    /// Device id → the tap counter's last reading.
    taps: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredPatrol {
    next: Option<Ms>,
    round: Option<StoredRound>,
    alarms: Vec<StoredAlarm>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredRound {
    scheduled: Ms,
    started: Option<Ms>,
    visits: Vec<StoredVisit>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredVisit {
    checkpoint: String,
    at: Ms,
    leg_ms: Option<Ms>,
    in_order: bool,
    late: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAlarm {
    kind: String,
    checkpoint: String,
    id: String,
    severity: String,
    value: f64,
    limit: f64,
    message: String,
    raised_at: Ms,
}

fn severity(name: &str) -> Severity {
    match name {
        "info" => Severity::Info,
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    }
}

impl Tracker {
    /// The state, as bytes for `import_state`.
    pub fn export_state(&self) -> Vec<u8> {
        let mut stored = Stored {
            v: VERSION,
            ..Stored::default()
        };
        for t in &self.tracks {
            let ids = &t.route.ids;
            let round = t.round.as_ref().map(|r| StoredRound {
                scheduled: r.scheduled,
                started: r.started,
                visits: (r.visits.iter())
                    .map(|v| StoredVisit {
                        checkpoint: ids[v.checkpoint].clone(),
                        at: v.at,
                        leg_ms: v.leg_ms,
                        in_order: v.in_order,
                        late: v.late,
                    })
                    .collect(),
            });
            let alarms = (t.raised.iter())
                .map(|r| StoredAlarm {
                    kind: r.kind.name().to_string(),
                    checkpoint: ids[r.checkpoint].clone(),
                    id: r.alarm.id.clone(),
                    severity: r.alarm.severity.name().to_string(),
                    value: r.alarm.value,
                    limit: r.alarm.limit,
                    message: r.alarm.message.clone(),
                    raised_at: r.alarm.raised_at,
                })
                .collect();
            let p = StoredPatrol {
                next: t.next,
                round,
                alarms,
            };
            stored.patrols.insert(t.route.def.name.clone(), p);
        }
        for (id, r) in &self.reader_ids {
            if let Some(last) = self.readers[*r].as_ref().and_then(|r| r.last) {
                stored.taps.insert(id.clone(), last);
            }
        }
        // Plain structs of strings and numbers always serialise.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Restores a state from `export_state` (of this site or an earlier config). Empty
    /// input is a fresh state; on error nothing is changed.
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let stored: Stored =
            serde_json::from_slice(bytes).map_err(|e| format!("bad patrol state: {e}"))?;
        if stored.v != VERSION {
            return Err(format!("unsupported patrol state version {}", stored.v));
        }
        for (id, r) in &self.reader_ids {
            if let (Some(last), Some(reader)) = (stored.taps.get(id), self.readers[*r].as_mut()) {
                reader.last = Some(*last);
            }
        }
        for (name, p) in stored.patrols {
            match self.tracks.iter_mut().find(|t| t.route.def.name == name) {
                Some(t) => {
                    let pos = |id: &str| t.route.ids.iter().position(|c| c == id);
                    t.next = p.next;
                    t.round = p.round.map(|r| Round {
                        scheduled: r.scheduled,
                        started: r.started,
                        visits: (r.visits.into_iter())
                            .filter_map(|v| {
                                Some(Visit {
                                    checkpoint: pos(&v.checkpoint)?,
                                    at: v.at,
                                    leg_ms: v.leg_ms,
                                    in_order: v.in_order,
                                    late: v.late,
                                })
                            })
                            .collect(),
                    });
                    for a in p.alarms {
                        let (kind, at) = (Kind::from_name(&a.kind), pos(&a.checkpoint));
                        let alarm = alarm(&name, a);
                        match (kind, at) {
                            (Some(kind), Some(checkpoint)) => t.raised.push(Raised {
                                kind,
                                checkpoint,
                                alarm,
                            }),
                            _ => self.orphans.push(alarm),
                        }
                    }
                }
                None => (self.orphans).extend(p.alarms.into_iter().map(|a| alarm(&name, a))),
            }
        }
        Ok(())
    }
}

fn alarm(patrol: &str, a: StoredAlarm) -> Alarm {
    Alarm {
        id: a.id,
        rule: format!("patrol:{patrol}"),
        device: a.checkpoint,
        point: Some(a.kind),
        severity: severity(&a.severity),
        value: a.value,
        limit: a.limit,
        message: a.message,
        raised_at: a.raised_at,
    }
}

//! Turns closed windows and alarm changes into outbox records (final payload bytes).

use crate::patrol::{RoundOutcome, VisitOutcome};
use crate::reading::Ms;
use crate::rules::{Alarm, AlarmChange};
use crate::site::{Cell, Site};
use crate::store::{Kind, NewRecord};
use crate::summary::DeviceSummary;
use crate::summary::cell::{CellRollup, by_kind};
use crate::summary::zone::ZoneSummary;
use crate::wire::payload::{self, ActiveAlarms, AlarmBody, AlarmEvent, Head};
use crate::wire::topics::Topics;

/// `site.devices[device]`'s window; the site gives each point its unit and labels.
pub(crate) fn summary(
    topics: &Topics,
    site: &std::sync::Arc<Site>,
    device: usize,
    s: DeviceSummary,
    now: Ms,
) -> NewRecord {
    let site = std::sync::Arc::clone(site);
    let topic = topics.summary(&site.devices[device].id);
    NewRecord {
        kind: Kind::Summary,
        topic,
        retain: false,
        created_ms: now,
        build: Box::new(move |seq| {
            let device = &site.devices[device];
            payload::to_bytes(&payload::Summary {
                head: Head::new(seq, now),
                device: &device.id,
                start: crate::clock::rfc3339(s.start),
                end: crate::clock::rfc3339(s.end),
                points: payload::SummaryPoints(&s.points, &device.points),
                quality: payload::Quality {
                    polls: s.quality.polls,
                    errors: s.quality.errors,
                    last_error: s.quality.last_error.as_deref(),
                },
            })
        }),
    }
}

pub(crate) fn zone(topics: &Topics, z: ZoneSummary, now: Ms) -> NewRecord {
    NewRecord {
        kind: Kind::Zone,
        topic: topics.zone(&z.zone),
        retain: false,
        created_ms: now,
        build: Box::new(move |seq| {
            payload::to_bytes(&payload::Zone {
                head: Head::new(seq, now),
                zone: &z.zone,
                start: crate::clock::rfc3339(z.start),
                end: crate::clock::rfc3339(z.end),
                entries: z.entries,
                exits: z.exits,
                occupancy: z.occupancy,
                capacity: z.capacity,
                utilisation: z.utilisation.map(|u| (u * 10_000.0).round() / 10_000.0),
            })
        }),
    }
}

/// The cell an alarm stands in, without its device list (moved into a record).
fn cell_of(site: &Site, name: &str) -> Option<Cell> {
    site.cell_for(name).map(|c| Cell {
        devices: Vec::new(),
        ..c.clone()
    })
}

pub(crate) fn alarm(topics: &Topics, site: &Site, change: AlarmChange) -> NewRecord {
    let cell = cell_of(site, &change.alarm.device);
    NewRecord {
        kind: Kind::Alarm,
        topic: topics.alarm(&change.alarm.device),
        retain: false,
        created_ms: change.ts,
        build: Box::new(move |seq| {
            payload::to_bytes(&AlarmEvent {
                head: Head::new(seq, change.ts),
                state: change.state.name(),
                alarm: AlarmBody::in_cell(&change.alarm, cell.as_ref()),
            })
        }),
    }
}

/// The retained snapshot of every raised alarm. State, not history: the outbox keeps
/// only the latest one pending (each replaces the one before), in the table replayed
/// before the backlog, so the platform's view of what is active is right first.
pub(crate) fn active(topics: &Topics, site: &Site, active: Vec<Alarm>, now: Ms) -> NewRecord {
    let cells: Vec<Option<Cell>> = active.iter().map(|a| cell_of(site, &a.device)).collect();
    NewRecord {
        kind: Kind::Snapshot,
        topic: topics.alarms_active(),
        retain: true,
        created_ms: now,
        build: Box::new(move |seq| {
            payload::to_bytes(&ActiveAlarms {
                head: Head::new(seq, now),
                alarms: (active.iter().zip(&cells))
                    .map(|(a, c)| AlarmBody::in_cell(a, c.as_ref()))
                    .collect(),
            })
        }),
    }
}

/// `P/patrol/{name}`: one finished round, each checkpoint with its cell.
pub(crate) fn patrol(topics: &Topics, site: &Site, r: RoundOutcome, now: Ms) -> NewRecord {
    let cells: Vec<Option<String>> = (r.visits.iter())
        .map(|v| site.cell_for(&v.checkpoint).map(|c| c.name.clone()))
        .collect();
    let route: Vec<String> = (site.patrols.iter())
        .find(|p| p.name == r.patrol)
        .map(|p| {
            p.checkpoints
                .iter()
                .map(|&d| site.devices[d].id.clone())
                .collect()
        })
        .unwrap_or_default();
    NewRecord {
        kind: Kind::Summary,
        topic: topics.patrol(&r.patrol),
        retain: false,
        created_ms: now,
        build: Box::new(move |seq| {
            let rfc = crate::clock::rfc3339;
            let tapped = |keep: fn(&VisitOutcome) -> bool| -> Vec<&str> {
                (r.visits.iter().filter(|v| keep(v)))
                    .map(|v| v.checkpoint.as_str())
                    .collect()
            };
            payload::to_bytes(&payload::PatrolRound {
                head: Head::new(seq, now),
                patrol: &r.patrol,
                status: r.status.name(),
                route: &route,
                scheduled: rfc(r.scheduled),
                start: r.start.map(rfc),
                end: rfc(r.end),
                checkpoints: (r.visits.iter().zip(&cells))
                    .map(|(v, cell)| payload::PatrolVisit {
                        checkpoint: &v.checkpoint,
                        at: rfc(v.at),
                        leg_s: v.leg_ms.map(|l| l as f64 / 1000.0),
                        in_order: v.in_order,
                        late: v.late,
                        cell: cell.as_deref(),
                    })
                    .collect(),
                skipped: &r.skipped,
                out_of_order: tapped(|v| !v.in_order),
                late_legs: tapped(|v| v.late),
            })
        }),
    }
}

/// The device ids of `site`, for labelling persisted per-device state.
pub(crate) fn device_ids(site: &Site) -> impl Iterator<Item = &str> {
    site.devices.iter().map(|d| d.id.as_str())
}

/// The retained `P/cell/{cell}` rollups of one window and the `P/cells` count per kind.
pub(crate) fn cells(
    topics: &Topics,
    site: &Site,
    rollups: Vec<CellRollup>,
    (start, end): (Ms, Ms),
    now: Ms,
) -> Vec<NewRecord> {
    let mut recs = Vec::with_capacity(rollups.len() + 1);
    let kinds: Vec<(String, [usize; 4])> = (by_kind(site, &rollups).into_iter())
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    for r in rollups {
        let Some(cell) = site.cells.get(r.cell) else {
            continue;
        };
        let cell = Cell {
            devices: Vec::new(),
            ..cell.clone()
        };
        let total = r.ok + r.failing;
        recs.push(NewRecord {
            kind: Kind::Zone,
            topic: topics.cell(&cell.name),
            retain: true,
            created_ms: now,
            build: Box::new(move |seq| {
                payload::to_bytes(&payload::CellRollup {
                    head: Head::new(seq, now),
                    cell: &cell.name,
                    kind: &cell.kind,
                    owner: cell.owner.as_deref(),
                    key_point: cell.key_point,
                    start: crate::clock::rfc3339(start),
                    end: crate::clock::rfc3339(end),
                    state: r.state.name(),
                    devices: payload::CellDevices {
                        ok: r.ok,
                        failing: r.failing,
                        total,
                    },
                    alarms: payload::BySeverity {
                        info: r.alarms[0],
                        warning: r.alarms[1],
                        critical: r.alarms[2],
                    },
                    zones: (r.zones.iter())
                        .map(|(z, occupancy, capacity)| payload::CellZone {
                            zone: z,
                            occupancy: *occupancy,
                            capacity: *capacity,
                        })
                        .collect(),
                })
            }),
        });
    }
    recs.push(cells_by_kind(topics, kinds, (start, end), now));
    recs
}

/// The retained `P/cells` record: how many cells of each kind are in each state.
fn cells_by_kind(
    topics: &Topics,
    kinds: Vec<(String, [usize; 4])>,
    (start, end): (Ms, Ms),
    now: Ms,
) -> NewRecord {
    NewRecord {
        kind: Kind::Zone,
        topic: topics.cells(),
        retain: true,
        created_ms: now,
        build: Box::new(move |seq| {
            payload::to_bytes(&payload::Cells {
                head: Head::new(seq, now),
                start: crate::clock::rfc3339(start),
                end: crate::clock::rfc3339(end),
                kinds: (kinds.iter())
                    .map(|(k, n)| {
                        let counts = payload::StateCounts {
                            ok: n[0],
                            warning: n[1],
                            critical: n[2],
                            blind: n[3],
                        };
                        (k.as_str(), counts)
                    })
                    .collect(),
            })
        }),
    }
}

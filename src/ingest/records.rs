//! Turns closed windows and alarm changes into outbox records (final payload bytes).

use crate::reading::Ms;
use crate::rules::{Alarm, AlarmChange};
use crate::site::Site;
use crate::store::{Kind, NewRecord};
use crate::summary::DeviceSummary;
use crate::summary::zone::ZoneSummary;
use crate::uplink::payload::{self, ActiveAlarms, AlarmBody, AlarmEvent, Head};
use crate::uplink::topics::Topics;

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

pub(crate) fn alarm(topics: &Topics, change: AlarmChange) -> NewRecord {
    NewRecord {
        kind: Kind::Alarm,
        topic: topics.alarm(&change.alarm.device),
        retain: false,
        created_ms: change.ts,
        build: Box::new(move |seq| {
            payload::to_bytes(&AlarmEvent {
                head: Head::new(seq, change.ts),
                state: change.state.name(),
                alarm: AlarmBody::of(&change.alarm),
            })
        }),
    }
}

/// The retained snapshot of every raised alarm. Kept with the alarms, so it is replayed
/// before the backlog and the platform's view of what is active is right first.
pub(crate) fn active(topics: &Topics, active: Vec<Alarm>, now: Ms) -> NewRecord {
    NewRecord {
        kind: Kind::Alarm,
        topic: topics.alarms_active(),
        retain: true,
        created_ms: now,
        build: Box::new(move |seq| {
            payload::to_bytes(&ActiveAlarms {
                head: Head::new(seq, now),
                alarms: active.iter().map(AlarmBody::of).collect(),
            })
        }),
    }
}

/// The device ids of `site`, for labelling persisted per-device state.
pub(crate) fn device_ids(site: &Site) -> impl Iterator<Item = &str> {
    site.devices.iter().map(|d| d.id.as_str())
}

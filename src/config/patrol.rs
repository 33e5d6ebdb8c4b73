//! `[[patrol]]`: a round of tag-reader checkpoints walked on a schedule.
//!
//! `read` takes the keys of one table (each checked on its own: the schedule's spelling,
//! durations, tag ids); `resolve` checks the checkpoints against the devices (each a tag
//! reader with a `tag` point, a Modbus one also with a `taps` counter) and builds the
//! `site::Patrol`. Pure, like the rest of validation.

use std::time::Duration;

use super::error::{ConfigError, Loc};
use super::format::unknown;
use super::read::{Reader, Val};
use super::read::{check, positive};
use super::rule::SEVERITIES;
use crate::patrol::{Schedule, TAG_POINT, TAPS_POINT};
use crate::site::{Device, Patrol, PointKind, PointSource, Severity};

/// One `[[patrol]]` as read.
#[derive(Debug)]
pub(super) struct PatrolFile {
    pub(super) loc: Loc,
    pub(super) name: Val<String>,
    checkpoints: Option<Val<Vec<String>>>,
    schedule: Option<Schedule>,
    leg: Option<Duration>,
    round: Option<Duration>,
    tags: Option<Vec<u32>>,
    severity: Severity,
}

/// `schedule` as written: `"every 2h from 20:00 to 06:00"` or a list of start times.
enum ScheduleText {
    Every(String),
    At(Vec<String>),
}

impl<'de> serde::Deserialize<'de> for ScheduleText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ScheduleText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    r#""every 2h from 20:00 to 06:00" or a list of start times ["20:00", "23:00"]"#,
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScheduleText, E> {
                Ok(ScheduleText::Every(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScheduleText, A::Error> {
                let mut times = Vec::new();
                while let Some(t) = seq.next_element::<String>()? {
                    times.push(t);
                }
                Ok(ScheduleText::At(times))
            }
        }
        d.deserialize_any(Visitor)
    }
}

pub(super) fn read(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<PatrolFile> {
    let name = r.required("name", errors, Reader::name);
    let checkpoints = r.required("checkpoints", errors, Reader::get::<Vec<String>>);
    let checkpoints = check(checkpoints, errors, |list| {
        if list.is_empty() {
            return Err("a patrol needs at least one checkpoint".to_string());
        }
        match (list.iter().enumerate()).find(|(i, c)| list[..*i].contains(c)) {
            Some((_, c)) => Err(format!("checkpoint `{c}` is on the route twice")),
            None => Ok(list.clone()),
        }
    });
    let schedule = r.required("schedule", errors, Reader::get::<ScheduleText>);
    let schedule = check(schedule, errors, |s| match s {
        ScheduleText::Every(text) => Schedule::every(text),
        ScheduleText::At(times) => Schedule::at(times),
    });
    let leg = positive(r.required("leg", errors, Reader::duration), errors);
    let round = positive(r.required("round", errors, Reader::duration), errors);
    let round = check(round, errors, |&d| match &leg {
        Some(leg) if d < leg.v => Err(format!(
            "a round of {} is shorter than one leg ({})",
            humantime::format_duration(d),
            humantime::format_duration(leg.v)
        )),
        _ => Ok(d),
    });
    let tags = r.required("tags", errors, Reader::get::<Vec<i64>>);
    let tags = check(tags, errors, |list| {
        if list.is_empty() {
            return Err("list the tag ids of the patrol staff".to_string());
        }
        let mut out = Vec::with_capacity(list.len());
        for &t in list {
            out.push(
                u32::try_from(t).map_err(|_| format!("{t} is not a tag id (0..=4294967295)"))?,
            );
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    });
    let severity = r.choice("severity", "severity", &SEVERITIES, errors);
    Some(PatrolFile {
        loc: r.loc().clone(),
        name: name?,
        checkpoints,
        schedule: schedule.map(|s| s.v),
        leg: leg.map(|l| l.v),
        round: round.map(|r| r.v),
        tags: tags.map(|t| t.v),
        severity: severity.map_or(Severity::Warning, |s| s.v),
    })
}

/// Checks each patrol's checkpoints against `devices` (the file's device ids, in file
/// order, with the device when it validated) and builds the patrols.
pub(super) fn resolve(
    patrols: Vec<PatrolFile>,
    devices: &[(&str, Option<&Device>)],
    errors: &mut Vec<ConfigError>,
) -> Vec<Patrol> {
    let ids: Vec<&str> = devices.iter().map(|(id, _)| *id).collect();
    let mut out = Vec::with_capacity(patrols.len());
    for p in patrols {
        let before = errors.len();
        let mut route = Vec::new();
        if let Some(cps) = &p.checkpoints {
            for (i, c) in cps.v.iter().enumerate() {
                let at = cps.loc.with_key(format!("{}.checkpoints[{i}]", p.loc.key));
                match ids.iter().position(|id| id == c) {
                    None => errors.push(at.error(unknown("device", c, &ids))),
                    Some(d) => {
                        if let Some(device) = devices[d].1 {
                            check_reader(device, &at, errors);
                        }
                        route.push(d);
                    }
                }
            }
        }
        let (Some(schedule), Some(leg), Some(round), Some(tags)) =
            (p.schedule, p.leg, p.round, p.tags)
        else {
            continue;
        };
        if errors.len() == before && p.checkpoints.is_some() {
            out.push(Patrol {
                name: p.name.v,
                checkpoints: route,
                schedule,
                leg,
                round,
                tags,
                severity: p.severity,
            });
        }
    }
    out
}

/// A checkpoint must be a tag reader: a `tag` point, and on a Modbus device a `taps`
/// counter beside it (a JSON reader's every message is a tap).
fn check_reader(device: &Device, at: &Loc, errors: &mut Vec<ConfigError>) {
    let Some(tag) = device.points.iter().find(|p| p.name == TAG_POINT) else {
        errors.push(at.error(format!(
            "device `{}` is not a tag reader: its profile `{}` has no `{TAG_POINT}` point (use the tag-reader profile)",
            device.id, device.profile
        )));
        return;
    };
    let modbus = matches!(tag.source, PointSource::Modbus { .. });
    let taps = device.points.iter().find(|p| p.name == TAPS_POINT);
    if modbus && !taps.is_some_and(|t| t.kind == PointKind::Counter) {
        errors.push(at.error(format!(
            "device `{}` reads tags over Modbus but its profile `{}` has no `{TAPS_POINT}` counter point to tell one tap from the next",
            device.id, device.profile
        )));
    }
}

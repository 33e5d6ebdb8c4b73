//! `[[rule]]` tables: their keys and defaults per rule type, and their checks against
//! the devices and zones of the site.
//!
//! `read` takes one table to a `RuleFile`: keys that belong to another rule type are
//! errors, absent parameters take their defaults. Checks against the devices and zones
//! of the site are `validate`'s. Never evaluates a rule; that is `rules`'.

use super::error::{ConfigError, Loc};
use super::format::a;
use super::read::{Reader, Val};
use super::read::{check, positive};
use crate::localtime::{Span, parse_day};
use crate::site::{RuleKind, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleType {
    Threshold,
    Spike,
    Flatline,
    Offline,
    Counter,
    Capacity,
    Event,
}

const RULE_TYPES: [(&str, RuleType); 7] = [
    ("threshold", RuleType::Threshold),
    ("spike", RuleType::Spike),
    ("flatline", RuleType::Flatline),
    ("offline", RuleType::Offline),
    ("counter", RuleType::Counter),
    ("capacity", RuleType::Capacity),
    ("event", RuleType::Event),
];

pub(super) const SEVERITIES: [(&str, Severity); 3] = [
    ("info", Severity::Info),
    ("warning", Severity::Warning),
    ("critical", Severity::Critical),
];

/// Every parameter key of any rule type; each type accepts its own subset.
const PARAMS: [&str; 19] = [
    "above",
    "clear_below",
    "below",
    "clear_above",
    "for",
    "trigger",
    "window",
    "min_samples",
    "threshold",
    "epsilon",
    "failed_polls",
    "max_rate",
    "zone",
    "warn",
    "critical",
    "surge_per_min",
    "event_type",
    "min_confidence",
    "clear_after",
];

fn params(ty: RuleType) -> &'static [&'static str] {
    match ty {
        RuleType::Threshold => &[
            "above",
            "clear_below",
            "below",
            "clear_above",
            "for",
            "trigger",
        ],
        RuleType::Spike => &["window", "min_samples", "threshold"],
        RuleType::Flatline => &["for", "epsilon"],
        RuleType::Offline => &["failed_polls"],
        RuleType::Counter => &["max_rate"],
        RuleType::Capacity => &["zone", "warn", "critical", "surge_per_min"],
        RuleType::Event => &["event_type", "zone", "min_confidence", "clear_after"],
    }
}

pub(super) const DEFAULT_SPIKE_WINDOW: i64 = 30;
pub(super) const DEFAULT_SPIKE_MIN_SAMPLES: i64 = 10;
pub(super) const DEFAULT_SPIKE_THRESHOLD: f64 = 6.0;
pub(super) const DEFAULT_FAILED_POLLS: i64 = 3;
pub(super) const DEFAULT_CAPACITY_WARN: f64 = 0.8;
pub(super) const DEFAULT_CAPACITY_CRITICAL: f64 = 1.0;

/// One `[[rule]]`, read but not yet checked against the site.
#[derive(Debug)]
pub(super) struct RuleFile {
    pub(super) loc: Loc,
    pub(super) name: Val<String>,
    pub(super) ty: Option<RuleType>,
    /// Absent means every device (`*`); capacity rules take no devices.
    pub(super) devices: Option<Val<Vec<String>>>,
    /// `devices` was written (it may have been refused).
    pub(super) devices_given: bool,
    /// Cell name globs and cell kinds narrowing the devices; checked by `validate`.
    pub(super) cells: Option<Val<Vec<String>>>,
    pub(super) cell_kinds: Option<Val<Vec<String>>>,
    /// When the rule judges; calendar names are resolved by `validate`.
    pub(super) active: Option<ActiveFile>,
    pub(super) point: Option<Val<String>>,
    pub(super) trigger: Option<Val<String>>,
    pub(super) zone: Option<Val<String>>,
    /// Where `clear_after` was written: it only means something for camera events,
    /// which the site check makes sure the rule's point is.
    pub(super) clear_after_at: Option<Loc>,
    pub(super) severity: Severity,
    /// None when the type or a parameter was bad.
    pub(super) kind: Option<RuleKind>,
}

/// The time keys of a rule, read: `active`, `days`, `dates`, `except`.
#[derive(Debug)]
pub(super) struct ActiveFile {
    pub(super) spans: Vec<Span>,
    pub(super) days: Vec<u8>,
    /// A `[[calendar]]` name: the rule judges on those dates only.
    pub(super) dates: Option<Val<String>>,
    /// A `[[calendar]]` name: the rule never judges on those dates.
    pub(super) except: Option<Val<String>>,
}

fn active(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<ActiveFile> {
    let spans = check(r.get::<Vec<String>>("active", errors), errors, |list| {
        if list.is_empty() {
            return Err("an empty list is never active; leave `active` out for always".into());
        }
        list.iter()
            .map(|s| Span::parse(s))
            .collect::<Result<Vec<_>, _>>()
    });
    let days = check(r.get::<Vec<String>>("days", errors), errors, |list| {
        if list.is_empty() {
            return Err("an empty list is never active; leave `days` out for every day".into());
        }
        list.iter()
            .map(|d| {
                parse_day(d).ok_or_else(|| {
                    format!("`{d}` is not a day of the week, use mon tue wed thu fri sat sun")
                })
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let dates = r.get::<String>("dates", errors);
    let except = r.get::<String>("except", errors);
    if spans.is_none() && days.is_none() && dates.is_none() && except.is_none() {
        return None;
    }
    Some(ActiveFile {
        spans: spans.map(|s| s.v).unwrap_or_default(),
        days: days.map(|d| d.v).unwrap_or_default(),
        dates,
        except,
    })
}

/// A list of globs (on device ids or cell names) that could each match something.
fn globs(
    r: &mut Reader<'_, '_>,
    key: &'static str,
    (one, none): (&str, &str),
    errors: &mut Vec<ConfigError>,
) -> Option<Val<Vec<String>>> {
    check(
        r.get::<Vec<String>>(key, errors),
        errors,
        |globs| match globs.iter().find(|g| !plausible_glob(g)) {
            Some(g) => Err(format!(
                "`{g}` can never match {one} ([a-z0-9-] with * and ?)"
            )),
            None if globs.is_empty() => Err(format!("an empty list matches no {none}")),
            None => Ok(globs.clone()),
        },
    )
}

/// The rule's `name`: lowercase letters, digits, `-` and `_`.
fn rule_name(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Val<String>> {
    let name = r.required("name", errors, Reader::get::<String>)?;
    let ok = !name.v.is_empty()
        && (name.v.bytes())
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        errors.push(name.loc.error(format!(
            "`{}` is not a valid rule name, use lowercase letters, digits, `-` and `_`",
            name.v
        )));
    }
    Some(name)
}

/// Which devices a rule judges: device and cell globs, cell kinds.
struct Targets {
    devices: Option<Val<Vec<String>>>,
    devices_given: bool,
    cells: Option<Val<Vec<String>>>,
    cell_kinds: Option<Val<Vec<String>>>,
}

fn targets(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Targets {
    let devices = globs(r, "devices", ("a device id", "device"), errors);
    let devices_given = r.given("devices").is_some();
    let cells = globs(r, "cells", ("a cell name", "cell"), errors);
    let cell_kinds = check(r.get::<Vec<String>>("cell_kinds", errors), errors, |k| {
        if k.is_empty() {
            Err("an empty list matches no cell".to_string())
        } else {
            Ok(k.clone())
        }
    });
    Targets {
        devices,
        devices_given,
        cells,
        cell_kinds,
    }
}

pub(super) fn read(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<RuleFile> {
    let name = rule_name(r, errors);
    let ty = r.required("type", errors, |r, k, e| {
        r.choice(k, "rule type", &RULE_TYPES, e)
    });
    let ty = ty.map(|t| t.v);
    let severity = r.choice("severity", "severity", &SEVERITIES, errors);
    let targets = targets(r, errors);
    let active = active(r, errors);
    let mut point = r.get::<String>("point", errors);
    let before = errors.len();
    let params = match ty {
        None => {
            // Unknown type: accept every parameter quietly; the type error says it all.
            for key in PARAMS {
                r.given(key);
            }
            Params::default()
        }
        Some(ty) => {
            fits_type(ty, r, &mut point, &targets, errors);
            let mut params = params_of(ty, r, errors);
            if errors.len() != before {
                params.kind = None;
            }
            params
        }
    };
    Some(RuleFile {
        loc: r.loc().clone(),
        name: name?,
        ty,
        devices: targets.devices,
        devices_given: targets.devices_given,
        cells: targets.cells,
        cell_kinds: targets.cell_kinds,
        active,
        point,
        trigger: params.trigger,
        zone: params.zone,
        clear_after_at: params.clear_after_at,
        severity: severity.map_or(Severity::Warning, |s| s.v),
        kind: params.kind,
    })
}

/// Refuses the keys that do not belong to a rule of type `ty`: other types' parameters,
/// a `point` where none is judged (or none where one is), devices and cells on a
/// capacity rule, which takes its devices from its zone.
fn fits_type(
    ty: RuleType,
    r: &mut Reader<'_, '_>,
    point: &mut Option<Val<String>>,
    targets: &Targets,
    errors: &mut Vec<ConfigError>,
) {
    let type_name = RULE_TYPES
        .iter()
        .find(|(_, t)| *t == ty)
        .map_or("", |(n, _)| *n);
    let others: Vec<&'static str> = PARAMS
        .into_iter()
        .filter(|k| !params(ty).contains(k))
        .collect();
    r.not_here(&others, &format!("to a {type_name} rule"), errors);
    match ty {
        RuleType::Offline | RuleType::Capacity => {
            if let Some(p) = point.take() {
                let message = format!("{} rule judges no point, remove `point`", a(type_name));
                errors.push(p.loc.error(message));
            }
        }
        _ if point.is_none() && r.given("point").is_none() => errors.push(r.missing("point")),
        _ => {}
    }
    if ty != RuleType::Capacity {
        return;
    }
    if let Some(d) = &targets.devices {
        errors.push(
            d.loc
                .error("a capacity rule takes its devices from the zone, remove `devices`"),
        );
    }
    for (key, v) in [
        ("cells", &targets.cells),
        ("cell_kinds", &targets.cell_kinds),
    ] {
        if let Some(v) = v {
            errors.push(v.loc.error(format!(
                "a capacity rule judges its zone, not cells, remove `{key}`"
            )));
        }
    }
}

/// What the parameters of one rule type read to: the rule kind (None when a parameter
/// was bad) and the keys `validate` checks against the site.
#[derive(Debug, Default)]
struct Params {
    kind: Option<RuleKind>,
    zone: Option<Val<String>>,
    trigger: Option<Val<String>>,
    /// Where `clear_after` was written (it means something for camera events only).
    clear_after_at: Option<Loc>,
}

impl From<Option<RuleKind>> for Params {
    fn from(kind: Option<RuleKind>) -> Params {
        Params {
            kind,
            ..Params::default()
        }
    }
}

/// Reads the parameters of one rule type, with their defaults.
fn params_of(ty: RuleType, r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Params {
    match ty {
        RuleType::Threshold => threshold(r, errors),
        RuleType::Spike => spike(r, errors).into(),
        RuleType::Flatline => flatline(r, errors).into(),
        RuleType::Offline => {
            let n = r.int_in("failed_polls", 1..=1_000_000, errors);
            Some(RuleKind::Offline {
                failed_polls: n.map_or(DEFAULT_FAILED_POLLS, |n| n.v) as u32,
            })
            .into()
        }
        RuleType::Counter => {
            let rate = r.required("max_rate", errors, Reader::number);
            let rate = above_zero(rate, errors);
            rate.map(|r| RuleKind::Counter { max_rate: r.v }).into()
        }
        RuleType::Capacity => capacity(r, errors),
        RuleType::Event => event(r, errors),
    }
}

fn value(x: &Option<Val<f64>>) -> Option<f64> {
    x.as_ref().map(|x| x.v)
}

/// A number that must be above 0.
fn above_zero(x: Option<Val<f64>>, errors: &mut Vec<ConfigError>) -> Option<Val<f64>> {
    check(x, errors, |&t| {
        if t > 0.0 {
            Ok(t)
        } else {
            Err(format!("{t} must be above 0"))
        }
    })
}

fn threshold(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Params {
    let above = r.number("above", errors);
    let clear_below = r.number("clear_below", errors);
    let below = r.number("below", errors);
    let clear_above = r.number("clear_above", errors);
    let hold = r.duration("for", errors);
    let trigger = r.get::<String>("trigger", errors);
    if above.is_none() && below.is_none() {
        errors.push(
            r.loc()
                .error("a threshold rule needs `above`, `below` or both"),
        );
    }
    let (a, b) = ("above", "below");
    hysteresis(
        &above,
        &clear_below,
        a,
        "clear_below",
        |l, c| c <= l,
        errors,
    );
    hysteresis(
        &below,
        &clear_above,
        b,
        "clear_above",
        |l, c| c >= l,
        errors,
    );
    if let (Some(a), Some(b)) = (&above, &below)
        && b.v >= a.v
    {
        errors.push(
            b.loc
                .error(format!("below ({}) must be less than above ({})", b.v, a.v)),
        );
    }
    let kind = RuleKind::Threshold {
        clear_below: value(&clear_below).or(value(&above)),
        clear_above: value(&clear_above).or(value(&below)),
        above: value(&above),
        below: value(&below),
        hold: hold.map_or(std::time::Duration::ZERO, |h| h.v),
        trigger: trigger.as_ref().map(|t| t.v.clone()),
    };
    Params {
        kind: Some(kind),
        trigger,
        ..Params::default()
    }
}

fn spike(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<RuleKind> {
    let window = r.int_in("window", 3..=10_000, errors);
    let window = window.map_or(DEFAULT_SPIKE_WINDOW, |w| w.v);
    let min = r.int_in("min_samples", 3..=window, errors);
    let min = min.map_or(DEFAULT_SPIKE_MIN_SAMPLES.min(window), |m| m.v);
    let threshold = above_zero(r.number("threshold", errors), errors);
    Some(RuleKind::Spike {
        window: window as usize,
        min_samples: min as usize,
        threshold: threshold.map_or(DEFAULT_SPIKE_THRESHOLD, |t| t.v),
    })
}

fn flatline(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<RuleKind> {
    let duration = r.required("for", errors, Reader::duration);
    let duration = positive(duration, errors);
    let epsilon = check(r.number("epsilon", errors), errors, |&e| {
        if e >= 0.0 {
            Ok(e)
        } else {
            Err(format!("{e} must not be negative"))
        }
    });
    Some(RuleKind::Flatline {
        duration: duration?.v,
        epsilon: epsilon.map_or(0.0, |e| e.v),
    })
}

fn capacity(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Params {
    let zone = r.required("zone", errors, Reader::get::<String>);
    let share = |x: Option<Val<f64>>, errors: &mut Vec<ConfigError>| {
        check(x, errors, |&s| {
            if s > 0.0 && s <= 10.0 {
                Ok(s)
            } else {
                Err(format!("{s} is not a share of capacity (0.8 = 80 %)"))
            }
        })
    };
    let warn = share(r.number("warn", errors), errors);
    let critical = share(r.number("critical", errors), errors);
    let surge = above_zero(r.number("surge_per_min", errors), errors);
    let w = value(&warn).unwrap_or(DEFAULT_CAPACITY_WARN);
    let c = value(&critical).unwrap_or(DEFAULT_CAPACITY_CRITICAL);
    if w > c {
        let at = warn
            .as_ref()
            .or(critical.as_ref())
            .map_or(r.loc(), |v| &v.loc);
        errors.push(at.error(format!("warn ({w}) must not exceed critical ({c})")));
    }
    let kind = zone.as_ref().map(|z| RuleKind::Capacity {
        zone: z.v.clone(),
        warn: w,
        critical: c,
        surge_per_min: value(&surge),
    });
    Params {
        kind,
        zone,
        ..Params::default()
    }
}

fn event(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Params {
    let event_type = r.get::<String>("event_type", errors).map(|t| t.v);
    let zone = r.get::<String>("zone", errors);
    let min_confidence = check(r.number("min_confidence", errors), errors, |&c| {
        if (0.0..=1.0).contains(&c) {
            Ok(c)
        } else {
            Err(format!("{c} is not a confidence between 0 and 1"))
        }
    });
    let clear_after = r.duration("clear_after", errors);
    let clear_after_at = clear_after.as_ref().map(|d| d.loc.clone());
    let clear_after = positive(clear_after, errors);
    let kind = RuleKind::Event {
        event_type,
        zone: zone.as_ref().map(|z| z.v.clone()),
        min_confidence: value(&min_confidence),
        clear_after: clear_after.map(|d| d.v),
    };
    Params {
        kind: Some(kind),
        zone,
        clear_after_at,
        ..Params::default()
    }
}

/// A clear level must sit on the safe side of its raise level.
fn hysteresis(
    level: &Option<Val<f64>>,
    clear: &Option<Val<f64>>,
    level_key: &str,
    clear_key: &str,
    ok: impl Fn(f64, f64) -> bool,
    errors: &mut Vec<ConfigError>,
) {
    match (level, clear) {
        (None, Some(c)) => errors.push(c.loc.error(format!("`{clear_key}` needs `{level_key}`"))),
        (Some(l), Some(c)) if !ok(l.v, c.v) => errors.push(c.loc.error(format!(
            "{clear_key} ({}) is on the wrong side of {level_key} ({}), the alarm could never clear",
            c.v, l.v
        ))),
        _ => {}
    }
}

fn plausible_glob(g: &str) -> bool {
    !g.is_empty()
        && g.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'*' | b'?')
        })
}

//! Rule definitions → engine instances: device globs expanded, point names resolved to
//! indices, evaluators built with their parameters in milliseconds and engineering
//! units. What a rule may name is `config`'s to refuse; here every name resolves.
//!
//! A device matched by a rule's globs but lacking the rule's point (or trigger) gets no
//! instance, so `devices = ["*"]` with `point = "body_temp"` applies to the kiosks only.

use super::capacity::Capacity;
use super::counter::Counter;
use super::event::{self, Event};
use super::flatline::Flatline;
use super::offline::Offline;
use super::spike::Spike;
use super::threshold::{Limits, Threshold};
use super::{DeviceMeta, Engine, Eval, Instance, RuleMeta, ZoneInst};
use crate::reading::Ms;
use crate::site::{Device, PointSource, RuleDef, RuleKind, Site};
use std::time::Duration;

fn ms(d: Duration) -> Ms {
    Ms::try_from(d.as_millis()).unwrap_or(Ms::MAX)
}

/// The instances of one (non-capacity) rule on one device: (judged point, evaluator).
fn instances(rule: &RuleDef, dev: &Device) -> Vec<(Option<usize>, Eval)> {
    let point = rule.point.as_deref().and_then(|p| dev.point_index(p));
    let on_point = |make: &dyn Fn(usize) -> Eval| -> Vec<(Option<usize>, Eval)> {
        point.map(|p| (Some(p), make(p))).into_iter().collect()
    };
    match &rule.kind {
        RuleKind::Offline { failed_polls } => {
            vec![(None, Eval::Offline(Offline::new(*failed_polls)))]
        }
        RuleKind::Threshold {
            above,
            clear_below,
            below,
            clear_above,
            hold,
            trigger,
        } => {
            // A device without the rule's trigger point gets no instance.
            let trigger = match trigger.as_deref().map(|t| dev.point_index(t)) {
                Some(None) => return Vec::new(),
                Some(found) => found,
                None => None,
            };
            let limits = Limits {
                above: *above,
                clear_below: *clear_below,
                below: *below,
                clear_above: *clear_above,
            };
            on_point(&|p| Eval::Threshold(Threshold::new(p, trigger, limits, ms(*hold))))
        }
        RuleKind::Spike {
            window,
            min_samples,
            threshold,
        } => on_point(&|p| Eval::Spike(Spike::new(p, *window, *min_samples, *threshold))),
        RuleKind::Flatline { duration, epsilon } => {
            on_point(&|p| Eval::Flatline(Flatline::new(p, ms(*duration), *epsilon)))
        }
        RuleKind::Counter { max_rate } => on_point(&|p| {
            let pt = &dev.points[p];
            let modulus = pt.counter_modulus().map(|m| m * pt.scale.abs());
            Eval::Counter(Counter::new(p, *max_rate, modulus))
        }),
        RuleKind::Event { .. } => event_instances(rule, dev, point),
        RuleKind::Capacity { .. } => Vec::new(),
    }
}

/// An event rule's instances: its `point`, or, with only an `event_type`, every camera
/// point filtered on that type; none on a device outside the rule's `zone`.
fn event_instances(
    rule: &RuleDef,
    dev: &Device,
    point: Option<usize>,
) -> Vec<(Option<usize>, Eval)> {
    let RuleKind::Event {
        event_type,
        zone,
        min_confidence,
        clear_after,
    } = &rule.kind
    else {
        return Vec::new();
    };
    if zone.as_ref().is_some_and(|z| dev.zone.as_ref() != Some(z)) {
        return Vec::new();
    }
    let points: Vec<usize> = match (&rule.point, event_type) {
        (Some(_), _) => point.into_iter().collect(),
        (None, Some(ty)) => (dev.points.iter().enumerate())
            .filter(|(_, p)| match &p.source {
                PointSource::Json { filter, .. } => filter.iter().any(|(_, v)| v == ty),
                PointSource::Modbus { .. } => false,
            })
            .map(|(i, _)| i)
            .collect(),
        (None, None) => Vec::new(),
    };
    let mode = |p: usize| match dev.points[p].source {
        PointSource::Json { .. } => event::Mode::Camera {
            min_confidence: *min_confidence,
            quiet_ms: clear_after.map_or(event::QUIET_MS, ms),
        },
        PointSource::Modbus { .. } => event::Mode::Discrete,
    };
    (points.into_iter())
        .map(|p| {
            let eval = Event::new(p, mode(p), event_type.as_deref());
            (Some(p), Eval::Event(eval))
        })
        .collect()
}

fn as_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

pub(super) fn compile(site: &Site) -> Engine {
    let rules = (site.rules.iter())
        .map(|r| RuleMeta {
            name: r.name.clone(),
            severity: r.severity,
            active: r.active.clone(),
        })
        .collect();
    let devices = (site.devices.iter())
        .map(|d| DeviceMeta {
            id: d.id.clone(),
            points: d.points.iter().map(|p| p.name.clone()).collect(),
        })
        .collect();
    let (insts, zones) = instantiate(site);
    let by_device = device_ranges(&insts, site.devices.len());
    let tickers = (insts.iter().enumerate())
        .filter(|(_, i)| matches!(i.eval, Eval::Threshold(_) | Eval::Event(_)))
        .map(|(n, _)| as_u32(n))
        .collect();
    let timed = (insts.iter().enumerate())
        .filter(|(_, i)| i.fresh.is_some())
        .map(|(n, _)| as_u32(n))
        .collect();
    Engine {
        tz: site.gateway.timezone.clone(),
        timed,
        rules,
        devices,
        insts,
        by_device,
        tickers,
        zones,
        orphans: Vec::new(),
    }
}

/// Every rule on every device it applies to, sorted by device (rule order kept within
/// a device); capacity rules become zone instances. A rule with `active` windows keeps
/// a fresh copy of its evaluator to start each window from.
fn instantiate(site: &Site) -> (Vec<Instance>, Vec<ZoneInst>) {
    let mut insts = Vec::new();
    let mut zones = Vec::new();
    for (ri, rule) in site.rules.iter().enumerate() {
        if let RuleKind::Capacity {
            zone,
            warn,
            critical,
            surge_per_min,
        } = &rule.kind
        {
            let cap = Capacity::new(zone, *warn, *critical, *surge_per_min);
            zones.push(ZoneInst {
                rule: as_u32(ri),
                fresh: rule.active.is_some().then(|| Box::new(cap.clone())),
                cap,
                dormant: false,
            });
            continue;
        }
        for (di, dev) in site.devices.iter().enumerate() {
            if !rule.applies_to_device(site, di) {
                continue;
            }
            for (point, eval) in instances(rule, dev) {
                insts.push(Instance {
                    rule: as_u32(ri),
                    device: as_u32(di),
                    point: point.map(as_u32),
                    fresh: rule.active.is_some().then(|| Box::new(eval.clone())),
                    eval,
                    dormant: false,
                });
            }
        }
    }
    // Stable: rule order is kept within a device.
    insts.sort_by_key(|i: &Instance| i.device);
    // Kept for the daemon's life: no growth headroom (a quarter of it was spare).
    insts.shrink_to_fit();
    (insts, zones)
}

/// Each device's instances as a range of the device-sorted `insts`.
fn device_ranges(insts: &[Instance], devices: usize) -> Vec<(u32, u32)> {
    let mut by_device = vec![(0u32, 0u32); devices];
    let mut start = 0;
    for (d, range) in by_device.iter_mut().enumerate() {
        let end = start
            + insts[start..]
                .iter()
                .take_while(|i| i.device as usize == d)
                .count();
        *range = (as_u32(start), as_u32(end));
        start = end;
    }
    by_device
}

#[cfg(test)]
mod tests {
    use crate::site::glob_match;

    #[test]
    fn glob_cases() {
        let cases = [
            ("kiosk-*", "kiosk-1", true),
            ("kiosk-*", "kiosk-", true),
            ("kiosk-*", "kiosk", false),
            ("kiosk-*", "gate-kiosk-1", false),
            ("*", "anything", true),
            ("*", "", true),
            ("gate-n1", "gate-n1", true),
            ("gate-n1", "gate-n10", false),
            ("gate-n?", "gate-n1", true),
            ("gate-n?", "gate-n", false),
            ("gate-n?", "gate-n12", false),
            ("*-n*", "gate-n12", true),
            ("*a*b*c", "xxaxxbxxbc", true),
            ("*a*b*c", "xxaxxbxxbcx", false),
            ("a**b", "ab", true),
            ("", "", true),
            ("", "a", false),
            ("?", "é", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }
}

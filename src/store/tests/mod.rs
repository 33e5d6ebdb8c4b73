//! Tests of the store: the raw ring's format and bounds, the outbox's durability.

mod alarm_class;
mod corruption;
mod diskfull;
mod history;
mod kill9;
mod legacy;
mod outbox_basic;
mod outbox_bounds;
mod outbox_model;
mod powercut;
mod raw_faults;
mod raw_ring;

use crate::reading::Sample;
use crate::site::*;
use std::time::Duration;

/// A site with the given devices, each `(id, point names)`.
pub(super) fn site(devices: &[(&str, &[&str])]) -> Site {
    Site {
        devices: devices
            .iter()
            .map(|(id, points)| Device {
                id: id.to_string(),
                profile: "p".into(),
                connection: 0,
                unit: 1,
                poll: Duration::from_secs(1),
                zone: None,
                max_registers_per_read: 125,
                max_gap: 0,
                points: points.iter().map(|p| point(p)).collect(),
                camera: None,
                live: None,
            })
            .collect(),
        ..Site::bare("test", "gw")
    }
}

fn point(name: &str) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Modbus {
            table: Table::Input,
            address: 0,
            ty: PointType::U16,
            order: ByteOrder::ABCD,
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind: PointKind::Gauge,
        writable: false,
        labels: Vec::new(),
    }
}

/// Samples compared bit for bit (NaN equals NaN, -0.0 differs from 0.0).
pub(super) fn same(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.device == y.device
                && x.ts == y.ts
                && x.error == y.error
                && x.values.len() == y.values.len()
                && x.values
                    .iter()
                    .zip(&y.values)
                    .all(|(u, v)| u.map(f64::to_bits) == v.map(f64::to_bits))
        })
}

pub(super) use crate::sim::rng::Rng;

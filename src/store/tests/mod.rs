//! Tests of the store: the raw ring's format and bounds, the outbox's durability.

mod alarm_class;
mod corruption;
mod diskfull;
mod kill9;
mod outbox_basic;
mod outbox_bounds;
mod outbox_model;
mod powercut;
mod raw_faults;
mod raw_ring;

use crate::reading::Sample;
use crate::site::*;
use std::path::PathBuf;
use std::time::Duration;

/// A site with the given devices, each `(id, point names)`.
pub(super) fn site(devices: &[(&str, &[&str])]) -> Site {
    Site {
        gateway: Gateway {
            site: "test".into(),
            id: "gw".into(),
            data_dir: PathBuf::from("/nonexistent"),
            timezone: Default::default(),
        },
        uplink: Uplink {
            broker: BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1883,
            },
            username: None,
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            topic_prefix: "sw".into(),
            summary_interval: Duration::from_secs(60),
            inflight: 100,
            keep_alive: Duration::from_secs(30),
            commands: Default::default(),
        },
        buffer: Buffer {
            raw_max_bytes: 1 << 20,
            outbox_max_bytes: 1 << 20,
        },
        connections: vec![],
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
            })
            .collect(),
        zones: vec![],
        cells: Vec::new(),
        patrols: Vec::new(),
        rules: vec![],
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

/// A small seeded generator (splitmix64) for workloads and fault injection, so every
/// failure names a seed that reproduces it.
#[derive(Debug, Clone)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

//! `P/inventory` (retained): what the gateway has, from its running configuration.
//!
//! Rendered by the uplink, not stored: it is derived from the configuration alone, which
//! is always at hand, so it is published on every connect (a broker that lost its
//! retained messages gets it back) and after every reload, with a seq reserved like
//! `P/status`'s. A stored copy would add nothing a restart could lose.

use crate::reading::Ms;
use crate::site::Site;
use crate::wire::payload::{
    Head, Inventory, InventoryDevice, InventoryLabel, InventoryLive, InventoryPoint, to_bytes,
};

/// The inventory of `site` as payload bytes.
pub fn render(site: &Site, seq: u64, now: Ms) -> Vec<u8> {
    let devices = (site.devices.iter().enumerate())
        .map(|(i, d)| InventoryDevice {
            id: &d.id,
            profile: &d.profile,
            connection: site.connections[d.connection].kind.type_name(),
            zone: d.zone.as_deref(),
            cell: site.cell_of(i).map(|c| c.name.as_str()),
            live: d.live.map(|l| InventoryLive {
                deadband: l.deadband,
                min_interval_ms: l.min_interval.as_millis() as u64,
                max_interval_ms: l.max_interval.as_millis() as u64,
            }),
            points: (d.points.iter())
                .map(|p| InventoryPoint {
                    name: &p.name,
                    kind: p.kind.name(),
                    unit: p.unit.as_deref(),
                    writable: p.writable,
                    labels: (p.labels.iter())
                        .map(|(code, label)| InventoryLabel { code: *code, label })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    to_bytes(&Inventory {
        head: Head::new(seq, now),
        devices,
    })
}

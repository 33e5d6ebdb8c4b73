//! What an edge node and its devices declare in their BIRTH certificates: every metric
//! with its name, alias and datatype. DATA messages name metrics by these aliases, so
//! the tables here are the one place a name becomes a number.
//!
//! Aliases are unique across the edge node, as the specification asks: node metrics are
//! numbered from 1, the metrics of device `d` (its index in the site) from
//! `(d + 1) << 16`. A reload that changes the devices is followed by a new NBIRTH and
//! DBIRTHs, so the numbering always matches the last birth.

use super::proto::{DataType, Metric, Payload, PropertyKind, PropertySet, PropertyValue};
use crate::site::{PointKind, PointSource, PointType, Site};

/// The node metric a host sets to `true` to ask for a new NBIRTH and DBIRTHs.
pub const REBIRTH: &str = "Node Control/Rebirth";
/// The node metric carrying the birth/death sequence number.
pub const BD_SEQ: &str = "bdSeq";
/// Node metrics carrying one of our own JSON payloads as a string (`sitewarden/{what}`).
pub const JSON_PREFIX: &str = "sitewarden/";

/// One metric as a BIRTH declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub name: String,
    pub alias: u64,
    pub datatype: DataType,
    /// `engUnit`, when the point has a unit.
    pub unit: Option<String>,
}

impl Declared {
    /// In a BIRTH: name, alias, datatype and unit, value `is_null` unless given.
    pub fn birth(&self, ts: u64, value: Option<super::proto::Value>) -> Metric {
        Metric {
            name: Some(self.name.clone()),
            alias: Some(self.alias),
            timestamp: Some(ts),
            datatype: Some(self.datatype.code()),
            is_null: value.is_none().then_some(true),
            properties: self.unit.as_ref().map(|u| PropertySet {
                keys: vec!["engUnit".into()],
                values: vec![PropertyValue {
                    r#type: Some(DataType::String.code()),
                    is_null: None,
                    value: Some(PropertyKind::String(u.clone())),
                }],
            }),
            value,
            ..Metric::default()
        }
    }
}

fn numbered(base: u64, list: Vec<(String, DataType, Option<String>)>) -> Vec<Declared> {
    (list.into_iter().enumerate())
        .map(|(i, (name, datatype, unit))| Declared {
            name,
            alias: base + i as u64 + 1,
            datatype,
            unit,
        })
        .collect()
}

/// The edge node's own metrics: controls, zones, and our JSON payloads by kind.
pub fn node_metrics(site: &Site) -> Vec<Declared> {
    let mut list = vec![
        (BD_SEQ.to_string(), DataType::Int64, None),
        (REBIRTH.to_string(), DataType::Boolean, None),
    ];
    for z in &site.zones {
        for k in ["entries", "exits", "occupancy", "capacity", "utilisation"] {
            list.push((format!("zone/{}/{k}", z.name), DataType::Double, None));
        }
    }
    let mut json = vec![
        // Alarms of what is not a device (a zone's capacity, a patrol), whole.
        "alarm".to_string(),
        "alarms/active".into(),
        "cmd/result".into(),
        "inventory".into(),
        "health".into(),
        "cells".into(),
    ];
    json.extend(site.cells.iter().map(|c| format!("cell/{}", c.name)));
    json.extend(site.patrols.iter().map(|p| format!("patrol/{}", p.name)));
    list.extend(
        json.into_iter()
            .map(|j| (format!("{JSON_PREFIX}{j}"), DataType::String, None)),
    );
    numbered(0, list)
}

/// Device `d`'s metrics: per point (by kind) and the window's quality, then one
/// `alarm/{rule}` and `alarm/{rule}/message` per rule that watches the device.
pub fn device_metrics(site: &Site, d: usize) -> Vec<Declared> {
    let Some(device) = site.devices.get(d) else {
        return Vec::new();
    };
    let mut list = Vec::new();
    for p in &device.points {
        let n = &p.name;
        let unit = p.unit.clone();
        match p.kind {
            PointKind::Gauge => {
                list.push((n.clone(), DataType::Double, unit.clone()));
                for s in ["min", "max", "mean"] {
                    list.push((format!("{n}/{s}"), DataType::Double, unit.clone()));
                }
            }
            PointKind::Counter => {
                list.push((n.clone(), DataType::Double, unit.clone()));
                list.push((format!("{n}/delta"), DataType::Double, unit));
            }
            PointKind::Command if is_bit(&p.source) => {
                list.push((n.clone(), DataType::Boolean, None));
            }
            PointKind::State | PointKind::Command => {
                list.push((n.clone(), DataType::Int64, None));
                list.push((format!("{n}/label"), DataType::String, None));
            }
            PointKind::Event => {
                list.push((n.clone(), DataType::Double, None));
                list.push((format!("{n}/count"), DataType::UInt64, None));
            }
            PointKind::Text => list.push((n.clone(), DataType::String, None)),
        }
    }
    list.push(("quality/polls".into(), DataType::UInt64, None));
    list.push(("quality/errors".into(), DataType::UInt64, None));
    for r in site.rules.iter().filter(|r| r.applies_to_device(site, d)) {
        list.push((format!("alarm/{}", r.name), DataType::Boolean, None));
        list.push((format!("alarm/{}/message", r.name), DataType::String, None));
    }
    numbered((d as u64 + 1) << 16, list)
}

/// A coil (or a bit of a register): a command point a host writes `true` or `false`.
fn is_bit(source: &PointSource) -> bool {
    match source {
        PointSource::Modbus { table, ty, .. } => table.is_bits() || *ty == PointType::Bool,
        PointSource::Json { .. } => false,
    }
}

/// NBIRTH: every node metric, `bdSeq` and `Node Control/Rebirth` (false) with values.
/// Its `seq` is set at send time (0).
pub fn nbirth(site: &Site, bd_seq: u8, ts: u64) -> Payload {
    let metrics = (node_metrics(site).iter())
        .map(|m| {
            let value = match m.name.as_str() {
                BD_SEQ => Some(super::proto::Value::Long(u64::from(bd_seq))),
                REBIRTH => Some(super::proto::Value::Boolean(false)),
                _ => None,
            };
            m.birth(ts, value)
        })
        .collect();
    Payload {
        timestamp: Some(ts),
        metrics,
        ..Payload::default()
    }
}

/// DBIRTH of device `d`: every metric, without values (the next DDATA brings them).
pub fn dbirth(site: &Site, d: usize, ts: u64) -> Payload {
    Payload {
        timestamp: Some(ts),
        metrics: (device_metrics(site, d).iter())
            .map(|m| m.birth(ts, None))
            .collect(),
        ..Payload::default()
    }
}

/// NDEATH: only `bdSeq`, the same as the NBIRTH of the connection it ends; no `seq`.
pub fn ndeath(bd_seq: u8, ts: u64) -> Payload {
    Payload {
        timestamp: Some(ts),
        metrics: vec![Metric {
            name: Some(BD_SEQ.into()),
            datatype: Some(DataType::Int64.code()),
            value: Some(super::proto::Value::Long(u64::from(bd_seq))),
            ..Metric::default()
        }],
        ..Payload::default()
    }
}

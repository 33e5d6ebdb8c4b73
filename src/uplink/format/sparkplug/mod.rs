//! Sparkplug B 3.0: our records as NBIRTH/NDEATH/DBIRTH/DDATA/DDEATH/NDATA on
//! `spBv1.0/{group}/{type}/{edge node}[/{device}]`, and NCMD/DCMD as commands.
//!
//! | ours | Sparkplug |
//! |---|---|
//! | `status` online (each connect, each rebirth) | NBIRTH, `seq` 0, `bdSeq` of the will |
//! | `status` offline, the will | NDEATH with the same `bdSeq` |
//! | announce (connect, reload) | DBIRTH per device (a reload: DDEATH, NBIRTH first) |
//! | `summary/{d}`, `live/{d}` | DDATA of `d` by alias |
//! | `alarm/{d}` | DDATA `alarm/{rule}` (bool), `alarm/{rule}/message` |
//! | `zone/{z}` | NDATA `zone/{z}/{entries…}` |
//! | anything else | NDATA string `sitewarden/{topic}` holding our JSON |
//!
//! Group = the site, edge node = the gateway id. Records render purely (`data.rs`); the
//! one value fixed at send time, `seq`, is set by [`Node::stamp`] as the publish is
//! queued, so the seq order is the order on the wire.

pub mod birth;
pub mod command;
pub mod data;
pub mod proto;

pub use command::{command_topics, incoming};

use super::{Out, Stamp};
use crate::site::Site;
use crate::uplink::command::text::parse_time;
use prost::Message;
use serde_json::Value as Json;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

pub const NAMESPACE: &str = "spBv1.0";

/// The edge node's send-time numbers; shared by the uplink's one task.
#[derive(Debug, Default)]
pub struct Node {
    /// The `seq` of the next stamped message.
    next_seq: AtomicU8,
    /// `bdSeq` of the connection's will (the low byte of the will's durable seq).
    bd_seq: AtomicU8,
    /// Unix ms of the last NBIRTH queued: a record made before it is historical.
    born_at: AtomicI64,
}

impl Node {
    pub fn bd_seq(&self) -> u8 {
        self.bd_seq.load(Ordering::Relaxed)
    }

    /// The payload as it goes out now: with the next `seq` (0 for an NBIRTH).
    pub fn stamp(&self, out: &Out) -> Vec<u8> {
        let seq = match out.stamp {
            Stamp::None => return out.payload.clone(),
            Stamp::Next => self.next_seq.load(Ordering::Relaxed),
            Stamp::Birth => 0,
        };
        match proto::Payload::decode(out.payload.as_slice()) {
            Ok(mut p) => {
                p.seq = Some(u64::from(seq));
                p.encode_to_vec()
            }
            Err(_) => out.payload.clone(),
        }
    }

    /// `out` was queued: the next `seq` is one more (255 wraps to 0).
    pub fn sent(&self, out: &Out) {
        match out.stamp {
            Stamp::None => {}
            Stamp::Next => {
                let next = self.next_seq.load(Ordering::Relaxed).wrapping_add(1);
                self.next_seq.store(next, Ordering::Relaxed);
            }
            Stamp::Birth => {
                self.next_seq.store(1, Ordering::Relaxed);
                self.born_at
                    .store(crate::clock::now_ms(), Ordering::Relaxed);
            }
        }
    }

    /// Whether a record made at `made` (Unix ms) reaches the host after the fact: made
    /// before the current NBIRTH (held while the broker or the primary host was away).
    fn historical(&self, made: i64) -> bool {
        made < self.born_at.load(Ordering::Relaxed)
    }
}

/// `spBv1.0/{group}/{kind}/{node}`.
pub fn node_topic(site: &Site, kind: &str) -> String {
    let g = &site.gateway;
    format!("{NAMESPACE}/{}/{kind}/{}", g.site, g.id)
}

/// `spBv1.0/{group}/{kind}/{node}/{device}`.
pub fn device_topic(site: &Site, kind: &str, device: &str) -> String {
    format!("{}/{device}", node_topic(site, kind))
}

fn out(topic: String, p: &proto::Payload, stamp: Stamp) -> Out {
    Out {
        topic,
        payload: p.encode_to_vec(),
        // Sparkplug keeps no state in the broker but the host's STATE.
        retain: false,
        stamp,
    }
}

/// Unix ms of one of our RFC 3339 fields (0 when absent).
fn ms(v: &Json, key: &str) -> u64 {
    (v[key].as_str())
        .and_then(|s| parse_time(s).ok())
        .map_or(0, |ms| u64::try_from(ms).unwrap_or(0))
}

/// Our record `rest` (the topic after `P/`) with its bytes, as Sparkplug. A DATA of a
/// record made before the current NBIRTH has every metric `is_historical`: with `seq`,
/// the one thing in it fixed at send time.
pub fn outbound(site: &Site, node: &Node, rest: &str, payload: &[u8]) -> Out {
    let mut out = render(site, node, rest, payload);
    let made = serde_json::from_slice::<Json>(payload)
        .ok()
        .and_then(|v| v["ts"].as_str().and_then(|s| parse_time(s).ok()));
    let data = out.topic.contains("/DDATA/") || out.topic.contains("/NDATA/");
    if data
        && made.is_some_and(|m| node.historical(m))
        && let Ok(mut p) = proto::Payload::decode(out.payload.as_slice())
    {
        for m in &mut p.metrics {
            m.is_historical = Some(true);
        }
        out.payload = p.encode_to_vec();
    }
    out
}

fn render(site: &Site, node: &Node, rest: &str, payload: &[u8]) -> Out {
    let v: Json = serde_json::from_slice(payload).unwrap_or(Json::Null);
    let parts: Vec<&str> = rest.split('/').collect();
    let ndata = |p: proto::Payload| out(node_topic(site, "NDATA"), &p, Stamp::Next);
    match parts.as_slice() {
        ["status"] if v["state"] == "online" => out(
            node_topic(site, "NBIRTH"),
            &birth::nbirth(site, node.bd_seq(), ms(&v, "ts")),
            Stamp::Birth,
        ),
        ["status"] => death(site, node.bd_seq(), ms(&v, "ts")),
        [kind @ ("summary" | "live" | "alarm"), d] => match site.device_index(d) {
            Some(i) => {
                let table = birth::device_metrics(site, i);
                let p = match *kind {
                    "summary" => data::summary(&table, &v, ms(&v, "end")),
                    "live" => data::live(&table, &v, ms(&v, "read_at")),
                    _ => data::alarm(&table, &v, ms(&v, "ts")),
                };
                out(device_topic(site, "DDATA", d), &p, Stamp::Next)
            }
            // A zone's or a patrol's alarm, whole; a record of a device the site no
            // longer has goes out all the same (for its acknowledgement), without the
            // metrics no birth declared.
            None => ndata(data::json(
                &birth::node_metrics(site),
                kind,
                payload,
                ms(&v, "ts"),
            )),
        },
        ["zone", z] => ndata(data::zone(&birth::node_metrics(site), z, &v, ms(&v, "end"))),
        _ => ndata(data::json(
            &birth::node_metrics(site),
            rest,
            payload,
            ms(&v, "ts"),
        )),
    }
}

/// NDEATH with `bd_seq`.
pub fn death(site: &Site, bd_seq: u8, ts: u64) -> Out {
    out(
        node_topic(site, "NDEATH"),
        &birth::ndeath(bd_seq, ts),
        Stamp::None,
    )
}

/// The will of a connection whose will reserved the durable `will_seq`: an NDEATH
/// whose `bdSeq` (its low byte) the connection's NBIRTH will carry too.
pub fn will(site: &Site, node: &Node, will_seq: u64, ts: u64) -> Out {
    let bd = (will_seq % 256) as u8;
    node.bd_seq.store(bd, Ordering::Relaxed);
    death(site, bd, ts)
}

/// On connect (`before` None): a DBIRTH per device (the NBIRTH is the `online` status,
/// sent first). After a reload: a DDEATH per device gone, a new NBIRTH (the node's
/// metrics may have changed) and every DBIRTH.
pub fn announce(site: &Site, node: &Node, before: Option<&Site>, ts: u64) -> Vec<Out> {
    let mut outs = Vec::new();
    if let Some(old) = before {
        let gone = (old.devices.iter()).filter(|d| site.device_index(&d.id).is_none());
        for d in gone {
            let p = proto::Payload {
                timestamp: Some(ts),
                ..proto::Payload::default()
            };
            outs.push(out(device_topic(site, "DDEATH", &d.id), &p, Stamp::Next));
        }
        let nbirth = birth::nbirth(site, node.bd_seq(), ts);
        outs.push(out(node_topic(site, "NBIRTH"), &nbirth, Stamp::Birth));
    }
    for (i, d) in site.devices.iter().enumerate() {
        let p = birth::dbirth(site, i, ts);
        outs.push(out(device_topic(site, "DBIRTH", &d.id), &p, Stamp::Next));
    }
    outs
}

#[cfg(test)]
mod tests;

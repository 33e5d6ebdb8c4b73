//! NCMD and DCMD from a Sparkplug host.
//!
//! NCMD `Node Control/Rebirth` = true asks for a new NBIRTH and DBIRTHs. Each metric of a
//! DCMD is one write, handed to our command path as a `P/cmd` payload, so it meets the
//! same checks and refusals as any command (a point that is not writable, a value of
//! the wrong type, the rate limit, a repeated id). Sparkplug commands carry no id and no
//! expiry: the id is `sp:{device}:{point}:{payload timestamp}` (a redelivery of the same
//! DCMD is then a duplicate) and the command expires `EXPIRY` after its timestamp. A
//! DCMD without a timestamp gets an empty `expires`, which the command path refuses.

use super::birth::{self, REBIRTH};
use super::proto::{DataType, Metric, Payload, Value};
use super::{NAMESPACE, node_topic};
use crate::site::Site;
use crate::uplink::format::Inbound;
use prost::Message;
use serde_json::{Value as Json, json};

/// How long after its timestamp a DCMD may still be carried out.
pub const EXPIRY_MS: u64 = 60_000;

/// The topics a Sparkplug edge node listens on: its NCMD, its devices' DCMD and the
/// primary host's STATE.
pub fn command_topics(site: &Site) -> Vec<String> {
    let mut topics = vec![
        node_topic(site, "NCMD"),
        format!("{}/+", node_topic(site, "DCMD")),
    ];
    topics.extend(state_topic(site));
    topics
}

/// `spBv1.0/STATE/{primary host}`, when one is configured.
pub fn state_topic(site: &Site) -> Option<String> {
    (site.uplink.primary_host.as_ref()).map(|h| format!("{NAMESPACE}/STATE/{h}"))
}

/// A STATE payload (Sparkplug 3.0: JSON `{"online": bool, "timestamp": ms}`; 2.2 hosts
/// send the text `ONLINE`): whether the host is online; anything else counts as offline.
fn host_online(payload: &[u8]) -> bool {
    payload == b"ONLINE"
        || serde_json::from_slice::<Json>(payload).is_ok_and(|v| v["online"] == true)
}

/// A message on one of `command_topics` as what it asks of us.
pub fn incoming(site: &Site, topic: &str, payload: &[u8]) -> Vec<Inbound> {
    if state_topic(site).as_deref() == Some(topic) {
        return vec![Inbound::HostOnline(host_online(payload))];
    }
    let dcmd = format!("{}/", node_topic(site, "DCMD"));
    let device = topic.strip_prefix(&dcmd);
    let ncmd_topic = topic == node_topic(site, "NCMD");
    if !ncmd_topic && device.is_none() {
        return Vec::new();
    }
    let Ok(p) = Payload::decode(payload) else {
        return vec![Inbound::Unreadable(
            "a Sparkplug command that is no Sparkplug B payload".into(),
        )];
    };
    match device {
        None => ncmd(site, &p),
        Some(device) if topic.starts_with(NAMESPACE) => dcmd_writes(site, device, &p),
        Some(_) => Vec::new(),
    }
}

fn ncmd(site: &Site, p: &Payload) -> Vec<Inbound> {
    let table = birth::node_metrics(site);
    let rebirth = p.metrics.iter().any(|m| {
        let named = m.name.as_deref() == Some(REBIRTH)
            || (m.alias).is_some_and(|a| table.iter().any(|d| d.alias == a && d.name == REBIRTH));
        named && m.value == Some(Value::Boolean(true))
    });
    if rebirth {
        vec![Inbound::Rebirth]
    } else {
        Vec::new()
    }
}

/// Each metric of a DCMD to `device` as a `P/cmd` payload.
fn dcmd_writes(site: &Site, device: &str, p: &Payload) -> Vec<Inbound> {
    let table = (site.device_index(device))
        .map(|d| birth::device_metrics(site, d))
        .unwrap_or_default();
    let ts = p.timestamp;
    let expires = ts.map_or(String::new(), |t| {
        crate::clock::rfc3339(i64::try_from(t + EXPIRY_MS).unwrap_or(i64::MAX))
    });
    (p.metrics.iter())
        .map(|m| {
            let point = m.name.clone().unwrap_or_else(|| {
                (table.iter().find(|d| Some(d.alias) == m.alias))
                    .map_or(String::new(), |d| d.name.clone())
            });
            let id = format!("sp:{device}:{point}:{}", ts.unwrap_or(0));
            let cmd = json!({
                "id": id, "device": device, "point": point,
                "value": value(m), "expires": expires,
            });
            Inbound::Command(serde_json::to_vec(&cmd).unwrap_or_default())
        })
        .collect()
}

/// A metric's value as JSON, read by its datatype (signed types are two's complement).
fn value(m: &Metric) -> Json {
    let dt = m.datatype.and_then(|d| DataType::try_from(d as i32).ok());
    match (&m.value, dt) {
        (Some(Value::Int(i)), Some(DataType::Int8 | DataType::Int16 | DataType::Int32)) => {
            json!(*i as i32)
        }
        (Some(Value::Int(i)), _) => json!(i),
        (Some(Value::Long(l)), Some(DataType::Int64)) => json!(*l as i64),
        (Some(Value::Long(l)), _) => json!(l),
        (Some(Value::Float(f)), _) => json!(f),
        (Some(Value::Double(f)), _) => json!(f),
        (Some(Value::Boolean(b)), _) => json!(b),
        (Some(Value::String(s)), _) => json!(s),
        (Some(Value::Bytes(_)) | None, _) => Json::Null,
    }
}

//! A raw `P/cmd` payload → a checked `Command`, or a `Refusal` with a reason word.
//!
//! Checks, in order: size, JSON shape, id, signature (when a key is configured), expiry
//! (RFC 3339 with a zone, in the future, within `max_expiry`), target (one device, or
//! every gate of a zone), writable point and value type. Every value quoted in an error
//! is escaped (`text::shown`). Pure: `now` is a parameter.

use super::sign::{self, Signed};
use super::text::{bad_id, escaped, parse_time, shown};
use crate::reading::Ms;
use crate::site::{CommandPolicy, PointSource, Site, Table};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Commands larger than this are refused unread.
pub const MAX_COMMAND_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    id: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    point: String,
    #[serde(borrow)]
    value: &'a RawValue,
    expires: String,
    /// When the platform signed the command (part of the signed text).
    #[serde(default)]
    ts: Option<String>,
    /// Hex HMAC-SHA256 of the canonical command (`sign.rs`).
    #[serde(default)]
    sig: Option<String>,
}

/// One write of a checked command.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Index into `Site::devices`.
    pub device: usize,
    /// Index into the device's points.
    pub point: usize,
}

/// A checked command, ready for the devices' connection tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: String,
    /// Set for a zone command.
    pub zone: Option<String>,
    pub point: String,
    /// One for a device command; every gate of the zone that has the point otherwise.
    pub gates: Vec<Gate>,
    /// Engineering value (1/0 for a coil).
    pub value: f64,
    pub expires_ms: Ms,
}

/// Why a command was refused, as the platform reads it in `P/cmd/result`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The command's id when it could be read (escaped if it is not a valid id).
    pub id: String,
    /// One word: `bad_command`, `bad_id`, `bad_signature`, `bad_expires`, `expired`,
    /// `expires_too_far`, `unknown_target`, `not_writable`, `bad_value`, and (decided
    /// outside `parse`) `retained`, `rate_limited`, `duplicate`, `busy`.
    pub reason: &'static str,
    pub error: String,
}

/// What `parse` checks against besides the site.
pub struct Checks<'a> {
    pub policy: &'a CommandPolicy,
    /// The gateway's topic prefix `P` (signed).
    pub prefix: &'a str,
    /// The HMAC key, when commands must be signed.
    pub key: Option<&'a [u8]>,
}

fn refuse(id: &str, reason: &'static str, error: String) -> Refusal {
    Refusal {
        id: answer_id(id),
        reason,
        error,
    }
}

/// The id to answer with: itself when valid, escaped otherwise.
pub fn answer_id(id: &str) -> String {
    if id.is_empty() || bad_id(id).is_none() {
        id.to_string()
    } else {
        shown(id)
    }
}

/// The `id` of a payload that may be anything, for answering a command refused before
/// it was parsed (retained, rate-limited, malformed).
pub fn id_of(bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    if bytes.len() > MAX_COMMAND_BYTES {
        return String::new();
    }
    serde_json::from_slice::<IdOnly>(bytes)
        .ok()
        .and_then(|v| v.id)
        .map(|id| answer_id(&id))
        .unwrap_or_default()
}

/// Checks a raw `P/cmd` payload against the site at `now`.
pub fn parse(site: &Site, checks: &Checks<'_>, bytes: &[u8], now: Ms) -> Result<Command, Refusal> {
    if bytes.len() > MAX_COMMAND_BYTES {
        let e = format!(
            "command of {} bytes exceeds {MAX_COMMAND_BYTES}",
            bytes.len()
        );
        return Err(refuse("", "bad_command", e));
    }
    let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let e = format!("bad command: {}", escaped(&e.to_string()));
        Refusal {
            id: id_of(bytes),
            reason: "bad_command",
            error: e,
        }
    })?;
    let id = wire.id.as_str();
    if let Some(e) = bad_id(id) {
        return Err(refuse(id, "bad_id", e));
    }
    let target = match (&wire.device, &wire.zone) {
        (Some(d), None) => format!("device:{d}"),
        (None, Some(z)) => format!("zone:{z}"),
        _ => {
            let e = "a command names exactly one of `device` and `zone`".to_string();
            return Err(refuse(id, "bad_command", e));
        }
    };
    if let Some(key) = checks.key {
        check_signature(key, checks, &wire, &target, now)?;
    }
    let expires_ms = parse_time(&wire.expires).map_err(|e| refuse(id, "bad_expires", e))?;
    if expires_ms <= now {
        let e = format!("expired at {}", shown(&wire.expires));
        return Err(refuse(id, "expired", e));
    }
    let horizon = checks.policy.max_expiry.as_millis() as Ms;
    if expires_ms - now > horizon {
        let e = format!(
            "expires {} is more than {} ahead (commands.max_expiry)",
            shown(&wire.expires),
            humantime::format_duration(checks.policy.max_expiry)
        );
        return Err(refuse(id, "expires_too_far", e));
    }
    let gates = gates(site, &wire)?;
    let value = value_of(site, &wire, &gates)?;
    Ok(Command {
        id: wire.id,
        zone: wire.zone,
        point: wire.point,
        gates,
        value,
        expires_ms,
    })
}

fn check_signature(
    key: &[u8],
    checks: &Checks<'_>,
    w: &Wire<'_>,
    target: &str,
    now: Ms,
) -> Result<(), Refusal> {
    let id = w.id.as_str();
    let (Some(sig), Some(ts)) = (&w.sig, &w.ts) else {
        let e = "commands to this gateway must be signed (`ts` and `sig`)".to_string();
        return Err(refuse(id, "bad_signature", e));
    };
    let signed = Signed {
        prefix: checks.prefix,
        id,
        target,
        point: &w.point,
        value: w.value.get(),
        expires: &w.expires,
        ts,
    };
    if !sign::verify(key, &signed.canonical(), sig) {
        let e = "signature does not match the command".to_string();
        return Err(refuse(id, "bad_signature", e));
    }
    let ts_ms = parse_time(ts).map_err(|e| refuse(id, "bad_signature", e))?;
    let window = checks.policy.max_expiry.as_millis() as Ms;
    if (now - ts_ms).abs() > window {
        let e = format!(
            "signed at {}, more than {} from this gateway's clock",
            shown(ts),
            humantime::format_duration(checks.policy.max_expiry)
        );
        return Err(refuse(id, "bad_signature", e));
    }
    Ok(())
}

/// The device, or every device of the zone, that has the point.
fn gates(site: &Site, w: &Wire<'_>) -> Result<Vec<Gate>, Refusal> {
    let id = w.id.as_str();
    let writable = |device: usize| -> Result<Gate, Refusal> {
        let dev = &site.devices[device];
        let point = dev.point_index(&w.point).ok_or_else(|| {
            let e = format!("device `{}` has no point {}", dev.id, shown(&w.point));
            refuse(id, "unknown_target", e)
        })?;
        if !dev.points[point].writable {
            let e = format!("point `{}` of `{}` is not writable", w.point, dev.id);
            return Err(refuse(id, "not_writable", e));
        }
        Ok(Gate { device, point })
    };
    if let Some(device) = &w.device {
        let index = site.device_index(device).ok_or_else(|| {
            refuse(
                id,
                "unknown_target",
                format!("unknown device {}", shown(device)),
            )
        })?;
        return Ok(vec![writable(index)?]);
    }
    let zone = w.zone.as_deref().unwrap_or_default();
    if !site.zones.iter().any(|z| z.name == zone) {
        let e = format!("unknown zone {}", shown(zone));
        return Err(refuse(id, "unknown_target", e));
    }
    let members: Vec<usize> = (0..site.devices.len())
        .filter(|&i| site.devices[i].zone.as_deref() == Some(zone))
        .filter(|&i| site.devices[i].point_index(&w.point).is_some())
        .collect();
    if members.is_empty() {
        let e = format!("no device of zone `{zone}` has a point {}", shown(&w.point));
        return Err(refuse(id, "unknown_target", e));
    }
    members.into_iter().map(writable).collect()
}

/// The engineering value to write, checked against every gate's point.
fn value_of(site: &Site, w: &Wire<'_>, gates: &[Gate]) -> Result<f64, Refusal> {
    let id = w.id.as_str();
    let raw: serde_json::Value = serde_json::from_str(w.value.get()).map_err(|e| {
        let e = format!("bad value: {}", escaped(&e.to_string()));
        refuse(id, "bad_value", e)
    })?;
    let mut value = None;
    for g in gates {
        let p = &site.devices[g.device].points[g.point];
        let is_coil = matches!(
            p.source,
            PointSource::Modbus {
                table: Table::Coil,
                ..
            }
        );
        let v = match (&raw, is_coil) {
            (serde_json::Value::Bool(b), true) => f64::from(u8::from(*b)),
            (serde_json::Value::Number(n), true) if n.as_u64().is_some_and(|v| v <= 1) => {
                n.as_f64().unwrap_or(0.0)
            }
            (serde_json::Value::Number(n), false) if n.as_f64().is_some_and(f64::is_finite) => {
                n.as_f64().unwrap_or(0.0)
            }
            (v, true) => {
                let e = format!(
                    "coil `{}` takes true/false, not {}",
                    p.name,
                    shown(&v.to_string())
                );
                return Err(refuse(id, "bad_value", e));
            }
            (v, false) => {
                let e = format!(
                    "point `{}` takes a number, not {}",
                    p.name,
                    shown(&v.to_string())
                );
                return Err(refuse(id, "bad_value", e));
            }
        };
        value = Some(v);
    }
    Ok(value.unwrap_or(0.0))
}

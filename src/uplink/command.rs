//! `P/cmd`: the one way back from the platform to a device.
//!
//! A command is checked here (JSON shape, device, writable point, value type, expiry), then
//! handed to the connection task that owns the device as a `WriteRequest`. Its outcome is
//! committed to the outbox as `P/cmd/result`, like every other upstream message. A refused
//! command is counted and answered; it never disturbs anything else.
//!
//! `expires` is required: a command that sat in a broker queue through an outage must not
//! open a gate hours later.

use crate::clock;
use crate::health::{self, Health};
use crate::reading::Ms;
use crate::site::{PointKind, PointSource, Site, Table};
use crate::source::modbus::{WriteRequest, WriteSender};
use crate::store::{Kind, NewRecord, Outbox};
use crate::uplink::payload::{self, CmdResult, Head};
use crate::uplink::topics::Topics;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// How long a device has to carry out a write before the command is answered as failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands larger than this are refused unread.
const MAX_COMMAND_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    id: String,
    device: String,
    point: String,
    value: serde_json::Value,
    expires: String,
}

/// A checked command, ready for the device's connection task.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: String,
    pub device: usize,
    pub point: usize,
    /// Engineering value (1/0 for a coil).
    pub value: f64,
}

/// Why a command was refused, as the platform reads it in `P/cmd/result`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The command's id when it could be read, else empty.
    pub id: String,
    pub error: String,
}

/// Checks a raw `P/cmd` payload against the site at `now`.
pub fn parse(site: &Site, bytes: &[u8], now: Ms) -> Result<Command, Refusal> {
    let refuse = |id: &str, error: String| Refusal {
        id: id.to_string(),
        error,
    };
    if bytes.len() > MAX_COMMAND_BYTES {
        return Err(refuse(
            "",
            format!(
                "command of {} bytes exceeds {MAX_COMMAND_BYTES}",
                bytes.len()
            ),
        ));
    }
    let wire: Wire = match serde_json::from_slice(bytes) {
        Ok(w) => w,
        Err(e) => {
            // Answer with the id if at least that much is readable.
            let id = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .unwrap_or_default();
            return Err(refuse(&id, format!("bad command: {e}")));
        }
    };
    let id = wire.id.as_str();
    let expires = humantime::parse_rfc3339_weak(&wire.expires)
        .map_err(|e| refuse(id, format!("bad expires `{}`: {e}", wire.expires)))?;
    let expires_ms = expires
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Ms)
        .unwrap_or(0);
    if expires_ms <= now {
        return Err(refuse(id, format!("expired at {}", wire.expires)));
    }
    let device = site
        .device_index(&wire.device)
        .ok_or_else(|| refuse(id, format!("unknown device `{}`", wire.device)))?;
    let dev = &site.devices[device];
    let point = dev.point_index(&wire.point).ok_or_else(|| {
        refuse(
            id,
            format!("device `{}` has no point `{}`", dev.id, wire.point),
        )
    })?;
    let p = &dev.points[point];
    if !p.writable {
        return Err(refuse(
            id,
            format!("point `{}` of `{}` is not writable", p.name, dev.id),
        ));
    }
    let is_coil = matches!(
        p.source,
        PointSource::Modbus {
            table: Table::Coil,
            ..
        }
    );
    let value = match (&wire.value, is_coil) {
        (serde_json::Value::Bool(b), true) => f64::from(u8::from(*b)),
        (serde_json::Value::Number(n), true) if n.as_u64().is_some_and(|v| v <= 1) => {
            n.as_f64().unwrap_or(0.0)
        }
        (serde_json::Value::Number(n), false) => n
            .as_f64()
            .ok_or_else(|| refuse(id, format!("value {n} is not a number")))?,
        (v, true) => {
            return Err(refuse(
                id,
                format!("coil `{}` takes true/false, not {v}", p.name),
            ));
        }
        (v, false) => {
            return Err(refuse(
                id,
                format!("point `{}` takes a number, not {v}", p.name),
            ));
        }
    };
    debug_assert!(p.kind == PointKind::Command || p.writable);
    Ok(Command {
        id: wire.id,
        device,
        point,
        value,
    })
}

/// Where commands go: the site they are checked against and one write channel per
/// connection (index into `Site::connections`; None where it takes no writes, cameras).
/// Replaced as a whole on reload.
pub struct Routes {
    pub site: Arc<Site>,
    pub writes: Vec<Option<WriteSender>>,
}

/// Routes checked commands to connection tasks and records their outcome.
#[derive(Clone)]
pub struct Router {
    /// Read per command, written once per reload; never held across an await.
    pub routes: Arc<std::sync::RwLock<Arc<Routes>>>,
    pub outbox: Arc<Outbox>,
    pub wake: Arc<Notify>,
    pub health: Arc<Health>,
}

impl Router {
    /// Handles one `P/cmd` payload. Never blocks the caller: the write and the result
    /// commit run on their own task.
    pub fn submit(&self, bytes: &[u8]) {
        let now = clock::now_ms();
        let router = self.clone();
        let routes = self.current();
        match parse(&routes.site, bytes, now) {
            Err(refusal) => {
                health::bump(&self.health.commands_rejected);
                tracing::warn!(id = %refusal.id, error = %refusal.error, "command refused");
                tokio::spawn(async move { router.record(&refusal.id, Err(refusal.error)).await });
            }
            Ok(cmd) => {
                tokio::spawn(async move {
                    let outcome = router.execute(&routes, &cmd).await;
                    match &outcome {
                        Ok(()) => {
                            tracing::info!(id = %cmd.id, device = %routes.site.devices[cmd.device].id, "command carried out")
                        }
                        Err(e) => tracing::warn!(id = %cmd.id, error = %e, "command failed"),
                    }
                    router.record(&cmd.id, outcome).await;
                });
            }
        }
    }

    fn current(&self) -> Arc<Routes> {
        Arc::clone(&self.routes.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Points commands at a reloaded site's connections.
    pub fn replace(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }

    async fn execute(&self, routes: &Routes, cmd: &Command) -> Result<(), String> {
        let conn = routes.site.devices[cmd.device].connection;
        let Some(Some(tx)) = routes.writes.get(conn) else {
            return Err("the device's connection takes no writes".into());
        };
        let (reply, rx) = oneshot::channel();
        let req = WriteRequest {
            device: cmd.device,
            point: cmd.point,
            value: cmd.value,
            reply,
        };
        tx.try_send(Box::new(req))
            .map_err(|_| "the device's connection is busy or stopped".to_string())?;
        match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the connection task stopped".into()),
            Err(_) => Err(format!("no answer within {}s", WRITE_TIMEOUT.as_secs())),
        }
    }

    async fn record(&self, id: &str, outcome: Result<(), String>) {
        let topic = Topics::new(&self.current().site).cmd_result();
        let id = id.to_string();
        let outbox = Arc::clone(&self.outbox);
        let now = clock::now_ms();
        let build = move |seq: u64| {
            payload::to_bytes(&CmdResult {
                head: Head::new(seq, now),
                id: &id,
                ok: outcome.is_ok(),
                error: outcome.as_ref().err().map(String::as_str),
            })
        };
        let rec = NewRecord::new(Kind::CmdResult, topic, false, now, build);
        match tokio::task::spawn_blocking(move || outbox.append(vec![rec], &[])).await {
            Ok(Ok(_)) => self.wake.notify_one(),
            Ok(Err(e)) => tracing::error!(error = %e, "command result lost: outbox append failed"),
            Err(e) => tracing::error!(error = %e, "command result lost"),
        }
    }
}

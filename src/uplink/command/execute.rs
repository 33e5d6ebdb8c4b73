//! Carrying out a checked command: one `WriteRequest` per gate, sent to every gate's
//! connection task at once (connections work in parallel; the gates of one connection
//! queue on it), each read back, all within one deadline.

use super::Routes;
use super::parse::Command;
use crate::source::modbus::FieldRequest;
use crate::wire::payload::{CmdOutcome, GateOutcome};
use crate::write::{WriteError, WriteRequest, Written};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the devices have to carry out a command's writes.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes `cmd` to its gates and reports what each one holds afterwards.
pub async fn execute(routes: &Routes, cmd: &Command) -> CmdOutcome {
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    // Every request is queued before any answer is awaited, so the connections work
    // in parallel.
    let pending: Vec<_> = cmd
        .gates
        .iter()
        .map(|g| send(routes, g, cmd.value))
        .collect();
    let mut gates = Vec::with_capacity(pending.len());
    for (g, rx) in cmd.gates.iter().zip(pending) {
        let result = match rx {
            Err(e) => Err(e),
            Ok(rx) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(WriteError::Unreachable("the connection task stopped")),
                Err(_) => Err(WriteError::NoAnswer(WRITE_TIMEOUT.as_secs())),
            },
        };
        gates.push(gate_outcome(&routes.site.devices[g.device].id, result));
    }
    let ok = gates.iter().all(|g| g.ok);
    let failed = gates.iter().filter(|g| !g.ok).count();
    if cmd.zone.is_some() {
        let error =
            (!ok).then(|| format!("{failed} of {} gates do not hold the value", gates.len()));
        return CmdOutcome {
            id: cmd.id.clone(),
            ok,
            error,
            reason: None,
            device: None,
            zone: cmd.zone.clone(),
            point: Some(cmd.point.clone()),
            readback: None,
            held: Some(ok),
            gates,
        };
    }
    let g = gates.remove(0);
    CmdOutcome {
        id: cmd.id.clone(),
        ok: g.ok,
        error: g.error,
        reason: None,
        device: Some(g.device),
        zone: None,
        point: Some(cmd.point.clone()),
        readback: g.readback,
        held: Some(g.held),
        gates: Vec::new(),
    }
}

type Reply = oneshot::Receiver<Result<Written, WriteError>>;

fn send(routes: &Routes, g: &super::parse::Gate, value: f64) -> Result<Reply, WriteError> {
    let conn = routes.site.devices[g.device].connection;
    let Some(Some(tx)) = routes.writes.get(conn) else {
        return Err(WriteError::Unreachable(
            "the device's connection takes no writes",
        ));
    };
    let (reply, rx) = oneshot::channel();
    let req = WriteRequest {
        device: g.device,
        point: g.point,
        value,
        reply,
    };
    tx.try_send(Box::new(FieldRequest::Write(req)))
        .map_err(|_| WriteError::Unreachable("the device's connection is busy or stopped"))?;
    Ok(rx)
}

fn gate_outcome(device: &str, result: Result<Written, WriteError>) -> GateOutcome {
    match result {
        Ok(w) => {
            let error = match (&w.readback_error, w.held, w.readback) {
                (Some(e), _, _) => Some(format!("written, but the read-back failed: {e}")),
                (None, false, Some(v)) => Some(format!("written, but the device reads back {v}")),
                _ => None,
            };
            GateOutcome {
                device: device.to_string(),
                ok: w.held,
                error,
                readback: w.readback,
                held: w.held,
            }
        }
        Err(e) => GateOutcome {
            device: device.to_string(),
            ok: false,
            error: Some(e.to_string()),
            readback: None,
            held: false,
        },
    }
}

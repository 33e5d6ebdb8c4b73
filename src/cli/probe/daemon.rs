//! Probing through the running daemon: when the configuration holds the connection the
//! probe would open and the daemon answers on its status socket, the daemon's own
//! connection task runs the reads between its polls (`status::probe`), so the probe
//! never contends for an RS485 bus or a converter that takes one connection. Without
//! an answer the probe opens the device itself, as before.

use super::ProbeArgs;
use crate::config;
use crate::site::ConnectionKind;
use crate::site::Device;
use crate::source::modbus::{ReadOnce, assemble, plan};
use crate::status::probe::{Ask, Reply};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The daemon's answer, a little after its own bound (`status::probe::ANSWER_WITHIN`).
const WAIT: Duration = Duration::from_secs(60);

/// The reading done by the daemon; None when no daemon owns the connection here (no
/// config, no such connection in it, or nobody answers on the socket): then the caller
/// reads directly. Some(Err) when the daemon answered with a refusal.
pub(super) fn read(
    args: &ProbeArgs,
    kind: &ConnectionKind,
    device: &Device,
) -> Option<Result<ReadOnce, String>> {
    let (socket, connection) = route(args, kind)?;
    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) => {
            if !matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) {
                eprintln!(
                    "note: cannot ask the daemon at {} ({e}); reading the device directly",
                    socket.display()
                );
            }
            return None;
        }
    };
    let plan = plan::plan(device);
    let ask = Ask::new(&connection, device.unit, &plan.reads);
    Some(exchange(&mut stream, &ask).map(|reply| {
        let answers: Vec<_> = reply.answers.into_iter().map(|o| o.into_result()).collect();
        assemble(device, &plan, &answers, reply.requests)
    }))
}

fn exchange(stream: &mut UnixStream, ask: &Ask) -> Result<Reply, String> {
    let line = format!(
        "probe {}\n",
        serde_json::to_string(ask).map_err(|e| e.to_string())?
    );
    stream
        .set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("asking the daemon: {e}"))?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .map_err(|e| format!("reading the daemon's answer: {e}"))?;
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&body)
        && let Some(e) = m.get("error").and_then(|e| e.as_str())
    {
        return Err(format!("the daemon answered: {e}"));
    }
    serde_json::from_str(&body)
        .map_err(|e| format!("the daemon's answer is not a probe reply: {e}"))
}

/// The status socket and the name of the configured connection that reaches the same
/// device as `kind` (same TCP address, or same serial port).
fn route(args: &ProbeArgs, kind: &ConnectionKind) -> Option<(PathBuf, String)> {
    let site = config::load(&args.config).ok()?;
    let conn = site.connections.iter().find(|c| same_link(&c.kind, kind))?;
    Some((
        crate::status::socket_path(&site.gateway.data_dir),
        conn.name.clone(),
    ))
}

fn same_link(a: &ConnectionKind, b: &ConnectionKind) -> bool {
    use ConnectionKind::*;
    match (a, b) {
        (ModbusTcp { address: x, .. }, ModbusTcp { address: y, .. })
        | (ModbusRtuOverTcp { address: x, .. }, ModbusRtuOverTcp { address: y, .. }) => x == y,
        (ModbusRtu { port: x, .. }, ModbusRtu { port: y, .. }) => x == y,
        _ => false,
    }
}

//! The demo's MQTT broker: rumqttd, embedded, on a free loopback port.
//!
//! Owns starting the broker and knowing it is ready. The demo needs a broker for the
//! gateway's uplink and for the cameras, and a newcomer has nothing but cargo: an
//! embedded broker is the one that is always there. rumqttd runs on threads of its own
//! (its router and one server thread with its own runtime); they live until the process
//! exits, which is when the demo is done with them. Never used by `run`.

use anyhow::Context;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long the broker may take to accept its first connection.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Attempts at a free port: another process may take the one we found before rumqttd
/// binds it.
const ATTEMPTS: usize = 3;

/// A running embedded broker.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) port: u16,
}

/// Starts rumqttd on `127.0.0.1` and returns once it accepts connections.
pub(crate) fn start() -> anyhow::Result<Broker> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let port = free_port().context("finding a free loopback port for the broker")?;
        match start_on(port) {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
}

/// rumqttd binds the address it is given and cannot report a port 0 choice, so a port
/// is found by binding it ourselves first and letting it go.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn start_on(port: u16) -> anyhow::Result<Broker> {
    let mut broker = rumqttd::Broker::new(config(port));
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .context("spawning the broker thread")?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        // A bare connect proves the listener is up; rumqttd drops the socket when no
        // CONNECT follows.
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(Broker { port });
        }
        if Instant::now() > deadline {
            anyhow::bail!("the embedded broker did not listen on {addr} within {READY_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(port: u16) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 1 << 20,
        // The uplink keeps up to `inflight` (100) publishes awaiting their ack.
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "demo".into(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 64,
            max_outgoing_packet_count: 500,
            max_segment_size: 4 << 20,
            max_segment_count: 4,
            ..Default::default()
        },
        v4: Some(HashMap::from([("demo".to_string(), server)])),
        ..Default::default()
    }
}

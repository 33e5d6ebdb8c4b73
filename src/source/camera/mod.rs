//! Cameras over MQTT: one task per `type = "mqtt"` connection, subscribed to the site
//! broker for every camera on it.
//!
//! Owns everything between a site-LAN broker and the `Sample` channel: the rumqttc
//! event loop, reconnects with backoff, the heartbeat watch and the rate-limited journal
//! lines. It never touches the store, the rules or the uplink, never publishes, and a
//! camera fault never becomes an `Err`: it becomes a `Sample.error`, a `health` counter
//! and at most one log line a minute per device.
//!
//! # Parts
//!
//! - `decode` (pure): size check, JSON, filters and pointers → raw values.
//! - `watch` (pure): heartbeat deadlines, the log gate, the reconnect backoff.
//! - `feed`: topics → cameras, messages and silences → samples and counters.
//! - this file: the task, the link to the site broker, reconnects.
//!
//! # Messages
//!
//! Every message on a camera's topics is one poll (`health.polls`). If a message on the
//! events topic has a point of the device that applies to it, one `Sample` carries the
//! values (the others `None`), with `ts` the time it arrived. Bad JSON, a point that finds no number and a payload over
//! `max_payload_bytes` are counted (`camera_rejected`; bad JSON also `malformed`),
//! logged at most once a minute per device with the count since the last line, and
//! skipped. Retained messages are skipped too: the broker hands them out on every
//! (re)subscribe, so they are old news, not proof that the camera is alive.
//!
//! # Heartbeat
//!
//! Any live message on the status or events topic proves the camera is there. When its
//! `heartbeat_timeout` passes without one, a sample with `error: Some(Silent)` and no
//! values is sent, once per timeout while the camera stays quiet, and the device is
//! marked failing. The first message after that marks it ok and always yields a sample
//! without error (values `None` if it was a bare heartbeat), which clears the offline
//! alarm. While the site broker is unreachable every camera on it goes silent the same
//! way: the gateway cannot tell a dead camera from a dead broker, and either needs a
//! technician.
//!
//! # Limits
//!
//! rumqttc refuses, by dropping the connection, a packet larger than its own limit. That
//! limit is set well above `max_payload_bytes` (`HARD_LIMIT_FACTOR`), so an oversized
//! message is normally counted and skipped with the connection kept; only a payload
//! beyond the hard limit costs a reconnect (and is counted as rejected as well).
//!
//! Samples go to ingest with `try_send`: if the channel is full the sample is counted in
//! `samples_dropped` rather than stalling the keep-alive. rumqttc is built without TLS
//! in this crate, so an `mqtts://` site broker is refused with an error line and its
//! cameras report silent.

pub mod decode;
mod feed;
pub mod watch;

// These tests publish with the simulated camera (`demo` feature).
#[cfg(all(test, feature = "demo"))]
mod tests;

use crate::backoff::{Backoff, clock_jitter};
use crate::health::{self, Health};
use crate::reading::Sample;
use crate::site::{BrokerUrl, ConnectionKind, Site};
use feed::{Cameras, Ctx, on_message, silent_due};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions, StateError,
    SubscribeReasonCode,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests in rumqttc's channel. We only ever send one SUBSCRIBE per connection.
const CHANNEL_CAPACITY: usize = 10;
/// Keep-alive with the site broker; a broker that died without closing the socket is
/// noticed within 1.5× this.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// rumqttc's own packet limit is this many times `max_payload_bytes` (see the module doc).
const HARD_LIMIT_FACTOR: usize = 4;
/// The hard limit is never below this, so a small `max_payload_bytes` still leaves room.
const HARD_LIMIT_FLOOR: usize = 1 << 20;
/// A connection that lasted this long resets the reconnect backoff.
const STABLE: Duration = Duration::from_secs(10);
/// How long a clean shutdown waits for the DISCONNECT to be written.
const DISCONNECT_WAIT: Duration = Duration::from_millis(200);

/// Runs the camera connection `conn` of `site` until `cancel` fires. Never fails: an
/// unreachable broker, a refused login or a mad camera becomes samples, counters and
/// log lines. Returns early only if the sample channel is closed (ingest is gone).
pub async fn run_connection(
    site: Arc<Site>,
    conn: usize,
    health: Arc<Health>,
    samples: mpsc::Sender<Sample>,
    cancel: CancellationToken,
) {
    let Some(connection) = site.connections.get(conn) else {
        tracing::error!(
            connection = conn,
            "no such connection; camera task not started"
        );
        return;
    };
    let ConnectionKind::Mqtt {
        broker,
        username,
        password_file,
        max_payload_bytes,
    } = &connection.kind
    else {
        tracing::error!(connection = %connection.name, "not an mqtt connection; camera task not started");
        return;
    };
    let mut cameras = Cameras::new(&site, conn, Instant::now());
    if cameras.cams.is_empty() {
        tracing::info!(connection = %connection.name, "no cameras on this connection");
        cancel.cancelled().await;
        return;
    }
    let ctx = Ctx {
        site: &site,
        connection: &connection.name,
        max_payload_bytes: *max_payload_bytes,
        health: &health,
        samples: &samples,
    };
    let Ok(password) = password(&connection.name, password_file.as_deref()) else {
        cancel.cancelled().await;
        return;
    };
    let (client, mut eventloop) = connect_options(
        &site,
        connection.name.as_str(),
        broker,
        username,
        password,
        *max_payload_bytes,
    );
    let mut link = Link {
        online: false,
        connected_once: false,
        warned: false,
        retry_at: None,
        since: None,
        backoff: Backoff::new(Backoff::BROKER),
    };
    let stopped = pump(
        &ctx,
        &mut cameras,
        &mut link,
        (&client, &mut eventloop),
        broker,
        &cancel,
    )
    .await;
    if stopped && link.online {
        disconnect(&client, &mut eventloop, &connection.name).await;
    }
}

/// Serves the connection until `cancel` (true) or until the sample channel closes
/// (false: ingest is gone).
async fn pump(
    ctx: &Ctx<'_>,
    cameras: &mut Cameras,
    link: &mut Link,
    (client, eventloop): (&AsyncClient, &mut EventLoop),
    broker: &BrokerUrl,
    cancel: &CancellationToken,
) -> bool {
    // rumqttc is built without TLS here; an mqtts:// site broker cannot be reached, and
    // the cameras on it go silent (which the offline rule reports) instead of their
    // traffic going out in clear text to a broker that expects TLS.
    let usable = !broker.tls;
    if !usable {
        tracing::error!(connection = %ctx.connection, broker = %broker, "mqtts:// is not supported for camera connections; use mqtt:// on the site LAN");
    }
    loop {
        let now = Instant::now();
        let heartbeat_at = cameras.next_deadline(now);
        // Cancel safety: rumqttc's `EventLoop::poll` keeps buffered packets and events in
        // the event loop when its future is dropped, so losing a race to a timer only
        // postpones the event; a connect attempt cut short simply starts over. The other
        // branches are timers and the cancellation token.
        let event = tokio::select! {
            _ = cancel.cancelled() => return true,
            _ = tokio::time::sleep_until(heartbeat_at) => {
                if !silent_due(ctx, cameras, Instant::now()) {
                    return false;
                }
                continue;
            }
            _ = sleep_until_opt(link.retry_at), if link.retry_at.is_some() => {
                link.retry_at = None;
                continue;
            }
            ev = eventloop.poll(), if usable && link.retry_at.is_none() => ev,
        };
        if !on_event(ctx, cameras, link, (client, broker), event) {
            return false;
        }
    }
}

/// The `password_file` of a camera connection, read once. Refused like the uplink's:
/// never a connection without the password the config asks for. The cameras then go
/// silent and the offline rule says so.
fn password(connection: &str, file: Option<&std::path::Path>) -> Result<Option<String>, ()> {
    let Some(path) = file else {
        return Ok(None);
    };
    match crate::config::read_password(path) {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            tracing::error!(connection, path = %path.display(), error = %e, "cannot read password_file; this camera connection is not started");
            Err(())
        }
    }
}

/// One event of the site broker's connection. False when the sample channel is closed
/// (ingest has gone away).
fn on_event(
    ctx: &Ctx<'_>,
    cameras: &mut Cameras,
    link: &mut Link,
    (client, broker): (&AsyncClient, &BrokerUrl),
    event: Result<Event, rumqttc::ConnectionError>,
) -> bool {
    match event {
        Ok(Event::Incoming(Incoming::ConnAck(_))) => {
            link.connected(ctx, broker);
            if let Err(e) = client.try_subscribe_many(cameras.filters()) {
                tracing::warn!(connection = %ctx.connection, error = %e, "cannot subscribe to camera topics");
            }
        }
        Ok(Event::Incoming(Incoming::SubAck(ack))) => {
            let refused = (ack.return_codes.iter())
                .filter(|c| **c == SubscribeReasonCode::Failure)
                .count();
            if refused > 0 {
                tracing::warn!(connection = %ctx.connection, refused, "the site broker refused camera subscriptions (check its ACL)");
            }
        }
        Ok(Event::Incoming(Incoming::Publish(msg))) => {
            if msg.retain {
                tracing::debug!(topic = %msg.topic, "retained camera message skipped");
                return true;
            }
            return on_message(ctx, cameras, &msg.topic, &msg.payload, Instant::now());
        }
        Ok(_) => {}
        Err(e) => link.failed(ctx, broker, &e),
    }
    true
}

/// Lets the event loop write the DISCONNECT, bounded.
async fn disconnect(client: &AsyncClient, eventloop: &mut EventLoop, connection: &str) {
    if client.try_disconnect().is_err() {
        return;
    }
    let written = tokio::time::timeout(DISCONNECT_WAIT, async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
    if written.is_err() {
        tracing::debug!(connection, "site broker slow to take the disconnect");
    }
}

/// The state of the link to the site broker across reconnects.
struct Link {
    online: bool,
    connected_once: bool,
    /// The first failure while offline has been logged at warn; repeats go to debug.
    warned: bool,
    /// Backing off: no connect attempt until then.
    retry_at: Option<Instant>,
    /// When the current connection was accepted.
    since: Option<Instant>,
    backoff: Backoff,
}

impl Link {
    fn connected(&mut self, ctx: &Ctx<'_>, broker: &BrokerUrl) {
        if self.connected_once {
            health::bump(&ctx.health.field_reconnects);
        }
        self.connected_once = true;
        self.online = true;
        self.warned = false;
        self.since = Some(Instant::now());
        tracing::info!(connection = %ctx.connection, broker = %broker, "site broker connected");
    }

    fn failed(&mut self, ctx: &Ctx<'_>, broker: &BrokerUrl, e: &ConnectionError) {
        if let ConnectionError::MqttState(StateError::Deserialization(
            rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(size),
        )) = e
        {
            // Too big for rumqttc to even buffer: we cannot tell which camera sent it.
            health::bump(&ctx.health.camera_rejected);
            tracing::warn!(connection = %ctx.connection, size, "camera message too large to read; reconnecting");
        } else if self.online || !self.warned {
            tracing::warn!(connection = %ctx.connection, broker = %broker, error = %e, "site broker unreachable; retrying with backoff");
            self.warned = true;
        } else {
            tracing::debug!(connection = %ctx.connection, error = %e, "site broker still unreachable");
        }
        // Only a connection that held resets the backoff: a broker that accepts and then
        // drops us at once (a duplicate client id, an ACL kick) is retried ever slower.
        let now = Instant::now();
        if self.online && self.since.is_some_and(|t| now - t >= STABLE) {
            self.backoff.reset();
        }
        self.online = false;
        let delay = self.backoff.next(clock_jitter());
        self.retry_at = Some(now + delay);
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn connect_options(
    site: &Site,
    connection: &str,
    broker: &BrokerUrl,
    username: &Option<String>,
    password: Option<String>,
    max_payload_bytes: usize,
) -> (AsyncClient, EventLoop) {
    // Unique per gateway and connection, and distinct from the uplink's client id, in case
    // the site broker is also the platform broker.
    let client_id = format!(
        "sitewarden-{}-{}-cam-{}",
        site.gateway.site, site.gateway.id, connection
    );
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    // Nothing to resume: we publish nothing, and a camera message missed while we were
    // away is old by the time we are back. The subscription is renewed on every CONNACK.
    o.set_clean_session(true);
    o.set_keep_alive(KEEP_ALIVE);
    o.set_request_channel_capacity(CHANNEL_CAPACITY);
    let hard = max_payload_bytes
        .saturating_mul(HARD_LIMIT_FACTOR)
        .max(HARD_LIMIT_FLOOR);
    o.set_max_packet_size(hard, 10 * 1024);
    if let Some(user) = username {
        o.set_credentials(user.clone(), password.unwrap_or_default());
    }
    AsyncClient::new(o, CHANNEL_CAPACITY)
}

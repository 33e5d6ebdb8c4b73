//! The only talker to the platform broker.
//!
//! One task ([`run`]) owns the rumqttc `EventLoop` and issues every publish, so the order of
//! `Outgoing::Publish(pkid)` events matches the order of our publishes exactly. rumqttc is
//! not a store (docs/design-facts.md §2): `publish` returning Ok only means queued, a clean-session
//! reconnect silently drops what was in flight, and nothing survives a restart. So:
//!
//! - The outbox is the source of truth. A record is published only after its durable
//!   commit, and deleted only on the PUBACK whose packet id maps to its seq.
//! - `clean_session = true`: the library never replays on its own. On any connection error
//!   the in-flight map is forgotten (the records stay on disk); after every CONNACK the
//!   replay starts again from the store: alarms first, then the backlog in seq order.
//!   Duplicates are possible, byte-identical, and carry their seq for the platform to dedup.
//! - At most `uplink.inflight` QoS 1 publishes await their PUBACK, and rumqttc's own
//!   in-flight limit is one above that, so packet ids never collide while the broker acks
//!   in order. Every event that frees room tops rumqttc's short channel up from a small
//!   read-ahead, so a long backlog drains with a full window (`session.rs`).
//! - On a connection error, whatever rumqttc still holds of the dead connection (buffered
//!   events, a pkid collision) is dropped with our session, so nothing of it can be mapped
//!   onto the next connection's publishes.
//! - Reconnects back off (0.5 s doubling to 30 s, with jitter); rumqttc has none.
//!
//! Modes (`State`): `Offline` (backing off or connecting) → `Online` (replaying and live)
//! → `Draining` (`Uplink::stop`: no new records, bounded wait for acks, explicit offline
//! status).

pub mod acks;
pub mod command;
pub mod format;
pub mod inventory;
pub mod reason;
pub mod report;
mod session;
pub mod tls;

use crate::backoff::{Backoff, clock_jitter};
use crate::clock;
use crate::health::{self, Health};
use crate::store::{Outbox, StoreError};
use crate::wire::payload::{self, Head, Status};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, LastWill, MqttOptions, Outgoing, QoS};
use session::{CHANNEL_CAPACITY, Session, Tag};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a clean shutdown waits for outstanding PUBACKs.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Everything the uplink needs, resolved by `cli::run`.
pub struct UplinkParams {
    pub site: Arc<crate::site::Site>,
    pub password: Option<String>,
    /// Plain TCP or TLS, resolved (files read) at start by `tls::transport`.
    pub transport: rumqttc::Transport,
    pub outbox: Arc<Outbox>,
    /// Signalled whenever ingest or a command committed new records.
    pub wake: Arc<Notify>,
    pub health: Arc<Health>,
    pub acks: acks::AckSender,
    pub commands: command::Router,
    pub started_ms: crate::reading::Ms,
    /// The running configuration, replaced on every reload: `P/inventory` follows it.
    pub sites: tokio::sync::watch::Receiver<Arc<crate::site::Site>>,
    /// Live reports from ingest, published at QoS 0 while online (None: no live values).
    pub live: Option<tokio::sync::mpsc::Receiver<crate::ingest::live::LiveReport>>,
}

/// Where the connection to the platform broker stands (the module doc's modes; `Draining`
/// is `Uplink::stop`).
#[derive(Debug)]
enum State {
    /// Backing off or connecting. `will`: this connection attempt's last will is
    /// registered; `reason`: why the last attempt failed, logged at the default level
    /// only when it changes.
    Offline {
        will: Option<Will>,
        reason: Option<reason::Reason>,
    },
    /// Connected: replaying the outbox and publishing live.
    Online,
}

/// A registered last will, and the seq reserved before it for the `online` status that
/// will precede it (None if that reservation failed: the status then takes a fresh one).
#[derive(Debug, Clone, Copy)]
struct Will {
    online_seq: Option<u64>,
}

/// The uplink task: the event loop, its session and what the next event is judged by.
struct Uplink {
    p: UplinkParams,
    wire: format::Wire,
    window: usize,
    client: AsyncClient,
    eventloop: EventLoop,
    session: Session,
    state: State,
    /// CONNACKs so far: every one after the first is a reconnect.
    connections: u64,
    backoff: Backoff,
    rate: report::PollRate,
    health_timer: tokio::time::Interval,
    /// False once the reload channel is gone (a test's uplink): no reload to follow.
    sites_open: bool,
}

/// What woke the task.
enum Step {
    Event(Result<Event, rumqttc::ConnectionError>),
    /// Handled already (a wake, a reload, a live report, the health timer).
    Done,
    Stop,
}

/// Runs until `stop` is cancelled, then drains (bounded) and publishes `offline`.
pub async fn run(p: UplinkParams, stop: CancellationToken) {
    let mut u = Uplink::new(p);
    loop {
        if let State::Offline { will: None, .. } = u.state {
            u.register_will().await;
        }
        match u.next(&stop).await {
            Step::Event(Ok(event)) => u.on_event(event).await,
            Step::Event(Err(e)) => {
                let delay = u.on_error(&e);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => break,
                }
            }
            Step::Done => {}
            Step::Stop => break,
        }
    }
    u.stop().await;
}

impl Uplink {
    fn new(p: UplinkParams) -> Uplink {
        let wire = format::Wire::new(&p.site);
        let window = usize::from(p.site.uplink.inflight.max(1));
        let (client, eventloop) = connect_options(&p, window);
        let mut health_timer = tokio::time::interval(p.site.uplink.summary_interval);
        health_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Uplink {
            p,
            wire,
            window,
            client,
            eventloop,
            session: Session::default(),
            state: State::Offline {
                will: None,
                reason: None,
            },
            connections: 0,
            backoff: Backoff::new(Backoff::BROKER),
            rate: report::PollRate::default(),
            health_timer,
            sites_open: true,
        }
    }

    fn online(&self) -> bool {
        matches!(self.state, State::Online)
    }

    /// Each connection registers its own last will with a seq of its own. The broker
    /// publishes the will after this connection's `online` status, so the status takes
    /// its seq first: a platform that orders status by seq then sees `offline` last, as
    /// it happened. Tried again before every attempt until it succeeds.
    async fn register_will(&mut self) {
        let online_seq = match reserve_seq(&self.p.outbox, "status").await {
            Ok(seq) => Some(seq),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reserve a seq for the status");
                None
            }
        };
        match reserve_seq(&self.p.outbox, "will").await {
            Ok(seq) => {
                let last_will = will(&self.wire, seq, self.p.started_ms);
                self.eventloop.mqtt_options.set_last_will(last_will);
                if let State::Offline { will, .. } = &mut self.state {
                    *will = Some(Will { online_seq });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot reserve a seq for the last will"),
        }
    }

    /// Waits for the next event of the connection, handling what else comes first.
    async fn next(&mut self, stop: &CancellationToken) -> Step {
        let online = self.online();
        // Cancel safety: `EventLoop::poll` keeps its buffered events and partial writes in
        // the event loop across cancellation, so losing the race to another branch only
        // postpones the event. The other branches are plain notifications and timers.
        tokio::select! {
            ev = self.eventloop.poll() => Step::Event(ev),
            _ = self.p.wake.notified(), if online => {
                self.session.woken();
                self.fill();
                Step::Done
            }
            // Held (Sparkplug, primary host away): a reload is announced once released.
            changed = self.p.sites.changed(), if online && self.sites_open && !self.session.is_held() => {
                self.sites_open = changed.is_ok();
                if self.sites_open {
                    self.on_reload().await;
                }
                Step::Done
            }
            Some(report) = next_live(&mut self.p.live) => {
                if !(online && publish_live(&self.client, &self.wire, &mut self.session, &report)) {
                    health::bump(&self.p.health.live_dropped);
                }
                Step::Done
            }
            _ = self.health_timer.tick(), if online => {
                publish_health(&self.client, &self.p, &self.wire, &mut self.session, &mut self.rate).await;
                Step::Done
            }
            _ = stop.cancelled() => Step::Stop,
        }
    }

    /// Tops rumqttc's channel up from the outbox (session.rs reads ahead, so this is
    /// mostly in memory).
    fn fill(&mut self) {
        (self.session).fill(&self.client, &self.p.outbox, self.window, &self.wire);
        for (seq, kind, bytes) in self.session.take_refused() {
            tracing::error!(
                seq,
                kind = kind.name(),
                bytes,
                max = format::MAX_OUTGOING,
                "record too large to publish: dropped and counted"
            );
            let lost = if kind == crate::store::Kind::Alarm {
                &self.p.health.alarms_lost
            } else {
                &self.p.health.summaries_lost
            };
            health::bump(lost);
            self.p.acks.ack(seq);
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Incoming::ConnAck(ack)) => self.on_connack(ack.code).await,
            // Each written publish and each PUBACK frees room: top the channel up, so the
            // window stays full.
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                health::bump(&self.p.health.sent);
                self.session.on_outgoing(pkid);
                self.fill();
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                if let Some(Tag::Record(seq)) = self.session.on_puback(ack.pkid) {
                    self.p.acks.ack(seq);
                    health::bump(&self.p.health.published);
                }
                self.fill();
            }
            Event::Incoming(Incoming::Publish(msg)) => {
                for asked in self.wire.incoming(&msg.topic, &msg.payload) {
                    self.on_asked(asked, msg.retain).await;
                }
            }
            _ => {}
        }
    }

    /// Offline → Online: status, announcements, inventory, the held live values, then
    /// the replay from the outbox.
    async fn on_connack(&mut self, code: rumqttc::ConnectReturnCode) {
        if code != rumqttc::ConnectReturnCode::Success {
            tracing::warn!(?code, broker = %self.p.site.uplink.broker, "broker refused the connection");
            return;
        }
        let online_seq = match std::mem::replace(&mut self.state, State::Online) {
            State::Offline { will, .. } => will.and_then(|w| w.online_seq),
            State::Online => None,
        };
        if self.connections > 0 {
            health::bump(&self.p.health.uplink_reconnects);
        }
        self.connections += 1;
        (self.p.health.uplink_online).store(true, std::sync::atomic::Ordering::Relaxed);
        self.backoff.reset();
        self.session = Session::default();
        tracing::info!(broker = %self.p.site.uplink.broker, "uplink connected");
        // Subscribe before `online`: the broker handles one connection's packets in
        // order, so a platform that sees `online` can send commands at once.
        for topic in self.wire.command_topics() {
            if let Err(e) = self.client.try_subscribe(topic, QoS::AtLeastOnce) {
                tracing::warn!(error = %e, "cannot subscribe to commands");
            }
        }
        self.wire.site = Arc::clone(&self.p.sites.borrow());
        if self.wire.waits_for_host() {
            // Sparkplug: not a word until the primary host's STATE says online.
            self.session.hold(true);
            tracing::info!("waiting for the primary host's STATE");
        } else {
            let (c, w, s) = (&self.client, &self.wire, &mut self.session);
            greet(c, &mut self.p, w, s, online_seq).await;
            self.fill();
        }
    }

    /// What a message on a command topic asks: a command, a rebirth (Sparkplug NCMD), the
    /// primary host's state.
    async fn on_asked(&mut self, asked: format::Inbound, retained: bool) {
        let online = self.online();
        match asked {
            format::Inbound::Command(cmd) => self.p.commands.submit(&cmd, retained),
            format::Inbound::Rebirth if online && !self.session.is_held() => {
                rebirth(&self.p, &self.wire, &mut self.session).await;
                self.fill();
            }
            format::Inbound::Rebirth => {}
            format::Inbound::HostOnline(up) if online => {
                let (c, w, s) = (&self.client, &self.wire, &mut self.session);
                host_state(c, &mut self.p, w, s, up).await;
                self.fill();
            }
            format::Inbound::HostOnline(_) => {}
            format::Inbound::Unreadable(why) => self.p.commands.refuse_unreadable(&why),
        }
    }

    /// A reload while online: the format's announcements of what changed and the new
    /// inventory.
    async fn on_reload(&mut self) {
        let next = Arc::clone(&self.p.sites.borrow());
        let before = std::mem::replace(&mut self.wire.site, next);
        announce(&self.wire, Some(&before), &mut self.session);
        publish_inventory(&mut self.p, &self.wire, &mut self.session).await;
        self.fill();
    }

    /// Online or Offline → Offline after a connection error; the delay before the next
    /// attempt.
    fn on_error(&mut self, e: &rumqttc::ConnectionError) -> Duration {
        let why = reason::classify(e);
        let broker = &self.p.site.uplink.broker;
        match &self.state {
            State::Online => tracing::warn!(error = %e, %broker, "uplink lost"),
            State::Offline { reason, .. } if reason.as_ref() != Some(&why) => {
                tracing::warn!(%broker, "uplink cannot connect: {why}");
            }
            State::Offline { .. } => tracing::debug!(error = %e, "uplink connect failed"),
        }
        self.p.health.set_uplink_problem(&why.to_string());
        // A will registered for an attempt the broker never accepted is still unused,
        // and so is the seq reserved for its `online` status: the next attempt keeps them.
        let will = match self.state {
            State::Offline { will, .. } => will,
            State::Online => None,
        };
        self.state = State::Offline {
            will,
            reason: Some(why),
        };
        (self.p.health.uplink_online).store(false, std::sync::atomic::Ordering::Relaxed);
        self.session = Session::default();
        forget_connection(&mut self.eventloop);
        self.backoff.next(clock_jitter())
    }

    /// Online → Draining → gone: bounded wait for acks, explicit `offline`; then the
    /// acks still batched are written.
    async fn stop(mut self) {
        if self.online() {
            let (c, p, w, s) = (&self.client, &self.p, &self.wire, &mut self.session);
            drain(c, &mut self.eventloop, p, w, s).await;
        }
        self.p.acks.flush();
    }
}

/// On connect (Sparkplug with a primary host: when the host is online): the `online`
/// status (`seq`: reserved before the connect), the format's announcements, the
/// inventory and each device's latest live report.
async fn greet(
    client: &AsyncClient,
    p: &mut UplinkParams,
    wire: &format::Wire,
    session: &mut Session,
    seq: Option<u64>,
) {
    let held = latest_live(p);
    publish_status(client, p, wire, session, "online", seq).await;
    announce(wire, None, session);
    publish_inventory(p, wire, session).await;
    for report in &held {
        if !publish_live(client, wire, session, report) {
            health::bump(&p.health.live_dropped);
        }
    }
}

/// The primary host's STATE changed: online resumes with a new NBIRTH, DBIRTHs and the
/// backlog (made meanwhile, so `is_historical`); offline ends the node's session with an
/// NDEATH and holds everything (the records wait in the outbox).
async fn host_state(
    client: &AsyncClient,
    p: &mut UplinkParams,
    wire: &format::Wire,
    session: &mut Session,
    online: bool,
) {
    // Held exactly when the host is away: nothing changed.
    if online != session.is_held() {
        return;
    }
    if online {
        tracing::info!("primary host online");
        session.hold(false);
        greet(client, p, wire, session, None).await;
    } else {
        tracing::info!("primary host offline: NDEATH, publishing held");
        publish_status(client, p, wire, session, "offline", None).await;
        session.hold(true);
    }
}

/// Clean shutdown: wait (bounded) for outstanding acks, publish `offline` and disconnect.
/// A clean DISCONNECT suppresses the last will, so `offline` is published explicitly.
async fn drain(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    p: &UplinkParams,
    wire: &format::Wire,
    session: &mut Session,
) {
    publish_status(client, p, wire, session, "offline", None).await;
    let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
    while session.outstanding() > 0 {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Err(_) => {
                tracing::warn!(
                    outstanding = session.outstanding(),
                    "shutdown: acks still outstanding, left in the outbox"
                );
                break;
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => session.on_outgoing(pkid),
            Ok(Ok(Event::Incoming(Incoming::PubAck(ack)))) => {
                if let Some(Tag::Record(seq)) = session.on_puback(ack.pkid) {
                    p.acks.ack(seq);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "shutdown: uplink lost while draining");
                return;
            }
        }
    }
    if client.try_disconnect().is_ok() {
        // Let the event loop write the DISCONNECT; it ends the loop with an error.
        let flushed = tokio::time::timeout(Duration::from_millis(500), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
        if flushed.is_err() {
            tracing::debug!("shutdown: disconnect not confirmed within 500 ms");
        }
    }
}

/// After a connection error: drops what rumqttc still holds of the dead connection.
///
/// rumqttc keeps the events it had buffered when the error struck (the
/// `Outgoing::Publish` of a publish whose write failed, PUBACKs read just before a reset)
/// and hands them out after the next CONNACK. A stale `Outgoing::Publish` would take the
/// tag of the next connection's first publish and shift every pkid→seq pair after it, so
/// a PUBACK would delete a record the broker never acknowledged; and the shifted count
/// can push a publish past the in-flight limit into a pkid collision, which rumqttc only
/// leaves on an ack that a new connection never sends: the uplink would stall for good.
/// The session is clean, so none of it has a future.
fn forget_connection(eventloop: &mut EventLoop) {
    eventloop.state.events.clear();
    eventloop.state.collision = None;
    eventloop.pending.clear();
}

async fn publish_status(
    client: &AsyncClient,
    p: &UplinkParams,
    wire: &format::Wire,
    s: &mut Session,
    state: &str,
    reserved: Option<u64>,
) {
    let Some(out) = status(p, wire, state, reserved).await else {
        return;
    };
    if wire.publish(client, &out, QoS::AtLeastOnce) {
        s.queued(Tag::Other);
    }
}

/// `P/status` in the uplink's format (None when no seq could be reserved for it).
async fn status(
    p: &UplinkParams,
    wire: &format::Wire,
    state: &str,
    reserved: Option<u64>,
) -> Option<format::Out> {
    let seq = match reserved {
        Some(seq) => seq,
        None => match reserve_seq(&p.outbox, "status").await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reserve a seq for the status");
                return None;
            }
        },
    };
    let body = payload::to_bytes(&Status {
        head: Head::new(seq, clock::now_ms()),
        state,
        version: env!("CARGO_PKG_VERSION"),
        started: clock::rfc3339(p.started_ms),
        reanchored: payload::Reanchored::of(&p.outbox),
    });
    Some(wire.outbound(&wire.topics.status(), &body, true))
}

/// Sparkplug's `Node Control/Rebirth`: the `online` status (an NBIRTH) and the
/// announcements (DBIRTHs), queued like them so none is lost to a full channel.
async fn rebirth(p: &UplinkParams, wire: &format::Wire, s: &mut Session) {
    tracing::info!("rebirth asked by the host");
    if let Some(out) = status(p, wire, "online", None).await {
        s.notice(out);
    }
    announce(wire, None, s);
}

/// The format's announcements (ThingsBoard: connect and disconnect per device), QoS 1,
/// not stored: they are made again on every connect. Queued in the session, which sends
/// them before records as the channel has room.
fn announce(wire: &format::Wire, before: Option<&crate::site::Site>, s: &mut Session) {
    for out in wire.announce(before) {
        s.notice(out);
    }
}

/// `P/inventory` of the configuration running now (on connect and after a reload).
async fn publish_inventory(p: &mut UplinkParams, wire: &format::Wire, s: &mut Session) {
    let site = Arc::clone(&p.sites.borrow_and_update());
    let seq = match reserve_seq(&p.outbox, "inventory").await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reserve a seq for the inventory");
            return;
        }
    };
    let body = inventory::render(&site, seq, clock::now_ms());
    // Queued like the announcements: a large site's inventory goes out once the
    // channel has room, never dropped for a full one.
    s.notice(wire.outbound(&wire.topics.inventory(), &body, true));
}

/// At a connect, of the live reports made while the uplink was away only each device's
/// latest is still news: the others are dropped (and counted), so a platform gets
/// current values at once and no burst of stale ones.
fn latest_live(p: &mut UplinkParams) -> Vec<crate::ingest::live::LiveReport> {
    let mut latest: Vec<crate::ingest::live::LiveReport> = Vec::new();
    let Some(rx) = p.live.as_mut() else {
        return latest;
    };
    while let Ok(r) = rx.try_recv() {
        if let Some(i) = latest.iter().position(|l| l.device == r.device) {
            latest.remove(i);
            health::bump(&p.health.live_dropped);
        }
        latest.push(r);
    }
    latest
}

/// The next live report; pending for ever without a channel or once it closed.
async fn next_live(
    rx: &mut Option<tokio::sync::mpsc::Receiver<crate::ingest::live::LiveReport>>,
) -> Option<crate::ingest::live::LiveReport> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    match r.recv().await {
        Some(report) => Some(report),
        None => {
            *rx = None;
            std::future::pending().await
        }
    }
}

/// `P/live/{device}` at QoS 0: not stored, no seq. False when rumqttc cannot queue it
/// (the caller counts it as dropped).
fn publish_live(
    client: &AsyncClient,
    wire: &format::Wire,
    s: &mut Session,
    r: &crate::ingest::live::LiveReport,
) -> bool {
    let Some(device) = r.site.devices.get(r.device) else {
        return true;
    };
    if s.is_held() || (wire.format == crate::site::UplinkFormat::Sparkplug && s.notices_pending()) {
        // A DDATA must not go before its device's DBIRTH, still queued: a newer report
        // follows (at the latest at `max_interval`), so this one is dropped.
        return false;
    }
    let body = payload::to_bytes(&payload::LiveValues {
        v: payload::VERSION,
        ts: clock::rfc3339(clock::now_ms()),
        device: &device.id,
        reason: r.reason.name(),
        read_at: clock::rfc3339(r.ts),
        points: payload::LivePoints(&r.values, &device.points),
    });
    let out = wire.outbound(&wire.topics.live(&device.id), &body, false);
    let queued = wire.publish(client, &out, QoS::AtMostOnce);
    if queued {
        s.queued(Tag::Other);
    }
    queued
}

async fn publish_health(
    client: &AsyncClient,
    p: &UplinkParams,
    wire: &format::Wire,
    s: &mut Session,
    rate: &mut report::PollRate,
) {
    if s.is_held() {
        return;
    }
    let seq = match reserve_seq(&p.outbox, "health").await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reserve a seq for health");
            return;
        }
    };
    let report = report::health(
        &p.health,
        &p.outbox,
        rate,
        seq,
        p.started_ms,
        clock::now_ms(),
    );
    let out = wire.outbound(&wire.topics.health(), &payload::to_bytes(&report), false);
    if wire.publish(client, &out, QoS::AtMostOnce) {
        s.queued(Tag::Other);
    }
}

fn will(wire: &format::Wire, seq: u64, started_ms: crate::reading::Ms) -> LastWill {
    let body = payload::to_bytes(&Status {
        head: Head::new(seq, clock::now_ms()),
        state: "offline",
        version: env!("CARGO_PKG_VERSION"),
        started: clock::rfc3339(started_ms),
        reanchored: None,
    });
    let out = wire.will(&body, seq);
    LastWill::new(out.topic, out.payload, QoS::AtLeastOnce, out.retain)
}

/// A durable seq for a message that is not an outbox record (`what`: status, will,
/// health). Logged at debug, like ingest's `accepted`, so every seq handed out can be
/// accounted for.
async fn reserve_seq(outbox: &Arc<Outbox>, what: &'static str) -> Result<u64, StoreError> {
    let outbox = Arc::clone(outbox);
    let seq = tokio::task::spawn_blocking(move || outbox.reserve_seq())
        .await
        .map_err(|e| StoreError::Engine(format!("the seq reservation task failed: {e}")))??;
    tracing::debug!(seq, what, "seq reserved");
    Ok(seq)
}

fn connect_options(p: &UplinkParams, window: usize) -> (AsyncClient, EventLoop) {
    let up = &p.site.uplink;
    let client_id = format!("sitewarden-{}-{}", p.site.gateway.site, p.site.gateway.id);
    let mut o = MqttOptions::new(client_id, up.broker.host.clone(), up.broker.port);
    o.set_clean_session(true);
    o.set_keep_alive(up.keep_alive);
    // One above our window, so packet ids never collide (docs/design-facts.md §2).
    o.set_inflight(u16::try_from(window + 1).unwrap_or(u16::MAX));
    o.set_request_channel_capacity(CHANNEL_CAPACITY);
    // Incoming: commands, small by contract; outgoing: see `format::MAX_OUTGOING`.
    o.set_max_packet_size(256 * 1024, format::MAX_OUTGOING);
    o.set_transport(p.transport.clone());
    if let Some(user) = &up.username {
        o.set_credentials(user.clone(), p.password.clone().unwrap_or_default());
    }
    AsyncClient::new(o, CHANNEL_CAPACITY)
}

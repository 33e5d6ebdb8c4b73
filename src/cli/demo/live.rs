//! The demo's window on the gateway: an MQTT client subscribed to `sitewarden/#` on the
//! embedded broker, as the central platform would be, printing what arrives.
//!
//! Owns the terminal while the demo runs: the live table redrawn in place once a second
//! (the last one stays on screen when the demo ends, the cursor comes back whatever the
//! way out), or one plain line per message. Reads only what the gateway published; it never asks the daemon anything
//! and never publishes.

use super::scenario::SiteTime;
use super::table::{self, Header};
use super::view::View;
use crate::site::Site;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const REDRAW: Duration = Duration::from_secs(1);
/// Lines the demo prints after the view: a blank one, two of summary, the shell prompt.
const FINAL_WORDS: usize = 4;
/// Wait after a broker error before polling again.
const RETRY: Duration = Duration::from_millis(200);

/// How the view runs.
pub(crate) struct Params {
    pub(crate) site: Arc<Site>,
    pub(crate) broker_port: u16,
    /// When the story started: the site clock counts from here.
    pub(crate) start: Instant,
    pub(crate) until: Option<Duration>,
    pub(crate) plain: bool,
    pub(crate) colour: bool,
    pub(crate) log: String,
    /// Told once the subscription is acknowledged, so nothing published after is missed.
    pub(crate) subscribed: oneshot::Sender<()>,
    /// The gateway's latest `status` state (`online`, `offline`).
    pub(crate) status: watch::Sender<String>,
}

/// Shows what arrives until `cancel`, then returns what was seen.
pub(crate) async fn run(p: Params, cancel: CancellationToken) -> View {
    let mut view = View::new(Arc::clone(&p.site));
    let prefix = format!("{}/#", p.site.uplink.topic_prefix);
    let mut o = MqttOptions::new("sitewarden-demo-view", "127.0.0.1", p.broker_port);
    o.set_keep_alive(Duration::from_secs(10));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 10);
    // The request waits in the channel until the event loop connects.
    if let Err(e) = client.try_subscribe(prefix, QoS::AtLeastOnce) {
        tracing::warn!(error = %e, "demo view cannot subscribe");
    }
    let mut subscribed = Some(p.subscribed);
    let look = Look {
        start: p.start,
        until: p.until,
        broker: format!("127.0.0.1:{}", p.broker_port),
        log: p.log,
        colour: p.colour,
    };
    let _screen = (!p.plain).then(Screen::enter);
    let mut redraw = tokio::time::interval(REDRAW);
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = redraw.tick(), if !p.plain => draw(&mut out, &view, &look, 0),
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed.take()
                        && tx.send(()).is_err()
                    {
                        tracing::debug!("nobody waits for the demo view's subscription");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(m))) => {
                    let at = site_clock(p.start, &p.site);
                    let line = view.apply(&m.topic, &m.payload, at);
                    // A closed stdout (`| head`) only ends the printing, not the demo.
                    if p.plain && writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                        tracing::debug!("stdout closed; demo view lines dropped");
                    }
                    if let Some(s) = &view.status {
                        p.status.send_if_modified(|old| {
                            let changed = old != s;
                            old.clone_from(s);
                            changed
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "demo view lost the broker; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                }
            },
        }
    }
    if !p.plain {
        // The last table leaves room for the demo's closing lines below it.
        draw(&mut out, &view, &look, FINAL_WORDS);
    }
    if client.try_disconnect().is_err() {
        tracing::debug!("demo view already disconnected");
    }
    view
}

/// The site clock now: the story's compressed day, and in the night the gateway's own
/// local time (the night's start is 21:59 there only to the minute).
fn site_clock(start: Instant, site: &Site) -> SiteTime {
    let local = site.gateway.timezone.local(crate::clock::now_ms()).secs;
    SiteTime::at(start.elapsed().as_millis() as u64).with_night_clock(local)
}

/// What the table needs besides the view.
struct Look {
    start: Instant,
    until: Option<Duration>,
    broker: String,
    log: String,
    colour: bool,
}

/// Draws the table in the terminal's size less `spare` rows.
fn draw(out: &mut impl Write, view: &View, look: &Look, spare: usize) {
    let (width, height) = terminal_size();
    let height = height.saturating_sub(spare);
    let header = Header {
        clock: site_clock(look.start, &view.site),
        elapsed: look.start.elapsed(),
        until: look.until,
        broker: look.broker.clone(),
        log: look.log.clone(),
    };
    let lines = table::render(view, &header, width, height, look.colour);
    // Home, each line cleared to its end, then everything below: no flicker, no scroll.
    let mut screen = String::from("\x1b[H");
    screen.push_str(&lines.join("\x1b[K\n"));
    screen.push_str("\x1b[K\x1b[J");
    if out
        .write_all(screen.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        tracing::debug!("stdout closed; demo view not drawn");
    }
}

/// A cleared screen with the cursor hidden, for as long as this lives.
struct Screen;

impl Screen {
    fn enter() -> Screen {
        print!("\x1b[?25l\x1b[H\x1b[2J");
        Screen
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Below the last table, which stays for the final words.
        println!("\x1b[?25h");
        if std::io::stdout().flush().is_err() {
            tracing::debug!("stdout closed before the screen was restored");
        }
    }
}

/// Columns and rows of the terminal on stdout (100 × 40 when it cannot tell).
fn terminal_size() -> (usize, usize) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct it is handed.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (usize::from(ws.ws_col), usize::from(ws.ws_row))
    } else {
        (100, 40)
    }
}

//! `sitewarden run`: THE wiring. Load → open the store → spawn the stages → wait for a
//! signal → stop in order.
//!
//! Stages and their threads:
//! - one tokio current-thread runtime (docs/design-facts.md §4: one thread is > 98 % idle at
//!   540 requests/s) runs the connection tasks and the uplink;
//! - ingest runs on its own thread, because it makes the blocking, fsyncing store calls;
//! - the ack thread batches outbox deletes.
//!
//! Shutdown order (each step bounded, a late stage is named in the log):
//! 1. cancel the sources; their sample senders drop;
//! 2. ingest sees the channel close, flushes the raw ring and commits what is due;
//! 3. the uplink waits (bounded) for outstanding acks, publishes `offline`, disconnects;
//! 4. the ack thread deletes the last acked records; exit 0.

use crate::clock;
use crate::health::{self, Health};
use crate::ingest;
use crate::site::{ConnectionKind, Site, Uplink};
use crate::source;
use crate::store::{CommandLog, Outbox, RawRing};
use crate::systemd;
use crate::uplink::{
    self, UplinkParams,
    command::{Router, RouterParams, Routes},
};
use anyhow::Context;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Samples in flight between the sources and ingest. Ingest normally keeps this near
/// empty; the bound only matters while it waits on a slow fsync (≤ 30 ms on an SD card),
/// and then the sources wait instead of the memory growing.
const SAMPLE_CHANNEL: usize = 1024;
/// Bounded waits of the ordered stop.
const STOP_SOURCES: Duration = Duration::from_secs(3);
const STOP_INGEST: Duration = Duration::from_secs(10);

pub fn main(config: &Path) -> anyhow::Result<()> {
    let site = Arc::new(super::load_site(config)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The handlers go in before anything else starts: a SIGTERM while the stores open
    // is then kept and answered with the ordered stop once the daemon is up, instead of
    // killing it half-started.
    let _rt = rt.enter();
    let stop = shutdown_signal();
    rt.block_on(serve_with_reload(site, Some(config), stop))
}

/// Installs the SIGTERM and SIGINT handlers now (inside a runtime); the future resolves on
/// the first of them, even one that came before it was first polled.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    }
}

/// Runs the daemon for `site` until `shutdown` resolves (no reload).
pub async fn serve(site: Arc<Site>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    serve_with_reload(site, None, shutdown).await
}

/// The running sources of one configuration.
struct Sources {
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Sources {
    /// One task per connection; returns them and the write channels for commands.
    fn spawn(
        site: &Arc<Site>,
        health: &Arc<Health>,
        samples: &mpsc::Sender<crate::reading::Sample>,
    ) -> (Sources, Vec<Option<source::modbus::WriteSender>>) {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut writes = Vec::with_capacity(site.connections.len());
        for (i, conn) in site.connections.iter().enumerate() {
            match conn.kind {
                ConnectionKind::ModbusTcp { .. }
                | ConnectionKind::ModbusRtu { .. }
                | ConnectionKind::ModbusRtuOverTcp { .. } => {
                    // A few queued writes per connection; more means the platform is
                    // hammering one device, and the command is answered as busy.
                    let (wtx, wrx) = mpsc::channel(8);
                    writes.push(Some(wtx));
                    tasks.spawn(source::modbus::run_connection(
                        Arc::clone(site),
                        i,
                        Arc::clone(health),
                        samples.clone(),
                        wrx,
                        cancel.clone(),
                    ));
                }
                ConnectionKind::Mqtt { .. } => {
                    writes.push(None);
                    tasks.spawn(source::camera::run_connection(
                        Arc::clone(site),
                        i,
                        Arc::clone(health),
                        samples.clone(),
                        cancel.clone(),
                    ));
                }
            }
        }
        tasks.close();
        (Sources { cancel, tasks }, writes)
    }

    /// Cancels and waits (bounded); returns whether every task ended in time.
    async fn stop(&self) -> bool {
        self.cancel.cancel();
        tokio::time::timeout(STOP_SOURCES, self.tasks.wait())
            .await
            .is_ok()
    }
}

/// Runs the daemon; with `config`, SIGHUP re-reads it.
pub async fn serve_with_reload(
    site: Arc<Site>,
    config: Option<&Path>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started_ms = clock::now_ms();
    // First, so a SIGHUP during startup (whose default action ends the process) waits
    // for the main loop like one that comes later.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    // The same look at every file as `sitewarden check` takes: refused here too.
    let problems = super::files::problems(&site, super::files::Judge::Myself);
    for p in &problems {
        if p.error {
            tracing::error!(key = %p.key, path = %p.path.display(), "{}", p.message);
        } else {
            tracing::warn!(key = %p.key, path = %p.path.display(), "{}", p.message);
        }
    }
    if let Some(p) = problems.iter().find(|p| p.error) {
        anyhow::bail!("reading {} {}: {}", p.key, p.path.display(), p.message);
    }
    let http = crate::http::bind(&site).await?;
    let data_dir = &site.gateway.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data_dir {}", data_dir.display()))?;
    let password = match &site.uplink.password_file {
        Some(p) => Some(
            crate::config::read_password(p)
                .with_context(|| format!("reading uplink.password_file {}", p.display()))?,
        ),
        None => None,
    };
    let transport = uplink::tls::transport(&site.uplink)?;
    let command_key = command_key(&site)?;
    let command_log = CommandLog::open(&data_dir.join("commands.log"), clock::now_ms())
        .with_context(|| format!("opening the command log in {}", data_dir.display()))?;
    let health = Arc::new(Health::new(site.devices.len()));
    let outbox = Arc::new(
        Outbox::open(&data_dir.join("outbox.redb"), site.buffer.outbox_max_bytes)
            .context("opening the outbox")?,
    );
    if let Some(q) = outbox.quarantined() {
        health::bump(&health.store_errors);
        tracing::error!(quarantine = ?q, "the outbox was corrupt: moved aside, started afresh");
    }
    let raw = RawRing::open(&data_dir.join("raw"), site.buffer.raw_max_bytes)
        .with_context(|| format!("opening the raw ring in {}", data_dir.display()))?;
    let wake = Arc::new(Notify::new());

    let (sample_tx, sample_rx) = mpsc::channel(SAMPLE_CHANNEL);
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let (live_tx, live_rx) = mpsc::channel(ingest::live::CHANNEL);
    let ingest_params = ingest::Params {
        site: Arc::clone(&site),
        raw,
        outbox: Arc::clone(&outbox),
        wake: Arc::clone(&wake),
        health: Arc::clone(&health),
        live: Some(live_tx),
    };
    let ingest_thread = std::thread::Builder::new()
        .name("sitewarden-ingest".into())
        .spawn(move || ingest::run(ingest_params, sample_rx, reload_rx))
        .context("spawning the ingest thread")?;

    let (mut sources, writes) = Sources::spawn(&site, &health, &sample_tx);
    let (routes_tx, routes_rx) = tokio::sync::watch::channel(Arc::new(writes.clone()));
    let (acks, ack_thread) = uplink::acks::spawn(Arc::clone(&outbox), Arc::clone(&health));
    let uplink_stop = CancellationToken::new();
    let (site_tx, site_rx) = tokio::sync::watch::channel(Arc::clone(&site));
    let router = Router::start(RouterParams {
        routes: Routes {
            site: Arc::clone(&site),
            writes,
        },
        outbox: Arc::clone(&outbox),
        wake: Arc::clone(&wake),
        health: Arc::clone(&health),
        log: command_log,
        key: command_key,
    });
    let uplink_task = tokio::spawn(uplink::run(
        UplinkParams {
            site: Arc::clone(&site),
            password,
            transport,
            outbox: Arc::clone(&outbox),
            wake: Arc::clone(&wake),
            health: Arc::clone(&health),
            acks,
            commands: router.clone(),
            started_ms,
            sites: site_rx.clone(),
            live: Some(live_rx),
        },
        uplink_stop.clone(),
    ));

    let status_stop = CancellationToken::new();
    let status_path = crate::status::socket_path(data_dir);
    let status_ctx = crate::status::socket::Context {
        site: site_rx,
        health: Arc::clone(&health),
        outbox: Arc::clone(&outbox),
        started_ms,
        routes: routes_rx,
    };
    // `[http]`, when configured; it asks what the status socket asks.
    let http_task = http.map(|h| h.spawn(status_ctx.clone(), status_stop.clone()));
    // Without its socket the daemon still does its job; `status` then says it cannot ask.
    let status_task = match crate::status::socket::bind(&status_path) {
        Ok(l) => Some(tokio::spawn(crate::status::socket::serve(
            l,
            status_path,
            status_ctx,
            status_stop.clone(),
        ))),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "no status socket; `sitewarden status` will not answer"
            );
            None
        }
    };

    tracing::info!(
        devices = site.devices.len(),
        connections = site.connections.len(),
        rules = site.rules.len(),
        broker = %site.uplink.broker,
        "sitewarden running"
    );
    systemd::ready(&status_line(&health, &outbox));

    // The main loop: signals, the watchdog and the status line.
    let mut current = Arc::clone(&site);
    let watchdog = systemd::watchdog_interval();
    let mut beat = tokio::time::interval(watchdog.map_or(Duration::from_secs(10), |w| {
        (w / 3).min(Duration::from_secs(10))
    }));
    let mut beats = 0u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hup.recv() => {
                let Some(path) = config else {
                    tracing::info!("SIGHUP ignored: no configuration file to re-read");
                    continue;
                };
                if let Some(next) = reload(path, &current) {
                    systemd::reloading();
                    if !sources.stop().await {
                        tracing::warn!("reload: old connection tasks late; abandoning them");
                    }
                    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                    let sent = reload_tx.send(ingest::Reload { site: Arc::clone(&next), done: done_tx }).await;
                    if sent.is_err() || tokio::time::timeout(STOP_INGEST, done_rx).await.is_err() {
                        tracing::error!("reload: ingest did not follow; stopping");
                        break;
                    }
                    health.resize(next.devices.len());
                    let (s, writes) = Sources::spawn(&next, &health, &sample_tx);
                    sources = s;
                    let probe_routes = Arc::new(writes.clone());
                    router.replace(Routes { site: Arc::clone(&next), writes });
                    current = next;
                    site_tx.send_replace(Arc::clone(&current));
                    // After the site: a probe that sees the new site with the old routes
                    // finds their tasks stopped and is told to try again.
                    routes_tx.send_replace(probe_routes);
                    tracing::info!(devices = current.devices.len(), rules = current.rules.len(), "configuration reloaded");
                    systemd::ready(&status_line(&health, &outbox));
                }
            }
            _ = beat.tick() => {
                let live = systemd::Liveness {
                    now: clock::now_ms(),
                    ingest_tick: health::get_ms(&health.ingest_tick_ms),
                    last_sample: health::get_ms(&health.last_sample_ms),
                    devices: current.devices.len(),
                    started: started_ms,
                };
                if watchdog.is_some() && systemd::healthy(live) {
                    systemd::watchdog();
                }
                beats += 1;
                release_free_memory();
                if beats.is_multiple_of(3) || watchdog.is_none() {
                    systemd::status(&status_line(&health, &outbox));
                }
            }
        }
    }
    systemd::stopping();

    // 1. Sources; then drop our sender so the sample channel closes when they are gone.
    if !sources.stop().await {
        tracing::warn!("shutdown: connection tasks late; abandoning them");
    }
    drop(sample_tx);
    drop(reload_tx);
    // 2. Ingest: it ends once every sample sender is gone.
    let joined = tokio::task::spawn_blocking(move || ingest_thread.join());
    match tokio::time::timeout(STOP_INGEST, joined).await {
        Ok(Ok(Ok(()))) => {}
        Ok(_) => tracing::error!("shutdown: ingest thread failed"),
        Err(_) => tracing::error!("shutdown: ingest late; the raw ring keeps what it flushed"),
    }
    // 3. Uplink, after the command answers still waiting for their batch are committed.
    router.flush().await;
    uplink_stop.cancel();
    if let Err(e) = uplink_task.await {
        tracing::error!(error = %e, "shutdown: uplink task failed");
    }
    // 4. Acks: the thread ends once the uplink's sender is dropped.
    if !matches!(
        tokio::task::spawn_blocking(move || ack_thread.join()).await,
        Ok(Ok(()))
    ) {
        tracing::error!("shutdown: ack thread failed; acked records will be published again");
    }
    status_stop.cancel();
    for t in [status_task, http_task].into_iter().flatten() {
        t.await.ok();
    }
    tracing::info!("sitewarden stopped");
    Ok(())
}

/// The command signing key (`[commands] key_file`), read once at start.
fn command_key(site: &Site) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = &site.uplink.commands.key_file else {
        return Ok(None);
    };
    let text = std::fs::read(path)
        .with_context(|| format!("reading commands.key_file {}", path.display()))?;
    let key = uplink::command::sign::key_from_file(&text)
        .map_err(|e| anyhow::anyhow!("commands.key_file {}: {e}", path.display()))?;
    Ok(Some(key))
}

/// Re-reads the configuration. A refused one is logged in full and the running one kept.
/// Changes to `[gateway]`, `[buffer]` and the uplink connection need a restart; the
/// summary interval, connections, devices, zones and rules follow at once.
fn reload(path: &Path, current: &Site) -> Option<Arc<Site>> {
    match crate::config::load(path) {
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!(error = %e, "reload refused");
            }
            tracing::error!(file = %path.display(), problems = errors.0.len(), "reload refused; the running configuration stays");
            systemd::status("reload refused; running the previous configuration");
            None
        }
        Ok(mut next) => {
            let kept = Uplink {
                summary_interval: next.uplink.summary_interval,
                ..current.uplink.clone()
            };
            if next.gateway != current.gateway
                || next.buffer != current.buffer
                || kept != next.uplink
            {
                tracing::warn!(
                    "changes to [gateway], [buffer], [commands] or the uplink connection take effect at the next restart"
                );
            }
            next.gateway = current.gateway.clone();
            next.buffer = current.buffer.clone();
            next.uplink = kept;
            Some(Arc::new(next))
        }
    }
}

/// Hands the allocator's free pages back to the OS. Each window close (records, JSON, the
/// store's commit) leaves free holes inside the heap that glibc keeps until reused;
/// `malloc_trim` releases whole free pages wherever they are (the site bench: 0.2 MB).
/// A walk of the free lists every beat (≤ 10 s) costs well under a millisecond.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The one-line state `systemctl status` shows.
fn status_line(health: &Health, outbox: &Outbox) -> String {
    let (ok, failing) = health.device_counts();
    let backlog = outbox.stats().map(|s| s.pending.total()).unwrap_or(0);
    let uplink = if health
        .uplink_online
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        "online"
    } else {
        "offline"
    };
    let mut line = format!(
        "{ok}/{} devices ok, backlog {backlog}, uplink {uplink}",
        ok + failing
    );
    if uplink == "offline"
        && let Some(why) = health.uplink_problem()
    {
        line.push_str(" (");
        line.push_str(&why);
        line.push(')');
    }
    line
}

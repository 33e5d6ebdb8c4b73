//! The running daemon as a value: `Daemon::start` opens the stores and spawns every
//! stage, `reload` swaps a new configuration in, `beat` feeds the watchdog and the status
//! line, and `stop(self)` ends the stages in order (see `run.rs`).

use crate::clock;
use crate::health::{self, Health};
use crate::ingest;
use crate::site::{ConnectionKind, Site};
use crate::source;
use crate::store::{CommandLog, Outbox, RawRing};
use crate::systemd;
use crate::uplink::{
    self, UplinkParams,
    command::{Router, RouterParams, Routes},
};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Samples in flight between the sources and ingest. Ingest normally keeps this near
/// empty; the bound only matters while it waits on a slow fsync (≤ 30 ms on an SD card),
/// and then the sources wait instead of the memory growing.
const SAMPLE_CHANNEL: usize = 1024;
/// Bounded waits of the ordered stop.
const STOP_SOURCES: Duration = Duration::from_secs(3);
const STOP_INGEST: Duration = Duration::from_secs(10);

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
                    let (wtx, wrx) = source::modbus::requests();
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

/// Every stage of the running daemon and the channels between them.
pub(super) struct Daemon {
    site: Arc<Site>,
    started_ms: crate::reading::Ms,
    health: Arc<Health>,
    outbox: Arc<Outbox>,
    sources: Sources,
    sample_tx: mpsc::Sender<crate::reading::Sample>,
    reload_tx: mpsc::Sender<ingest::Reload>,
    ingest_thread: std::thread::JoinHandle<()>,
    router: Router,
    /// The running configuration, for the uplink (inventory) and the status socket.
    site_tx: watch::Sender<Arc<Site>>,
    /// The connections' request channels, for probes through the status socket.
    routes_tx: watch::Sender<Arc<Vec<Option<source::modbus::WriteSender>>>>,
    uplink_stop: CancellationToken,
    uplink_task: JoinHandle<()>,
    ack_thread: std::thread::JoinHandle<()>,
    status_stop: CancellationToken,
    status_tasks: Vec<JoinHandle<()>>,
}

/// What the start reads before anything runs: secrets and keys.
struct Secrets {
    password: Option<String>,
    transport: rumqttc::Transport,
    command_key: Option<Vec<u8>>,
}

impl Daemon {
    /// Checks the files the start reads, opens the stores and spawns every stage.
    pub(super) async fn start(
        site: Arc<Site>,
        started_ms: crate::reading::Ms,
    ) -> anyhow::Result<Daemon> {
        check_files(&site)?;
        let http = crate::http::bind(&site).await?;
        let data_dir = &site.gateway.data_dir;
        let secrets = secrets(&site)?;
        let health = Arc::new(Health::new(site.devices.len()));
        let (outbox, command_log) = open_stores(&site, &health)?;
        let wake = Arc::new(Notify::new());

        let (live_tx, live_rx) = mpsc::channel(ingest::live::CHANNEL);
        let (sample_tx, reload_tx, ingest_thread) = spawn_ingest(ingest::Params {
            site: Arc::clone(&site),
            raw: RawRing::open(&data_dir.join("raw"), site.buffer.raw_max_bytes)
                .with_context(|| format!("opening the raw ring in {}", data_dir.display()))?,
            outbox: Arc::clone(&outbox),
            wake: Arc::clone(&wake),
            health: Arc::clone(&health),
            live: Some(live_tx),
        })?;

        let (sources, writes) = Sources::spawn(&site, &health, &sample_tx);
        let (routes_tx, _) = watch::channel(Arc::new(writes.clone()));
        let (acks, ack_thread) = uplink::acks::spawn(Arc::clone(&outbox), Arc::clone(&health));
        let (site_tx, _) = watch::channel(Arc::clone(&site));
        let router = Router::start(RouterParams {
            routes: Routes {
                site: Arc::clone(&site),
                writes,
            },
            outbox: Arc::clone(&outbox),
            wake: Arc::clone(&wake),
            health: Arc::clone(&health),
            log: command_log,
            key: secrets.command_key,
        });
        let uplink_stop = CancellationToken::new();
        let params = UplinkParams {
            site: Arc::clone(&site),
            password: secrets.password,
            transport: secrets.transport,
            outbox: Arc::clone(&outbox),
            wake,
            health: Arc::clone(&health),
            acks,
            commands: router.clone(),
            started_ms,
            sites: site_tx.subscribe(),
            live: Some(live_rx),
        };
        let uplink_task = tokio::spawn(uplink::run(params, uplink_stop.clone()));

        let mut daemon = Daemon {
            site,
            started_ms,
            health,
            outbox,
            sources,
            sample_tx,
            reload_tx,
            ingest_thread,
            router,
            site_tx,
            routes_tx,
            uplink_stop,
            uplink_task,
            ack_thread,
            status_stop: CancellationToken::new(),
            status_tasks: Vec::new(),
        };
        daemon.serve_status(http);
        daemon.ready();
        Ok(daemon)
    }

    fn ready(&self) {
        let site = &self.site;
        tracing::info!(
            devices = site.devices.len(),
            connections = site.connections.len(),
            rules = site.rules.len(),
            broker = %site.uplink.broker,
            "sitewarden running"
        );
        systemd::ready(&self.status_line());
    }

    /// The status socket, and the `[http]` page when configured: they read what the
    /// daemon keeps, and follow reloads through the watch channels.
    fn serve_status(&mut self, http: Option<crate::http::Bound>) {
        let ctx = crate::status::socket::Context {
            site: self.site_tx.subscribe(),
            health: Arc::clone(&self.health),
            outbox: Arc::clone(&self.outbox),
            started_ms: self.started_ms,
            routes: self.routes_tx.subscribe(),
        };
        let data_dir = &self.site.gateway.data_dir;
        self.status_tasks = status_tasks(data_dir, http, ctx, &self.status_stop);
    }

    /// The configuration running now.
    pub(super) fn site(&self) -> &Site {
        &self.site
    }

    /// Swaps `next` in: the old sources stop, ingest takes the new site, new sources
    /// start, and commands, the uplink and the status socket follow. False when ingest did
    /// not follow: the daemon must stop.
    pub(super) async fn reload(&mut self, next: Arc<Site>) -> bool {
        systemd::reloading();
        if !self.sources.stop().await {
            tracing::warn!("reload: old connection tasks late; abandoning them");
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let reload = ingest::Reload {
            site: Arc::clone(&next),
            done: done_tx,
        };
        let sent = self.reload_tx.send(reload).await;
        if sent.is_err() || tokio::time::timeout(STOP_INGEST, done_rx).await.is_err() {
            tracing::error!("reload: ingest did not follow; stopping");
            return false;
        }
        self.health.resize(next.devices.len());
        let (sources, writes) = Sources::spawn(&next, &self.health, &self.sample_tx);
        self.sources = sources;
        let probe_routes = Arc::new(writes.clone());
        (self.router).replace(Routes {
            site: Arc::clone(&next),
            writes,
        });
        self.site = next;
        self.site_tx.send_replace(Arc::clone(&self.site));
        // After the site: a probe that sees the new site with the old routes finds their
        // tasks stopped and is told to try again.
        self.routes_tx.send_replace(probe_routes);
        tracing::info!(
            devices = self.site.devices.len(),
            rules = self.site.rules.len(),
            "configuration reloaded"
        );
        systemd::ready(&self.status_line());
        true
    }

    /// One beat of the main loop: the watchdog while ingest and the sources are alive,
    /// free heap pages back to the OS, and (when `status`) the systemd status line.
    pub(super) fn beat(&self, watchdog: bool, status: bool) {
        let live = systemd::Liveness {
            now: clock::now_ms(),
            ingest_tick: health::get_ms(&self.health.ingest_tick_ms),
            last_sample: health::get_ms(&self.health.last_sample_ms),
            devices: self.site.devices.len(),
            started: self.started_ms,
        };
        if watchdog && systemd::healthy(live) {
            systemd::watchdog();
        }
        release_free_memory();
        if status {
            systemd::status(&self.status_line());
        }
    }

    /// The ordered stop: sources, ingest, the uplink (after the command answers still
    /// waiting for their batch), the ack thread, the status socket and page. Each step
    /// is bounded; a late one is named in the log.
    pub(super) async fn stop(self) {
        systemd::stopping();
        // 1. Sources; then drop our sender so the sample channel closes when they are gone.
        if !self.sources.stop().await {
            tracing::warn!("shutdown: connection tasks late; abandoning them");
        }
        drop(self.sample_tx);
        drop(self.reload_tx);
        // 2. Ingest: it ends once every sample sender is gone.
        let ingest = self.ingest_thread;
        let joined = tokio::task::spawn_blocking(move || ingest.join());
        match tokio::time::timeout(STOP_INGEST, joined).await {
            Ok(Ok(Ok(()))) => {}
            Ok(_) => tracing::error!("shutdown: ingest thread failed"),
            Err(_) => tracing::error!("shutdown: ingest late; the raw ring keeps what it flushed"),
        }
        // 3. Uplink, after the command answers still waiting for their batch are committed.
        self.router.flush().await;
        self.uplink_stop.cancel();
        if let Err(e) = self.uplink_task.await {
            tracing::error!(error = %e, "shutdown: uplink task failed");
        }
        // 4. Acks: the thread ends once the uplink's sender is dropped.
        let acks = self.ack_thread;
        if !matches!(
            tokio::task::spawn_blocking(move || acks.join()).await,
            Ok(Ok(()))
        ) {
            tracing::error!("shutdown: ack thread failed; acked records will be published again");
        }
        self.status_stop.cancel();
        for t in self.status_tasks {
            t.await.ok();
        }
        tracing::info!("sitewarden stopped");
    }

    /// The one-line state `systemctl status` shows.
    fn status_line(&self) -> String {
        status_line(&self.health, &self.outbox)
    }
}

/// The same look at every file as `sitewarden check` takes: refused here too.
fn check_files(site: &Site) -> anyhow::Result<()> {
    let problems = super::super::files::problems(site, super::super::files::Judge::Myself);
    for p in &problems {
        if p.error {
            tracing::error!(key = %p.key, path = %p.path.display(), "{}", p.message);
        } else {
            tracing::warn!(key = %p.key, path = %p.path.display(), "{}", p.message);
        }
    }
    match problems.iter().find(|p| p.error) {
        Some(p) => anyhow::bail!("reading {} {}: {}", p.key, p.path.display(), p.message),
        None => Ok(()),
    }
}

/// The uplink's password, its TLS transport and the command signing key, read once.
fn secrets(site: &Site) -> anyhow::Result<Secrets> {
    let password = match &site.uplink.password_file {
        Some(p) => Some(
            crate::config::read_password(p)
                .with_context(|| format!("reading uplink.password_file {}", p.display()))?,
        ),
        None => None,
    };
    Ok(Secrets {
        password,
        transport: uplink::tls::transport(&site.uplink)?,
        command_key: command_key(site)?,
    })
}

/// The data directory, the command log and the outbox (the raw ring goes to ingest).
fn open_stores(site: &Site, health: &Health) -> anyhow::Result<(Arc<Outbox>, CommandLog)> {
    let data_dir = &site.gateway.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data_dir {}", data_dir.display()))?;
    let command_log = CommandLog::open(&data_dir.join("commands.log"), clock::now_ms())
        .with_context(|| format!("opening the command log in {}", data_dir.display()))?;
    Ok((open_outbox(site, health)?, command_log))
}

fn open_outbox(site: &Site, health: &Health) -> anyhow::Result<Arc<Outbox>> {
    let path = site.gateway.data_dir.join("outbox");
    let outbox = Outbox::open(&path, site.buffer.outbox_max_bytes).context("opening the outbox")?;
    if let Some(q) = outbox.quarantined() {
        health::bump(&health.store_errors);
        tracing::error!(damage = ?q, "the outbox was damaged: what is intact was kept");
    }
    Ok(Arc::new(outbox))
}

/// The ingest thread, fed samples and reloads through the channels returned.
type IngestHandles = (
    mpsc::Sender<crate::reading::Sample>,
    mpsc::Sender<ingest::Reload>,
    std::thread::JoinHandle<()>,
);

fn spawn_ingest(params: ingest::Params) -> anyhow::Result<IngestHandles> {
    let (sample_tx, sample_rx) = mpsc::channel(SAMPLE_CHANNEL);
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let thread = std::thread::Builder::new()
        .name("sitewarden-ingest".into())
        .spawn(move || ingest::run(params, sample_rx, reload_rx))
        .context("spawning the ingest thread")?;
    Ok((sample_tx, reload_tx, thread))
}

/// The status socket's task, and the `[http]` page's when configured (it asks what the
/// socket asks).
fn status_tasks(
    data_dir: &std::path::Path,
    http: Option<crate::http::Bound>,
    ctx: crate::status::socket::Context,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks: Vec<JoinHandle<()>> = http
        .map(|h| h.spawn(ctx.clone(), stop.clone()))
        .into_iter()
        .collect();
    tasks.extend(status_socket(data_dir, ctx, stop));
    tasks
}

/// The status socket's task. Without its socket the daemon still does its job;
/// `status` then says it cannot ask.
fn status_socket(
    data_dir: &std::path::Path,
    ctx: crate::status::socket::Context,
    stop: &CancellationToken,
) -> Option<JoinHandle<()>> {
    let path = crate::status::socket_path(data_dir);
    match crate::status::socket::bind(&path) {
        Ok(l) => Some(tokio::spawn(crate::status::socket::serve(
            l,
            path,
            ctx,
            stop.clone(),
        ))),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "no status socket; `sitewarden status` will not answer"
            );
            None
        }
    }
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

//! `sitewarden run`: THE wiring. Load → open the store → spawn the stages → wait for a
//! signal → stop in order.
//!
//! Stages and their threads:
//! - one tokio current-thread runtime (dependencies.md §8: one thread is > 98 % idle at
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
use crate::health::Health;
use crate::ingest;
use crate::site::{ConnectionKind, Site};
use crate::source;
use crate::store::{Outbox, RawRing};
use crate::systemd;
use crate::uplink::{self, UplinkParams, command::Router};
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
    rt.block_on(serve(site, shutdown_signal()))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

/// Runs the daemon for `site` until `shutdown` resolves.
pub async fn serve(site: Arc<Site>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let started_ms = clock::now_ms();
    let data_dir = &site.gateway.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data_dir {}", data_dir.display()))?;
    let password = match &site.uplink.password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading uplink.password_file {}", p.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        None => None,
    };
    let transport = uplink::tls::transport(&site.uplink)?;
    let health = Arc::new(Health::new(site.devices.len()));
    let outbox = Arc::new(
        Outbox::open(&data_dir.join("outbox.redb"), site.buffer.outbox_max_bytes)
            .context("opening the outbox")?,
    );
    let raw = RawRing::open(&data_dir.join("raw"), site.buffer.raw_max_bytes)
        .with_context(|| format!("opening the raw ring in {}", data_dir.display()))?;
    let wake = Arc::new(Notify::new());

    let (sample_tx, sample_rx) = mpsc::channel(SAMPLE_CHANNEL);
    let ingest_params = ingest::Params {
        site: Arc::clone(&site),
        raw,
        outbox: Arc::clone(&outbox),
        wake: Arc::clone(&wake),
        health: Arc::clone(&health),
    };
    let ingest_thread = std::thread::Builder::new()
        .name("sitewarden-ingest".into())
        .spawn(move || ingest::run(ingest_params, sample_rx))
        .context("spawning the ingest thread")?;

    let sources_cancel = CancellationToken::new();
    let sources = TaskTracker::new();
    let mut writes = Vec::with_capacity(site.connections.len());
    for (i, conn) in site.connections.iter().enumerate() {
        match conn.kind {
            ConnectionKind::ModbusTcp { .. } | ConnectionKind::ModbusRtu { .. } => {
                // A few queued writes per connection; more means the platform is
                // hammering one device, and the command is answered as busy.
                let (wtx, wrx) = mpsc::channel(8);
                writes.push(Some(wtx));
                sources.spawn(source::modbus::run_connection(
                    Arc::clone(&site),
                    i,
                    Arc::clone(&health),
                    sample_tx.clone(),
                    wrx,
                    sources_cancel.clone(),
                ));
            }
            ConnectionKind::Mqtt { .. } => {
                writes.push(None);
                sources.spawn(source::camera::run_connection(
                    Arc::clone(&site),
                    i,
                    Arc::clone(&health),
                    sample_tx.clone(),
                    sources_cancel.clone(),
                ));
            }
        }
    }
    drop(sample_tx);
    sources.close();

    let (acks, ack_thread) = uplink::acks::spawn(Arc::clone(&outbox), Arc::clone(&health));
    let uplink_stop = CancellationToken::new();
    let router = Router {
        site: Arc::clone(&site),
        writes,
        outbox: Arc::clone(&outbox),
        wake: Arc::clone(&wake),
        health: Arc::clone(&health),
    };
    let uplink_task = tokio::spawn(uplink::run(
        UplinkParams {
            site: Arc::clone(&site),
            password,
            transport,
            outbox: Arc::clone(&outbox),
            wake: Arc::clone(&wake),
            health: Arc::clone(&health),
            acks,
            commands: router,
            started_ms,
        },
        uplink_stop.clone(),
    ));

    tracing::info!(
        devices = site.devices.len(),
        connections = site.connections.len(),
        rules = site.rules.len(),
        broker = %site.uplink.broker,
        "sitewarden running"
    );
    systemd::ready(&format!("{} devices", site.devices.len()));
    shutdown.await;
    systemd::stopping();

    // 1. Sources.
    sources_cancel.cancel();
    if tokio::time::timeout(STOP_SOURCES, sources.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connection tasks late; abandoning them");
    }
    // 2. Ingest: it ends once every sample sender is gone.
    let joined = tokio::task::spawn_blocking(move || ingest_thread.join());
    match tokio::time::timeout(STOP_INGEST, joined).await {
        Ok(Ok(Ok(()))) => {}
        Ok(_) => tracing::error!("shutdown: ingest thread failed"),
        Err(_) => tracing::error!("shutdown: ingest late; the raw ring keeps what it flushed"),
    }
    // 3. Uplink.
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
    tracing::info!("sitewarden stopped");
    Ok(())
}

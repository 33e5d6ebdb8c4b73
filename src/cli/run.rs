//! `sitewarden run`: load → start the daemon (`wiring::Daemon`: open the store, spawn
//! the stages) → wait for a signal (SIGHUP reloads) → stop in order.
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

mod wiring;

use crate::clock;
use crate::footprint;
use crate::site::{Site, Uplink};
use crate::systemd;
use anyhow::Context;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wiring::Daemon;

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
    let mut daemon = Daemon::start(site, started_ms).await?;

    // The main loop: signals, the watchdog and the status line.
    let watchdog = systemd::watchdog_interval();
    let mut beat = tokio::time::interval(watchdog.map_or(Duration::from_secs(10), |w| {
        (w / 3).min(Duration::from_secs(10))
    }));
    let mut beats = 0u64;
    // Start-up's code is let go once it is over, again after each reload, and every hour.
    let mut release_code = tokio::time::Instant::now() + footprint::AFTER_START;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hup.recv() => {
                let Some(path) = config else {
                    tracing::info!("SIGHUP ignored: no configuration file to re-read");
                    continue;
                };
                if let Some(next) = reload(path, daemon.site()) {
                    if !daemon.reload(next).await {
                        break;
                    }
                    release_code = tokio::time::Instant::now() + footprint::AFTER_START;
                }
            }
            _ = beat.tick() => {
                beats += 1;
                daemon.beat(watchdog.is_some(), beats.is_multiple_of(3) || watchdog.is_none());
                if tokio::time::Instant::now() >= release_code {
                    release_code = tokio::time::Instant::now() + footprint::EVERY;
                    let bytes = footprint::release_start_up_pages();
                    tracing::debug!(bytes, "start-up code let go");
                }
            }
        }
    }
    daemon.stop().await;
    Ok(())
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

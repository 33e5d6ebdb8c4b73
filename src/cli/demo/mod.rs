//! `sitewarden demo`: a whole simulated site on this machine, in one process, with no
//! hardware and nothing to install beyond cargo.
//!
//! On loopback only: an embedded MQTT broker (`broker`), a dozen turnstiles, two fever
//! kiosks, four thermometers, a river meter, a sound level meter and four patrol tag
//! readers served by real Modbus TCP servers, two cameras publishing JSON (`driver`,
//! `layout`), a story that runs a visitor day in four minutes and then a night with a
//! loud bar street and a night patrol, in real time (`scenario`), the real daemon (`cli::run::serve`) with a generated config, and
//! a live view subscribed to `sitewarden/#` as the platform would be (`live`, `view`,
//! `table`).
//!
//! The config, the store and the daemon's log live in a fresh directory under the system
//! temp dir, which is kept afterwards and named at the end: `sitewarden check` and
//! `sitewarden outbox` work on it. The daemon logs there, not to the terminal, so the
//! live view stays readable. `--for` ends the demo after a while; Ctrl-C (or SIGTERM)
//! ends it at once. Either way the daemon stops in order and the exit code is 0.

mod broker;
mod driver;
mod layout;
mod live;
mod scenario;
mod table;
mod view;

use crate::config;
use crate::sim::camera::{self, SimCamera};
use anyhow::Context;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The story is the same on every run.
const SEED: u64 = 2026;
/// How long the view may take to subscribe before the daemon starts anyway.
const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(5);
/// How long the view waits for the daemon's `offline` after it stopped.
const OFFLINE_WITHIN: Duration = Duration::from_secs(3);
/// Real cameras send a heartbeat every 30 s; the demo's are quicker.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Runs the demo until `run_for` has passed or a signal arrives. `plain` prints one line
/// per message instead of the live table (also when stdout is not a terminal).
pub fn main(run_for: Option<Duration>, plain: bool) -> anyhow::Result<()> {
    let plain = plain || !std::io::stdout().is_terminal();
    let dir = fresh_dir().context("creating the demo's directory")?;
    let log = dir.join("demo.log");
    init_logging(&log)?;
    let broker = broker::start()?;
    println!(
        "sitewarden demo: broker on 127.0.0.1:{}, state and daemon log in {}",
        broker.port,
        dir.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let seen = rt.block_on(demo(&dir, &log, broker.port, run_for, plain))?;
    let c = seen.counts;
    println!(
        "sitewarden demo over: {} summaries, {} zone windows, {} alarm changes received.",
        c.summaries, c.zones, c.alarms
    );
    println!(
        "config, store and daemon log kept in {} (sitewarden outbox -c {})",
        dir.display(),
        dir.join("sitewarden.toml").display()
    );
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM; installed at once, so an early Ctrl-C still
/// ends the demo in order.
fn stop_signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let stopped = async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping the demo"),
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping the demo"),
        }
    };
    Ok(stopped)
}

/// The scenario's cameras on the demo broker: each sends its heartbeat; the scenario
/// sends their counts and intrusions.
fn start_cameras(
    broker_port: u16,
    stop: &CancellationToken,
) -> HashMap<&'static str, camera::CameraHandle> {
    let mut cameras = HashMap::new();
    for (i, &(id, area, _, _)) in scenario::CAMERAS.iter().enumerate() {
        let (handle, runner) = camera::camera(
            broker_port,
            SimCamera {
                id: id.to_string(),
                zone: area.to_string(),
                heartbeat_every: HEARTBEAT,
                count_every: Duration::from_secs(3600),
                intrusion_every: 0,
                seed: i as u64 + 1,
            },
        );
        // The scenario sends the counts and intrusions; the camera only its heartbeat.
        handle.set_events(false);
        tokio::spawn(runner.run(stop.clone()));
        cameras.insert(id, handle);
    }
    cameras
}

/// The demo site's config, written to `dir` (so a curious user can read it) with the
/// ports the simulated devices got, and loaded as the daemon would load it.
fn site_config(
    dir: &Path,
    broker_port: u16,
    servers: &[driver::Server],
    offset: i64,
) -> anyhow::Result<Arc<crate::site::Site>> {
    let ports: HashMap<&str, u16> = servers.iter().map(|s| (s.name, s.port)).collect();
    let text = layout::config_toml(
        broker_port,
        |n| ports.get(n).copied().unwrap_or(0),
        &dir.join("data"),
        offset,
    );
    let config_path = dir.join("sitewarden.toml");
    std::fs::write(&config_path, &text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let site = config::load_from(&text, &config_path.display().to_string(), &[], &[])
        .map_err(|e| anyhow::anyhow!("the demo's own config was refused:\n{e}"))?;
    Ok(Arc::new(site))
}

async fn demo(
    dir: &Path,
    log: &Path,
    broker_port: u16,
    run_for: Option<Duration>,
    plain: bool,
) -> anyhow::Result<view::View> {
    // Listen for Ctrl-C from the start: the view hides the cursor, and an early Ctrl-C
    // must still end in order and give it back.
    let stopped = stop_signals()?;
    let mut servers = driver::bind()
        .await
        .context("binding the simulated devices")?;
    let offset = layout::night_offset(crate::clock::now_ms());
    let site = site_config(dir, broker_port, &servers, offset)?;
    driver::serve(&mut servers, &site);

    let stop_sims = CancellationToken::new();
    let cameras = start_cameras(broker_port, &stop_sims);
    let driver = driver::Driver::new(servers, &site, cameras);
    let mut story = scenario::Scenario::new(SEED).with_offset(offset);
    driver.apply(&story.step(0, crate::clock::now_ms()));

    let start = Instant::now();
    let (subscribed, ready) = oneshot::channel();
    let (status, mut status_rx) = watch::channel(String::new());
    let stop_view = CancellationToken::new();
    let viewer = tokio::spawn(live::run(
        live::Params {
            site: Arc::clone(&site),
            broker_port,
            start,
            until: run_for,
            plain,
            colour: std::env::var_os("NO_COLOR").is_none(),
            log: log.display().to_string(),
            subscribed,
            status,
        },
        stop_view.clone(),
    ));
    if tokio::time::timeout(SUBSCRIBE_WITHIN, ready).await.is_err() {
        tracing::warn!("demo view not subscribed yet; starting the daemon anyway");
    }
    tokio::spawn(driver::run(driver, story, start, stop_sims.clone()));

    let stop = CancellationToken::new();
    let daemon = crate::cli::run::serve(site, stop.clone().cancelled_owned());
    tokio::pin!(daemon);
    let until = async {
        match run_for {
            Some(d) => tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stopped => {}
            },
            None => stopped.await,
        }
    };
    let served = tokio::select! {
        r = &mut daemon => r,
        _ = until => {
            stop.cancel();
            daemon.await
        }
    };
    // The daemon's last word is a retained `offline`; show it before closing the view.
    let offline = status_rx.wait_for(|s| s == "offline");
    if tokio::time::timeout(OFFLINE_WITHIN, offline).await.is_err() {
        tracing::warn!("demo view did not see the gateway go offline");
    }
    stop_view.cancel();
    stop_sims.cancel();
    let seen = viewer.await.context("the demo view failed")?;
    served?;
    Ok(seen)
}

/// A new directory `sitewarden-demo-<pid>[-n]` in the system temp dir.
fn fresh_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let pid = std::process::id();
    let mut n = 0;
    loop {
        let name = match n {
            0 => format!("sitewarden-demo-{pid}"),
            n => format!("sitewarden-demo-{pid}-{n}"),
        };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// The daemon (and the broker) log to `path`, so the terminal is the view's alone.
/// `RUST_LOG` filters as for `run` (default `info`, the broker at `warn`).
fn init_logging(path: &Path) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating the demo log {}", path.display()))?;
    // The same `Targets` filter as the daemon's (`RUST_LOG`, `target=level` syntax); the
    // embedded broker is quiet unless asked for.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
                .with_target("rumqttd", tracing_subscriber::filter::LevelFilter::OFF)
        });
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(Arc::new(file))
                .with_ansi(false)
                .with_target(false),
        )
        .try_init()
        .map_err(|e| anyhow::anyhow!("setting up the demo log: {e}"))
}

//! Plays the scenario on the simulated devices: the Modbus servers' register images, their
//! faults, and the cameras' messages.
//!
//! Owns the simulated servers of the demo (one tokio-modbus TCP server per `SERVERS`
//! entry on a free loopback port) and the tick that moves the story on. Knows nothing
//! of the daemon: it only changes what the devices would answer.

use super::layout::{DEVICES, SERVERS};
use super::scenario::{Frame, Scenario};
use crate::clock;
use crate::sim::camera::CameraHandle;
use crate::sim::modbus::{self, Fault, Faults, Image, Units};
use crate::site::{Point, Site};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the story moves on: fast enough that a 500 ms poll never sees a stale
/// scan, slow enough to cost nothing.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// One simulated Modbus TCP server and the units behind it.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    units: Units,
    faults: Faults,
    listener: Option<TcpListener>,
    task: Option<JoinHandle<()>>,
}

/// Binds every simulated server on `127.0.0.1:0`. They answer nothing until `serve`.
pub(crate) async fn bind() -> std::io::Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(SERVERS.len());
    for s in SERVERS {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        servers.push(Server {
            name: s.name,
            port: listener.local_addr()?.port(),
            units: modbus::units([]),
            faults: Faults::default(),
            listener: Some(listener),
            task: None,
        });
    }
    Ok(servers)
}

/// Gives every Modbus device of `site` a register image on its server and starts serving.
pub(crate) fn serve(servers: &mut [Server], site: &Site) {
    for s in servers.iter_mut() {
        let conn = site.connections.iter().position(|c| c.name == s.name);
        {
            let mut units = lock(&s.units);
            for d in conn.into_iter().flat_map(|c| site.devices_on(c)) {
                let d = &site.devices[d];
                units.insert(d.unit, Image::with_points(&d.points));
            }
        }
        if let Some(listener) = s.listener.take() {
            s.task = Some(modbus::serve_tcp(
                listener,
                Arc::clone(&s.units),
                s.faults.clone(),
            ));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Where a device's numbers go.
struct Target {
    server: usize,
    unit: u8,
    points: Vec<Point>,
}

/// Applies frames to the servers and cameras.
pub(crate) struct Driver {
    servers: Vec<Server>,
    targets: HashMap<&'static str, Target>,
    cameras: HashMap<&'static str, CameraHandle>,
}

impl Driver {
    pub(crate) fn new(
        servers: Vec<Server>,
        site: &Site,
        cameras: HashMap<&'static str, CameraHandle>,
    ) -> Driver {
        let mut targets = HashMap::new();
        for d in DEVICES {
            let (Some(server), Some(device)) = (
                servers.iter().position(|s| s.name == d.connection),
                site.devices.iter().find(|x| x.id == d.id),
            ) else {
                continue;
            };
            targets.insert(
                d.id,
                Target {
                    server,
                    unit: device.unit,
                    points: device.points.to_vec(),
                },
            );
        }
        Driver {
            servers,
            targets,
            cameras,
        }
    }

    /// Writes a frame into the register images, one lock per server, so a poll sees a
    /// device's points all from the same moment (a kiosk's scan count and temperature
    /// change together). Then sets or lifts each unit's silence.
    pub(crate) fn apply(&self, frame: &Frame) {
        for (i, server) in self.servers.iter().enumerate() {
            let mut units = lock(&server.units);
            for (device, point, raw) in &frame.writes {
                let Some(t) = self.targets.get(device).filter(|t| t.server == i) else {
                    continue;
                };
                let (Some(image), Some(p)) = (
                    units.get_mut(&t.unit),
                    t.points.iter().find(|p| p.name == *point),
                ) else {
                    continue;
                };
                if let Err(e) = image.set_point(p, *raw) {
                    tracing::debug!(device, point, raw, error = %e, "simulated value not written");
                }
            }
        }
        for (id, t) in &self.targets {
            let faults = &self.servers[t.server].faults;
            if frame.silent.contains(id) {
                faults.set(t.unit, Fault::Silent);
            } else {
                faults.clear(t.unit);
            }
        }
    }

    /// Publishes the frame's camera messages.
    pub(crate) async fn publish(&self, frame: &Frame) {
        for (cam, payload) in &frame.camera {
            if let Some(h) = self.cameras.get(cam) {
                h.publish_event(payload.clone()).await;
            }
        }
    }
}

/// Moves the story on every `TICK` from `start` until `cancel`.
pub(crate) async fn run(
    driver: Driver,
    mut scenario: Scenario,
    start: Instant,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                let elapsed = start.elapsed().as_millis() as u64;
                let frame = scenario.step(elapsed, clock::now_ms());
                driver.apply(&frame);
                driver.publish(&frame).await;
            }
        }
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; the image is intact.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

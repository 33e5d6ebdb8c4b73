//! What camera messages and silences become: routing a topic to its cameras, one
//! sample per message that carries something, silent samples when a heartbeat is
//! missed, and the health counters and rate-limited lines that go with them. Knows
//! nothing of the MQTT connection; `now` is a parameter, except for `Sample.ts`, which
//! is the wall-clock time of arrival.

use super::decode;
use super::watch::Heartbeat;
use crate::clock;
use crate::health::{self, Health};
use crate::loggate::LogGate;
use crate::reading::{PollError, Sample};
use crate::site::Site;
use rumqttc::{QoS, SubscribeFilter};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Rejected messages are logged at most this often per device.
const LOG_EVERY_MS: crate::reading::Ms = 60_000;

/// Which of a camera's topics a message came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Events,
    Status,
}

/// One camera device on this connection.
pub(super) struct Cam {
    /// Index into `Site::devices`.
    device: usize,
    heartbeat: Heartbeat,
    rejects: LogGate,
}

/// The cameras of one connection and the topics that lead to them.
pub(super) struct Cameras {
    pub(super) cams: Vec<Cam>,
    /// Topic → (index into `cams`, role). A topic may serve several cameras.
    routes: HashMap<String, Vec<(usize, Role)>>,
}

impl Cameras {
    pub(super) fn new(site: &Site, conn: usize, now: Instant) -> Cameras {
        let mut cams = Vec::new();
        let mut routes: HashMap<String, Vec<(usize, Role)>> = HashMap::new();
        for device in site.devices_on(conn) {
            let d = &site.devices[device];
            let Some(cam) = &d.camera else {
                tracing::warn!(device = %d.id, "device on an mqtt connection has no [camera] table; ignored");
                continue;
            };
            let i = cams.len();
            cams.push(Cam {
                device,
                heartbeat: Heartbeat::new(cam.heartbeat_timeout, now),
                rejects: LogGate::new(LOG_EVERY_MS, 1),
            });
            for (topic, role) in [
                (&cam.events_topic, Role::Events),
                (&cam.status_topic, Role::Status),
            ] {
                routes.entry(topic.clone()).or_default().push((i, role));
            }
        }
        Cameras { cams, routes }
    }

    /// The earliest heartbeat deadline (far ahead when there are no cameras).
    pub(super) fn next_deadline(&self, now: Instant) -> Instant {
        let far = now + Duration::from_secs(3600);
        self.cams
            .iter()
            .map(|c| c.heartbeat.deadline())
            .min()
            .unwrap_or(far)
    }

    pub(super) fn filters(&self) -> Vec<SubscribeFilter> {
        let mut topics: Vec<&String> = self.routes.keys().collect();
        topics.sort();
        topics
            .into_iter()
            .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce))
            .collect()
    }
}

/// What the task needs at hand while it runs.
pub(super) struct Ctx<'a> {
    pub(super) site: &'a Site,
    pub(super) connection: &'a str,
    pub(super) max_payload_bytes: usize,
    pub(super) health: &'a Health,
    pub(super) samples: &'a mpsc::Sender<Sample>,
}

/// Handles one live message; false when the sample channel is closed.
pub(super) fn on_message(
    ctx: &Ctx<'_>,
    cameras: &mut Cameras,
    topic: &str,
    payload: &[u8],
    now: Instant,
) -> bool {
    let Some(routes) = cameras.routes.get(topic) else {
        tracing::debug!(topic, "message on a topic no camera uses");
        return true;
    };
    // Parsed at most once, however many cameras share the topic.
    let mut parsed = None;
    for &(i, role) in routes {
        let cam = &mut cameras.cams[i];
        let device = &ctx.site.devices[cam.device];
        health::bump(&ctx.health.polls);
        let back = cam.heartbeat.heard(now);
        ctx.health.set_device_ok(cam.device, true);
        if back {
            tracing::info!(device = %device.id, "camera heard again");
        }
        let mut values = None;
        if role == Role::Events {
            let msg = parsed.get_or_insert_with(|| decode::parse(payload, ctx.max_payload_bytes));
            match msg
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|m| decode::values(device, m))
            {
                Ok(v) => values = v,
                Err(reject) => {
                    health::bump(&ctx.health.camera_rejected);
                    if reject.is_malformed() {
                        health::bump(&ctx.health.malformed);
                    }
                    if let Some(suppressed) = cam.rejects.admit(clock::now_ms()) {
                        let rejected = suppressed + 1;
                        tracing::warn!(device = %device.id, topic, error = %reject, rejected, "camera message rejected");
                    }
                }
            }
        }
        // A message that came back from silence always yields a sample, so the offline
        // alarm clears even when it was a bare heartbeat.
        let values = match values {
            Some(v) => v,
            None if back => vec![None; device.points.len()],
            None => continue,
        };
        if !emit(ctx, cam.device, values, None) {
            return false;
        }
    }
    true
}

/// Sends a silent sample for every camera whose deadline passed; false when the sample
/// channel is closed.
pub(super) fn silent_due(ctx: &Ctx<'_>, cameras: &mut Cameras, now: Instant) -> bool {
    for cam in &mut cameras.cams {
        let was_silent = cam.heartbeat.is_silent();
        if !cam.heartbeat.due(now) {
            continue;
        }
        let device = &ctx.site.devices[cam.device];
        ctx.health.set_device_ok(cam.device, false);
        if !was_silent {
            let timeout = ctx.site.devices[cam.device]
                .camera
                .as_ref()
                .map(|c| c.heartbeat_timeout)
                .unwrap_or_default();
            tracing::warn!(device = %device.id, connection = %ctx.connection, timeout = %humantime::format_duration(timeout), "camera silent: nothing heard within its heartbeat timeout");
        }
        let values = vec![None; device.points.len()];
        if !emit(ctx, cam.device, values, Some(PollError::Silent)) {
            return false;
        }
    }
    true
}

/// Hands a sample to ingest without waiting: a full channel means ingest is behind, and
/// the sample is counted and dropped rather than stalling the MQTT keep-alive. False when
/// the channel is closed.
fn emit(ctx: &Ctx<'_>, device: usize, values: Vec<Option<f64>>, error: Option<PollError>) -> bool {
    let sample = Sample {
        device,
        ts: clock::now_ms(),
        values,
        texts: Vec::new(),
        error,
    };
    match ctx.samples.try_send(sample) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            health::bump(&ctx.health.samples_dropped);
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            tracing::debug!(connection = %ctx.connection, "sample channel closed; camera task ends");
            false
        }
    }
}

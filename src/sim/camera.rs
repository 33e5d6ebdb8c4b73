//! A simulated AI camera for the demo and the tests: it publishes `people_count` events,
//! now and then an `intrusion`, and a heartbeat, to `cameras/{id}/events` and
//! `cameras/{id}/status` on a loopback broker, as the spec's camera paragraph describes.
//!
//! [`camera`] returns a [`CameraHandle`] (the knobs: publish a given payload, stop the
//! heartbeats or the events) and a [`CameraRunner`] whose `run` future owns the MQTT
//! event loop; the caller spawns it, since library code spawns nothing. The simulation
//! is deterministic for a given seed except for the `ts` fields, which carry the time of
//! sending. It never reads anything back from the broker.

use super::rng::Rng;
use crate::clock;
use crate::reading::Ms;
use rumqttc::{AsyncClient, EventLoop, MqttOptions, QoS};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a simulated camera behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCamera {
    /// The camera id in its topics (`cameras/{id}/…`).
    pub id: String,
    /// The zone its events name.
    pub zone: String,
    /// A heartbeat on the status topic this often (real cameras: 30 s).
    pub heartbeat_every: Duration,
    /// A `people_count` event this often.
    pub count_every: Duration,
    /// Every n-th `people_count` is followed by an `intrusion` (0: never).
    pub intrusion_every: u32,
    /// Seeds the people count's random walk and the intrusion confidences.
    pub seed: u64,
}

impl SimCamera {
    /// A camera for the demo: a count every 5 s, a heartbeat every 10 s, an intrusion
    /// about every two minutes.
    pub fn new(id: &str, zone: &str) -> SimCamera {
        SimCamera {
            id: id.to_string(),
            zone: zone.to_string(),
            heartbeat_every: Duration::from_secs(10),
            count_every: Duration::from_secs(5),
            intrusion_every: 24,
            seed: 1,
        }
    }

    pub fn events_topic(&self) -> String {
        format!("cameras/{}/events", self.id)
    }

    pub fn status_topic(&self) -> String {
        format!("cameras/{}/status", self.id)
    }
}

/// The knobs of a running simulated camera. Cheap to clone.
#[derive(Clone)]
pub struct CameraHandle {
    client: AsyncClient,
    events_topic: String,
    status_topic: String,
    knobs: Arc<Knobs>,
}

struct Knobs {
    heartbeats: AtomicBool,
    events: AtomicBool,
}

impl CameraHandle {
    /// Publishes `payload` on the events topic as it is (bytes need not be JSON). Messages
    /// from one camera reach subscribers in the order they were published.
    pub async fn publish_event(&self, payload: impl Into<Vec<u8>>) {
        self.publish(&self.events_topic, payload.into()).await;
    }

    /// Publishes `payload` on the status topic.
    pub async fn publish_status(&self, payload: impl Into<Vec<u8>>) {
        self.publish(&self.status_topic, payload.into()).await;
    }

    /// Turns the periodic heartbeat on or off.
    pub fn set_heartbeats(&self, on: bool) {
        self.knobs.heartbeats.store(on, Ordering::Relaxed);
    }

    /// Turns the periodic people counts and intrusions on or off.
    pub fn set_events(&self, on: bool) {
        self.knobs.events.store(on, Ordering::Relaxed);
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        // The request channel only closes when the runner has stopped; a publish after
        // that is lost, which for a simulated camera is what a dead camera does.
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            tracing::debug!(topic, error = %e, "simulated camera publish dropped");
        }
    }
}

/// Owns the MQTT event loop of a simulated camera and its periodic publishing.
pub struct CameraRunner {
    spec: SimCamera,
    client: AsyncClient,
    eventloop: EventLoop,
    knobs: Arc<Knobs>,
}

/// A simulated camera talking to the broker on `127.0.0.1:broker_port`. Nothing happens
/// until the runner's `run` is polled; the handle's publishes wait for it.
pub fn camera(broker_port: u16, spec: SimCamera) -> (CameraHandle, CameraRunner) {
    let mut o = MqttOptions::new(format!("sim-camera-{}", spec.id), "127.0.0.1", broker_port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(16 << 20, 16 << 20);
    let (client, eventloop) = AsyncClient::new(o, 64);
    let knobs = Arc::new(Knobs {
        heartbeats: AtomicBool::new(true),
        events: AtomicBool::new(true),
    });
    let handle = CameraHandle {
        client: client.clone(),
        events_topic: spec.events_topic(),
        status_topic: spec.status_topic(),
        knobs: Arc::clone(&knobs),
    };
    let runner = CameraRunner {
        spec,
        client,
        eventloop,
        knobs,
    };
    (handle, runner)
}

impl CameraRunner {
    /// Publishes until `cancel` fires, reconnecting (every 200 ms) if the broker goes away.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut walk = Walk::new(self.spec.seed);
        let mut heartbeat = tokio::time::interval(self.spec.heartbeat_every);
        let mut counts = tokio::time::interval(self.spec.count_every);
        for t in [&mut heartbeat, &mut counts] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        }
        let (events, status) = (self.spec.events_topic(), self.spec.status_topic());
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = heartbeat.tick() => {
                    if self.knobs.heartbeats.load(Ordering::Relaxed) {
                        let body = heartbeat_payload(clock::now_ms());
                        self.send(&status, body);
                    }
                }
                _ = counts.tick() => {
                    if self.knobs.events.load(Ordering::Relaxed) {
                        let ts = clock::now_ms();
                        let (count, intrusion) = walk.step(self.spec.intrusion_every);
                        self.send(&events, people_count_payload(&self.spec.zone, count, ts));
                        if let Some(confidence) = intrusion {
                            self.send(&events, intrusion_payload(&self.spec.zone, confidence, ts));
                        }
                    }
                }
                ev = self.eventloop.poll() => {
                    if ev.is_err() {
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                }
            }
        }
    }

    /// Queues a periodic publish without waiting: this task also drives the event loop,
    /// so waiting for room in the channel here could never end. A full channel (broker
    /// away) drops the message, as a real camera's would be lost.
    fn send(&self, topic: &str, body: String) {
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, body)
            .is_err()
        {
            tracing::debug!(topic, "simulated camera message dropped");
        }
    }
}

/// `{"type":"people_count","zone":…,"count":…,"ts":…}`, keys in the spec's order.
pub fn people_count_payload(zone: &str, count: u64, ts: Ms) -> String {
    let (zone, ts) = (quoted(zone), clock::rfc3339(ts));
    format!(r#"{{"type":"people_count","zone":{zone},"count":{count},"ts":"{ts}"}}"#)
}

/// `{"type":"intrusion","zone":…,"confidence":…,"ts":…}`
pub fn intrusion_payload(zone: &str, confidence: f64, ts: Ms) -> String {
    let (zone, ts) = (quoted(zone), clock::rfc3339(ts));
    format!(r#"{{"type":"intrusion","zone":{zone},"confidence":{confidence},"ts":"{ts}"}}"#)
}

/// `{"state":"online","ts":…}`
pub fn heartbeat_payload(ts: Ms) -> String {
    format!(r#"{{"state":"online","ts":"{}"}}"#, clock::rfc3339(ts))
}

/// A JSON string literal.
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A people count that drifts like a crowd (a random walk kept in 0..=200) and the odd
/// intrusion, from a seeded generator.
#[derive(Debug, Clone)]
struct Walk {
    rng: Rng,
    count: u64,
    steps: u64,
}

impl Walk {
    fn new(seed: u64) -> Walk {
        Walk {
            rng: Rng::new(seed),
            count: 20,
            steps: 0,
        }
    }

    /// The next count, and an intrusion confidence (0.60–0.99) on every n-th step.
    fn step(&mut self, intrusion_every: u32) -> (u64, Option<f64>) {
        self.steps += 1;
        let delta = self.rng.below(11) as i64 - 5;
        self.count = (self.count as i64 + delta).clamp(0, 200) as u64;
        let intrusion = (intrusion_every > 0
            && self.steps.is_multiple_of(u64::from(intrusion_every)))
        .then(|| 0.60 + self.rng.below(40) as f64 / 100.0);
        (self.count, intrusion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_shapes_the_spec_shows() {
        let ts = 1_795_000_000_123;
        let cases = [
            (
                people_count_payload("bridge", 37, ts),
                r#"{"type":"people_count","zone":"bridge","count":37,"ts":"2026-11-18T11:06:40.123Z"}"#,
            ),
            (
                intrusion_payload("river-bank", 0.91, ts),
                r#"{"type":"intrusion","zone":"river-bank","confidence":0.91,"ts":"2026-11-18T11:06:40.123Z"}"#,
            ),
            (
                heartbeat_payload(ts),
                r#"{"state":"online","ts":"2026-11-18T11:06:40.123Z"}"#,
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn the_walk_is_seeded_bounded_and_intrudes_every_nth_step() {
        let run = |seed| {
            let mut w = Walk::new(seed);
            (0..500).map(|_| w.step(7)).collect::<Vec<_>>()
        };
        let a = run(3);
        assert_eq!(a, run(3), "same seed, same walk");
        assert_ne!(a, run(4), "another seed, another walk");
        assert!(a.iter().all(|(c, _)| *c <= 200));
        assert!(a.windows(2).all(|w| w[0].0.abs_diff(w[1].0) <= 5));
        for (i, (_, intrusion)) in a.iter().enumerate() {
            assert_eq!(intrusion.is_some(), (i + 1) % 7 == 0, "step {}", i + 1);
            if let Some(c) = intrusion {
                assert!((0.60..1.0).contains(c), "confidence {c}");
            }
        }
        let mut never = Walk::new(3);
        assert!((0..100).all(|_| never.step(0).1.is_none()));
    }
}

//! The test rig: a site with cameras on one MQTT connection, the task under test, its
//! sample channel, and simulated cameras feeding it.

use super::*;
use crate::sim::camera::{CameraHandle, SimCamera, camera, people_count_payload};
use crate::site::{Camera, Connection, Device, Point, PointKind, PointSource};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::task::JoinHandle;

/// The count `ready` publishes; samples carrying it are skipped by `next`.
const MARK: f64 = 999_999.0;
/// Every test ends within this, whatever happens.
const TEST_BOUND: Duration = Duration::from_secs(40);

fn point(name: &str, pointer: &str, ty: &str, kind: PointKind) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Json {
            pointer: pointer.into(),
            filter: vec![("/type".into(), ty.into())],
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind,
        writable: false,
        labels: Vec::new(),
    }
}

pub(super) fn site(
    port: u16,
    cams: &[&str],
    heartbeat_timeout: Duration,
    max_payload_bytes: usize,
) -> Site {
    let url = |port| BrokerUrl {
        tls: false,
        host: "127.0.0.1".into(),
        port,
    };
    let devices = (cams.iter())
        .map(|id| Device {
            id: id.to_string(),
            profile: "camera".into(),
            connection: 0,
            unit: 0,
            poll: Duration::from_secs(1),
            zone: None,
            max_registers_per_read: 125,
            max_gap: 0,
            points: vec![
                point("people_count", "/count", "people_count", PointKind::Gauge),
                point("intrusion", "/confidence", "intrusion", PointKind::Event),
            ]
            .into(),
            camera: Some(Camera {
                events_topic: format!("cameras/{id}/events"),
                status_topic: format!("cameras/{id}/status"),
                heartbeat_timeout,
            }),
            live: None,
        })
        .collect();
    Site {
        connections: vec![Connection {
            name: "cams".into(),
            kind: ConnectionKind::Mqtt {
                broker: url(port),
                username: None,
                password_file: None,
                max_payload_bytes,
            },
        }],
        devices,
        ..Site::bare("test", "gw")
    }
}

/// The camera task under test, its outputs and the simulated cameras feeding it.
pub(super) struct Rig {
    pub(super) health: Arc<Health>,
    rx: mpsc::Receiver<Sample>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    pub(super) cams: Vec<CameraHandle>,
}

impl Rig {
    /// Starts the task for `cams` on `port` (a broker may or may not be there yet).
    pub(super) fn start(
        port: u16,
        cams: &[&str],
        heartbeat_timeout: Duration,
        max_payload: usize,
    ) -> Rig {
        let site = Arc::new(site(port, cams, heartbeat_timeout, max_payload));
        let health = Arc::new(Health::new(cams.len()));
        let (tx, rx) = mpsc::channel(256);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_connection(
            site,
            0,
            Arc::clone(&health),
            tx,
            cancel.clone(),
        ));
        Rig {
            health,
            rx,
            cancel,
            task,
            cams: Vec::new(),
        }
    }

    /// Adds simulated cameras that publish nothing on their own except a heartbeat every
    /// `heartbeat_every`, and waits until the task hears each of them. Returns the
    /// samples other than readiness markers that arrived meanwhile.
    pub(super) async fn cameras(
        &mut self,
        port: u16,
        ids: &[&str],
        heartbeat_every: Duration,
    ) -> Vec<Sample> {
        let mut others = Vec::new();
        for id in ids {
            let mut spec = SimCamera::new(id, "bridge");
            spec.heartbeat_every = heartbeat_every;
            let (handle, runner) = camera(port, spec);
            handle.set_events(false);
            tokio::spawn(runner.run(self.cancel.clone()));
            self.cams.push(handle);
            others.extend(self.ready(self.cams.len() - 1).await);
        }
        others
    }

    /// Publishes the marker from camera `i` until its sample comes back. Returns the
    /// samples other than markers that arrived meanwhile.
    pub(super) async fn ready(&mut self, i: usize) -> Vec<Sample> {
        let mut others = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            self.cams[i].publish_event(count(MARK as u64)).await;
            let wait = Instant::now() + Duration::from_millis(300);
            while let Ok(Some(s)) = tokio::time::timeout_at(wait, self.rx.recv()).await {
                if s.values.first() != Some(&Some(MARK)) {
                    others.push(s);
                } else if s.device == i {
                    return others;
                }
            }
        }
        panic!("camera {i} never heard by the task");
    }

    /// The next sample that is not a readiness marker, if one comes within `within`.
    pub(super) async fn next(&mut self, within: Duration) -> Option<Sample> {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(s)) if s.values.first() == Some(&Some(MARK)) => continue,
                Ok(s) => return s,
                Err(_) => return None,
            }
        }
    }

    pub(super) async fn expect(&mut self, within: Duration) -> Sample {
        self.next(within).await.expect("a sample in time")
    }

    /// Cancels the task and checks it returns promptly.
    pub(super) async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .expect("the task returns within 2 s of cancel")
            .expect("the task does not panic");
    }
}

pub(super) fn count(n: u64) -> String {
    people_count_payload("bridge", n, 0)
}

/// Runs a test body under `TEST_BOUND`.
pub(super) async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, body)
        .await
        .expect("test took too long");
}

/// Publishes `payload` retained on `topic` and waits for the broker's PUBACK.
pub(super) async fn publish_retained(port: u16, topic: &str, payload: &str) {
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("retainer", "127.0.0.1", port), 10);
    client
        .publish(topic, QoS::AtLeastOnce, true, payload)
        .await
        .expect("queue the retained message");
    loop {
        let ev = eventloop
            .poll()
            .await
            .expect("publish the retained message");
        if let Event::Incoming(Incoming::PubAck(_)) = ev {
            return;
        }
    }
}

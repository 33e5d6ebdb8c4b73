//! The camera task against a real Mosquitto and simulated cameras.
//!
//! Readiness is waited for, never slept for: `ready` publishes a marker count until the
//! task hands it back, so the subscription is in place. After that, messages from one
//! camera arrive in the order they were published, so "a bad message, then a good one"
//! proves the bad one was skipped when the good one's sample arrives first.

mod broker;

use super::*;
use crate::health::get;
use crate::sim::camera::{CameraHandle, SimCamera, camera, people_count_payload};
use crate::site::{
    Buffer, Camera, Connection, Device, Gateway, Point, PointKind, PointSource, Uplink,
};
use broker::{Broker, free_port};
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
    }
}

fn site(port: u16, cams: &[&str], heartbeat_timeout: Duration, max_payload_bytes: usize) -> Site {
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
            ],
            camera: Some(Camera {
                events_topic: format!("cameras/{id}/events"),
                status_topic: format!("cameras/{id}/status"),
                heartbeat_timeout,
            }),
        })
        .collect();
    Site {
        gateway: Gateway {
            site: "test".into(),
            id: "gw".into(),
            data_dir: std::env::temp_dir(),
        },
        uplink: Uplink {
            broker: url(1),
            username: None,
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            topic_prefix: "sitewarden".into(),
            summary_interval: Duration::from_secs(60),
            inflight: 10,
            keep_alive: Duration::from_secs(30),
        },
        buffer: Buffer {
            raw_max_bytes: 1 << 20,
            outbox_max_bytes: 1 << 20,
        },
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
        zones: vec![],
        rules: vec![],
    }
}

/// The camera task under test, its outputs and the simulated cameras feeding it.
struct Rig {
    health: Arc<Health>,
    rx: mpsc::Receiver<Sample>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    cams: Vec<CameraHandle>,
}

impl Rig {
    /// Starts the task for `cams` on `port` (a broker may or may not be there yet).
    fn start(port: u16, cams: &[&str], heartbeat_timeout: Duration, max_payload: usize) -> Rig {
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
    async fn cameras(&mut self, port: u16, ids: &[&str], heartbeat_every: Duration) -> Vec<Sample> {
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
    async fn ready(&mut self, i: usize) -> Vec<Sample> {
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
    async fn next(&mut self, within: Duration) -> Option<Sample> {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(s)) if s.values.first() == Some(&Some(MARK)) => continue,
                Ok(s) => return s,
                Err(_) => return None,
            }
        }
    }

    async fn expect(&mut self, within: Duration) -> Sample {
        self.next(within).await.expect("a sample in time")
    }

    /// Cancels the task and checks it returns promptly.
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .expect("the task returns within 2 s of cancel")
            .expect("the task does not panic");
    }
}

fn count(n: u64) -> String {
    people_count_payload("bridge", n, 0)
}

/// Runs a test body under `TEST_BOUND`.
async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, body)
        .await
        .expect("test took too long");
}

const SOON: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_people_count_lands_in_its_slot_and_an_intrusion_in_its_own() {
    bounded(async {
        let b = Broker::start();
        let mut rig = Rig::start(b.port, &["cam-1"], LONG, 4096);
        assert_eq!(rig.cameras(b.port, &["cam-1"], LONG).await, vec![]);
        let before = crate::clock::now_ms();
        rig.cams[0].publish_event(count(37)).await;
        let s = rig.expect(SOON).await;
        assert_eq!(
            (s.device, s.values, s.error),
            (0, vec![Some(37.0), None], None)
        );
        assert!(
            s.ts >= before && s.ts <= crate::clock::now_ms(),
            "ts is the arrival time"
        );
        rig.cams[0]
            .publish_event(r#"{"type":"intrusion","zone":"river-bank","confidence":0.91}"#)
            .await;
        let s = rig.expect(SOON).await;
        assert_eq!(
            (s.device, s.values, s.error),
            (0, vec![None, Some(0.91)], None)
        );
        assert_eq!(get(&rig.health.camera_rejected), 0);
        assert!(get(&rig.health.polls) >= 3, "every message is a poll");
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn filter_mismatches_and_status_messages_yield_no_sample() {
    bounded(async {
        let b = Broker::start();
        let mut rig = Rig::start(b.port, &["cam-1"], LONG, 4096);
        assert_eq!(rig.cameras(b.port, &["cam-1"], LONG).await, vec![]);
        let polls = get(&rig.health.polls);
        rig.cams[0]
            .publish_event(r#"{"type":"loitering","count":3}"#)
            .await;
        rig.cams[0].publish_event(r#"{"count":4}"#).await;
        rig.cams[0].publish_status(r#"{"state":"online"}"#).await;
        rig.cams[0].publish_event(count(5)).await;
        let s = rig.expect(SOON).await;
        assert_eq!(
            s.values,
            vec![Some(5.0), None],
            "the next sample is the count"
        );
        assert_eq!(get(&rig.health.polls) - polls, 4);
        assert_eq!(get(&rig.health.camera_rejected), 0);
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_messages_are_counted_and_skipped_and_the_next_one_gets_through() {
    bounded(async {
        let b = Broker::start();
        let limit = 256;
        let mut rig = Rig::start(b.port, &["cam-1"], LONG, limit);
        assert_eq!(rig.cameras(b.port, &["cam-1"], LONG).await, vec![]);
        let oversized = format!(
            r#"{{"type":"people_count","count":1,"pad":"{}"}}"#,
            "x".repeat(limit)
        );
        // (payload, counts as malformed JSON)
        let cases: &[(&str, bool)] = &[
            ("{not json", true),
            (r#"{"type":"people_count","count":"37"}"#, false),
            (r#"{"type":"people_count","count":{"n":37}}"#, false),
            (r#"{"type":"intrusion","zone":"river-bank"}"#, false),
            (&oversized, false),
        ];
        let mut malformed = 0;
        for (n, &(bad, is_malformed)) in cases.iter().enumerate() {
            rig.cams[0].publish_event(bad).await;
            rig.cams[0].publish_event(count(n as u64)).await;
            let s = rig.expect(SOON).await;
            assert_eq!(s.values, vec![Some(n as f64), None], "after {bad:.40}");
            malformed += u64::from(is_malformed);
            assert_eq!(
                get(&rig.health.camera_rejected),
                n as u64 + 1,
                "after {bad:.40}"
            );
            assert_eq!(get(&rig.health.malformed), malformed, "after {bad:.40}");
        }
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_payload_too_big_to_buffer_costs_one_reconnect_and_nothing_else() {
    bounded(async {
        let b = Broker::start();
        let mut rig = Rig::start(b.port, &["cam-1"], LONG, 256);
        assert_eq!(rig.cameras(b.port, &["cam-1"], LONG).await, vec![]);
        let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(HARD_LIMIT_FLOOR + 1));
        rig.cams[0].publish_event(huge).await;
        // The task reconnects after its backoff and subscribes again.
        assert_eq!(rig.ready(0).await, vec![], "nothing else came through");
        rig.cams[0].publish_event(count(8)).await;
        assert_eq!(rig.expect(SOON).await.values, vec![Some(8.0), None]);
        assert_eq!(get(&rig.health.camera_rejected), 1);
        assert_eq!(get(&rig.health.field_reconnects), 1);
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_silent_camera_yields_one_silent_sample_per_timeout_and_recovers() {
    bounded(async {
        let b = Broker::start();
        let timeout = Duration::from_millis(1000);
        let mut rig = Rig::start(b.port, &["cam-1"], timeout, 4096);
        let others = rig
            .cameras(b.port, &["cam-1"], Duration::from_millis(100))
            .await;
        assert_eq!(others, vec![]);
        assert!(
            rig.next(Duration::from_millis(1500)).await.is_none(),
            "heard: no sample"
        );

        rig.cams[0].set_heartbeats(false);
        let stopped = Instant::now();
        let s = rig.expect(timeout + Duration::from_secs(2)).await;
        let waited = stopped.elapsed();
        assert_eq!(
            (s.values, s.error),
            (vec![None, None], Some(PollError::Silent))
        );
        assert!(
            waited >= timeout / 2,
            "silent after {waited:?}, before the timeout"
        );
        assert_eq!(rig.health.device_counts(), (0, 1));

        let again = rig.expect(timeout + Duration::from_secs(2)).await;
        assert_eq!(again.error, Some(PollError::Silent));
        let gap = again.ts - s.ts;
        assert!(
            (900..=3000).contains(&gap),
            "one silent sample per timeout, got {gap} ms apart"
        );

        rig.cams[0].set_heartbeats(true);
        let back = rig.expect(SOON).await;
        assert_eq!((back.values, back.error), (vec![None, None], None));
        assert_eq!(rig.health.device_counts(), (1, 0));
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn two_cameras_on_one_connection_are_kept_apart() {
    bounded(async {
        let b = Broker::start();
        let timeout = Duration::from_millis(1000);
        let ids = ["cam-a", "cam-b"];
        let mut rig = Rig::start(b.port, &ids, timeout, 4096);
        let others = rig.cameras(b.port, &ids, Duration::from_millis(100)).await;
        assert_eq!(others, vec![], "nothing but markers while getting ready");
        rig.cams[0].publish_event(count(5)).await;
        rig.cams[1].publish_event(count(7)).await;
        let mut got = vec![rig.expect(SOON).await, rig.expect(SOON).await];
        got.sort_by_key(|s| s.device);
        let got: Vec<_> = got.into_iter().map(|s| (s.device, s.values[0])).collect();
        assert_eq!(got, vec![(0, Some(5.0)), (1, Some(7.0))]);

        rig.cams[1].set_heartbeats(false);
        let s = rig.expect(timeout + Duration::from_secs(2)).await;
        assert_eq!((s.device, s.error), (1, Some(PollError::Silent)));
        assert_eq!(rig.health.device_counts(), (1, 1));
        rig.cams[0].publish_event(count(6)).await;
        let s = rig.expect(SOON).await;
        assert_eq!((s.device, s.values[0], s.error), (0, Some(6.0), None));
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn without_a_broker_cameras_go_silent_and_recover_when_it_comes() {
    bounded(async {
        let port = free_port();
        let timeout = Duration::from_millis(300);
        let mut rig = Rig::start(port, &["cam-1", "cam-2"], timeout, 4096);
        let mut silent: Vec<usize> = Vec::new();
        for _ in 0..2 {
            let s = rig.expect(SOON).await;
            assert_eq!(s.error, Some(PollError::Silent));
            silent.push(s.device);
        }
        silent.sort();
        assert_eq!(silent, vec![0, 1]);
        assert_eq!(rig.health.device_counts(), (0, 2));

        let Some(b) = Broker::start_on(port) else {
            // The port was taken meanwhile; the silent half of the test still holds.
            return rig.stop().await;
        };
        rig.cameras(b.port, &["cam-1"], Duration::from_millis(50))
            .await;
        let (ok, _) = rig.health.device_counts();
        assert_eq!(ok, 1, "cam-1 is ok again, cam-2 still silent");
        assert_eq!(
            get(&rig.health.field_reconnects),
            0,
            "a first connection is no reconnect"
        );
        rig.stop().await;
    })
    .await;
}

/// Publishes `payload` retained on `topic` and waits for the broker's PUBACK.
async fn publish_retained(port: u16, topic: &str, payload: &str) {
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

#[tokio::test]
async fn retained_messages_are_old_news_not_readings_or_heartbeats() {
    bounded(async {
        let b = Broker::start();
        publish_retained(b.port, "cameras/cam-1/events", &count(42)).await;
        publish_retained(b.port, "cameras/cam-1/status", r#"{"state":"online"}"#).await;
        let mut rig = Rig::start(b.port, &["cam-1"], LONG, 4096);
        let others = rig.cameras(b.port, &["cam-1"], LONG).await;
        assert_eq!(others, vec![], "the retained count is no sample");
        rig.cams[0].publish_event(count(5)).await;
        assert_eq!(rig.expect(SOON).await.values, vec![Some(5.0), None]);
        rig.stop().await;

        // Nothing but a retained status: the camera still goes silent on time.
        let timeout = Duration::from_millis(500);
        let mut rig = Rig::start(b.port, &["cam-1"], timeout, 4096);
        let s = rig.expect(timeout + Duration::from_secs(3)).await;
        assert_eq!(s.error, Some(PollError::Silent));
        rig.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_non_mqtt_connection_ends_the_task_at_once() {
    bounded(async {
        let mut s = site(1, &["cam-1"], LONG, 4096);
        s.connections[0].kind = ConnectionKind::ModbusTcp {
            address: "127.0.0.1:1".into(),
            timeout: Duration::from_millis(100),
        };
        let (tx, mut rx) = mpsc::channel(4);
        let health = Arc::new(Health::new(1));
        let task = run_connection(Arc::new(s), 0, health, tx, CancellationToken::new());
        tokio::time::timeout(SOON, task)
            .await
            .expect("returns without cancel");
        assert!(
            rx.recv().await.is_none(),
            "no sample, and the sender is gone"
        );
    })
    .await;
}

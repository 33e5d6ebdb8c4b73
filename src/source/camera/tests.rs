//! The camera task against a real Mosquitto and simulated cameras.
//!
//! Readiness is waited for, never slept for: `Rig::ready` publishes a marker count until
//! the task hands it back, so the subscription is in place. After that, messages from
//! one camera arrive in the order they were published, so "a bad message, then a good
//! one" proves the bad one was skipped when the good one's sample arrives first.

mod rig;

use super::*;
use crate::health::get;
use crate::reading::PollError;
use crate::sim::mosquitto::{Mosquitto as Broker, free_port};
use rig::{Rig, bounded, count, publish_retained, site};

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

        let Some(b) = Broker::start_on(port, String::new()) else {
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
            min_gap: Duration::ZERO,
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

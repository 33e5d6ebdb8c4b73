//! Camera alarms end to end: an MQTT camera on the site broker (`sim::camera`, driven by
//! the test, publishing what the camera profile describes), the real daemon subscribed
//! to it, and the platform subscriber. An intrusion above the confidence floor raises one
//! alarm and clears after the rule's quiet time; garbage in between is counted and
//! changes nothing; a missing heartbeat is an offline alarm, cleared by the next one.

use super::check_event_keys;
use crate::support::platform::{Platform, id, lines};
use sitewarden::sim::camera::{CameraHandle, SimCamera, camera};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The shipped camera profile with a 2 s heartbeat timeout (real cameras: 90 s).
const PROFILE: &str = r#"
[camera]
events_topic = "cameras/{device}/events"
status_topic = "cameras/{device}/status"
heartbeat_timeout = "2s"

[[point]]
name = "people_count"
pointer = "/count"
filter = { "/type" = "people_count" }
kind = "gauge"

[[point]]
name = "intrusion"
pointer = "/confidence"
filter = { "/type" = "intrusion" }
kind = "event"
"#;

fn extra(port: u16) -> String {
    format!(
        r#"
[[connection]]
name = "camera-lan"
type = "mqtt"
broker = "mqtt://127.0.0.1:{port}"
max_payload_bytes = "1KiB"

[[zone]]
name = "river-bank"
capacity = 300

[[device]]
id = "cam-1"
profile = "fast-camera"
connection = "camera-lan"
zone = "river-bank"

[[rule]]
name = "intrusion"
type = "event"
devices = ["cam-*"]
point = "intrusion"
event_type = "intrusion"
zone = "river-bank"
min_confidence = 0.8
clear_after = "2s"
severity = "critical"

[[rule]]
name = "camera-offline"
type = "offline"
devices = ["cam-*"]
"#
    )
}

/// The camera: `sim::camera` on the site broker, heartbeating every 300 ms, sending only
/// what the test tells it to.
struct Camera {
    rt: tokio::runtime::Runtime,
    handle: CameraHandle,
    stop: CancellationToken,
}

impl Camera {
    fn start(port: u16) -> Camera {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("camera runtime");
        let spec = SimCamera {
            heartbeat_every: Duration::from_millis(300),
            intrusion_every: 0,
            ..SimCamera::new("cam-1", "river-bank")
        };
        let (handle, runner) = camera(port, spec);
        handle.set_events(false);
        let stop = CancellationToken::new();
        rt.spawn(runner.run(stop.clone()));
        Camera { rt, handle, stop }
    }

    fn event(&self, payload: impl Into<Vec<u8>>) {
        self.rt.block_on(self.handle.publish_event(payload));
    }

    fn heartbeats(&self, on: bool) {
        self.handle.set_heartbeats(on);
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `camera_rejected` in the newest `P/health`.
fn rejected(p: &Platform) -> u64 {
    p.seen("health")
        .last()
        .and_then(|h| h.json["errors"]["camera_rejected"].as_u64())
        .unwrap_or(0)
}

#[test]
fn an_intrusion_raises_once_garbage_is_counted_and_a_silent_camera_is_offline() {
    let p = Platform::start_with(
        &[],
        |_| {},
        extra,
        &[("profiles/fast-camera.toml", PROFILE)],
    );
    let cam = Camera::start(p.broker.port);

    // The daemon's subscription is in place once a count comes through to a summary;
    // counts sent before it are lost, as on a real site broker, so keep sending.
    let deadline = Instant::now() + Duration::from_secs(20);
    let summary = p.topic("summary/cam-1");
    loop {
        cam.event(r#"{"type":"people_count","zone":"river-bank","count":12}"#);
        std::thread::sleep(Duration::from_millis(200));
        let counted = p.seen("summary/cam-1").iter().any(|s| {
            s.topic == summary && s.json["points"]["people_count"]["last"].as_f64() == Some(12.0)
        });
        if counted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no camera count reached a summary; daemon log:\n{}",
            p.daemon.logs()
        );
    }
    assert_eq!(p.events().len(), 0, "{:?}", lines(&p.events()));

    // Below the confidence floor, not JSON, a confidence of the wrong type, too large,
    // another zone's event type: none of them is an alarm; three are rejected.
    let rejected_before = rejected(&p);
    cam.event(r#"{"type":"intrusion","zone":"river-bank","confidence":0.5}"#);
    cam.event("{not json");
    cam.event(r#"{"type":"intrusion","zone":"river-bank","confidence":"high"}"#);
    cam.event(format!(
        r#"{{"type":"intrusion","confidence":0.99,"pad":"{}"}}"#,
        "x".repeat(2048)
    ));
    cam.event(r#"{"type":"loitering","zone":"river-bank","confidence":0.99}"#);
    p.until("three camera messages rejected in P/health", || {
        rejected(&p) >= rejected_before + 3
    });

    cam.event(r#"{"type":"intrusion","zone":"river-bank","confidence":0.91}"#);
    let ev = p.wait_events(1, "intrusion raised");
    assert_eq!(lines(&ev), ["raised intrusion cam-1 intrusion 0.91 0.8"]);
    check_event_keys(&ev[0].json);
    assert_eq!(ev[0].json["severity"], "critical");
    assert_eq!(
        ev[0].json["message"],
        "intrusion on cam-1 (confidence 0.91)"
    );
    println!("intrusion raised: {}", ev[0].json);
    p.wait_active(&[id(&ev, 0)]);

    // A second occurrence while raised keeps the one alarm; 2 s of quiet clear it.
    cam.event(r#"{"type":"intrusion","zone":"river-bank","confidence":0.95}"#);
    let ev = p.wait_events(2, "intrusion cleared after 2 s of quiet");
    assert_eq!(lines(&ev)[1], "cleared intrusion cam-1 intrusion 0 0.8");
    assert_eq!(id(&ev, 1), id(&ev, 0));
    assert_eq!(ev[1].json["message"], "no intrusion on cam-1 for 2s");
    let raised = super::ts(&ev, 0);
    let cleared = super::ts(&ev, 1);
    let quiet = crate::support::platform::ms(&cleared) - crate::support::platform::ms(&raised);
    assert!(quiet >= 2000, "cleared {quiet} ms after the raise");
    println!("intrusion cleared: {}", ev[1].json);
    p.wait_active(&[]);

    // The heartbeat stops: offline within the 2 s timeout (and a tick); back on the
    // first heartbeat.
    let silenced = Instant::now();
    cam.heartbeats(false);
    let ev = p.wait_events(3, "camera offline");
    let after = ev[2].at - silenced;
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(6),
        "offline after {after:?}"
    );
    assert_eq!(lines(&ev)[2], "raised camera-offline cam-1 - 1 1");
    assert_eq!(ev[2].json["message"], "cam-1 offline: heartbeat missing");
    println!("camera offline: {}", ev[2].json);
    p.wait_active(&[id(&ev, 2)]);

    cam.heartbeats(true);
    let ev = p.wait_events(4, "camera back");
    assert_eq!(lines(&ev)[3], "cleared camera-offline cam-1 - 0 1");
    assert_eq!(id(&ev, 3), id(&ev, 2));
    println!("camera back: {}", ev[3].json);
    p.wait_active(&[]);
    assert_eq!(p.events().len(), 4, "{:?}", lines(&p.events()));
    let logs = p.daemon.logs();
    let rejected_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("camera message rejected"))
        .collect();
    // Logged at most once a minute per camera, naming it and what was wrong.
    assert_eq!(rejected_lines.len(), 1, "{rejected_lines:?}");
    assert!(
        rejected_lines[0].contains("cam-1") && rejected_lines[0].contains("cameras/cam-1/events"),
        "{}",
        rejected_lines[0]
    );
}

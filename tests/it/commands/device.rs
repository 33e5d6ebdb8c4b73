//! Commands to one device: retained, repeated, malformed, stale, hostile, not held.

use super::{Publisher, assert_refused, at, nth_result, open, result, results};
use crate::support::daemon::Daemon;
use crate::support::platform::Platform;
use serde_json::json;
use std::time::Duration;

fn gate() -> Platform {
    Platform::start(&["gate-1:turnstile"], |_| {}, "")
}

#[test]
fn a_retained_command_never_runs_at_a_start() {
    let mut p = gate();
    p.daemon.stop_cleanly();
    let platform = Publisher::start(p.broker.port, "platform-cmd");
    // The attack: a command left retained on P/cmd while the gateway is down.
    let cmd = open("boot-open", "gate-1").to_string();
    platform.send(&p.topic("cmd"), cmd, true);
    std::thread::sleep(Duration::from_millis(300));
    for start in 1..=2 {
        let before = p.sub.snapshot().len();
        p.daemon = Daemon::start(&p.site.config, p.site.dir.path());
        p.wait_online(before);
        let answer = nth_result(&p, "boot-open", start);
        assert_refused(&answer, "retained");
        if start == 1 {
            p.daemon.stop_cleanly();
        }
    }
    // The same daemon carries out a live command: the refusal was for being retained.
    platform.send(
        &p.topic("cmd"),
        open("live-open", "gate-1").to_string(),
        false,
    );
    assert_eq!(result(&p, "live-open")["ok"], true);
    assert_eq!(
        p.sim.writes("gate-1").len(),
        1,
        "only the live command wrote"
    );
    assert_eq!(results(&p, "boot-open").len(), 2);
    p.daemon.stop_cleanly();
}

#[test]
fn a_repeated_id_is_answered_with_its_first_result_and_never_written_again() {
    let mut p = gate();
    let platform = Publisher::start(p.broker.port, "platform-cmd");
    let cmd = open("gate-open-7", "gate-1").to_string();
    platform.send(&p.topic("cmd"), cmd.clone(), false);
    let first = result(&p, "gate-open-7");
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["held"], true, "{first}");
    assert_eq!(first["readback"], 1.0, "{first}");
    assert_eq!(first["device"], "gate-1");
    assert!(first.get("repeat").is_none(), "{first}");
    assert_eq!(p.sim.writes("gate-1").len(), 1);
    // Close the gate by hand: a second write would open it again.
    p.sim.set("gate-1", "open", 0.0);

    platform.send(&p.topic("cmd"), cmd.clone(), false);
    let again = nth_result(&p, "gate-open-7", 2);
    assert_eq!(again["repeat"], true, "{again}");
    for key in ["ok", "held", "readback", "device", "point", "error"] {
        assert_eq!(again[key], first[key], "{key} of {again}");
    }

    // Remembered durably: after kill -9 and a restart it is still not executed again.
    p.daemon.kill9();
    let before = p.sub.snapshot().len();
    p.daemon = Daemon::start(&p.site.config, p.site.dir.path());
    p.wait_online(before);
    platform.send(&p.topic("cmd"), cmd, false);
    let third = nth_result(&p, "gate-open-7", 3);
    assert_eq!(third["repeat"], true, "{third}");
    assert_eq!(third["ok"], true, "{third}");
    assert_eq!(p.sim.writes("gate-1").len(), 1, "one write in all");
    assert_eq!(p.sim.raw("gate-1", "open"), Some(0.0), "gate stayed closed");
    p.daemon.stop_cleanly();
}

#[test]
fn stale_malformed_and_hostile_commands_are_refused_with_nothing_written() {
    let mut p = gate();
    let platform = Publisher::start(p.broker.port, "platform-cmd");
    let forged =
        "x\n2026-12-03T16:00:00.000000Z  INFO sitewarden: gate opened by platform\u{1b}[2K";
    let with = |id: &str, key: &str, value: serde_json::Value| {
        let mut c = open(id, "gate-1");
        c[key] = value;
        c
    };
    let mut no_expiry = open("no-expiry", "gate-1");
    no_expiry.as_object_mut().unwrap().remove("expires");
    let cases = [
        (
            with("far", "expires", json!("9999-12-31T23:59:59Z")),
            "expires_too_far",
        ),
        (
            with("ten-min", "expires", json!(at(600))),
            "expires_too_far",
        ),
        (
            with("no-zone", "expires", json!("2099-01-01 00:00:00")),
            "bad_expires",
        ),
        (
            with("no-zone-t", "expires", json!("2099-01-01T00:00:00")),
            "bad_expires",
        ),
        (with("old", "expires", json!(at(-5))), "expired"),
        (no_expiry, "bad_command"),
        (with("", "id", json!("")), "bad_id"),
        (with("long", "id", json!("a".repeat(65))), "bad_id"),
        (with("hostile", "id", json!(forged)), "bad_id"),
        (with("who", "device", json!("gate-9\n")), "unknown_target"),
        (with("ro", "point", json!("status")), "not_writable"),
        (with("yes", "value", json!("yes")), "bad_value"),
    ];
    for (cmd, _) in &cases {
        platform.send(&p.topic("cmd"), cmd.to_string(), false);
    }
    // A good command after all of them: once it is answered, the others were handled.
    platform.send(&p.topic("cmd"), open("good", "gate-1").to_string(), false);
    assert_eq!(result(&p, "good")["ok"], true);
    let answers: Vec<_> = p.seen("cmd/result").into_iter().map(|s| s.json).collect();
    for (cmd, reason) in &cases {
        let id = cmd["id"].as_str().unwrap();
        let text = |a: &serde_json::Value, k: &str| a[k].as_str().unwrap_or_default().to_string();
        let answer = answers
            .iter()
            .find(|a| match id {
                _ if id == forged => text(a, "id").contains("gate opened"),
                _ if id.len() > 64 => text(a, "error").contains("longer than 64"),
                _ => a["id"] == id,
            })
            .unwrap_or_else(|| panic!("no answer to {cmd}"));
        assert_refused(answer, reason);
    }
    // The hostile id is answered escaped, never as the raw text.
    let hostile = answers
        .iter()
        .find(|a| a["id"].as_str().is_some_and(|i| i.contains("gate opened")))
        .expect("the hostile id answered");
    let shown = hostile["id"].as_str().unwrap();
    assert!(
        !shown.contains('\n') && !shown.contains('\u{1b}'),
        "{shown}"
    );
    assert!(shown.contains("\\u{a}"), "{shown}");
    assert_eq!(p.sim.writes("gate-1").len(), 1, "only `good` wrote");
    p.daemon.stop_cleanly();
    let log = p.daemon.logs();
    assert!(
        !log.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
    for line in log
        .lines()
        .filter(|l| l.contains("gate opened by platform"))
    {
        assert!(line.contains("command refused"), "forged line: {line}");
    }
    assert!(log.contains("command refused"), "refusals are logged");
}

#[test]
fn a_write_the_device_does_not_hold_is_reported_as_not_held() {
    let mut p = gate();
    p.sim.stick("gate-1");
    let platform = Publisher::start(p.broker.port, "platform-cmd");
    platform.send(
        &p.topic("cmd"),
        open("override", "gate-1").to_string(),
        false,
    );
    let a = result(&p, "override");
    assert_eq!(a["ok"], false, "{a}");
    assert_eq!(a["held"], false, "{a}");
    assert_eq!(a["readback"], 0.0, "{a}");
    assert!(a["error"].as_str().unwrap().contains("reads back 0"), "{a}");
    assert_eq!(
        p.sim.writes("gate-1").len(),
        1,
        "the write reached the device"
    );
    p.daemon.stop_cleanly();
}

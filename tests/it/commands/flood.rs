//! 3 000 junk commands in about 3 s: refused cheaply, bounded in disk writes and memory,
//! rate-limited with a clear answer, and nothing reaches the device.

use super::{Publisher, assert_refused, at, result, wait_counters};
use crate::support::platform::Platform;
use serde_json::json;
use std::time::Duration;

const FLOOD: usize = 3000;

/// `write_bytes` of /proc/<pid>/io: what the process made the kernel write to storage.
fn written(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/<pid>/io");
    field(&io, "write_bytes:")
}

/// VmRSS of /proc/<pid>/status, in bytes.
fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    field(&status, "VmRSS:") * 1024
}

fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn junk(i: usize) -> Vec<u8> {
    match i % 4 {
        0 => format!("{{\"id\":\"junk-{i}\", \"device\": [garbage").into_bytes(),
        1 => json!({"id": format!("j{i}\n\u{1b}[31mFAKE"), "device": "gate-1", "point": "open", "value": true, "expires": at(60)}).to_string().into_bytes(),
        2 => json!({"id": format!("junk-{i}"), "device": "nowhere", "point": "open", "value": true, "expires": at(60)}).to_string().into_bytes(),
        _ => json!({"id": format!("junk-{i}"), "device": "gate-1", "point": "open", "value": true, "expires": "9999-12-31T23:59:59Z"}).to_string().into_bytes(),
    }
}

#[test]
fn a_flood_of_junk_is_refused_cheaply_and_rate_limited() {
    // A bucket of 5 that refills once every 100 s: after the flood it is empty.
    let mut p = Platform::start(
        &["gate-1:turnstile"],
        |_| {},
        "[commands]\nburst = 5\nrate = 0.01\n",
    );
    let platform = Publisher::start(p.broker.port, "platform-flood");
    // Settle: a health report or two, so start-up writes are behind us.
    wait_counters(&p, "first health report", |c| c.is_object());
    std::thread::sleep(Duration::from_secs(2));
    let pid = p.daemon.pid();
    let (w0, r0) = (written(pid), rss(pid));

    let topic = p.topic("cmd");
    let started = std::time::Instant::now();
    for i in 0..FLOOD {
        platform.send(&topic, junk(i), false);
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(9));
        }
    }
    let c = wait_counters(&p, "every junk command counted", |c| {
        c["rejected"].as_u64() >= Some(FLOOD as u64)
    });
    let took = started.elapsed();
    // Let the last batch of answers commit and be acknowledged.
    std::thread::sleep(Duration::from_secs(2));
    let (w1, r1) = (written(pid), rss(pid));
    let wrote = w1 - w0;
    let grew = r1.saturating_sub(r0);
    eprintln!(
        "flood of {FLOOD} in {took:?}: {wrote} bytes written, RSS {r0} -> {r1}, counters {c}"
    );
    assert_eq!(c["rejected"], FLOOD as u64, "{c}");
    assert!(c["rate_limited"].as_u64() >= Some(FLOOD as u64 - 5), "{c}");
    assert!(c["unanswered"].as_u64() > Some(0), "{c}");
    assert!(wrote < 2_000_000, "the flood wrote {wrote} bytes");
    assert!(grew < 4_000_000, "RSS grew by {grew} bytes");

    // Every refusal was answered or counted as unanswered, none twice.
    let answered = || p.seen("cmd/result").len() as u64;
    p.until("answers of the flood delivered", || {
        answered() + c["unanswered"].as_u64().unwrap() == FLOOD as u64
    });

    // A valid command now meets the empty bucket, with a clear answer.
    platform.send(
        &topic,
        json!({"id": "after-flood", "device": "gate-1", "point": "open", "value": true, "expires": at(60)}).to_string(),
        false,
    );
    let a = result(&p, "after-flood");
    assert_refused(&a, "rate_limited");
    assert!(
        a["error"].as_str().unwrap().contains("commands.rate"),
        "{a}"
    );
    assert!(
        p.sim.writes("gate-1").is_empty(),
        "a write reached the device"
    );
    assert_eq!(p.sim.raw("gate-1", "open"), Some(0.0));

    p.daemon.stop_cleanly();
    let log = p.daemon.logs();
    let lines = log.matches("command refused").count();
    assert!(lines <= 40, "{lines} refusal lines logged for the flood");
    assert!(
        !log.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
}

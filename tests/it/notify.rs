//! The systemd notify protocol (issue 5): READY after the config and store are open,
//! STATUS, WATCHDOG pings, RELOADING on SIGHUP, STOPPING on SIGTERM — observed on a
//! NOTIFY_SOCKET the test listens on.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn recv_until(sock: &UnixDatagram, seen: &mut Vec<String>, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while !seen.iter().any(|m| m.contains(what)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no `{what}` within {within:?}; got {seen:?}"
        );
        sock.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

/// Everything received during `span`.
fn collect_for(sock: &UnixDatagram, span: Duration) -> Vec<String> {
    let deadline = Instant::now() + span;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn notify_socket_sees_ready_status_watchdog_reloading_and_stopping() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 200.0);
    sim.set("th-1", "humidity", 500.0);
    let site = TestSite::new(&broker, &sim, "1s");
    let path = site.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let sock_path = path.to_str().unwrap();
    // 1.5 s watchdog: pings come every 0.5 s while ingest ticks and samples arrive.
    let mut daemon = Daemon::start_with_env(
        &site.config,
        site.dir.path(),
        &[("NOTIFY_SOCKET", sock_path), ("WATCHDOG_USEC", "1500000")],
    );
    let mut seen = Vec::new();
    recv_until(&sock, &mut seen, "READY=1", Duration::from_secs(10));
    let ready = seen.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(
        ready.contains("STATUS=") && ready.contains("devices ok"),
        "{ready}"
    );
    // For 2.5 s: a 1.5 s watchdog is pinged every 0.5 s while ingest ticks and samples
    // arrive, so at least 4 pings.
    let window = collect_for(&sock, Duration::from_millis(2500));
    let pings = window.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(pings >= 4, "watchdog pings in 2.5 s: {pings} ({window:?})");

    daemon.signal(libc::SIGHUP);
    recv_until(&sock, &mut seen, "RELOADING=1", Duration::from_secs(10));
    let reloading = seen.iter().position(|m| m.contains("RELOADING=1")).unwrap();
    let mut after = seen.split_off(reloading + 1);
    recv_until(&sock, &mut after, "READY=1", Duration::from_secs(10));

    assert!(daemon.terminate(Duration::from_secs(20)).success());
    recv_until(&sock, &mut after, "STOPPING=1", Duration::from_secs(2));
}

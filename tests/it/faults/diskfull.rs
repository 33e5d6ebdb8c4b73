//! A real filesystem that fills up (a 6 MiB tmpfs mounted by the test; skipped with a
//! printed reason where mounting is not permitted): an alarm raised while it is full is
//! delivered, with the broker up and after an outage, health keeps flowing, and no alarm
//! is counted or lost as dropped.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test; unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem refuses (ENOSPC); returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0x5Au8; 16 << 10];
    let mut n = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filler: {e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    n
}

fn alarms(msgs: &[Msg], state: &str) -> usize {
    msgs.iter()
        .filter(|m| m.topic.contains("/alarm/") && m.json()["state"] == state)
        .count()
}

fn health_count(msgs: &[Msg]) -> usize {
    msgs.iter().filter(|m| m.topic.ends_with("/health")).count()
}

#[test]
fn an_alarm_raised_on_a_full_disk_is_delivered_and_health_keeps_flowing() {
    let mut broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "humidity", 400.0);
    sim.set("th-1", "temperature", 200.0);
    let rule = "\n[buffer]\noutbox_max_bytes = \"1MiB\"\nraw_max_bytes = \"1MiB\"\n\n[[rule]]\nname = \"hot\"\ntype = \"threshold\"\ndevices = [\"th-1\"]\npoint = \"temperature\"\nabove = 30.0\nclear_below = 29.0\nseverity = \"critical\"\n";
    let site = TestSite::with_extra(&broker, &sim, "1s", rule);
    let _mount = match Mount::tmpfs(&site.data_dir(), "6m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: cannot mount a tmpfs for the full-disk test: {why}");
            return;
        }
    };
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-diskfull",
        true,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log("sitewarden running", Duration::from_secs(15));
    sub.wait_for("health", Duration::from_secs(10), |m| {
        m.topic.ends_with("/health")
    });
    let ballast = site.data_dir().join("outbox.ballast");
    let ballast_len = std::fs::metadata(&ballast).map(|m| m.len()).unwrap_or(0);
    assert!(ballast_len > 0, "no ballast on a 6 MiB filesystem");

    let filled = fill(&site.data_dir().join("filler"));
    println!("filesystem full after {filled} more bytes; ballast was {ballast_len} bytes");

    // Raised while full, the broker up: delivered.
    sim.set("th-1", "temperature", 350.0);
    sub.wait_until("the raise", Duration::from_secs(20), |m| {
        alarms(m, "raised") >= 1
    });
    // Health keeps flowing on the full disk.
    let before = health_count(&sub.snapshot());
    sub.wait_until("health while full", Duration::from_secs(15), |m| {
        health_count(m) >= before + 3
    });

    // Broker down, the clear happens on the full disk, broker back: delivered.
    broker.stop();
    sim.set("th-1", "temperature", 200.0);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !daemon.logs().contains("state=\"cleared\"") && !daemon.logs().contains("state=cleared") {
        assert!(
            Instant::now() < deadline,
            "the clear was never judged:\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    broker.restart();
    let back = Instant::now();
    sub.wait_until("the clear after the outage", Duration::from_secs(45), |m| {
        alarms(m, "cleared") >= 1
    });
    let health = sub.wait_for("health after the outage", Duration::from_secs(15), |m| {
        m.topic.ends_with("/health") && m.at > back
    });
    daemon.stop_cleanly();
    let logs = daemon.logs();
    assert!(
        !logs.contains("records lost what=\"alarm\"") && !logs.contains("alarm change lost"),
        "an alarm was lost:\n{logs}"
    );
    assert_eq!(health.json()["dropped"]["alarms"], 0, "{}", health.json());
}

//! Signals during startup (issue 5): a SIGTERM or SIGHUP that arrives while the daemon is
//! still starting is kept, not fatal. The start is held at a known point by making
//! `uplink.password_file` a FIFO: reading it blocks until the test writes the password.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use std::time::{Duration, Instant};

/// Whether `pid` has a handler installed for `sig` (`SigCgt` in /proc/<pid>/status).
fn catches(pid: i32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

#[test]
fn a_sigterm_and_a_sighup_during_startup_end_in_the_ordered_stop() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let fifo = site.dir.path().join("uplink.pass");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let mut config = std::fs::read_to_string(&site.config).unwrap();
    config = config.replacen(
        "[uplink]\n",
        &format!("[uplink]\npassword_file = \"{}\"\n", fifo.display()),
        1,
    );
    std::fs::write(&site.config, config).unwrap();

    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let pid = daemon.pid();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(catches(pid, libc::SIGTERM) && catches(pid, libc::SIGHUP)) {
        assert!(
            Instant::now() < deadline,
            "no SIGTERM/SIGHUP handlers while the start waits on the password; log:\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon.signal(libc::SIGHUP);
    daemon.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !daemon.logs().contains("sitewarden running"),
        "the start went on without the password"
    );
    // The password arrives; the start completes, then the kept SIGTERM stops it in order.
    std::fs::write(&fifo, "secret\n").expect("write the password into the FIFO");
    let status = daemon.wait(Duration::from_secs(20));
    let logs = daemon.logs();
    assert_eq!(status.code(), Some(0), "{status:?}; log:\n{logs}");
    let running = logs.find("sitewarden running").expect("it started");
    let stopping = logs
        .find("SIGTERM: stopping")
        .expect("the SIGTERM was kept");
    assert!(running < stopping, "log:\n{logs}");
    assert!(!logs.contains("secret"), "the password is never logged");
}

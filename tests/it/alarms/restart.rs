//! Alarms across a daemon restart: still active, not raised again, cleared once.

use super::{FEVER, FORCED_ENTRY, scan};
use crate::support::daemon::Daemon;
use crate::support::platform::{Platform, id, line, lines};
use std::time::Duration;

#[test]
fn an_alarm_raised_before_a_restart_is_still_active_after_it_and_cleared_once() {
    let mut p = Platform::start(
        &["kiosk-1:fever-kiosk", "gate-1:turnstile"],
        |sim| scan(sim, 3650.0, 10.0),
        &format!("{FEVER}{FORCED_ENTRY}"),
    );
    p.wait_polls("kiosk-1", "1970-01-01T00:00:00Z", 1);
    scan(&p.sim, 3810.0, 11.0);
    p.wait_events(1, "fever raised");
    p.sim.set("gate-1", "forced_entry", 1.0);
    let ev = p.wait_events(2, "forced entry raised");
    let (fever, forced) = (id(&ev, 0), id(&ev, 1));
    p.wait_active(&[fever.clone(), forced.clone()]);

    assert!(p.daemon.terminate(Duration::from_secs(20)).success());
    assert_eq!(
        p.retained_active("platform-late-1"),
        [fever.clone(), forced.clone()]
    );

    let mark = p.sub.snapshot().len();
    p.daemon = Daemon::start(&p.site.config, p.site.dir.path());
    p.wait_online(mark);
    let restarted = sitewarden::clock::rfc3339(sitewarden::clock::now_ms());
    // The same scan and the same bit, judged again and again after the restart: nothing.
    p.wait_polls("kiosk-1", &restarted, 3);
    p.wait_polls("gate-1", &restarted, 3);
    assert_eq!(p.events().len(), 2, "{:?}", lines(&p.events()));
    assert_eq!(
        p.retained_active("platform-late-2"),
        [fever.clone(), forced.clone()]
    );

    scan(&p.sim, 3650.0, 12.0);
    p.sim.set("gate-1", "forced_entry", 0.0);
    let ev = p.wait_events(4, "both cleared after the restart");
    let mut cleared: Vec<(String, String)> = ev[2..]
        .iter()
        .map(|e| (line(e), e.json["id"].as_str().unwrap_or("").to_string()))
        .collect();
    cleared.sort();
    assert_eq!(
        cleared,
        [
            (
                "cleared fever kiosk-1 body_temp 36.5 37.3".to_string(),
                fever
            ),
            (
                "cleared forced-entry gate-1 forced_entry 0 1".to_string(),
                forced
            ),
        ]
    );
    p.wait_active(&[]);
    assert!(p.daemon.terminate(Duration::from_secs(20)).success());
}

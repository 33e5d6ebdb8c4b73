//! `sitewarden demo` (issue 5): the whole simulated site in one process, non-interactive.

use crate::support::daemon::bin;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `--for 20s`, plus start-up and the ordered stop, with room for a slow debug build.
const WITHIN: Duration = Duration::from_secs(90);

#[test]
fn demo_for_20s_plain_shows_summaries_a_zone_window_and_an_alarm_then_exits_0() {
    // The demo keeps its state in a new directory under TMPDIR; this one goes at the end.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(bin())
        .args(["demo", "--for", "20s", "--plain"])
        .env("TMPDIR", tmp.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sitewarden demo");
    // Drain both pipes on their own threads so a full pipe never stalls the demo.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            r.read_to_string(&mut s).ok();
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + WITHIN;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("demo still running after {WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = stdout.join().expect("stdout thread");
    let err = stderr.join().expect("stderr thread");
    let context = format!("stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(status.code(), Some(0), "{context}");
    let lines = |what: &str| out.lines().filter(|l| l.contains(what)).count();
    assert!(lines("] summary gate-n1 ") >= 2, "summaries: {context}");
    assert!(lines("] summary kiosk-n1 ") >= 2, "summaries: {context}");
    assert!(
        lines("] zone north-entrance ") >= 1,
        "zone window: {context}"
    );
    assert!(
        lines("] alarm raised critical fever kiosk-n1") >= 1,
        "alarm: {context}"
    );
    assert!(
        lines("] cells ") >= 1 && lines(" scenic-core ") >= 1,
        "the cells by kind: {context}"
    );
    assert!(lines("] status offline") == 1, "ordered stop: {context}");
    assert!(
        err.trim().is_empty(),
        "the daemon logs to its file, not the terminal: {context}"
    );
    let kept: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read TMPDIR")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    for file in ["sitewarden.toml", "demo.log", "data"] {
        assert!(kept[0].join(file).exists(), "no {file} in {kept:?}");
    }
    let log = std::fs::read_to_string(kept[0].join("demo.log")).unwrap_or_default();
    assert!(log.contains("sitewarden stopped"), "log:\n{log}");
}

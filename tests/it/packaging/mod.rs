//! Packaging: the systemd unit, the Debian maintainer scripts and the `.deb` itself.
//!
//! Owns the checks that what ships to a gateway box fits together: the unit passes
//! `systemd-analyze verify` and sets what the daemon relies on (`unit`);
//! `debian/postinst` creates the service user once and keeps it in `dialout`
//! (`scripts`); the unit and the package agree on paths, and `cargo deb` builds a
//! package holding the binary, unit, conffile, profiles and docs (`deb`). Never installs
//! anything on this machine: the maintainer scripts run against stub commands on a
//! private `PATH`. A missing tool fails the test with a message that names
//! `scripts/test.sh`, which installs it; nothing is skipped silently.

mod deb;
mod scripts;
mod unit;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = "systemd/sitewarden.service";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Runs `cmd` to completion within `within`, killing it and failing the test after that.
/// stdout and stderr are drained on their own threads so a chatty tool never blocks.
fn run(cmd: &mut Command, within: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            // Best effort: the test fails below either way.
            child.kill().ok();
            child.wait().ok();
            panic!("{what} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader").expect("read stdout"),
        stderr: err.join().expect("stderr reader").expect("read stderr"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails, naming the test command that installs `tool`, when `tool` cannot run.
fn require(tool: &str, probe: &mut Command) {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is not installed: run `bash scripts/test.sh`, which installs it before the suite"
    );
}

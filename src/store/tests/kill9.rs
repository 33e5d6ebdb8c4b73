//! kill -9 loop: a child process (this test binary, re-executed) appends and logs each
//! seq only after `append` returned; the parent kills it at a random moment, reopens the
//! outbox and checks that every logged seq is there, byte for byte.

use super::Rng;
use crate::store::{Kind, NewRecord, Outbox};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "SITEWARDEN_STORE_KILL_CHILD";
const TEST_NAME: &str = "store::tests::kill9::kill_9_never_loses_an_accepted_seq";

fn payload(seq: u64) -> Vec<u8> {
    format!(
        "{{\"v\":1,\"seq\":{seq},\"pad\":\"{}\"}}",
        "k".repeat((seq % 50) as usize)
    )
    .into_bytes()
}

/// The child: append forever, logging accepted seqs.
fn child(dir: &Path) -> ! {
    let ob = Outbox::open(&dir.join("outbox.redb"), 1 << 30).expect("child opens the outbox");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("accepted"))
        .expect("child opens its log");
    let mut rng = Rng::new(std::process::id().into());
    loop {
        let items = (0..1 + rng.below(5))
            .map(|_| {
                let kind = if rng.chance(0.2) {
                    Kind::Alarm
                } else {
                    Kind::Summary
                };
                NewRecord::new(kind, "p/summary/dev", false, 0, payload)
            })
            .collect();
        let seqs = ob.append(items, &[]).expect("append");
        // One write per batch: a kill lands before or after it, not inside a line.
        let line: String = seqs.iter().map(|s| format!("{s}\n")).collect();
        log.write_all(line.as_bytes()).expect("log");
    }
}

#[test]
fn kill_9_never_loses_an_accepted_seq() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(2024);
    let mut checked_total = 0;
    for round in 0..8 {
        let mut c = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The kill time is the random variable under test, not a synchronisation.
        std::thread::sleep(Duration::from_millis(200 + rng.below(1800)));
        c.kill().unwrap();
        c.wait().unwrap();

        let log = std::fs::read_to_string(tmp.path().join("accepted")).unwrap_or_default();
        let accepted: Vec<u64> = log.lines().map(|l| l.parse().unwrap()).collect();
        assert!(
            accepted.windows(2).all(|w| w[0] < w[1]),
            "round {round}: a seq was reused"
        );
        // `sitewarden outbox` after a crash, before the daemon restarts: it reads, or
        // says clearly why it cannot.
        match Outbox::open_read_only(&tmp.path().join("outbox.redb")) {
            Ok(ro) => {
                assert!(ro.stats().unwrap().pending.total() >= accepted.len() as u64)
            }
            Err(crate::store::StoreError::Unavailable(why)) => {
                assert!(why.contains("start the daemon"), "{why}")
            }
            Err(e) => panic!("round {round}: read-only open after a crash: {e}"),
        }
        let ob = Outbox::open(&tmp.path().join("outbox.redb"), 1 << 30).unwrap();
        assert!(
            ob.quarantined().is_none(),
            "round {round}: {:?}",
            ob.quarantined()
        );
        let mut found = std::collections::HashMap::new();
        for r in ob
            .alarms_after(0, usize::MAX)
            .unwrap()
            .into_iter()
            .chain(ob.others_after(0, usize::MAX).unwrap())
        {
            found.insert(r.seq, r.payload);
        }
        for s in &accepted {
            assert_eq!(
                found.get(s),
                Some(&payload(*s)),
                "round {round}: accepted seq {s} lost or changed"
            );
        }
        // Whatever the child committed but had no time to log is fine; nothing beyond
        // the counter exists.
        assert!(found.keys().all(|s| *s < ob.stats().unwrap().next_seq));
        checked_total = accepted.len();
    }
    println!("kill -9 loop: 8 kills, {checked_total} accepted seqs all present and identical");
    assert!(
        checked_total > 100,
        "the child made too little progress to prove anything: {checked_total}"
    );
}

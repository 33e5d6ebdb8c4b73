//! The published contract (issue 11): `docs/platform.md` and `docs/schema/`.
//!
//! Every subscriber in the suite validates what it receives against the schemas
//! (`support::schema`); these tests make sure that covers every payload kind, that each
//! schema is documented, and that the document's examples are themselves valid.

use crate::support::platform::{Platform, WAIT};
use crate::support::schema::{self, KINDS, SPARKPLUG, THINGSBOARD};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

fn platform_md() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/platform.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The examples of docs/platform.md: a ```json block right after a line
/// `<!-- example: KIND -->`.
fn examples(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(kind) = line
            .trim()
            .strip_prefix("<!-- example: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```json"),
            "the example marker for {kind} must be followed by a ```json block"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        out.push((kind.to_string(), body.join("\n")));
    }
    out
}

#[test]
fn every_payload_kind_has_a_schema_a_section_and_a_valid_example() {
    let doc = platform_md();
    let examples = examples(&doc);
    let every: Vec<&str> = (KINDS.iter().chain(THINGSBOARD.iter()))
        .chain(SPARKPLUG.iter())
        .copied()
        .collect();
    for &kind in &every {
        let file = format!("docs/schema/{kind}.schema.json");
        assert!(
            schema::schema_dir()
                .join(format!("{kind}.schema.json"))
                .exists(),
            "{file} is missing"
        );
        assert!(doc.contains(&file), "docs/platform.md does not cite {file}");
        assert!(
            examples.iter().any(|(k, _)| k == kind),
            "docs/platform.md has no example of {kind}"
        );
    }
    for (kind, body) in &examples {
        assert!(
            every.contains(&kind.as_str()),
            "example of unknown kind {kind}"
        );
        schema::check_kind(kind, body.as_bytes())
            .unwrap_or_else(|e| panic!("docs/platform.md's example of {kind}: {e}"));
    }
}

#[test]
fn the_schemas_refuse_what_the_contract_does_not_allow() {
    let status = br#"{"v":1,"seq":3,"ts":"2026-12-03T10:00:00.000Z","state":"online","version":"0.1.0","started":"2026-12-03T09:59:59.000Z"}"#;
    schema::check_kind("status", status).expect("a real status passes");
    // A missing field, a wrong type, an unknown state, an undocumented field, a bad time.
    let bad: [&[u8]; 5] = [
        br#"{"v":1,"seq":3,"ts":"2026-12-03T10:00:00.000Z","state":"online","version":"0.1.0"}"#,
        br#"{"v":1,"seq":"3","ts":"2026-12-03T10:00:00.000Z","state":"online","version":"0.1.0","started":"2026-12-03T09:59:59.000Z"}"#,
        br#"{"v":1,"seq":3,"ts":"2026-12-03T10:00:00.000Z","state":"asleep","version":"0.1.0","started":"2026-12-03T09:59:59.000Z"}"#,
        br#"{"v":1,"seq":3,"ts":"2026-12-03T10:00:00.000Z","state":"online","version":"0.1.0","started":"2026-12-03T09:59:59.000Z","extra":1}"#,
        br#"{"v":1,"seq":3,"ts":"yesterday","state":"online","version":"0.1.0","started":"2026-12-03T09:59:59.000Z"}"#,
    ];
    for b in bad {
        let e = schema::check_kind("status", b).expect_err("refused");
        assert!(e.contains("status.schema.json refuses"), "{e}");
    }
    // A summary point of a kind that does not exist, and an unknown topic.
    let summary = br#"{"v":1,"seq":4,"ts":"2026-12-03T10:00:01.000Z","device":"g","start":"2026-12-03T10:00:00.000Z","end":"2026-12-03T10:00:01.000Z","points":{"x":{"kind":"vibe","count":1}},"quality":{"polls":1,"errors":0,"last_error":null}}"#;
    assert!(schema::check_kind("summary", summary).is_err());
    // A text point's `last` is printable ASCII (other bytes arrive escaped) or null.
    let text = |last: &str| {
        String::from_utf8_lossy(summary).replace(
            r#"{"kind":"vibe","count":1}"#,
            &format!(r#"{{"kind":"text","last":{last},"transitions":0}}"#),
        )
    };
    schema::check_kind("summary", text(r#""SN-\\x07""#).as_bytes()).expect("an escaped text");
    schema::check_kind("summary", text("null").as_bytes()).expect("no text in the window");
    assert!(schema::check_kind("summary", text(r#""SN-\u0007""#).as_bytes()).is_err());
    assert!(schema::check("sitewarden/s/g/secret", b"{}").is_err());
    // A command needs exactly one of device and zone; a result's reason is one word of the
    // documented list; a cell's state is one of four.
    let target = |t: &str| {
        format!(r#"{{"id":"c",{t}"point":"open","value":true,"expires":"2026-12-03T10:00:00Z"}}"#)
    };
    schema::check_kind("cmd", target(r#""zone":"north","#).as_bytes()).expect("zone command");
    assert!(schema::check_kind("cmd", target("").as_bytes()).is_err());
    assert!(schema::check_kind("cmd", target(r#""device":"g","zone":"z","#).as_bytes()).is_err());
    let result = |r: &str| {
        format!(
            r#"{{"v":1,"seq":5,"ts":"2026-12-03T10:00:00.000Z","id":"c","ok":false,"error":"x","reason":"{r}"}}"#
        )
    };
    schema::check_kind("cmd-result", result("expired").as_bytes()).expect("a known reason");
    assert!(schema::check_kind("cmd-result", result("nope").as_bytes()).is_err());
    let cell = |state: &str| {
        format!(
            r#"{{"v":1,"seq":6,"ts":"2026-12-03T10:00:01.000Z","cell":"c","kind":"k","owner":null,"key_point":false,"start":"2026-12-03T10:00:00.000Z","end":"2026-12-03T10:00:01.000Z","state":"{state}","devices":{{"ok":0,"failing":1,"total":1}},"alarms":{{"info":0,"warning":0,"critical":0}},"zones":[]}}"#
        )
    };
    schema::check_kind("cell", cell("blind").as_bytes()).expect("a blind cell");
    // A patrol round's status is one of three, and a tapped checkpoint says when.
    let round = |status: &str, at: &str| {
        format!(
            r#"{{"v":1,"seq":7,"ts":"2026-12-03T22:20:00.000Z","patrol":"night","status":"{status}","route":["cp-1"],"scheduled":"2026-12-03T22:00:00.000Z","start":"2026-12-03T22:01:00.000Z","end":"2026-12-03T22:01:00.000Z","checkpoints":[{{"checkpoint":"cp-1",{at}"leg_s":null,"in_order":true,"late":false,"cell":null}}],"skipped":[],"out_of_order":[],"late_legs":[]}}"#
        )
    };
    let at = r#""at":"2026-12-03T22:01:00.000Z","#;
    schema::check_kind("patrol", round("completed", at).as_bytes()).expect("a round");
    assert!(schema::check_kind("patrol", round("abandoned", at).as_bytes()).is_err());
    assert!(schema::check_kind("patrol", round("completed", "").as_bytes()).is_err());
    assert!(schema::check_kind("cell", cell("dark").as_bytes()).is_err());
    assert!(schema::check("cameras/cam-1/events", b"not json").is_ok());
}

/// A patrol whose rounds run back to back, so a tap at any time makes one.
const PATROL: &str = r#"
[[patrol]]
name = "night"
checkpoints = ["cp-1"]
schedule = "every 10s from 00:00 to 24:00"
leg = "10s"
round = "10s"
tags = [1001]
"#;

/// The command's `expires`, a minute from now.
fn in_a_minute() -> String {
    let t = SystemTime::now() + Duration::from_secs(60);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A small site exercises every upstream payload kind on a real broker; the subscriber
/// validates each message against its schema as it arrives. The first message of each
/// kind is written to `target/contract-examples/` for docs/platform.md.
#[test]
fn a_running_site_sends_every_payload_kind_as_the_contract_says() {
    // The kiosk (the last device) reports live values.
    let extra = format!(
        "live = {{ deadband = 0.5, max_interval = \"2s\" }}\n{}{}\n[[zone]]\nname = \"north\"\ncapacity = 100\n\n[[cell]]\nname = \"entrance\"\nkind = \"gate\"\nowner = \"duty desk\"\n{PATROL}",
        crate::alarms::FORCED_ENTRY,
        crate::alarms::FEVER
    );
    let p = Platform::start(
        &[
            "gate-1:turnstile@north",
            "kiosk-1:fever-kiosk",
            "cp-1:tag-reader",
        ],
        |sim| {
            sim.set("gate-1", "entries", 120.0);
            sim.set("gate-1", "status", 1.0);
            sim.set("kiosk-1", "body_temp", 3650.0);
        },
        &extra,
    );
    p.wait_polls("gate-1", "1970-01-01T00:00:00Z", 1);
    // A patrol of one checkpoint: one tap is a whole round.
    p.wait_polls("cp-1", "1970-01-01T00:00:00Z", 1);
    p.sim.set("cp-1", "tag", 1001.0);
    p.sim.set("cp-1", "taps", 1.0);
    p.sim.set("gate-1", "entries", 125.0);
    p.sim.set("gate-1", "forced_entry", 1.0);
    p.sim.set("kiosk-1", "body_temp", 3790.0);
    p.sim.set("kiosk-1", "scans", 1.0);
    p.wait_events(2, "forced entry and fever raised");

    // A command that opens the gate, and one the gateway must refuse.
    let cmd = p.topic("cmd");
    let open = format!(
        r#"{{"id":"c-open","device":"gate-1","point":"open","value":true,"expires":"{}"}}"#,
        in_a_minute()
    );
    schema::check_kind("cmd", open.as_bytes()).expect("the test's command is valid");
    p.sub.publish(&cmd, open.as_bytes());
    let refused = format!(
        r#"{{"id":"c-status","device":"gate-1","point":"status","value":2,"expires":"{}"}}"#,
        in_a_minute()
    );
    p.sub.publish(&cmd, refused.as_bytes());
    p.until("both command results", || p.seen("cmd/result").len() >= 2);
    let results: BTreeMap<String, Value> = p
        .seen("cmd/result")
        .into_iter()
        .map(|s| {
            (
                s.json["id"].as_str().unwrap_or_default().to_string(),
                s.json,
            )
        })
        .collect();
    assert_eq!(results["c-open"]["ok"], true, "{results:?}");
    assert_eq!(results["c-open"]["held"], true, "{results:?}");
    assert_eq!(results["c-open"]["readback"], 1.0, "{results:?}");
    assert_eq!(results["c-status"]["reason"], "not_writable", "{results:?}");
    assert_eq!(
        p.sim.get("gate-1", "open"),
        Some(1.0),
        "the coil was written"
    );
    assert_eq!(results["c-status"]["ok"], false);
    assert_eq!(p.sim.get("gate-1", "status"), Some(1.0), "nothing written");

    // Every kind the gateway sends has been seen (and validated on arrival).
    let upstream: Vec<&str> = KINDS.iter().copied().filter(|k| *k != "cmd").collect();
    p.sub.wait_until("every upstream kind seen", WAIT, |msgs| {
        upstream.iter().all(|k| {
            msgs.iter()
                .any(|m| schema::kind_of(&m.topic) == Ok(Some(k)))
        })
    });
    let mut first: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for m in p.sub.snapshot() {
        if let Ok(Some(kind)) = schema::kind_of(&m.topic) {
            first.entry(kind).or_insert(m.payload);
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/contract-examples");
    std::fs::create_dir_all(&dir).expect("create target/contract-examples");
    for (kind, payload) in &first {
        std::fs::write(dir.join(format!("{kind}.json")), payload).expect("write example");
    }
    p.sub.assert_contract();
}

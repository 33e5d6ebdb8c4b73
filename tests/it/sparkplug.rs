//! `[uplink] format = "sparkplug"` (issue 11): the simulated site read by an independent
//! Sparkplug B decoder (pysparkplug, `tests/fixtures/sparkplug_codec.py`) from a real
//! Mosquitto, as a host reads it: NBIRTH/DBIRTH declare the metrics, DDATA names them by
//! alias, `seq` counts every message of the edge node and wraps 255 → 0, a DCMD from
//! the same decoder writes a coil on a real Modbus server (a refused one writes
//! nothing), an NCMD rebirth brings a new NBIRTH, and after `kill -9` the broker
//! publishes the will, an NDEATH with the `bdSeq` of the NBIRTH. Every decoded message
//! meets docs/schema/sparkplug.schema.json, and every `sitewarden/…` string metric the
//! schema of our own payload of that kind.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::schema;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const NODE: &str = "spBv1.0/test/NBIRTH/gw-1";

fn python() -> String {
    std::env::var("SW_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("SW_TEST_PYTHON is not set: run scripts/test.sh (its venv has pysparkplug)")
    })
}

fn codec() -> String {
    format!(
        "{}/tests/fixtures/sparkplug_codec.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A host's view: every message the subscriber received, decoded by pysparkplug in
/// order (aliases resolved through the births before it).
struct Host {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    decoded: Vec<Value>,
}

impl Host {
    fn start() -> Host {
        let mut child = Command::new(python())
            .args([codec().as_str(), "decode"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Sparkplug decoder");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Host {
            child,
            stdin,
            stdout,
            decoded: Vec::new(),
        }
    }

    /// Decodes what arrived since the last call.
    fn update(&mut self, sub: &Subscriber) {
        let msgs = sub.snapshot();
        for m in &msgs[self.decoded.len()..] {
            let hex: String = m.payload.iter().map(|b| format!("{b:02x}")).collect();
            let line = serde_json::json!({"topic": m.topic, "hex": hex});
            writeln!(self.stdin, "{line}").expect("feed the decoder");
            self.stdin.flush().unwrap();
            let mut out = String::new();
            self.stdout.read_line(&mut out).expect("read the decoder");
            let v: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("decoder could not read {}: {e} ({out:?})", m.topic));
            check_contract(&v);
            self.decoded.push(v);
        }
    }

    /// The first decoded message from index `from` on that satisfies `pred`, and its index.
    fn wait(
        &mut self,
        sub: &Subscriber,
        what: &str,
        from: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> (usize, Value) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.update(sub);
            let found = (self.decoded.iter().enumerate().skip(from)).find(|(_, v)| pred(v));
            if let Some((i, v)) = found {
                return (i, v.clone());
            }
            assert!(
                Instant::now() < deadline,
                "no Sparkplug message for `{what}` within {WAIT:?} ({} decoded)",
                self.decoded.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The decoded message meets docs/schema/sparkplug.schema.json, and each of our JSON
/// payloads carried as a `sitewarden/{kind}` string metric meets its own schema.
fn check_contract(v: &Value) {
    schema::check_kind("sparkplug", v.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", v["topic"]));
    if v["kind"] == "DDATA" || v["kind"] == "NDATA" {
        // An alias the decoder could not name was sent before (or without) its birth.
        let named = (v["metrics"].as_array().into_iter().flatten()).all(|m| m["name"].is_string());
        assert!(named, "DATA before its BIRTH declared it: {v}");
    }
    for m in v["metrics"].as_array().into_iter().flatten() {
        let (Some(name), Some(text)) = (m["name"].as_str(), m["value"].as_str()) else {
            continue;
        };
        if let Some(rest) = name.strip_prefix("sitewarden/") {
            schema::check(&format!("sitewarden/test/gw-1/{rest}"), text.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// An NCMD or DCMD with one metric, encoded by pysparkplug.
fn command(kind: &str, name: &str, datatype: &str, value: &str, alias: Option<u64>) -> Vec<u8> {
    let ts = sitewarden::clock::now_ms().to_string();
    let alias = alias.map(|a| a.to_string()).unwrap_or_default();
    let out = Command::new(python())
        .args([&codec(), "encode", kind, &ts, name, datatype, value, &alias])
        .output()
        .expect("run the Sparkplug encoder");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8(out.stdout).unwrap();
    (0..hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn metric<'v>(v: &'v Value, name: &str) -> &'v Value {
    (v["metrics"].as_array().into_iter().flatten())
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {v}"))
}

fn has(v: &Value, name: &str) -> bool {
    (v["metrics"].as_array().into_iter().flatten()).any(|m| m["name"] == name)
}

/// The test site with 1 s windows, `format = "sparkplug"` and `uplink` keys.
fn sparkplug_site(broker: &Mosquitto, sim: &SimSite, extra: &str, uplink: &str) -> TestSite {
    let site = TestSite::with_extra(broker, sim, "1s", extra);
    let text = std::fs::read_to_string(&site.config).unwrap();
    let text = text.replacen(
        "summary_interval = \"1s\"\n",
        &format!("summary_interval = \"1s\"\nformat = \"sparkplug\"\n{uplink}"),
        1,
    );
    std::fs::write(&site.config, text).unwrap();
    site
}

/// The result of the command `id` (`sitewarden/cmd/result` on the node) as JSON.
fn result_of(host: &mut Host, sub: &Subscriber, id_start: &str) -> Value {
    let (_, v) = host.wait(sub, id_start, 0, |v| {
        v["kind"] == "NDATA"
            && has(v, "sitewarden/cmd/result")
            && metric(v, "sitewarden/cmd/result")["value"]
                .as_str()
                .is_some_and(|s| s.contains(id_start))
    });
    let text = metric(&v, "sitewarden/cmd/result")["value"]
        .as_str()
        .unwrap();
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_sparkplug_host_reads_the_site_commands_it_and_sees_its_death() {
    let broker = Mosquitto::start();
    // Enough devices for more than 256 messages within seconds (seq wraps).
    let mut specs: Vec<String> = vec!["gate-1:turnstile@north".into()];
    specs.extend((1..=20).map(|i| format!("th-{i}:rs485-th")));
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let sim = SimSite::start(&specs);
    sim.set("gate-1", "status", 1.0);
    sim.set("th-1", "temperature", 215.0);
    // th-20 is the config's last device: the live key lands in it.
    let extra = format!(
        "live = {{ max_interval = \"1s\" }}\n{}\n[[zone]]\nname = \"north\"\ncapacity = 100\n",
        crate::alarms::FORCED_ENTRY
    );
    let site = sparkplug_site(&broker, &sim, &extra, "");
    let sub = Subscriber::start(broker.port, "spBv1.0/test/#", "sparkplug-host", false);
    let mut host = Host::start();
    let mut daemon = Daemon::start(&site.config, site.dir.path());

    // The birth of the node and of each device, and data by alias.
    let (nb, nbirth) = host.wait(&sub, "NBIRTH", 0, |v| v["topic"] == NODE);
    assert_eq!(nbirth["seq"], 0);
    let bd_seq = metric(&nbirth, "bdSeq")["value"].clone();
    assert_eq!(metric(&nbirth, "bdSeq")["datatype"], "INT64");
    assert_eq!(metric(&nbirth, "Node Control/Rebirth")["value"], false);
    assert!(has(&nbirth, "zone/north/occupancy"), "{nbirth}");
    let (_, gate) = host.wait(&sub, "DBIRTH gate-1", nb, |v| {
        v["kind"] == "DBIRTH" && v["device"] == "gate-1"
    });
    assert_eq!(metric(&gate, "open")["datatype"], "BOOLEAN");
    assert_eq!(metric(&gate, "status")["datatype"], "INT64");
    assert!(has(&gate, "alarm/forced-entry"), "{gate}");
    let open_alias = metric(&gate, "open")["alias"].as_u64().expect("an alias");
    let (_, th) = host.wait(&sub, "DDATA th-1", nb, |v| {
        v["kind"] == "DDATA" && v["device"] == "th-1" && has(v, "temperature")
    });
    assert_eq!(metric(&th, "temperature")["value"], 21.5);
    assert_eq!(metric(&th, "temperature")["datatype"], "DOUBLE");
    let end = metric(&th, "temperature")["timestamp"].as_i64().unwrap();
    assert_eq!(end % 1000, 0, "at the window's end");
    write_example(&th);
    // Live values of th-20, after its DBIRTH (checked for every DATA by `check_contract`).
    host.wait(&sub, "th-20 live", nb, |v| {
        v["device"] == "th-20" && has(v, "temperature") && !has(v, "temperature/mean")
    });
    host.wait(&sub, "zone NDATA", nb, |v| {
        v["kind"] == "NDATA" && has(v, "zone/north/capacity")
    });

    // A DCMD by alias opens the gate on the Modbus server; the result is on the node.
    let dcmd = command("DCMD", "", "BOOLEAN", "true", Some(open_alias));
    sub.publish("spBv1.0/test/DCMD/gw-1/gate-1", &dcmd);
    let ok = result_of(&mut host, &sub, "sp:gate-1:open:");
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(sim.get("gate-1", "open"), Some(1.0), "the coil was written");
    host.wait(&sub, "the new value in a DDATA", nb, |v| {
        v["kind"] == "DDATA"
            && v["device"] == "gate-1"
            && has(v, "open")
            && metric(v, "open")["value"] == true
    });
    let writes = sim.writes("gate-1").len();
    // A DCMD by name of a point that is not writable: refused, nothing written.
    let refused = command("DCMD", "status", "INT64", "2", None);
    sub.publish("spBv1.0/test/DCMD/gw-1/gate-1", &refused);
    let no = result_of(&mut host, &sub, "sp:gate-1:status:");
    assert_eq!(no["ok"], false);
    assert_eq!(no["reason"], "not_writable", "{no}");
    assert_eq!(sim.get("gate-1", "status"), Some(1.0));
    assert_eq!(sim.writes("gate-1").len(), writes, "nothing written");

    // An alarm as DDATA of the device.
    sim.set("gate-1", "forced_entry", 1.0);
    host.wait(&sub, "alarm DDATA", nb, |v| {
        v["device"] == "gate-1"
            && has(v, "alarm/forced-entry")
            && metric(v, "alarm/forced-entry")["value"] == true
    });

    // A rebirth request: a new NBIRTH (seq 0 again, the same bdSeq) and DBIRTHs.
    let seen = host.decoded.len();
    let ncmd = command("NCMD", "Node Control/Rebirth", "BOOLEAN", "true", None);
    sub.publish("spBv1.0/test/NCMD/gw-1", &ncmd);
    let (rb, reborn) = host.wait(&sub, "a new NBIRTH", seen, |v| v["topic"] == NODE);
    assert_eq!(reborn["seq"], 0);
    assert_eq!(metric(&reborn, "bdSeq")["value"], bd_seq);
    host.wait(&sub, "a new DBIRTH", rb, |v| {
        v["kind"] == "DBIRTH" && v["device"] == "th-20"
    });

    // seq counts every message of the node from its birth and wraps 255 → 0.
    let (_, _) = host.wait(&sub, "seq 255 → 0", rb + 257, |_| true);
    let mut expected = 0u64;
    let mut wrapped = false;
    for (i, v) in host.decoded.iter().enumerate().skip(rb) {
        let seq = v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"));
        assert_eq!(
            seq, expected,
            "message {i} ({}) out of sequence",
            v["topic"]
        );
        wrapped |= seq == 0 && i > rb;
        expected = (seq + 1) % 256;
    }
    assert!(wrapped, "seq wrapped");

    // kill -9: the broker publishes the will, an NDEATH with the NBIRTH's bdSeq.
    let before = host.decoded.len();
    daemon.kill9();
    let (_, death) = host.wait(&sub, "NDEATH", before, |v| v["kind"] == "NDEATH");
    assert_eq!(metric(&death, "bdSeq")["value"], bd_seq);
    assert_eq!(death["seq"], Value::Null);
    // Nothing went out under our own topics.
    assert!(
        sub.snapshot()
            .iter()
            .all(|m| m.topic.starts_with("spBv1.0/"))
    );
}

/// A decoded DDATA, for docs/platform.md (`target/contract-examples/sparkplug.json`).
fn write_example(v: &Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/contract-examples");
    std::fs::create_dir_all(&dir).expect("create target/contract-examples");
    let text = serde_json::to_string_pretty(v).unwrap();
    std::fs::write(dir.join("sparkplug.json"), text).expect("write example");
}

/// The primary host's STATE as Sparkplug 3.0 gives it.
fn state(sub: &Subscriber, online: bool) {
    let now = sitewarden::clock::now_ms();
    let body = serde_json::json!({"online": online, "timestamp": now});
    sub.publish("spBv1.0/STATE/scada", body.to_string().as_bytes());
}

fn historical(v: &Value, device: &str) -> Option<bool> {
    if v["kind"] != "DDATA" || v["device"] != device || !has(v, "quality/polls") {
        return None;
    }
    metric(v, "quality/polls")["is_historical"].as_bool()
}

#[test]
fn with_a_primary_host_the_node_speaks_only_while_the_host_is_online() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile", "th-1:rs485-th"]);
    let site = sparkplug_site(&broker, &sim, "", "primary_host = \"scada\"\n");
    let sub = Subscriber::start(broker.port, "spBv1.0/test/#", "sparkplug-primary", false);
    let mut host = Host::start();
    let mut daemon = Daemon::start(&site.config, site.dir.path());

    // Connected, but not a word before the host is online; the windows are kept.
    daemon.wait_log("waiting for the primary host's STATE", WAIT);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sub.snapshot().len(), 0, "published before the host's STATE");
    state(&sub, true);
    let (nb, birth) = host.wait(&sub, "NBIRTH", 0, |v| v["topic"] == NODE);
    let bd_seq = metric(&birth, "bdSeq")["value"].clone();
    // What was made while waiting comes as history, what is made now as live data.
    host.wait(&sub, "held windows", nb, |v| {
        historical(v, "th-1") == Some(true)
    });
    host.wait(&sub, "a live window", nb, |v| {
        historical(v, "th-1") == Some(false)
    });

    // The host goes away: an NDEATH of this birth, then silence.
    state(&sub, false);
    let (nd, death) = host.wait(&sub, "NDEATH", nb, |v| v["kind"] == "NDEATH");
    assert_eq!(metric(&death, "bdSeq")["value"], bd_seq);
    std::thread::sleep(Duration::from_millis(2500));
    host.update(&sub);
    assert_eq!(
        host.decoded.len(),
        nd + 1,
        "published while the host was offline: {:?}",
        &host.decoded[nd + 1..]
    );
    // Back: a new birth, and the windows of the gap as history.
    let gap_end = sitewarden::clock::now_ms();
    state(&sub, true);
    let (nb2, _) = host.wait(&sub, "a new NBIRTH", nd, |v| v["topic"] == NODE);
    let (_, held) = host.wait(&sub, "the gap's windows", nb2, |v| {
        historical(v, "th-1") == Some(true)
    });
    let end = metric(&held, "quality/polls")["timestamp"]
        .as_i64()
        .unwrap();
    assert!(end < gap_end, "a window of the gap: {held}");
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}

/// Every window of a device the host decoded: window end → the DDATA metrics seen for
/// it, without the send-time `is_historical` (and `seq`, which is not in the metrics).
fn windows(host: &Host, device: &str) -> std::collections::BTreeMap<i64, Vec<Value>> {
    let mut out: std::collections::BTreeMap<i64, Vec<Value>> = Default::default();
    for v in &host.decoded {
        if historical(v, device).is_none() {
            continue;
        }
        let end = metric(v, "quality/polls")["timestamp"]
            .as_i64()
            .unwrap_or(0);
        let mut metrics = v["metrics"].clone();
        for m in metrics.as_array_mut().into_iter().flatten() {
            m.as_object_mut().map(|o| o.remove("is_historical"));
        }
        out.entry(end).or_default().push(metrics);
    }
    out
}

/// The outbox under this format: a broker outage with a `kill -9` and a restart of the
/// daemon inside it loses no window that was made; the backlog comes as history, and a
/// window delivered twice differs in nothing but `seq` and `is_historical`.
#[test]
fn sparkplug_format_keeps_every_window_through_an_outage_and_a_kill_9() {
    let mut broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile", "th-1:rs485-th"]);
    sim.set("th-1", "temperature", 215.0);
    let site = sparkplug_site(&broker, &sim, "", "");
    let sub = Subscriber::start(broker.port, "spBv1.0/test/#", "sparkplug-outage", true);
    let mut host = Host::start();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let deadline = Instant::now() + WAIT;
    while windows(&host, "th-1").len() < 3 {
        assert!(Instant::now() < deadline, "three windows of th-1");
        std::thread::sleep(Duration::from_millis(200));
        host.update(&sub);
    }

    broker.stop();
    std::thread::sleep(Duration::from_secs(3));
    let killed = sitewarden::clock::now_ms();
    daemon.kill9();
    std::thread::sleep(Duration::from_secs(1));
    let restarted = sitewarden::clock::now_ms();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    std::thread::sleep(Duration::from_secs(4));
    let subscribed = sub.subscriptions();
    broker.restart();
    sub.wait_resubscribed(subscribed, Duration::from_secs(10));
    let back = sitewarden::clock::now_ms();
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = |host: &Host| {
        ["gate-1", "th-1"]
            .iter()
            .all(|d| windows(host, d).keys().any(|&end| end > back + 2000))
    };
    while !after(&host) {
        assert!(Instant::now() < deadline, "windows after the outage");
        std::thread::sleep(Duration::from_millis(200));
        host.update(&sub);
    }
    daemon.stop_cleanly();
    host.update(&sub);

    for device in ["gate-1", "th-1"] {
        let w = windows(&host, device);
        let ends: Vec<i64> = w.keys().copied().collect();
        let (first, last) = (ends[0], ends[ends.len() - 1]);
        // Windows around the crash may be empty (the daemon was dead, or its last
        // second of readings not yet flushed): those are never made. Every other one is.
        let missing: Vec<i64> = (first / 1000..=last / 1000)
            .map(|s| s * 1000)
            .filter(|ts| !(killed - 1000..=restarted + 2000).contains(ts))
            .filter(|ts| !ends.contains(ts))
            .collect();
        assert_eq!(
            missing,
            Vec::<i64>::new(),
            "{device}: windows never delivered"
        );
        for (end, seen) in &w {
            assert!(
                seen.windows(2).all(|p| p[0] == p[1]),
                "{device} at {end}: a replay differs from the first delivery: {seen:?}"
            );
        }
    }
    // The backlog made during the outage reached the host as history.
    let backlog = (host.decoded.iter()).any(|v| {
        historical(v, "th-1") == Some(true)
            && (metric(v, "quality/polls")["timestamp"].as_i64())
                .is_some_and(|end| end > killed - 1000 && end <= back)
    });
    assert!(backlog, "the outage's windows came as history");
}

/// A reload that removes a device: its DDEATH, then the node born again (seq 0) with a
/// DBIRTH of each device it still has, and data by the new births' aliases.
#[test]
fn a_reload_that_removes_a_device_ends_it_and_births_the_node_again() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile", "th-2:rs485-th"]);
    let site = sparkplug_site(&broker, &sim, "", "");
    let full = std::fs::read_to_string(&site.config).unwrap();
    let cut = (full.find("[[connection]]\nname = \"conn-th-2\""))
        .expect("th-2's connection in the config");
    let sub = Subscriber::start(broker.port, "spBv1.0/test/#", "sparkplug-reload", false);
    let mut host = Host::start();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let (nb, _) = host.wait(&sub, "NBIRTH", 0, |v| v["topic"] == NODE);
    host.wait(&sub, "th-2 data", nb, |v| historical(v, "th-2").is_some());

    std::fs::write(&site.config, &full[..cut]).unwrap();
    daemon.signal(libc::SIGHUP);
    let (dd, death) = host.wait(&sub, "DDEATH th-2", nb, |v| v["kind"] == "DDEATH");
    assert_eq!(death["device"], "th-2");
    assert!(death["seq"].is_u64(), "a DDEATH is numbered: {death}");
    let (nb2, birth) = host.wait(&sub, "NBIRTH again", dd, |v| v["topic"] == NODE);
    assert_eq!(birth["seq"], 0);
    let (db, _) = host.wait(&sub, "DBIRTH gate-1", nb2, |v| {
        v["kind"] == "DBIRTH" && v["device"] == "gate-1"
    });
    assert_eq!(
        host.decoded[nb2 + 1]["seq"],
        1,
        "numbered from the new birth"
    );
    host.wait(&sub, "gate-1 data", db, |v| {
        historical(v, "gate-1").is_some()
    });
    let after = &host.decoded[nb2..];
    assert!(
        !after
            .iter()
            .any(|v| v["kind"] == "DBIRTH" && v["device"] == "th-2"),
        "th-2 is gone"
    );
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}

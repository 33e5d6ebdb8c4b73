//! The platform's view of one gateway, for the alarm tests: a broker, simulated devices,
//! the daemon, and a subscriber on `P/#`, with readers for what the platform acts on —
//! alarm events (`P/alarm/{device}`), the active snapshot (`P/alarms/active`), zone
//! windows and device summaries.
//!
//! Deliveries are at least once: a replay after a reconnect repeats a record with its
//! seq, byte for byte, and the platform keeps the first. The readers do the same (dedup
//! by seq), so "exactly these events" means exactly these records.

use super::daemon::Daemon;
use super::mosquitto::Mosquitto;
use super::site::{SimSite, TestSite};
use super::subscriber::{Msg, Subscriber};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Every wait in the alarm tests is bounded by this unless it says otherwise.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) struct Platform {
    pub(crate) broker: Mosquitto,
    pub(crate) sim: SimSite,
    pub(crate) site: TestSite,
    pub(crate) sub: Subscriber,
    pub(crate) daemon: Daemon,
}

/// One received message, parsed, with when it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) topic: String,
    pub(crate) json: Value,
    pub(crate) at: Instant,
}

impl Platform {
    /// Starts the devices (`SimSite::start` specs), lets `setup` set their registers,
    /// then the broker, the subscriber and the daemon with `extra` config (zones, rules)
    /// and 1 s windows; returns once the gateway is online.
    pub(crate) fn start(specs: &[&str], setup: impl FnOnce(&SimSite), extra: &str) -> Platform {
        Self::start_with(specs, setup, |_| extra.to_string(), &[])
    }

    /// As `start`, with the extra config made from the broker's port (for connections
    /// to the same broker) and `files` (path relative to the config's directory, text)
    /// written beside the config, e.g. `profiles/x.toml`.
    pub(crate) fn start_with(
        specs: &[&str],
        setup: impl FnOnce(&SimSite),
        extra: impl FnOnce(u16) -> String,
        files: &[(&str, &str)],
    ) -> Platform {
        let broker = Mosquitto::start();
        let sim = SimSite::start(specs);
        setup(&sim);
        let site = TestSite::with_extra(&broker, &sim, "1s", &extra(broker.port));
        for (path, text) in files {
            let path = site.dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dir");
            std::fs::write(&path, text).expect("write file beside the config");
        }
        let sub = Subscriber::start(
            broker.port,
            &format!("{}/#", site.prefix),
            "platform-alarms",
            false,
        );
        let daemon = Daemon::start(&site.config, site.dir.path());
        let p = Platform {
            broker,
            sim,
            site,
            sub,
            daemon,
        };
        p.wait_online(0);
        p
    }

    pub(crate) fn topic(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.site.prefix)
    }

    /// Waits until `done` holds, checking every 10 ms; panics after `WAIT` with the
    /// alarm events so far and the daemon's log.
    pub(crate) fn until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done() {
            if Instant::now() > deadline {
                panic!(
                    "{what}: not within {WAIT:?}; alarm events {:#?}\nsnapshots {:?}\ndaemon log:\n{}",
                    lines(&self.events()),
                    self.snapshots(),
                    tail(&self.daemon.logs())
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for an `online` status received after the first `after` messages.
    pub(crate) fn wait_online(&self, after: usize) {
        let topic = self.topic("status");
        self.until("gateway online", || {
            let msgs: Vec<Msg> = self.sub.snapshot();
            msgs[after.min(msgs.len())..]
                .iter()
                .any(|m| m.topic == topic && m.json()["state"] == "online")
        });
    }

    /// Every message so far whose topic starts with `P/<prefix>`, parsed, first
    /// delivery of each seq only.
    pub(crate) fn seen(&self, prefix: &str) -> Vec<Seen> {
        let want = self.topic(prefix);
        let mut seqs = HashSet::new();
        self.sub
            .snapshot()
            .iter()
            .filter(|m| m.topic.starts_with(&want))
            .map(|m| Seen {
                topic: m.topic.clone(),
                json: m.json(),
                at: m.at,
            })
            .filter(|s| s.json["seq"].as_u64().is_none_or(|q| seqs.insert(q)))
            .collect()
    }

    /// Alarm events (`P/alarm/{device}`), in order of arrival.
    pub(crate) fn events(&self) -> Vec<Seen> {
        self.seen("alarm/")
    }

    /// The alarm ids of every `P/alarms/active` snapshot, in order of arrival.
    pub(crate) fn snapshots(&self) -> Vec<Vec<String>> {
        self.seen("alarms/active")
            .iter()
            .map(|s| ids(&s.json["alarms"]))
            .collect()
    }

    /// Waits until `n` alarm events have arrived and returns them all.
    pub(crate) fn wait_events(&self, n: usize, what: &str) -> Vec<Seen> {
        self.until(&format!("{what} ({n} alarm events)"), || {
            self.events().len() >= n
        });
        self.events()
    }

    /// Waits until the latest `P/alarms/active` snapshot holds exactly `expected` ids.
    pub(crate) fn wait_active(&self, expected: &[String]) {
        self.until(&format!("active snapshot {expected:?}"), || {
            self.snapshots().last().map(Vec::as_slice).unwrap_or(&[]) == expected
        });
    }

    /// Waits until `device` has been polled in `n` summary windows starting at or after
    /// `since` (an RFC 3339 timestamp), i.e. until `n` more polls were judged.
    pub(crate) fn wait_polls(&self, device: &str, since: &str, n: usize) {
        let since = ms(since);
        let topic = self.topic(&format!("summary/{device}"));
        self.until(&format!("{n} polls of {device}"), || {
            self.seen(&format!("summary/{device}"))
                .iter()
                .filter(|s| s.topic == topic)
                .filter(|s| s.json["quality"]["polls"].as_u64() >= Some(1))
                .filter(|s| ms(s.json["start"].as_str().unwrap_or_default()) >= since)
                .count()
                >= n
        });
    }

    /// The retained `P/alarms/active` a newly connected platform client receives.
    pub(crate) fn retained_active(&self, client: &str) -> Vec<String> {
        let late = Subscriber::start(
            self.broker.port,
            &self.topic("alarms/active"),
            client,
            false,
        );
        let m = late.wait_for("retained active snapshot", WAIT, |m| m.retain);
        ids(&m.json()["alarms"])
    }
}

/// Unix milliseconds of an RFC 3339 timestamp (0 if unreadable).
pub(crate) fn ms(rfc3339: &str) -> u128 {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis())
}

fn ids(alarms: &Value) -> Vec<String> {
    alarms
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// An alarm event as one comparable line: `state rule device point value limit`, after
/// checking that its topic names its device.
pub(crate) fn line(s: &Seen) -> String {
    let j = &s.json;
    let device = j["device"].as_str().unwrap_or("?");
    assert!(
        s.topic.ends_with(&format!("/alarm/{device}")),
        "{} carries device {device}",
        s.topic
    );
    let num = |v: &Value| match v.as_f64() {
        Some(x) => format!("{}", (x * 1000.0).round() / 1000.0),
        None => v.to_string(),
    };
    format!(
        "{} {} {} {} {} {}",
        j["state"].as_str().unwrap_or("?"),
        j["rule"].as_str().unwrap_or("?"),
        device,
        j["point"].as_str().unwrap_or("-"),
        num(&j["value"]),
        num(&j["limit"])
    )
}

pub(crate) fn lines(events: &[Seen]) -> Vec<String> {
    events.iter().map(line).collect()
}

/// The id of the `i`th event.
pub(crate) fn id(events: &[Seen], i: usize) -> String {
    events[i].json["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

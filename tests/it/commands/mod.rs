//! `P/cmd` against the real daemon, a real Mosquitto and real Modbus servers that record
//! every write they receive: what a platform (or an attacker on the broker) may send,
//! and what reaches the device.

mod acl;
mod device;
mod flood;
mod signed;
mod zone;

use crate::support::platform::Platform;
use rumqttc::{Client, MqttOptions, QoS};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// A platform-side client that publishes commands.
pub(crate) struct Publisher {
    client: Client,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    pub(crate) fn start(port: u16, client_id: &str) -> Publisher {
        Self::start_as(port, client_id, None)
    }

    /// Logged in as `username` (no password) where it is Some.
    pub(crate) fn start_as(port: u16, client_id: &str, username: Option<&str>) -> Publisher {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        if let Some(user) = username {
            o.set_credentials(user, "");
        }
        o.set_keep_alive(Duration::from_secs(5));
        o.set_inflight(1000);
        let (client, mut conn) = Client::new(o, 1000);
        let thread = std::thread::spawn(move || {
            for ev in conn.iter() {
                if ev.is_err() {
                    break;
                }
            }
        });
        Publisher {
            client,
            thread: Some(thread),
        }
    }

    pub(crate) fn send(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.into())
            .expect("queue a command");
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// RFC 3339 (UTC) `secs` from now (negative: in the past).
pub(crate) fn at(secs: i64) -> String {
    let now = SystemTime::now();
    let t = if secs >= 0 {
        now + Duration::from_secs(secs as u64)
    } else {
        now - Duration::from_secs((-secs) as u64)
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A valid command to open `device`'s gate, expiring in a minute.
pub(crate) fn open(id: &str, device: &str) -> Value {
    json!({"id": id, "device": device, "point": "open", "value": true, "expires": at(60)})
}

/// Every `P/cmd/result` for `id` so far, in arrival order (first delivery of each seq).
pub(crate) fn results(p: &Platform, id: &str) -> Vec<Value> {
    p.seen("cmd/result")
        .into_iter()
        .map(|s| s.json)
        .filter(|j| j["id"] == id)
        .collect()
}

/// Waits for the `n`th answer to `id` and returns it.
pub(crate) fn nth_result(p: &Platform, id: &str, n: usize) -> Value {
    p.until(&format!("answer {n} to command {id:?}"), || {
        results(p, id).len() >= n
    });
    results(p, id)[n - 1].clone()
}

/// Waits for the first answer to `id`.
pub(crate) fn result(p: &Platform, id: &str) -> Value {
    nth_result(p, id, 1)
}

/// The latest `P/health` report's `commands` counters, once `done` holds for them.
pub(crate) fn wait_counters(p: &Platform, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let latest = || {
        p.seen("health")
            .last()
            .map(|s| s.json["commands"].clone())
            .unwrap_or(Value::Null)
    };
    p.until(what, || done(&latest()));
    latest()
}

/// Asserts a refusal: not ok, with this reason, and an error that says something.
pub(crate) fn assert_refused(answer: &Value, reason: &str) {
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["reason"], reason, "{answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| e.len() > 5),
        "{answer}"
    );
}

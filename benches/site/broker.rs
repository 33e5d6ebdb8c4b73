//! The platform side: a real Mosquitto on a free loopback port (the one launcher,
//! `sitewarden::sim::mosquitto`) and a subscriber that tallies what the daemon delivers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
pub(crate) use sitewarden::sim::mosquitto::Mosquitto;

/// One summary as received.
#[derive(Debug, Clone)]
pub(crate) struct SummaryMsg {
    pub(crate) device: String,
    /// The window's end, RFC 3339 as the daemon wrote it.
    pub(crate) end: String,
    pub(crate) polls: u64,
    pub(crate) errors: u64,
    /// Payload size in bytes.
    pub(crate) bytes: usize,
}

/// Everything the platform received, by kind.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) online: bool,
    pub(crate) summaries: Vec<SummaryMsg>,
    pub(crate) zones: u64,
    pub(crate) alarms: u64,
    /// Alarm payload bytes.
    pub(crate) alarm_bytes: u64,
    pub(crate) health: Option<serde_json::Value>,
    pub(crate) malformed: u64,
}

/// A QoS 1 subscriber to `prefix/#` on its own thread; the thread ends with the process.
pub(crate) struct Platform {
    pub(crate) tally: Arc<Mutex<Tally>>,
}

impl Platform {
    pub(crate) fn subscribe(port: u16, prefix: &str) -> anyhow::Result<Platform> {
        let mut o = MqttOptions::new("bench-platform", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        // A persistent session: across a broker restart (the soak's outages) Mosquitto
        // keeps what the daemon published before we were back, so nothing is missed.
        o.set_clean_session(false);
        let (client, mut conn) = Client::new(o, 100);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let filter = format!("{prefix}/#");
        let t = Arc::clone(&tally);
        let prefix = format!("{prefix}/");
        std::thread::spawn(move || {
            let sub: Client = client;
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        sub.subscribe(filter.clone(), QoS::AtLeastOnce).ok();
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        ready_tx.send(()).ok();
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let topic = p.topic.strip_prefix(&prefix).unwrap_or(&p.topic);
                        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
                        record(&mut t, topic, &p.payload);
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the platform subscriber got no SUBACK within 10 s")?;
        Ok(Platform { tally })
    }

    /// Reads the tally.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Tally) -> T) -> T {
        f(&self.tally.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until `cond` holds over the tally, up to `within`; returns whether it did.
    pub(crate) fn wait(&self, within: Duration, cond: impl Fn(&Tally) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if cond(&self.tally.lock().unwrap_or_else(|e| e.into_inner())) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn record(t: &mut Tally, topic: &str, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        t.malformed += 1;
        return;
    };
    let kind = topic.split('/').next().unwrap_or("");
    match kind {
        "status" => t.online = v["state"] == "online",
        "summary" => t.summaries.push(SummaryMsg {
            device: v["device"].as_str().unwrap_or("").to_string(),
            end: v["end"].as_str().unwrap_or("").to_string(),
            polls: v["quality"]["polls"].as_u64().unwrap_or(0),
            errors: v["quality"]["errors"].as_u64().unwrap_or(0),
            bytes: payload.len(),
        }),
        "zone" => t.zones += 1,
        "alarm" => {
            t.alarms += 1;
            t.alarm_bytes += payload.len() as u64;
        }
        "health" => t.health = Some(v),
        _ => {}
    }
}

//! A platform-side MQTT subscriber that records everything it receives, and checks every
//! gateway payload against its published JSON Schema (`super::schema`): a message the
//! contract does not allow fails the test that received it.

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub retain: bool,
    pub payload: Vec<u8>,
    /// When the subscriber received it.
    pub at: Instant,
}

impl Msg {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("payload on {} is not JSON: {e}", self.topic))
    }
}

/// (topic, payload) of each message a subscriber published itself.
type Published = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Subscriber {
    pub msgs: Arc<Mutex<Vec<Msg>>>,
    /// Messages that break the contract (docs/schema/), one line each.
    violations: Arc<Mutex<Vec<String>>>,
    /// What this client published itself (the platform's side): the contract binds what
    /// the gateway publishes, so these come back unchecked.
    own: Published,
    /// SUBACKs received: one per (re)connection.
    subacks: Arc<std::sync::atomic::AtomicUsize>,
    client: Client,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    /// Subscribes to `filter` at QoS 1. `persistent` keeps the session (clean_session=false)
    /// across broker restarts under a fixed client id.
    pub fn start(port: u16, filter: &str, client_id: &str, persistent: bool) -> Subscriber {
        Self::start_as(port, filter, client_id, persistent, None)
    }

    /// Like `start`, logged in as `username` (no password) where it is Some.
    pub fn start_as(
        port: u16,
        filter: &str,
        client_id: &str,
        persistent: bool,
        username: Option<&str>,
    ) -> Subscriber {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_clean_session(!persistent);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        if let Some(user) = username {
            o.set_credentials(user, "");
        }
        let (client, mut conn) = Client::new(o, 100);
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let filter = filter.to_string();
        let sub = client.clone();
        let (m2, s2) = (Arc::clone(&msgs), Arc::clone(&stop));
        let subacks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let acked = Arc::clone(&subacks);
        let violations = Arc::new(Mutex::new(Vec::new()));
        let v2 = Arc::clone(&violations);
        let own: Published = Arc::new(Mutex::new(Vec::new()));
        let own2 = Arc::clone(&own);
        let thread = std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for ev in conn.iter() {
                if s2.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match ev {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = sub.subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let mine = (own2.lock().unwrap().iter())
                            .any(|(t, b)| *t == p.topic && b[..] == p.payload[..]);
                        if let Err(e) = super::schema::check(&p.topic, &p.payload)
                            && !mine
                        {
                            v2.lock().unwrap().push(e);
                        }
                        m2.lock().unwrap().push(Msg {
                            topic: p.topic.clone(),
                            retain: p.retain,
                            payload: p.payload.to_vec(),
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscriber did not get its SUBACK within 10 s");
        Subscriber {
            msgs,
            violations,
            own,
            subacks,
            client,
            stop,
            thread: Some(thread),
        }
    }

    pub fn snapshot(&self) -> Vec<Msg> {
        self.assert_contract();
        self.msgs.lock().unwrap().clone()
    }

    /// Publishes `payload` on `topic` at QoS 1 from this client (the platform's side:
    /// commands to the gateway).
    pub fn publish(&self, topic: &str, payload: &[u8]) {
        (self.own.lock().unwrap()).push((topic.to_string(), payload.to_vec()));
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .expect("queue a publish on the subscriber's client");
    }

    /// Panics if any message so far broke its schema in docs/schema/.
    pub fn assert_contract(&self) {
        let v = self.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "{} message(s) break the published contract (docs/schema/):\n{}",
            v.len(),
            v.join("\n")
        );
    }

    /// How many times the subscription was acknowledged (once per connection).
    pub fn subscriptions(&self) -> usize {
        self.subacks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// After a broker restart: waits until the subscriber has reconnected and subscribed
    /// again (more than `before` SUBACKs). Mosquitto 2.0 does not queue messages for a
    /// persistent session restored from its persistence file until that client has
    /// reconnected, so whatever is published before this returns may never arrive.
    pub fn wait_resubscribed(&self, before: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.subscriptions() <= before {
            assert!(
                Instant::now() < deadline,
                "subscriber not subscribed again within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until some message satisfies `pred`, returning it; panics after `within`.
    pub fn wait_for(&self, what: &str, within: Duration, pred: impl Fn(&Msg) -> bool) -> Msg {
        let deadline = Instant::now() + within;
        loop {
            self.assert_contract();
            if let Some(m) = self.msgs.lock().unwrap().iter().find(|m| pred(m)) {
                return m.clone();
            }
            if Instant::now() > deadline {
                let seen: Vec<String> = self.snapshot().iter().map(|m| m.topic.clone()).collect();
                panic!(
                    "no message for `{what}` within {within:?}; saw {} messages: {:?}",
                    seen.len(),
                    &seen[seen.len().saturating_sub(20)..]
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until `pred` holds over all messages so far.
    pub fn wait_until(&self, what: &str, within: Duration, pred: impl Fn(&[Msg]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            self.assert_contract();
            if pred(&self.msgs.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{what}` did not happen within {within:?} ({} messages seen)",
                    self.snapshot().len()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.client.disconnect();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if !std::thread::panicking() {
            self.assert_contract();
        }
    }
}

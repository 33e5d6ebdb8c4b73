//! `P/cmd`: the one way back from the platform to a device.
//!
//! A command passes, in order:
//!
//! 1. **retained?** A retained command is ignored (counted, answered `retained`): the
//!    broker would hand it out again at every start, and the gate would open at every
//!    reboot.
//! 2. **the rate limit**: a token bucket per gateway (`[commands] rate`, `burst`),
//!    before anything is parsed.
//! 3. **`parse`**: shape, id charset, signature, expiry, target, writable point, value.
//! 4. **the command log** (`store::commands`): an id carried out before is never
//!    carried out again; it is answered with its first outcome (`"repeat": true`). A new
//!    id is made durable *before* any device is touched, in one fdatasync for all the
//!    commands that arrived together.
//! 5. **`execute`**: one write per gate, read back; the outcome says what each holds.
//!
//! Refusals cost no sync of their own: answers are batched into one outbox commit per
//! 200 ms (`answers`), and refusal log lines are limited to a few per 10 s. Every value
//! quoted from a command is escaped (`text::shown`) before it reaches a log line.

pub mod answers;
pub mod bucket;
pub mod execute;
pub mod parse;
pub mod sign;
pub mod text;

use crate::clock;
use crate::health::{self, Health};
use crate::loggate::LogGate;
use crate::reading::Ms;
use crate::site::Site;
use crate::source::modbus::WriteSender;
use crate::store::{CommandLog, Outbox, StoreError};
use crate::wire::payload::CmdOutcome;
use crate::wire::topics::Topics;
use answers::Answers;
use bucket::Bucket;
pub use parse::{Command, Refusal, parse};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How long past its expiry an id is remembered (beyond `max_expiry`, which bounds how
/// long it could be valid): a clock stepped back by less than this cannot revive it.
pub const REMEMBER_AFTER_EXPIRY: Duration = Duration::from_secs(3600);
/// Checked commands waiting for the command log.
const QUEUE: usize = 64;
/// Refusals logged per `LOG_WINDOW`; the rest are counted in one line.
const LOG_BURST: u32 = 10;
const LOG_WINDOW: Ms = 10_000;

/// Where commands go: the site they are checked against and one write channel per
/// connection (index into `Site::connections`; None where it takes no writes, cameras).
/// Replaced as a whole on reload.
pub struct Routes {
    pub site: Arc<Site>,
    pub writes: Vec<Option<WriteSender>>,
}

/// What `Router::start` needs.
pub struct RouterParams {
    pub routes: Routes,
    pub outbox: Arc<Outbox>,
    pub wake: Arc<Notify>,
    pub health: Arc<Health>,
    /// The command log, opened by `cli::run`.
    pub log: CommandLog,
    /// The HMAC key when commands must be signed (`[commands] key_file`).
    pub key: Option<Vec<u8>>,
}

/// Takes `P/cmd` payloads from the uplink and sees each one through.
#[derive(Clone)]
pub struct Router {
    /// Read per command, written once per reload; never held across an await.
    routes: Arc<std::sync::RwLock<Arc<Routes>>>,
    answers: Arc<Answers>,
    health: Arc<Health>,
    bucket: Arc<Mutex<Bucket>>,
    key: Option<Arc<[u8]>>,
    checked: mpsc::Sender<Command>,
    log_gate: Arc<Mutex<LogGate>>,
}

impl Router {
    /// Starts the command log's task and the answer batcher (call inside the runtime).
    pub fn start(p: RouterParams) -> Router {
        let site = Arc::clone(&p.routes.site);
        let topic = Topics::new(&site).cmd_result();
        let answers = Answers::start(
            Arc::clone(&p.outbox),
            Arc::clone(&p.wake),
            Arc::clone(&p.health),
            topic,
        );
        let policy = &site.uplink.commands;
        let (checked, rx) = mpsc::channel(QUEUE);
        let router = Router {
            routes: Arc::new(std::sync::RwLock::new(Arc::new(p.routes))),
            answers: Arc::clone(&answers),
            health: Arc::clone(&p.health),
            bucket: Arc::new(Mutex::new(Bucket::new(
                policy.rate,
                policy.burst,
                clock::now_ms(),
            ))),
            key: p.key.map(Arc::from),
            checked,
            log_gate: Arc::new(Mutex::new(LogGate::new(LOG_WINDOW, LOG_BURST))),
        };
        tokio::spawn(once_only(router.clone(), p.log, rx));
        router
    }

    /// Handles one `P/cmd` payload. Never blocks the caller: the log and the writes run
    /// on their own tasks.
    pub fn submit(&self, bytes: &[u8], retained: bool) {
        let now = clock::now_ms();
        if retained {
            health::bump(&self.health.commands_retained);
            let e = "a retained command is ignored: it would run again at every start; \
                     publish commands without the retain flag";
            return self.refuse(parse::id_of(bytes), "retained", e.to_string(), now);
        }
        let allowed = lock(&self.bucket).take(now);
        let routes = self.current();
        if !allowed {
            health::bump(&self.health.commands_rate_limited);
            let p = &routes.site.uplink.commands;
            let e = format!(
                "rate limited: more than {} commands at once or {}/s sustained (commands.burst, commands.rate); not carried out",
                p.burst, p.rate
            );
            return self.refuse(parse::id_of(bytes), "rate_limited", e, now);
        }
        let topics = Topics::new(&routes.site);
        let checks = parse::Checks {
            policy: &routes.site.uplink.commands,
            prefix: topics.prefix(),
            key: self.key.as_deref(),
        };
        match parse(&routes.site, &checks, bytes, now) {
            Err(r) => self.refuse(r.id, r.reason, r.error, now),
            Ok(cmd) => {
                if let Err(e) = self.checked.try_send(cmd) {
                    let id = match &e {
                        mpsc::error::TrySendError::Full(c)
                        | mpsc::error::TrySendError::Closed(c) => c.id.clone(),
                    };
                    let e = "too many commands waiting; not carried out".to_string();
                    self.refuse(id, "busy", e, now);
                }
            }
        }
    }

    /// Refuses a message on a command topic that the uplink's format could not read as a
    /// command at all (`why` names the format's expectation, nothing quoted from it).
    pub fn refuse_unreadable(&self, why: &str) {
        self.refuse(
            String::new(),
            "bad_command",
            format!("bad command: {why}"),
            clock::now_ms(),
        );
    }

    /// Counts, logs (limited) and answers a refusal. `id` and `error` are escaped already.
    fn refuse(&self, id: String, reason: &'static str, error: String, now: Ms) {
        health::bump(&self.health.commands_rejected);
        match lock(&self.log_gate).admit(now) {
            Some(suppressed) if suppressed > 0 => {
                tracing::warn!(suppressed, "command refusals not logged in the last 10 s");
                tracing::warn!(id = %id, reason, error = %error, "command refused");
            }
            Some(_) => tracing::warn!(id = %id, reason, error = %error, "command refused"),
            None => {}
        }
        self.answers.refusal(CmdOutcome::refused(id, reason, error));
    }

    /// Commits the answers waiting for their batch (at shutdown).
    pub async fn flush(&self) {
        self.answers.flush().await;
    }

    fn current(&self) -> Arc<Routes> {
        Arc::clone(&self.routes.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Points commands at a reloaded site's connections.
    pub fn replace(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The command log's task: takes checked commands in batches, answers known ids from
/// the log, makes new ids durable in one sync, then starts their writes; records each
/// outcome as it comes back.
async fn once_only(router: Router, log: CommandLog, mut rx: mpsc::Receiver<Command>) {
    let log = Arc::new(Mutex::new(log));
    let (done_tx, mut done_rx) = mpsc::channel::<CmdOutcome>(QUEUE);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let mut batch = vec![cmd];
                while batch.len() < QUEUE {
                    match rx.try_recv() {
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
                let fresh = take(&router, &log, batch).await;
                for cmd in fresh {
                    let routes = router.current();
                    let done = done_tx.clone();
                    tokio::spawn(async move {
                        let outcome = execute::execute(&routes, &cmd).await;
                        if done.send(outcome).await.is_err() {
                            tracing::warn!("command outcome not recorded: the command log stopped");
                        }
                    });
                }
            }
            Some(outcome) = done_rx.recv() => {
                health::bump(&router.health.commands_executed);
                tracing::info!(id = %outcome.id, ok = outcome.ok, held = ?outcome.held, error = ?outcome.error, "command carried out");
                // Durable before it is answered: a repeat after a crash gets this answer.
                let json = serde_json::to_vec(&outcome).unwrap_or_default();
                let (log, id) = (Arc::clone(&log), outcome.id.clone());
                let r = tokio::task::spawn_blocking(move || {
                    let mut log = lock(&log);
                    log.record(&id, json)?;
                    log.sync()
                })
                .await;
                if let Ok(Err(e)) = r {
                    tracing::warn!(error = %e, "command log: outcome not recorded");
                }
                router.answers.outcome(outcome, false);
            }
            _ = tick.tick() => {
                ticks += 1;
                let now = clock::now_ms();
                let log = Arc::clone(&log);
                let prune = ticks.is_multiple_of(60);
                let r = tokio::task::spawn_blocking(move || {
                    let mut log = lock(&log);
                    if prune { log.prune(now) } else { log.sync() }
                }).await;
                if let Ok(Err(e)) = r {
                    tracing::warn!(error = %e, "command log: sync failed");
                }
            }
        }
    }
}

/// Sorts a batch into repeats (answered now) and fresh ids (made durable, returned).
async fn take(router: &Router, log: &Arc<Mutex<CommandLog>>, batch: Vec<Command>) -> Vec<Command> {
    let now = clock::now_ms();
    let mut fresh: Vec<Command> = Vec::with_capacity(batch.len());
    {
        let log = lock(log);
        for cmd in batch {
            let known = log.get(&cmd.id).map(|r| r.outcome.clone());
            let twin = fresh.iter().any(|c| c.id == cmd.id);
            match (known, twin) {
                (Some(Some(first)), _) => repeat(router, &cmd.id, &first, now),
                (Some(None), _) | (None, true) => {
                    health::bump(&router.health.commands_duplicate);
                    let e = format!(
                        "id `{}` was taken already (still running, or cut short by a restart); not carried out again",
                        cmd.id
                    );
                    router.refuse(cmd.id, "duplicate", e, now);
                }
                (None, false) => fresh.push(cmd),
            }
        }
    }
    if fresh.is_empty() {
        return fresh;
    }
    let keep = REMEMBER_AFTER_EXPIRY.as_millis() as Ms;
    let ids: Vec<(String, Ms)> = fresh
        .iter()
        .map(|c| (c.id.clone(), c.expires_ms + keep))
        .collect();
    let log = Arc::clone(log);
    let r = tokio::task::spawn_blocking(move || lock(&log).take(&ids)).await;
    let r: Result<(), StoreError> = r.unwrap_or_else(|e| Err(StoreError::Engine(e.to_string())));
    if let Err(e) = r {
        health::bump(&router.health.store_errors);
        for cmd in fresh {
            let e = format!("cannot remember the id durably ({e}); not carried out");
            router.refuse(cmd.id, "unavailable", e, now);
        }
        return Vec::new();
    }
    fresh
}

/// Answers a repeated id with its first outcome.
fn repeat(router: &Router, id: &str, first: &[u8], now: Ms) {
    health::bump(&router.health.commands_duplicate);
    match serde_json::from_slice::<CmdOutcome>(first) {
        Ok(outcome) => {
            tracing::info!(id = %id, "command id seen before: answered with its first outcome, not carried out again");
            router.answers.outcome(outcome, true);
        }
        Err(_) => {
            let e = format!("id `{id}` was carried out before; not carried out again");
            router.refuse(id.to_string(), "duplicate", e, now);
        }
    }
}

//! `P/cmd/result`, batched: every answer waits up to `FLUSH_EVERY` and goes to the outbox
//! with the others of its batch in one durable commit, so a flood of junk costs a few
//! commits a second instead of one each.
//!
//! Outcomes of commands that were carried out are always queued. Refusals are queued up
//! to `MAX_REFUSALS` per batch; past that they are counted (`commands.unanswered` in
//! `P/health`) and logged once per batch, not answered: a flood must not be able to fill
//! the outbox or the disk.

use crate::clock;
use crate::health::{self, Health};
use crate::store::{Kind, NewRecord, Outbox};
use crate::wire::payload::{self, CmdOutcome, CmdResult, Head};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long an answer may wait for others to share its commit.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Refusals answered per batch (so at most 250 a second).
pub const MAX_REFUSALS: usize = 50;

struct Answer {
    outcome: CmdOutcome,
    repeat: bool,
}

#[derive(Default)]
struct Batch {
    answers: Vec<Answer>,
    refusals: usize,
    unanswered: u64,
}

/// The queue of answers and the task that commits them.
pub struct Answers {
    batch: Mutex<Batch>,
    ready: Notify,
    outbox: Arc<Outbox>,
    /// Woken after each commit (the uplink publishes).
    wake: Arc<Notify>,
    health: Arc<Health>,
    topic: String,
}

impl Answers {
    /// Starts the commit task (it lives as long as the runtime).
    pub fn start(
        outbox: Arc<Outbox>,
        wake: Arc<Notify>,
        health: Arc<Health>,
        topic: String,
    ) -> Arc<Answers> {
        let answers = Arc::new(Answers {
            batch: Mutex::new(Batch::default()),
            ready: Notify::new(),
            outbox,
            wake,
            health,
            topic,
        });
        let a = Arc::clone(&answers);
        tokio::spawn(async move {
            loop {
                a.ready.notified().await;
                tokio::time::sleep(FLUSH_EVERY).await;
                a.flush().await;
            }
        });
        answers
    }

    /// Queues the outcome of a command that was carried out (or answered from the log).
    pub fn outcome(&self, outcome: CmdOutcome, repeat: bool) {
        self.lock().answers.push(Answer { outcome, repeat });
        self.ready.notify_one();
    }

    /// Queues a refusal, unless this batch holds `MAX_REFUSALS` already.
    pub fn refusal(&self, outcome: CmdOutcome) {
        let mut b = self.lock();
        if b.refusals >= MAX_REFUSALS {
            b.unanswered += 1;
            health::bump(&self.health.commands_unanswered);
            return;
        }
        b.refusals += 1;
        b.answers.push(Answer {
            outcome,
            repeat: false,
        });
        drop(b);
        self.ready.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits the batch in one outbox append.
    pub async fn flush(&self) {
        let batch = std::mem::take(&mut *self.lock());
        if batch.unanswered > 0 {
            tracing::warn!(
                unanswered = batch.unanswered,
                answered = batch.refusals,
                "command flood: refusals beyond {MAX_REFUSALS} per {}ms are counted, not answered",
                FLUSH_EVERY.as_millis()
            );
        }
        if batch.answers.is_empty() {
            return;
        }
        let now = clock::now_ms();
        let records: Vec<NewRecord> = batch
            .answers
            .into_iter()
            .map(|a| {
                let Answer { outcome, repeat } = a;
                NewRecord::new(
                    Kind::CmdResult,
                    self.topic.clone(),
                    false,
                    now,
                    move |seq| {
                        payload::to_bytes(&CmdResult {
                            head: Head::new(seq, now),
                            outcome: &outcome,
                            repeat,
                        })
                    },
                )
            })
            .collect();
        let n = records.len();
        let outbox = Arc::clone(&self.outbox);
        match tokio::task::spawn_blocking(move || outbox.append(records, &[])).await {
            Ok(Ok(_)) => self.wake.notify_one(),
            Ok(Err(e)) => {
                health::bump(&self.health.store_errors);
                tracing::error!(error = %e, answers = n, "command results lost: outbox append failed");
            }
            Err(e) => tracing::error!(error = %e, answers = n, "command results lost"),
        }
    }
}

//! Marks acknowledged records done in the outbox, in batches, off the async runtime.
//!
//! A PUBACK arrives per message; each `Outbox::ack` writes a frame of seq ranges. One
//! thread collects the acked seqs and acks whatever has gathered in one call, at most every
//! `BATCH_EVERY` (or `BATCH_MAX` seqs), so the 300 summaries of a window cost one small
//! frame and a drain at thousands of messages per second a few a second. An ack lost in a
//! crash only means the record is published again (byte-identical, same seq): never a loss.

use crate::health::{self, Health};
use crate::store::Outbox;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const BATCH_EVERY: Duration = Duration::from_secs(1);
/// A drain acks at least this often, keeping each ack frame small.
const BATCH_MAX: usize = 4096;

enum Msg {
    Ack(u64),
    /// Delete what has gathered now, then answer.
    Flush(mpsc::Sender<()>),
}

/// The uplink's handle on the ack thread.
#[derive(Clone)]
pub struct AckSender {
    tx: mpsc::Sender<Msg>,
}

impl AckSender {
    pub fn ack(&self, seq: u64) {
        // The thread only stops when every sender is gone, so a send cannot fail while
        // the uplink holds one; if it did, the record is simply published again.
        if self.tx.send(Msg::Ack(seq)).is_err() {
            tracing::debug!(seq, "ack thread gone");
        }
    }

    /// Blocks until every ack sent so far is deleted (bounded by one commit).
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok()
            && done_rx.recv_timeout(Duration::from_secs(5)).is_err()
        {
            tracing::warn!("ack flush not confirmed within 5 s");
        }
    }
}

/// Starts the ack thread; it ends when every `AckSender` is dropped.
pub fn spawn(outbox: Arc<Outbox>, health: Arc<Health>) -> (AckSender, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Msg>();
    let handle = std::thread::Builder::new()
        .name("sitewarden-acks".into())
        .spawn(move || {
            let mut batch = Vec::new();
            loop {
                let first = match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                };
                let mut waiters = Vec::new();
                let deadline = std::time::Instant::now() + BATCH_EVERY;
                let mut msg = Some(first);
                while let Some(m) = msg.take() {
                    match m {
                        Msg::Ack(seq) => {
                            batch.push(seq);
                            if batch.len() >= BATCH_MAX {
                                break;
                            }
                        }
                        Msg::Flush(w) => {
                            waiters.push(w);
                            break;
                        }
                    }
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    msg = rx.recv_timeout(left).ok();
                }
                if !batch.is_empty() {
                    if let Err(e) = outbox.ack(&batch) {
                        health::bump(&health.store_errors);
                        tracing::warn!(error = %e, count = batch.len(), "deleting acked records failed; they will be published again");
                    }
                    batch.clear();
                }
                for w in waiters {
                    // The flusher may have given up waiting; nothing to do then.
                    w.send(()).ok();
                }
            }
        })
        .expect("spawning the ack thread");
    (AckSender { tx }, handle)
}

//! A connection task's mailbox: the bounded queue that carries commands' writes and
//! probes' reads to the task that owns the link, with one receiver.
//!
//! Why not tokio's mpsc: its channel costs ~800 bytes per connection before any message
//! (the halves padded to cache lines, and a first block of 32 slots allocated up front),
//! 240 KB at 300 connections for queues that are empty nearly all the time. This one is a
//! mutex-guarded `VecDeque` (no allocation until the first request) and a `Notify`,
//! ~120 bytes. The semantics the callers rely on are tokio's: `try_send` refuses when the
//! queue is full or the receiver is gone (the request comes back), `recv` yields every
//! queued request in order and then `None` once every sender is gone, and a `recv`
//! dropped before it completes (a `select!` that took another branch) loses nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// A bounded mailbox of `capacity` items (at least 1).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            senders: 1,
            receiver: true,
        }),
        wake: Notify::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the receiver: a request came, or the last sender went.
    wake: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver: bool,
}

impl<T> Shared<T> {
    /// The state; a panic while it was held cannot leave it half-changed (every change
    /// is one push, pop or count), so a poisoned lock is taken as it is.
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending half; clones share the queue.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` unless the mailbox is full or its receiver is gone; then the item
    /// comes back.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        let mut s = self.shared.state();
        if !s.receiver || s.items.len() >= s.capacity {
            return Err(item);
        }
        s.items.push_back(item);
        drop(s);
        self.shared.wake.notify_one();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.shared.state();
        s.senders -= 1;
        let last = s.senders == 0;
        drop(s);
        if last {
            self.shared.wake.notify_one();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mailbox::Sender")
    }
}

/// The receiving half (the connection task).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next request, or `None` once the queue is empty and every sender is gone.
    /// Cancel-safe: an item leaves the queue only in the poll that returns it.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut s = self.shared.state();
                if let Some(item) = s.items.pop_front() {
                    return Some(item);
                }
                if s.senders == 0 {
                    return None;
                }
            }
            // A send between the look above and this wait is not missed: `notify_one`
            // keeps a permit when nobody waits, and this wait takes it.
            self.shared.wake.notified().await;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.shared.state();
        s.receiver = false;
        // Queued requests go now: their reply channels close and the askers hear so.
        let items = std::mem::take(&mut s.items);
        drop(s);
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn bounded<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("test took over 5 s")
    }

    #[tokio::test]
    async fn items_come_in_order_and_a_full_mailbox_refuses() {
        bounded(async {
            let (tx, mut rx) = channel(2);
            assert_eq!(tx.try_send(1), Ok(()));
            assert_eq!(tx.try_send(2), Ok(()));
            assert_eq!(tx.try_send(3), Err(3));
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(tx.try_send(4), Ok(()));
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, Some(4));
        })
        .await;
    }

    #[tokio::test]
    async fn recv_ends_after_the_last_sender_once_the_queue_is_empty() {
        bounded(async {
            let (tx, mut rx) = channel(4);
            let tx2 = tx.clone();
            tx.try_send("a").expect("room");
            drop(tx);
            tx2.try_send("b").expect("room");
            drop(tx2);
            assert_eq!(rx.recv().await, Some("a"));
            assert_eq!(rx.recv().await, Some("b"));
            assert_eq!(rx.recv().await, None);
        })
        .await;
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_and_by_the_last_drop() {
        bounded(async {
            let (tx, mut rx) = channel(1);
            let task = tokio::spawn(async move {
                let first = rx.recv().await;
                let end = rx.recv().await;
                (first, end)
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.try_send(7).expect("room");
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(tx);
            assert_eq!(task.await.expect("receiver task"), (Some(7), None));
        })
        .await;
    }

    #[tokio::test]
    async fn a_recv_dropped_by_a_select_loses_nothing() {
        bounded(async {
            let (tx, mut rx) = channel(4);
            // The other branch wins while the receiver waits; then an item comes.
            tokio::select! {
                biased;
                () = std::future::ready(()) => {}
                _ = rx.recv() => panic!("nothing was sent"),
            }
            tx.try_send(1).expect("room");
            tokio::select! {
                biased;
                () = std::future::ready(()) => {}
                _ = rx.recv() => panic!("the ready branch is first"),
            }
            assert_eq!(rx.recv().await, Some(1));
        })
        .await;
    }

    #[tokio::test]
    async fn a_gone_receiver_refuses_and_drops_what_was_queued() {
        bounded(async {
            let (tx, rx) = channel(4);
            let (reply, answer) = tokio::sync::oneshot::channel::<()>();
            tx.try_send(reply).expect("room");
            drop(rx);
            // The queued request's reply channel closed with the receiver.
            assert!(answer.await.is_err());
            let (reply, _answer) = tokio::sync::oneshot::channel::<()>();
            assert!(tx.try_send(reply).is_err());
        })
        .await;
    }
}

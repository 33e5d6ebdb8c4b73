//! One connection's bookkeeping: which publish is which (packet id → seq), and what to
//! hand rumqttc next (alarms first, then every other record in seq order).
//!
//! Owned by the uplink task alone and thrown away on every (re)connect, so a replay
//! starts again from the store. It only queues requests on rumqttc's channel: it never
//! touches the network, never deletes a record (the ack thread does, on the PUBACK the
//! uplink maps here) and never waits.
//!
//! Feeding: every event that frees room (CONNACK, a publish written, a PUBACK, a wake for
//! new records) tops the channel up, so the in-flight window stays full during a drain.
//! Non-alarm records are read ahead `FETCH_BATCH` at a time, one short outbox read
//! per batch rather than one per PUBACK; alarms are read only when one may be new (on
//! connect and on every wake), and then go before the read-ahead, so a live alarm jumps
//! a long backlog. A read-ahead record the outbox drops meanwhile (full outbox) is still
//! published once; its PUBACK then deletes nothing.

use crate::store::{Outbox, Record};
use rumqttc::{AsyncClient, QoS};
use std::collections::{HashMap, VecDeque};

/// Requests waiting in rumqttc's channel. Small on purpose: the outbox is the queue, and a
/// short channel keeps what rumqttc holds in memory (and may drop) small.
pub(super) const CHANNEL_CAPACITY: usize = 10;
/// Records read from the store per read, and at most held read ahead.
const FETCH_BATCH: usize = 64;

/// What a publish is, so its PUBACK can be mapped back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    /// An outbox record: delete it when acked.
    Record(u64),
    /// Status or health: nothing to delete.
    Other,
}

/// Per-connection bookkeeping; a new one for every connection.
#[derive(Debug)]
pub(super) struct Session {
    /// Publishes handed to rumqttc whose `Outgoing::Publish` has not been seen yet, in order.
    awaiting: VecDeque<Tag>,
    /// Packet id → what it carries, for QoS 1 publishes written to the socket.
    inflight: HashMap<u16, Tag>,
    /// Highest alarm seq handed to rumqttc on this connection.
    alarm_cursor: u64,
    /// Set when an alarm may be pending beyond `alarm_cursor`.
    alarms_due: bool,
    /// Non-alarm records read ahead of their publish, in seq order.
    ahead: VecDeque<Record>,
    /// Highest non-alarm seq read into `ahead`.
    read_cursor: u64,
    /// Cleared when a read found the end of the backlog; set again on a wake.
    others_due: bool,
    /// Messages of ours that are not stored (the inventory, a format's per-device
    /// announcements: hundreds at a large site), waiting for room on the short channel;
    /// they go before records. Made again on every connect, so lost with the session.
    notices: VecDeque<super::format::Out>,
    /// Nothing is handed to rumqttc (Sparkplug: the primary host is not online).
    held: bool,
    /// Records too large to publish (`format::MAX_OUTGOING`): seq, kind, bytes. The uplink
    /// counts and deletes them.
    refused: Vec<(u64, crate::store::Kind, usize)>,
}

impl Default for Session {
    fn default() -> Session {
        Session {
            awaiting: VecDeque::new(),
            inflight: HashMap::new(),
            alarm_cursor: 0,
            alarms_due: true,
            ahead: VecDeque::new(),
            read_cursor: 0,
            others_due: true,
            notices: VecDeque::new(),
            held: false,
            refused: Vec::new(),
        }
    }
}

impl Session {
    /// Publishes queued or written and not yet acknowledged.
    pub(super) fn outstanding(&self) -> usize {
        self.awaiting.len() + self.inflight.len()
    }

    /// A publish of ours (status, health) was queued on the channel.
    pub(super) fn queued(&mut self, tag: Tag) {
        self.awaiting.push_back(tag);
    }

    /// A QoS 1 message of ours that is not stored, sent before records as room allows.
    pub(super) fn notice(&mut self, out: super::format::Out) {
        self.notices.push_back(out);
    }

    /// Holds (true) or resumes (false) every publish of records and notices.
    pub(super) fn hold(&mut self, held: bool) {
        self.held = held;
    }

    pub(super) fn is_held(&self) -> bool {
        self.held
    }

    /// Notices still wait for room (a format's births, the inventory).
    pub(super) fn notices_pending(&self) -> bool {
        !self.notices.is_empty()
    }

    /// New records were committed: alarms among them go first.
    pub(super) fn woken(&mut self) {
        self.alarms_due = true;
        self.others_due = true;
    }

    /// rumqttc wrote the next queued publish with packet id `pkid` (0 for QoS 0).
    pub(super) fn on_outgoing(&mut self, pkid: u16) {
        match self.awaiting.pop_front() {
            Some(tag) if pkid != 0 => {
                self.inflight.insert(pkid, tag);
            }
            Some(_) => {} // QoS 0: nothing comes back.
            None => tracing::error!(
                pkid,
                "publish event with nothing awaiting it; ack mapping lost"
            ),
        }
    }

    /// The broker acknowledged `pkid`: what it carried, if it was ours.
    /// The records found too large to publish since the last call.
    pub(super) fn take_refused(&mut self) -> Vec<(u64, crate::store::Kind, usize)> {
        std::mem::take(&mut self.refused)
    }

    pub(super) fn on_puback(&mut self, pkid: u16) -> Option<Tag> {
        self.inflight.remove(&pkid)
    }

    /// Hands records to rumqttc while the window (`window` awaiting PUBACK) and the
    /// channel have room: alarms first, then the rest in seq order.
    pub(super) fn fill(
        &mut self,
        client: &AsyncClient,
        outbox: &Outbox,
        window: usize,
        wire: &super::format::Wire,
    ) {
        if self.held {
            return;
        }
        loop {
            let room = window
                .saturating_sub(self.outstanding())
                .min(CHANNEL_CAPACITY.saturating_sub(self.awaiting.len()));
            if room == 0 {
                return;
            }
            if let Some(out) = self.notices.front() {
                if !super::format::Wire::fits(out) {
                    tracing::error!(
                        topic = %out.topic,
                        bytes = out.payload.len(),
                        max = super::format::MAX_OUTGOING,
                        "message too large to publish: not sent"
                    );
                    self.notices.pop_front();
                    continue;
                }
                if !wire.publish(client, out, QoS::AtLeastOnce) {
                    return;
                }
                self.notices.pop_front();
                self.awaiting.push_back(Tag::Other);
                continue;
            }
            if self.alarms_due {
                let batch = match outbox.alarms_after(self.alarm_cursor, room) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox read failed");
                        return;
                    }
                };
                // A full batch may have more behind it.
                self.alarms_due = batch.len() == room;
                for rec in &batch {
                    if !self.send(client, rec, wire) {
                        self.alarms_due = true;
                        return;
                    }
                    self.alarm_cursor = rec.seq;
                }
                continue;
            }
            if self.ahead.is_empty() && !self.read_ahead(outbox) {
                return;
            }
            while self.outstanding() < window && self.awaiting.len() < CHANNEL_CAPACITY {
                let Some(rec) = self.ahead.pop_front() else {
                    break;
                };
                if !self.send(client, &rec, wire) {
                    self.ahead.push_front(rec);
                    return;
                }
            }
        }
    }

    /// Reads the next batch of non-alarm records; false if there is none.
    fn read_ahead(&mut self, outbox: &Outbox) -> bool {
        if !self.others_due {
            return false;
        }
        match outbox.others_after(self.read_cursor, FETCH_BATCH) {
            Ok(batch) => {
                self.others_due = batch.len() == FETCH_BATCH;
                if let Some(last) = batch.last() {
                    self.read_cursor = last.seq;
                }
                self.ahead.extend(batch);
                !self.ahead.is_empty()
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox read failed");
                false
            }
        }
    }

    /// Queues one record; false when rumqttc's channel is full (it stays for next time).
    /// Publishes one record in the uplink's format (one record, one publish).
    fn send(&mut self, client: &AsyncClient, rec: &Record, wire: &super::format::Wire) -> bool {
        let out = wire.outbound(&rec.topic, &rec.payload, rec.retain);
        if !super::format::Wire::fits(&out) {
            self.refused.push((rec.seq, rec.kind, out.payload.len()));
            return true;
        }
        if wire.publish(client, &out, QoS::AtLeastOnce) {
            self.awaiting.push_back(Tag::Record(rec.seq));
            true
        } else {
            tracing::debug!("rumqttc channel full; will retry");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record past `MAX_OUTGOING` is handed back as refused, not to rumqttc (which
    /// would drop the connection over it, again on every connect); the next one goes.
    #[test]
    fn a_record_too_large_to_publish_is_refused_and_the_rest_go_on() {
        use crate::store::{Kind, NewRecord, Outbox};
        let tmp = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&tmp.path().join("outbox"), 1 << 30).unwrap();
        let big = super::super::format::MAX_OUTGOING;
        let seqs = outbox
            .append(
                vec![
                    NewRecord::new(Kind::Summary, "p/summary/a", false, 0, move |_| {
                        vec![b'x'; big]
                    }),
                    NewRecord::new(Kind::Summary, "p/summary/b", false, 0, |_| b"{}".to_vec()),
                ],
                &[],
            )
            .unwrap();
        let site = std::sync::Arc::new(crate::site::Site::bare("s", "g"));
        let wire = super::super::format::Wire::new(&site);
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 10);
        let mut s = Session::default();
        s.fill(&client, &outbox, 10, &wire);
        assert_eq!(
            s.take_refused().iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![seqs[0]]
        );
        assert_eq!(s.outstanding(), 1, "the small one was queued");
        assert!(s.take_refused().is_empty());
    }

    #[test]
    fn publish_events_map_packet_ids_in_order() {
        let mut s = Session::default();
        for tag in [Tag::Record(7), Tag::Other, Tag::Record(8)] {
            s.queued(tag);
        }
        s.on_outgoing(1);
        s.on_outgoing(0);
        s.on_outgoing(2);
        assert_eq!(s.on_puback(1), Some(Tag::Record(7)));
        assert_eq!(s.on_puback(2), Some(Tag::Record(8)));
        assert_eq!(s.on_puback(2), None, "acked once");
        assert_eq!(s.outstanding(), 0);
    }
}

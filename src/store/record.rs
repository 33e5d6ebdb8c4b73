//! Outbox records: what they are (`Kind`, `NewRecord`, `Record`) and their stored bytes.
//!
//! Pure encoding; `outbox.rs` decides where the bytes go. The encoding is versioned by
//! its first byte so a later layout can be read beside this one.

use crate::reading::Ms;

/// What an outbox record carries; decides its table, its replay order and its place in
/// the drop order when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Alarm,
    Summary,
    Zone,
    CmdResult,
    /// A retained state snapshot such as `P/alarms/active`.
    Snapshot,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Alarm,
        Kind::Summary,
        Kind::Zone,
        Kind::CmdResult,
        Kind::Snapshot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Alarm => "alarm",
            Kind::Summary => "summary",
            Kind::Zone => "zone",
            Kind::CmdResult => "cmd_result",
            Kind::Snapshot => "snapshot",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(code)).copied()
    }

    /// Kept in the `alarms` table, replayed before the backlog: alarm events and the
    /// active-alarm snapshot (one pending at a time per topic; see `Outbox::append`).
    pub(crate) fn replays_first(self) -> bool {
        matches!(self, Kind::Alarm | Kind::Snapshot)
    }

    /// When the outbox is full, records go oldest first within a class and class 0
    /// first: window summaries (the bulk, and each one is one window of many), then
    /// command results, then the active-alarm snapshot, alarm events last.
    pub(crate) fn drop_class(self) -> u8 {
        match self {
            Kind::Summary | Kind::Zone => 0,
            Kind::CmdResult => 1,
            Kind::Snapshot => 2,
            Kind::Alarm => 3,
        }
    }
}

/// A record to append. The payload is built from its `seq`, which the outbox allocates
/// before the frame is written, so the payload can carry its own seq. `build` may be called
/// more than once (a retry after an I/O error) and must then return the same bytes for
/// the same seq.
pub struct NewRecord {
    pub kind: Kind,
    pub topic: String,
    pub retain: bool,
    pub created_ms: Ms,
    pub build: Box<dyn Fn(u64) -> Vec<u8> + Send>,
}

impl NewRecord {
    pub fn new(
        kind: Kind,
        topic: impl Into<String>,
        retain: bool,
        created_ms: Ms,
        build: impl Fn(u64) -> Vec<u8> + Send + 'static,
    ) -> NewRecord {
        NewRecord {
            kind,
            topic: topic.into(),
            retain,
            created_ms,
            build: Box::new(build),
        }
    }
}

impl std::fmt::Debug for NewRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRecord")
            .field("kind", &self.kind)
            .field("topic", &self.topic)
            .field("retain", &self.retain)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

/// A pending record as stored: the payload is byte-identical on every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub kind: Kind,
    pub topic: String,
    pub retain: bool,
    pub payload: Vec<u8>,
    pub created_ms: Ms,
}

const VERSION: u8 = 1;
/// version, kind, flags, created_ms, topic length.
const HEADER: usize = 1 + 1 + 1 + 8 + 2;

/// What a stored record costs against `outbox_max_bytes`: its bytes plus the key and
/// the B-tree's per-entry bookkeeping.
pub(crate) const ENTRY_OVERHEAD: u64 = 32;

pub(crate) fn cost(stored_len: usize) -> u64 {
    stored_len as u64 + ENTRY_OVERHEAD
}

/// Longest topic a record may carry (the MQTT limit).
pub(crate) const MAX_TOPIC: usize = u16::MAX as usize;

pub(crate) fn encode(
    kind: Kind,
    topic: &str,
    retain: bool,
    created_ms: Ms,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + topic.len() + payload.len());
    b.push(VERSION);
    b.push(kind as u8);
    b.push(u8::from(retain));
    b.extend_from_slice(&created_ms.to_le_bytes());
    b.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    b.extend_from_slice(topic.as_bytes());
    b.extend_from_slice(payload);
    b
}

/// The fields a drop or an ack needs, without copying the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) kind: Kind,
    pub(crate) created_ms: Ms,
    pub(crate) payload_len: u64,
}

pub(crate) fn head(b: &[u8]) -> Option<Head> {
    if b.len() < HEADER || b[0] != VERSION || b[2] > 1 {
        return None;
    }
    let kind = Kind::from_code(b[1])?;
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&b[3..11]);
    let topic = usize::from(u16::from_le_bytes([b[11], b[12]]));
    let payload_len = b.len().checked_sub(HEADER + topic)? as u64;
    Some(Head {
        kind,
        created_ms: Ms::from_le_bytes(ms),
        payload_len,
    })
}

pub(crate) fn decode(seq: u64, b: &[u8]) -> Option<Record> {
    let h = head(b)?;
    let topic_end = b.len() - h.payload_len as usize;
    let topic = std::str::from_utf8(&b[HEADER..topic_end]).ok()?.to_string();
    Some(Record {
        seq,
        kind: h.kind,
        topic,
        retain: b[2] == 1,
        payload: b[topic_end..].to_vec(),
        created_ms: h.created_ms,
    })
}

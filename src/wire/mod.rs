//! The wire vocabulary of the platform contract (`docs/platform.md`): every topic under
//! `{topic_prefix}/{site}/{gateway}` and every upstream payload type.
//!
//! Both ends of the data flow speak it: `ingest` renders summaries, zones, cells, patrol
//! rounds and alarms into outbox records, and the `uplink` renders status, health and the
//! inventory and translates records for the other formats. Plain data and `Serialize`
//! only: no I/O, no clock reads.

pub mod payload;
pub mod topics;

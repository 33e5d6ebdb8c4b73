//! sitewarden: an edge gateway daemon for scenic areas, estates and campuses.
//!
//! Data flows one way (see ARCHITECTURE.md):
//!
//! ```text
//! source (modbus, camera) ─ Sample ─► ingest ─┬─► store::raw (ring of raw readings)
//!                                             ├─► summary (wall-clock windows)
//!                                             └─► rules (alarms)
//!                                                   └─► store::outbox ─► uplink ─► platform
//! ```
//!
//! Commands from the platform are the one explicit way back: `uplink::command` →
//! the connection task that owns the device.
//!
//! Modules in reading order:

/// Reconnect delays with jitter, shared by every link the daemon opens.
pub mod backoff;
/// The command line: one module per command.
pub mod cli;
/// Reads the wall clock; everything else takes `now` as a parameter.
pub mod clock;
/// TOML + env → `Site`, with every error named by file, line and key path.
pub mod config;
/// The daemon's own resident code: start-up's pages handed back once it is over.
pub mod footprint;
/// Process-wide counters for `P/health`, `sitewarden outbox` and the journal.
pub mod health;
/// The opt-in status page, `/metrics` and `/healthz` (`[http]`).
pub mod http;
/// The site's local time zone and the `active` windows of rules.
pub mod localtime;
/// Rate limits for repeated journal lines.
pub mod loggate;
/// The one consumer of samples: feeds the raw ring, summaries and rules, fills the outbox.
pub mod ingest;
/// What the daemon knows now, per device, for `status` and the status page.
pub mod live;
/// Pure patrol rounds: taps at tag-reader checkpoints → round outcomes and alarms.
pub mod patrol;
/// `Sample`: one poll's raw values, the unit of the data path.
pub mod reading;
/// Pure anomaly rules and the alarm lifecycle.
pub mod rules;
/// A simulated site (Modbus servers, cameras) shared by `demo` and the tests; built only
/// with the `demo` feature, so the shipped daemon links no Modbus server.
#[cfg(feature = "demo")]
pub mod sim;
/// The validated site model (devices, points, rules) every module reads.
pub mod site;
/// The field side: Modbus TCP/RTU connection tasks and camera subscriptions.
/// The status snapshot, its text form and the status socket.
pub mod status;
pub mod source;
/// Durable state: the raw ring and the outbox. The only module that names redb.
pub mod store;
/// Pure window summaries (gauge, counter, state, event, quality).
pub mod summary;
/// sd_notify: ready, status, watchdog, stopping.
pub mod systemd;
/// The only talker to the platform broker: outbox replay, acks, status, health, commands.
pub mod uplink;
/// The platform contract's topics and payload types, spoken by ingest and the uplink.
pub mod wire;
/// The command to set a point, the one message that flows back toward the field.
pub mod write;

//! The field side: tasks that talk to devices and turn what they answer into `Sample`s.
//!
//! Owns every conversation with a field device. Never sees the store, the rules or the
//! uplink: samples flow out through a channel, write requests come in through one.
//!
//! - `modbus`: one task per Modbus TCP or RTU connection, our own small client codec.
//! - `camera`: one task per site-LAN MQTT connection, JSON pointers → samples, heartbeats.

pub mod camera;
pub mod modbus;

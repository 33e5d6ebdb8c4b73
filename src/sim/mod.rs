//! A simulated site on this machine, for `sitewarden demo` and the tests.
//!
//! Owns the device side of the simulation; it never runs inside the daemon's data path
//! and the daemon never imports it.
//!
//! - `modbus`: register images per unit id, served with tokio-modbus's TCP and RTU
//!   servers, with faults (silent, slow, exception) switchable while serving.
//! - `camera`: a simulated camera publishing JSON events and heartbeats to a broker.
//! - `config`: the config text of a simulated site (demo, tests, benches).
//! - `mosquitto`: a real Mosquitto on a free loopback port, the broker of the tests and
//!   benchmarks.
//! - `pty`: a pseudo-terminal pair, a serial line without hardware.
//! - `rng`: the one seeded generator of the simulations, the demo and the benchmarks.

pub mod camera;
pub mod config;
pub mod modbus;
pub mod mosquitto;
pub mod pty;
pub mod rng;

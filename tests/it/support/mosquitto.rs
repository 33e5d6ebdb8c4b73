//! The tests' broker: the one Mosquitto launcher, `sitewarden::sim::mosquitto`.

#[allow(unused_imports)] // benches include this support module, not all of it
pub use sitewarden::sim::mosquitto::{Mosquitto, free_port, wait_for_port};

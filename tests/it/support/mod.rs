//! Helpers shared by the integration tests: real broker, real daemon, real subscriber,
//! simulated devices served by tokio-modbus.

pub mod daemon;
pub mod ledger;
pub mod mosquitto;
pub mod site;
pub mod subscriber;

//! Helpers shared by the integration tests: real broker, real daemon, real subscriber.

pub mod daemon;
pub mod mosquitto;
pub mod subscriber;

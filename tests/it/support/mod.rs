//! Helpers shared by the integration tests: real broker, real daemon, real subscriber,
//! simulated devices served by tokio-modbus.

pub mod daemon;
pub mod ledger;
pub mod mosquitto;
pub mod platform;
pub mod schema;
pub mod site;
pub mod subscriber;

/// Polls `cond` every 25 ms until it holds; panics after `within`.
pub fn wait_until(what: &str, within: std::time::Duration, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !cond() {
        if std::time::Instant::now() > deadline {
            panic!("`{what}` did not happen within {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

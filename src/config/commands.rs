//! `[commands]`: the bounds every `P/cmd` must meet (expiry horizon, rate, signature key).

use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::read::Reader;
use super::read::check;
use crate::site::CommandPolicy;

/// The longest horizon accepted: a gate command valid for longer is a standing order.
const MAX_HORIZON: Duration = Duration::from_secs(3600);

pub(super) fn read(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> CommandPolicy {
    let d = CommandPolicy::default();
    let max_expiry = check(r.duration("max_expiry", errors), errors, |&v| {
        if v < Duration::from_secs(1) || v > MAX_HORIZON {
            Err("must be from 1s to 1h".to_string())
        } else {
            Ok(v)
        }
    });
    let rate = check(r.number("rate", errors), errors, |&v| {
        if (0.01..=1000.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "{v} commands per second is out of range 0.01..=1000"
            ))
        }
    });
    let burst = r.int_in("burst", 1..=1000, errors);
    let key_file = check(r.get::<PathBuf>("key_file", errors), errors, |p| {
        if p.as_os_str().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(p.clone())
        }
    });
    CommandPolicy {
        max_expiry: max_expiry.map_or(d.max_expiry, |v| v.v),
        rate: rate.map_or(d.rate, |v| v.v),
        burst: burst.map_or(d.burst, |v| v.v as u32),
        key_file: key_file.map(|v| v.v),
    }
}

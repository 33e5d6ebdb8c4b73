//! A device's `live = { deadband, min_interval, max_interval }`: report by exception on
//! `P/live/{device}` (opt-in per device; absent means off).

use std::time::Duration;

use super::error::ConfigError;
use super::read::{Reader, Val};
use super::read::{check, positive};
use crate::site::Live;

/// A keep-alive at least this often when the table leaves `max_interval` out.
pub(super) const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Never two reports of one device closer than this when `min_interval` is left out.
pub(super) const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Reports closer than this would be a second copy of the poll stream.
const SHORTEST: Duration = Duration::from_millis(100);
/// Keep-alives further apart than this would not tell a platform the device is there.
const LONGEST: Duration = Duration::from_secs(3600);

/// Reads `live` of one `[[device]]` (`r` is the device's reader); None when absent or
/// bad (the error pushed, with its key path `device[i].live.…`).
pub(super) fn read(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Val<Live>> {
    let loc = r.given("live")?;
    let before = errors.len();
    let mut t = r.table("live", errors);
    let deadband = check(t.number("deadband", errors), errors, |&d| {
        if d < 0.0 {
            Err(format!("a deadband of {d} is negative"))
        } else {
            Ok(d)
        }
    });
    let interval = |t: &mut Reader<'_, '_>, key, errors: &mut Vec<ConfigError>| {
        check(positive(t.duration(key, errors), errors), errors, |&d| {
            if !(SHORTEST..=LONGEST).contains(&d) {
                Err(format!(
                    "`{}` is out of range 100ms..=1h",
                    humantime::format_duration(d)
                ))
            } else {
                Ok(d)
            }
        })
    };
    let min = interval(&mut t, "min_interval", errors);
    let max = interval(&mut t, "max_interval", errors);
    let live = Live {
        deadband: deadband.map_or(0.0, |v| v.v),
        min_interval: min.as_ref().map_or(DEFAULT_MIN_INTERVAL, |v| v.v),
        max_interval: max.as_ref().map_or(DEFAULT_MAX_INTERVAL, |v| v.v),
    };
    if live.min_interval > live.max_interval {
        let at = max.as_ref().or(min.as_ref()).map_or(&loc, |v| &v.loc);
        errors.push(at.error(format!(
            "max_interval ({}) is shorter than min_interval ({})",
            humantime::format_duration(live.max_interval),
            humantime::format_duration(live.min_interval)
        )));
    }
    t.finish(errors);
    (errors.len() == before).then_some(Val { v: live, loc })
}
